"""Captions -> ImageNet synsets by exact lemma matching (the paper's first filter).

A caption matches a class when one of the class's lemmas occurs in it as a whole
word sequence. Two modes (rules with examples in ``docs/MATCHING.md``):

* ``paper`` reproduces the paper's code: ASCII punctuation (``string.punctuation``)
  becomes spaces, the caption is padded with a space on each side, and a lemma matches
  when ``" " + lemma + " "`` occurs in it, case-sensitively.
* ``normalized`` (the default) applies one normaliser, :func:`normalize_text`, to both
  captions and lemmas: NFKC, casefold, every character that is not a letter, mark or
  number becomes a space, whitespace runs collapse to one space.

Lemmas shared by two classes are dropped for both (``build_lemma_dictionary``).

Speed: a whole batch of captions is padded and joined into one string by Arrow (in
C), punctuation is mapped by ``bytes.translate`` / one regular expression, and a single
Aho-Corasick automaton (``pyahocorasick``) scans it once. Hit end positions are
mapped back to caption rows with ``np.searchsorted``; Python runs per hit, never per
caption. Pure: no torch, no DuckDB, no Streamlit.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import ahocorasick
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laionet_core.vocabulary import LemmaDictionary, Vocabulary, build_lemma_dictionary

MATCH_MODES = ("paper", "normalized")
# Case- and punctuation-insensitive matching finds the captions a reader would count.
DEFAULT_MATCH_MODE = "normalized"

# Captions per internal batch: large enough to amortise per-call overhead, small enough
# that the joined string (about 60 MB of UTF-32 inside the automaton) stays modest.
BATCH_CAPTIONS = 1 << 16
# Ends every caption in the joined string; never part of a pattern, so no hit spans two
# captions. In normalized mode captions' own NULs become spaces first.
SEPARATOR = "\x00"
# The paper's translation: each ASCII punctuation byte becomes a space. ASCII bytes never
# occur inside multi-byte UTF-8 sequences, so this is exact on UTF-8 data.
PAPER_BYTE_TABLE = bytes.maketrans(
    string.punctuation.encode("ascii"), b" " * len(string.punctuation)
)
# Normalized mode on ASCII text in one pass: letters lower-cased, digits kept, every
# other byte except the separator becomes a space (NFKC and casefold are no-ops on ASCII
# apart from lower-casing).
ASCII_NORMALIZED_TABLE = bytes(
    (c if chr(c).isdigit() else ord(chr(c).lower()))
    if c < 128 and chr(c).isalnum()
    else (0 if c == 0 else 32)  # NUL is the separator; captions' own NULs are replaced first
    for c in range(256)
)
# Runs of spaces collapse to one (ASCII fast path).
_SPACE_RUN = re.compile(" {2,}")


# Normalized mode on non-ASCII text: runs of characters that are not letters or numbers
# (``str.isalnum``) become one space; "_" is handled by the byte table first; NUL kept.
_NON_WORD_RUN = re.compile(r"[^\w\x00]+")
# In the prefilter, the spaces between a key's words may be runs (collapsed later).
_PREFILTER_SPACE = " +"


def _normalize_joined(text: str) -> str:
    """NFKC, casefold, non-alphanumeric runs -> one space; keeps NUL (the separator)."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("_", " ")
    return _NON_WORD_RUN.sub(" ", text)


def normalize_text(text: str) -> str:
    """The normalized-mode form of one caption or lemma.

    NFKC, then casefold, then every run of characters that are not letters or numbers
    (``str.isalnum()`` is false: punctuation, symbols, emoji, whitespace, control and
    combining characters, "_") becomes one space, then the ends are stripped. Accents
    are kept (``"café" != "cafe"``).

    Args:
        text: A caption or a lemma.

    Returns:
        e.g. ``"shih tzu"`` for ``"Shih-Tzu"`` and ``"b puma b"`` for ``"<b>PUMA</b>"``.
    """
    return _normalize_joined(text.replace(SEPARATOR, " ")).replace(SEPARATOR, " ").strip()


