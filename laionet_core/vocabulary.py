"""ImageNet vocabulary: synsets, lemmas, definitions and synset-text formats.

The WordNet tables come from the files timm ships in ``timm/data/_info/``; they are
read as plain text, so importing this module never imports torch or timm itself.
The 1,000 ILSVRC-2012 classes are kept in class-index order (the order of
``imagenet_synsets.txt``), which is the order model logits use.
"""

from __future__ import annotations

import importlib.util
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

# Files inside timm's _info folder.
ILSVRC_SYNSETS_FILE = "imagenet_synsets.txt"  # 1,000 wnids in class-index order
LEMMA_FILE = "imagenet_synset_to_lemma.txt"  # wnid<TAB>lemma, lemma, ... (all of ImageNet-21k)
DEFINITION_FILE = "imagenet_synset_to_definition.txt"  # wnid<TAB>WordNet gloss

SYNSET_TEXT_FORMATS = (
    "name",
    "name_def",
    "lemmas",
    "a_photo_of_name",
    "a_photo_of_name_def",
    "wordnet_name",
    "wordnet_name_def",
)
# The paper scores captions against "<name> which is <definition>"; ``name_def`` spells
# the name as the vocabulary does ("Great Dane"), ``wordnet_name_def`` as the authors'
# code does, from WordNet's ``synset.name()`` ("great dane").
DEFAULT_SYNSET_TEXT_FORMAT = "name_def"


@dataclass(frozen=True)
class Synset:
    """One WordNet synset used as a class.

    Attributes:
        wnid: WordNet id, e.g. ``"n02125311"``.
        class_index: Position in the vocabulary (ILSVRC class index for ImageNet-1k).
        lemmas: The synset's lemmas in WordNet order; the first one is the name.
        definition: The WordNet gloss.
    """

    wnid: str
    class_index: int
    lemmas: tuple[str, ...]
    definition: str

    @property
    def name(self) -> str:
        """The first lemma, which the paper uses as the class name."""
        return self.lemmas[0]

    @property
    def wordnet_name(self) -> str:
        """The name as WordNet's ``synset.name()`` gives it: the first lemma in lower case,
        underscores as spaces (``"great dane"`` for ``"Great Dane"``)."""
        return self.lemmas[0].lower().replace("_", " ")


@dataclass(frozen=True)
class Vocabulary:
    """An ordered set of synsets (the classes of one analysis)."""

    synsets: tuple[Synset, ...]
    source: str = "imagenet-1k"

    def __len__(self) -> int:
        return len(self.synsets)

    @property
    def wnids(self) -> tuple[str, ...]:
        return tuple(s.wnid for s in self.synsets)

    def by_wnid(self) -> dict[str, Synset]:
        """Map each wnid to its synset."""
        return {s.wnid: s for s in self.synsets}


@dataclass(frozen=True)
class LemmaDictionary:
    """Lemmas that name exactly one class of a vocabulary.

    Attributes:
        lemma_to_wnid: Each kept lemma (after the key function) mapped to its wnid.
        dropped: Lemmas shared by two or more classes, mapped to those wnids (sorted).
        classes_without_lemma: wnids left with no lemma once shared ones are dropped.
    """

    lemma_to_wnid: dict[str, str]
    dropped: dict[str, tuple[str, ...]] = field(default_factory=dict)
    classes_without_lemma: tuple[str, ...] = ()


def find_timm_info_dir() -> Path:
    """Locate ``timm/data/_info`` without importing timm (which imports torch).

    Returns:
        The folder holding timm's WordNet tables.

    Raises:
        FileNotFoundError: timm is not installed or ships no ``_info`` folder.
    """
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "timm is not installed; it ships the WordNet tables (pip install timm)"
        )
    info = Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"
    if not (info / LEMMA_FILE).is_file():
        raise FileNotFoundError(f"{info / LEMMA_FILE} is missing; is this timm too old?")
    return info


def _read_tab_table(path: Path) -> dict[str, str]:
    table: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line:
                continue
            wnid, sep, value = line.partition("\t")
            if not sep:
                raise ValueError(f"{path}:{line_no}: expected 'wnid<TAB>text', got {line!r}")
            table[wnid] = value.strip()
    return table


def read_wnid_file(path: str | Path) -> list[str]:
    """Read one wnid per line (blank lines and ``#`` comments ignored).

    Raises:
        ValueError: A line is not a wnid (``n`` followed by 8 digits), the file is not
            UTF-8 text, or it lists no wnid.
    """
    path = Path(path)
    wnids = []
    try:
        with path.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                text = line.split("#", 1)[0].strip()
                if not text:
                    continue
                if len(text) != 9 or text[0] != "n" or not text[1:].isdigit():
                    raise ValueError(
                        f"{path}:{line_no}: {text[:40]!r} is not a wnid like 'n02125311'"
                    )
                wnids.append(text)
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a UTF-8 text file of wnids ({error.reason})") from error
    if not wnids:
        raise ValueError(f"{path}: lists no wnid (one per line, like 'n02125311')")
    return wnids


