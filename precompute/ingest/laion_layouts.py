"""Recognise LAION's on-disk layouts by their own folder and file names.

Every release is recognised under the root given as ``--corpus``:

* LAION-400M embeddings as served by the-eye: ``images/img_emb_N.npy``,
  ``texts/text_emb_N.npy``, ``metadata/metadata_N.parquet``, N unpadded;
* LAION-5B embeddings: ``img_emb/img_emb_0000.npy``, ``text_emb/text_emb_0000.npy``,
  ``metadata/metadata_0000.parquet`` (4-digit padding, 768-d float16 for ViT-L/14);
* LAION-5B as laid out on the-eye: ``laion2B-en/img_emb/``, ``laion2B-en/text_emb/`` and
  the metadata in the sibling folder ``laion2B-en-metadata/``;
* the deploy layout: ``img_emb/``, ``text_emb/``, ``metadata/``, N unpadded (the
  simulated corpus adds thumbnails in ``images/NNNNN/<SAMPLE_ID>.jpg``);
* the original LAION-400M metadata parts: ``part-000NN-<uuid>-c000.snappy.parquet``
  directly under the root (no embeddings).

Parts are paired with their embedding files by part *number*, so padded and unpadded
names both pair; an embedding file without a metadata part, or a part without its
embedding file, is listed (``CorpusLayout.orphans``, ``missing_img``, ``missing_text``)
for the caller to name, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Embedding folders in the order looked for: the deploy/5B name, then the-eye's 400M name.
IMAGE_EMBEDDING_DIRS = ("img_emb", "images")
TEXT_EMBEDDING_DIRS = ("text_emb", "texts")
METADATA_DIR = "metadata"
SIBLING_METADATA_SUFFIX = "-metadata"  # laion2B-en/ + laion2B-en-metadata/
THUMBNAIL_DIR = "images"  # the simulated corpus's images/NNNNN/<SAMPLE_ID>.jpg

LAYOUT_400M_THE_EYE = "laion400m-embeddings"
LAYOUT_5B = "laion5b-embeddings"
LAYOUT_5B_SIBLING = "laion5b-embeddings-sibling-metadata"
LAYOUT_DEPLOY = "embeddings-deploy"
LAYOUT_METADATA_PARTS = "laion400m-metadata-parts"
LAYOUT_DESCRIPTIONS = {
    LAYOUT_400M_THE_EYE: "LAION-400M embeddings as served (images/, texts/, metadata/)",
    LAYOUT_5B: "LAION-5B embeddings (img_emb/, text_emb/, metadata/)",
    LAYOUT_5B_SIBLING: "LAION-5B embeddings with a sibling metadata folder "
    "(img_emb/, text_emb/, ../<name>-metadata/)",
    LAYOUT_DEPLOY: "embeddings release, deploy layout (img_emb/, text_emb/, metadata/)",
    LAYOUT_METADATA_PARTS: "LAION-400M metadata parts (*.parquet under the root, no embeddings)",
}
_NUMBERED_FILE = re.compile(r"^(?P<stem>img_emb|text_emb|metadata)_(?P<number>\d+)\.(npy|parquet)$")


@dataclass(frozen=True)
class LaionPart:
    """One metadata part and the files aligned with it by row position.

    Attributes:
        index: Part number N.
        metadata: The parquet file.
        img_emb: ``img_emb_N.npy`` when the layout has it.
        text_emb: ``text_emb_N.npy`` when the layout has it.
        images: Folder of this part's thumbnails, when present.
    """

    index: int
    metadata: Path
    img_emb: Path | None = None
    text_emb: Path | None = None
    images: Path | None = None


@dataclass(frozen=True)
class CorpusLayout:
    """What ``find_corpus_layout`` recognised under a root.

    Attributes:
        name: One of ``LAYOUT_DESCRIPTIONS``.
        root: The corpus root, as given.
        metadata_dir: Folder of the metadata parts.
        img_dir: Folder of the image embeddings, or None.
        text_dir: Folder of the caption embeddings, or None.
        parts: Every metadata part, by part number.
        orphans: Embedding files whose part number has no metadata part.
        padding: Digits of zero-padding of the part numbers (0 when unpadded).
    """

    name: str
    root: Path
    metadata_dir: Path
    img_dir: Path | None
    text_dir: Path | None
    parts: tuple[LaionPart, ...]
    orphans: tuple[Path, ...]
    padding: int

    @property
    def description(self) -> str:
        """The layout in words, with its folders."""
        return LAYOUT_DESCRIPTIONS[self.name]

    @property
    def missing_img(self) -> tuple[LaionPart, ...]:
        """Parts without an image-embedding file while the layout has image embeddings."""
        return tuple(p for p in self.parts if p.img_emb is None) if self.img_dir else ()

    @property
    def missing_text(self) -> tuple[LaionPart, ...]:
        """Parts without a caption-embedding file while the layout has caption embeddings."""
        return tuple(p for p in self.parts if p.text_emb is None) if self.text_dir else ()


def _numbered_files(folder: Path | None, stem: str, suffix: str) -> dict[int, Path]:
    """``{N: folder/<stem>_N<suffix>}`` for padded and unpadded N alike.

    Raises:
        ValueError: Two files name the same part number (``img_emb_1`` and ``img_emb_01``).
    """
    if folder is None:
        return {}
    found: dict[int, Path] = {}
    for path in sorted(folder.glob(f"{stem}_*{suffix}")):
        match = _NUMBERED_FILE.match(path.name)
        if match is None or match.group("stem") != stem:
            continue
        number = int(match.group("number"))
        if number in found:
            raise ValueError(f"{path} and {found[number]} are both part {number}")
        found[number] = path
    return found


def _embedding_dir(root: Path, names: tuple[str, ...], stem: str) -> Path | None:
    """The first of ``root/<names>`` holding ``<stem>_N.npy`` files."""
    for name in names:
        folder = root / name
        if folder.is_dir() and _numbered_files(folder, stem, ".npy"):
            return folder
    return None


def _metadata_dir(root: Path) -> tuple[Path, bool]:
    """``(folder of the metadata parts, whether it is a sibling folder)``.

    Raises:
        FileNotFoundError: Neither ``metadata/``, a sibling ``<root>-metadata/`` nor
            ``*.parquet`` under the root; the message says what was looked for.
    """
    if (root / METADATA_DIR).is_dir():
        return root / METADATA_DIR, False
    sibling = root.parent / f"{root.name}{SIBLING_METADATA_SUFFIX}"
    if sibling.is_dir():
        return sibling, True
    if any(root.glob("*.parquet")):
        return root, False
    nested = sorted(p.name for p in root.glob(f"*{SIBLING_METADATA_SUFFIX}") if p.is_dir())
    hint = (
        f"; {root} holds {nested[0]}/: pass --corpus "
        f"{root / nested[0][: -len(SIBLING_METADATA_SUFFIX)]}"
        if nested
        else ""
    )
    raise FileNotFoundError(
        f"{root}: no LAION parts found (expected metadata/metadata_N.parquet, a sibling "
        f"folder {sibling.name}/ with metadata_N.parquet, or *.parquet parts under the "
        f"root){hint}"
    )


def _metadata_parts(metadata_dir: Path, *, numbered: bool) -> dict[int, Path]:
    """``{part number: parquet}``: by ``metadata_N`` in a release, by sorted name otherwise."""
    if numbered:
        parts = _numbered_files(metadata_dir, METADATA_DIR, ".parquet")
        others = sorted(p for p in metadata_dir.glob("*.parquet") if p not in set(parts.values()))
        if others:
            raise ValueError(
                f"{others[0]}: a metadata part must be named metadata_N.parquet "
                f"({len(others)} other .parquet file(s) in {metadata_dir})"
            )
        return parts
    return dict(enumerate(sorted(metadata_dir.glob("*.parquet"))))


def _padding(paths: list[Path]) -> int:
    """Width of the part numbers when every one is zero-padded to it, else 0."""
    numbers = [m.group("number") for p in paths if (m := _NUMBERED_FILE.match(p.name))]
    widths = {len(n) for n in numbers}
    if len(widths) == 1 and any(n.startswith("0") and len(n) > 1 for n in numbers):
        return widths.pop()
    return 0


def _layout_name(
    metadata_at_root: bool, sibling: bool, img_dir: Path | None, text_dir: Path | None, padding: int
) -> str:
    """The ``LAYOUT_*`` name the folders found describe."""
    if metadata_at_root:
        return LAYOUT_METADATA_PARTS
    if sibling:
        return LAYOUT_5B_SIBLING
    if (img_dir and img_dir.name == "images") or (text_dir and text_dir.name == "texts"):
        return LAYOUT_400M_THE_EYE
    return LAYOUT_5B if padding else LAYOUT_DEPLOY


def find_corpus_layout(root: str | Path) -> CorpusLayout:
    """Recognise the layout under ``root`` and pair every part with its files.

    Args:
        root: The corpus root (``--corpus``).

    Returns:
        The layout, its parts sorted by number, and the embedding files left unpaired.

    Raises:
        FileNotFoundError: No metadata parts in any known layout (the message lists them).
        ValueError: Two files claim one part number, or a release's metadata folder holds
            a parquet file not named ``metadata_N.parquet``.
    """
    root = Path(root)
    metadata_dir, sibling = _metadata_dir(root)
    at_root = metadata_dir == root
    metadata = _metadata_parts(metadata_dir, numbered=not at_root)
    if not metadata:
        raise FileNotFoundError(f"{metadata_dir}: no metadata_N.parquet parts in it")
    img_dir = None if at_root else _embedding_dir(root, IMAGE_EMBEDDING_DIRS, "img_emb")
    text_dir = None if at_root else _embedding_dir(root, TEXT_EMBEDDING_DIRS, "text_emb")
    img = _numbered_files(img_dir, "img_emb", ".npy")
    text = _numbered_files(text_dir, "text_emb", ".npy")
    parts = []
    for number in sorted(metadata):
        thumbs = root / THUMBNAIL_DIR / f"{number:05d}"
        parts.append(
            LaionPart(
                index=number,
                metadata=metadata[number],
                img_emb=img.get(number),
                text_emb=text.get(number),
                images=thumbs if thumbs.is_dir() else None,
            )
        )
    orphans = [p for n, p in sorted(img.items()) + sorted(text.items()) if n not in metadata]
    padding = 0 if at_root else _padding(list(metadata.values()))
    name = _layout_name(at_root, sibling, img_dir, text_dir, padding)
    return CorpusLayout(
        name, root, metadata_dir, img_dir, text_dir, tuple(parts), tuple(orphans), padding
    )


def list_laion_parts(root: str | Path) -> list[LaionPart]:
    """Find the parts under ``root`` in any layout, sorted by part number.

    Raises:
        FileNotFoundError: No metadata parts in any known layout.
        ValueError: Two files claim the same part number.
    """
    return list(find_corpus_layout(root).parts)