@dataclass(frozen=True)
class Matches:
    """The captions of a batch that contain at least one lemma.

    Attributes:
        rows: (M,) int64 0-based positions of matched captions in the input, ascending.
        wnids: Per matched row, its sorted distinct wnids.
        lemmas: Per matched row, its sorted distinct lemmas as spelled in the vocabulary.
    """

    rows: np.ndarray
    wnids: list[tuple[str, ...]]
    lemmas: list[tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def multi_label(self) -> np.ndarray:
        """(M,) bool: the row matched lemmas of more than one class."""
        return np.fromiter((len(w) > 1 for w in self.wnids), dtype=bool, count=len(self.wnids))


def _as_string_array(
    captions: Sequence[str | None] | pa.Array | pa.ChunkedArray,
) -> pa.ChunkedArray:
    if isinstance(captions, pa.Array):
        captions = pa.chunked_array([captions], type=captions.type)
    elif not isinstance(captions, pa.ChunkedArray):
        try:
            captions = pa.chunked_array([pa.array(captions, type=pa.string(), from_pandas=True)])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise TypeError(f"captions must be strings or None: {e}") from e
    kind = captions.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return captions
    if pa.types.is_string_view(kind) or (
        pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type)
    ):
        return captions.cast(pa.large_string())
    if pa.types.is_null(kind):
        return captions.cast(pa.string())
    raise TypeError(f"captions must be an Arrow string array, got type {kind}")


def _utf8_bytes(array: pa.Array) -> bytes:
    """The concatenated UTF-8 data of a string array (values back to back)."""
    width = 8 if pa.types.is_large_string(array.type) else 4
    offsets = np.frombuffer(
        array.buffers()[1],
        dtype=np.int64 if width == 8 else np.int32,
        count=len(array) + 1,
        offset=array.offset * width,
    )
    data = array.buffers()[2]
    if data is None:
        return b""
    return data.slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_pybytes()


def _whole_buffer(array: pa.Array) -> bytes:
    """The whole data buffer of a fresh (unsliced) string array, offsets unchanged."""
    data = array.buffers()[2]
    return b"" if data is None else data.to_pybytes()


def _pad(array: pa.Array, tail: str) -> pa.Array:
    """Each caption as ``" " + caption + tail`` (nulls as empty captions)."""
    kind = array.type
    return pc.binary_join_element_wise(
        pa.scalar(" ", kind),
        pc.fill_null(array, pa.scalar("", kind)),
        pa.scalar(tail, kind),
        pa.scalar("", kind),
    )


def _positions(text: str, char: str) -> np.ndarray:
    """(K,) int64 code-point positions of ``char`` in ``text``."""
    if text.isascii():
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    else:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return np.flatnonzero(codes == ord(char))