def load_vocabulary_from_wnids(
    wnids: Sequence[str], *, info_dir: str | Path | None = None, source: str = "custom"
) -> Vocabulary:
    """Build a vocabulary from any WordNet ids timm knows (ImageNet-21k included).

    Args:
        wnids: Class wnids in the order that defines ``class_index``.
        info_dir: timm's ``_info`` folder; found automatically when omitted.
        source: A short label recorded with the vocabulary.

    Returns:
        The vocabulary, in the given order.

    Raises:
        ValueError: A wnid is repeated, or timm has no lemmas or definition for it.
    """
    info = Path(info_dir) if info_dir is not None else find_timm_info_dir()
    lemmas = _read_tab_table(info / LEMMA_FILE)
    definitions = _read_tab_table(info / DEFINITION_FILE)
    seen: set[str] = set()
    synsets = []
    for index, wnid in enumerate(wnids):
        if wnid in seen:
            raise ValueError(f"wnid {wnid!r} is listed twice (second time at position {index})")
        seen.add(wnid)
        if wnid not in lemmas:
            raise ValueError(f"wnid {wnid!r} has no lemmas in {info / LEMMA_FILE}")
        names = tuple(s.strip() for s in lemmas[wnid].split(",") if s.strip())
        synsets.append(Synset(wnid, index, names, definitions.get(wnid, "")))
    return Vocabulary(tuple(synsets), source=source)


def load_imagenet_vocabulary(*, info_dir: str | Path | None = None) -> Vocabulary:
    """The 1,000 ILSVRC-2012 classes in class-index order."""
    info = Path(info_dir) if info_dir is not None else find_timm_info_dir()
    wnids = read_wnid_file(info / ILSVRC_SYNSETS_FILE)
    return load_vocabulary_from_wnids(wnids, info_dir=info, source="imagenet-1k")


def load_vocabulary(wnid_file: str | Path | None = None) -> Vocabulary:
    """ImageNet-1k by default, or the wnids listed in ``wnid_file``."""
    if wnid_file is None:
        return load_imagenet_vocabulary()
    try:
        return load_vocabulary_from_wnids(read_wnid_file(wnid_file), source=str(wnid_file))
    except ValueError as error:
        if str(wnid_file) in str(error):
            raise
        raise ValueError(f"{wnid_file}: {error}") from error


def format_synset_text(synset: Synset, fmt: str = DEFAULT_SYNSET_TEXT_FORMAT) -> str:
    """Render a synset as the text its captions are compared with.

    Args:
        synset: The class.
        fmt: One of ``SYNSET_TEXT_FORMATS``.

    Returns:
        e.g. ``"cougar which is large American feline resembling a lion"`` for ``name_def``.

    Raises:
        ValueError: ``fmt`` is not a known format.
    """
    if fmt == "name":
        return synset.name
    if fmt == "name_def":
        return f"{synset.name} which is {synset.definition}"
    if fmt == "lemmas":
        return " or ".join(synset.lemmas)
    if fmt == "a_photo_of_name":
        return f"a photo of {synset.name}"
    if fmt == "a_photo_of_name_def":
        return f"a photo of {synset.name} which is {synset.definition}"
    if fmt == "wordnet_name":
        return synset.wordnet_name
    if fmt == "wordnet_name_def":
        return f"{synset.wordnet_name} which is {synset.definition}"
    raise ValueError(
        f"unknown synset text format {fmt!r}; allowed: {', '.join(SYNSET_TEXT_FORMATS)}"
    )


def build_lemma_dictionary(
    vocabulary: Vocabulary,
    *,
    key: Callable[[str], str] = lambda lemma: lemma,
    omit_wnids: Collection[str] = (),
) -> LemmaDictionary:
    """Keep the lemmas that name exactly one class.

    A lemma shared by two classes is dropped for both, as in the paper. Classes left
    with no lemma are reported and logged. The paper recipes omit the crane *machine*
    (n03126707) from the lemma sources, as the authors' class list does, so ``crane``
    names the bird alone.

    Args:
        vocabulary: The classes.
        key: Maps a lemma to the form it is matched in (identity for the paper's
            case-sensitive matching; a normaliser for case-insensitive matching).
            Uniqueness is judged on this form, and keys that come out empty are ignored.
        omit_wnids: Classes whose lemmas are left out (they stay without a lemma).

    Returns:
        The lemma dictionary.
    """
    omitted = set(omit_wnids)
    owners: dict[str, set[str]] = defaultdict(set)
    for synset in vocabulary.synsets:
        if synset.wnid in omitted:
            continue
        for lemma in synset.lemmas:
            keyed = key(lemma)
            if keyed:
                owners[keyed].add(synset.wnid)
    lemma_to_wnid = {lemma: next(iter(w)) for lemma, w in owners.items() if len(w) == 1}
    dropped = {lemma: tuple(sorted(w)) for lemma, w in owners.items() if len(w) > 1}
    covered = set(lemma_to_wnid.values())
    without = tuple(s.wnid for s in vocabulary.synsets if s.wnid not in covered)
    if without:
        logger.info("%d classes have no unique lemma: %s", len(without), ", ".join(without))
    return LemmaDictionary(lemma_to_wnid, dropped, without)


def list_lemmas(vocabulary: Vocabulary) -> Iterable[tuple[str, str]]:
    """Yield ``(lemma, wnid)`` for every lemma of every class, in vocabulary order."""
    for synset in vocabulary.synsets:
        for lemma in synset.lemmas:
            yield lemma, synset.wnid