class LemmaMatcher:
    """Finds, for each caption, the classes whose lemmas it contains.

    Args:
        vocabulary: The classes.
        mode: One of ``MATCH_MODES``.
        omit_wnids: Classes whose lemmas stay out of the dictionary (a recipe's
            ``lemma_source_omits``; the paper's leave out the crane machine).

    Raises:
        ValueError: ``mode`` is unknown.
    """

    def __init__(
        self,
        vocabulary: Vocabulary,
        *,
        mode: str = DEFAULT_MATCH_MODE,
        omit_wnids: Collection[str] = (),
    ) -> None:
        if mode not in MATCH_MODES:
            raise ValueError(f"unknown match mode {mode!r}; allowed: {', '.join(MATCH_MODES)}")
        self._mode = mode
        key = normalize_text if mode == "normalized" else (lambda lemma: lemma)
        self._dictionary = build_lemma_dictionary(vocabulary, key=key, omit_wnids=omit_wnids)
        # The first vocabulary spelling of each kept key is the one reported.
        spelling: dict[str, str] = {}
        for synset in vocabulary.synsets:
            for lemma in synset.lemmas:
                spelling.setdefault(key(lemma), lemma)
        keys = sorted(self._dictionary.lemma_to_wnid)
        self._lemmas = [spelling[k] for k in keys]
        self._wnids = [self._dictionary.lemma_to_wnid[k] for k in keys]
        self._automaton = ahocorasick.Automaton()
        for index, k in enumerate(keys):
            if SEPARATOR not in k:
                self._automaton.add_word(f" {k} ", index)
        if keys:
            self._automaton.make_automaton()
        # RE2 (via Arrow) finds the few captions with any hit far faster than the
        # automaton scans everything; the automaton then runs on those alone.
        space = " " if mode == "paper" else _PREFILTER_SPACE
        alternatives = (space.join(re.escape(w) for w in k.split(" ")) for k in keys)
        self._prefilter = f"{space}(?:{'|'.join(alternatives)}){space}" if keys else None
        single = np.empty(len(keys), dtype=object)
        single[:] = [((w,), (lemma,)) for w, lemma in zip(self._wnids, self._lemmas, strict=True)]
        self._single = single

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def lemma_dictionary(self) -> LemmaDictionary:
        """Lemmas kept (keyed by their matched form) and those dropped as shared."""
        return self._dictionary

    @property
    def n_lemmas(self) -> int:
        """Number of distinct matchable lemma forms."""
        return len(self._lemmas)

    def match(self, captions: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> Matches:
        """Match a batch of captions.

        Args:
            captions: (N,) captions; None / null never matches.

        Returns:
            The matched rows with their wnids and lemmas.

        Raises:
            TypeError: ``captions`` is not a sequence of strings or a string array.
        """
        chunked = _as_string_array(captions)
        rows: list[np.ndarray] = []
        patterns: list[np.ndarray] = []
        base = 0
        for chunk in chunked.chunks:
            for start in range(0, len(chunk), BATCH_CAPTIONS):
                batch = chunk.slice(start, BATCH_CAPTIONS)
                if self._mode == "paper":
                    hit_rows, hit_patterns = self._scan_paper(batch)
                else:
                    hit_rows, hit_patterns = self._scan_normalized(batch)
                rows.append(hit_rows + base + start)
                patterns.append(hit_patterns)
            base += len(chunk)
        return self._collect(
            np.concatenate(rows) if rows else np.empty(0, np.int64),
            np.concatenate(patterns) if patterns else np.empty(0, np.int64),
        )

    def _hits(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(H,) end positions and (H,) pattern indices of every hit in ``text``."""
        found = np.array(list(self._automaton.iter(text)), dtype=np.int64).reshape(-1, 2)
        return found[:, 0], found[:, 1]

    def _candidates(self, padded: pa.Array, data: bytes) -> np.ndarray:
        """(K,) positions of the padded, translated captions the prefilter accepts."""
        if self._prefilter is None:
            return np.empty(0, np.int64)
        translated = pa.Array.from_buffers(
            padded.type,
            len(padded),
            [None, padded.buffers()[1], pa.py_buffer(data)],
            offset=padded.offset,
        )
        found = pc.match_substring_regex(translated, self._prefilter)
        return np.flatnonzero(found.to_numpy(zero_copy_only=False))

    def _scan_paper(self, batch: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        padded = _pad(batch, " " + SEPARATOR)
        data = _whole_buffer(padded).translate(PAPER_BYTE_TABLE)
        index = self._candidates(padded, data)
        if index.size == 0:
            return index, index
        padded = padded.take(pa.array(index))
        text = _utf8_bytes(padded).translate(PAPER_BYTE_TABLE).decode("utf-8")
        ends, found = self._hits(text)
        bounds = np.cumsum(pc.utf8_length(padded).to_numpy(zero_copy_only=False), dtype=np.int64)
        return index[np.searchsorted(bounds, ends, side="right")], found

    def _scan_normalized(self, batch: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        batch = pc.fill_null(batch, "")
        if pc.any(pc.match_substring(batch, SEPARATOR)).as_py():
            batch = pc.replace_substring(batch, SEPARATOR, " ")
        ascii_mask = pc.string_is_ascii(batch).to_numpy(zero_copy_only=False)
        out_rows: list[np.ndarray] = []
        out_found: list[np.ndarray] = []
        for is_ascii in (True, False):
            index = np.flatnonzero(ascii_mask == is_ascii)
            if index.size == 0:
                continue
            subset = batch if index.size == len(batch) else batch.take(pa.array(index))
            padded = _pad(subset, " " + SEPARATOR)
            if is_ascii:
                # Translate everything, collapse spaces only in the prefiltered captions.
                data = _whole_buffer(padded).translate(ASCII_NORMALIZED_TABLE)
                keep = self._candidates(padded, data)
                index = index[keep]
                if keep.size == 0:
                    continue
                chosen = padded.take(pa.array(keep))
                text = _SPACE_RUN.sub(
                    " ", _utf8_bytes(chosen).translate(ASCII_NORMALIZED_TABLE).decode("ascii")
                )
            else:
                text = _normalize_joined(_utf8_bytes(padded).decode("utf-8"))
            ends, found = self._hits(text)
            out_rows.append(index[np.searchsorted(_positions(text, SEPARATOR), ends, side="left")])
            out_found.append(found)
        if not out_rows:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(out_rows).astype(np.int64), np.concatenate(out_found)

    def _collect(self, rows: np.ndarray, found: np.ndarray) -> Matches:
        if rows.size == 0:
            return Matches(np.empty(0, np.int64), [], [])
        width = max(self.n_lemmas, 1)
        pairs = np.unique(rows * width + found)
        pair_rows, pair_found = np.divmod(pairs, width)
        unique_rows, first, counts = np.unique(pair_rows, return_index=True, return_counts=True)
        # Most rows hit one lemma: look their answers up in one vectorised step.
        results = self._single[pair_found[first]]
        for position in np.flatnonzero(counts > 1).tolist():
            lo = first[position]
            hits = pair_found[lo : lo + counts[position]].tolist()
            results[position] = (
                tuple(sorted({self._wnids[i] for i in hits})),
                tuple(sorted({self._lemmas[i] for i in hits})),
            )
        return Matches(
            unique_rows.astype(np.int64), [r[0] for r in results], [r[1] for r in results]
        )
