"""What a corpus holds, read from file headers only: ``inspect`` prints it, ``build`` logs it.

``summarize_corpus`` pairs the layout's parts with their embedding files (rows, width and
dtype from each ``.npy`` header, rows and columns from each parquet footer) and lists
every problem it sees: a part without its embedding file, an embedding file without a
part, rows that disagree, widths that differ, a dtype other than float16/float32.
Nothing here reads a full file, so it runs in seconds on LAION-400M's 410 parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from precompute.ingest.laion import (
    EMBEDDING_DTYPES,
    LAION_RELEASE_ENCODER,
    LAION_RELEASE_ENCODERS,
    METADATA_ALIASES,
    read_corpus_info,
)
from precompute.ingest.laion_layouts import CorpusLayout, LaionPart, find_corpus_layout

# Shown in full up to this many names; longer lists end in "... and N more".
MAX_NAMED = 5


@dataclass(frozen=True)
class EmbeddingFileInfo:
    """One ``.npy`` as its header describes it.

    Attributes:
        path: The file.
        rows: Rows (0 when unreadable).
        dim: Width (0 when unreadable or not 2-D).
        dtype: Its dtype as text, e.g. ``float16``.
    """

    path: Path
    rows: int
    dim: int
    dtype: str


@dataclass(frozen=True)
class PartSummary:
    """One part: its metadata rows and columns and its embedding files."""

    part: LaionPart
    rows: int
    columns: tuple[str, ...]
    img: EmbeddingFileInfo | None
    text: EmbeddingFileInfo | None


@dataclass(frozen=True)
class CorpusSummary:
    """Everything ``inspect`` reports about a corpus.

    Attributes:
        layout: The recognised layout.
        parts: One summary per part, by part number.
        problems: Misalignments and bad files, each naming the file; a build stops on any.
        info: The simulator's ``corpus.json`` (``{}`` for real data).
    """

    layout: CorpusLayout
    parts: tuple[PartSummary, ...]
    problems: tuple[str, ...]
    info: dict

    @property
    def rows(self) -> int:
        """Metadata rows over every part."""
        return sum(p.rows for p in self.parts)

    def dims(self, kind: str) -> set[int]:
        """Widths of the ``img`` or ``text`` embedding files."""
        return {f.dim for p in self.parts if (f := getattr(p, kind)) is not None}

    def dtypes(self, kind: str) -> set[str]:
        """Dtypes of the ``img`` or ``text`` embedding files."""
        return {f.dtype for p in self.parts if (f := getattr(p, kind)) is not None}

    def count_files(self, kind: str) -> int:
        """How many parts have an ``img`` or ``text`` embedding file."""
        return sum(getattr(p, kind) is not None for p in self.parts)

    def release_encoder(self) -> str:
        """The name recorded for the shipped embeddings: ``corpus.json``'s, else by width."""
        if self.info.get("encoder"):
            return str(self.info["encoder"])
        dims = self.dims("text") or self.dims("img")
        dim = next(iter(dims)) if len(dims) == 1 else 0
        return LAION_RELEASE_ENCODERS.get(dim, LAION_RELEASE_ENCODER)


def name_some(items: list[str] | tuple[str, ...]) -> str:
    """``a, b, c`` for a few items; the first ``MAX_NAMED`` and how many more otherwise."""
    shown = ", ".join(items[:MAX_NAMED])
    more = len(items) - MAX_NAMED
    return f"{shown} ... and {more} more" if more > 0 else shown


def _read_npy_header(path: Path, problems: list[str]) -> EmbeddingFileInfo:
    """Shape and dtype from the header (memory-mapped: no data is read)."""
    try:
        array = np.load(path, mmap_mode="r")
    except (ValueError, OSError) as error:
        problems.append(f"{path}: not a readable .npy file ({error})")
        return EmbeddingFileInfo(path, 0, 0, "unreadable")
    if array.dtype not in EMBEDDING_DTYPES:
        problems.append(f"{path}: dtype {array.dtype}; expected float16 or float32")
    if array.ndim != 2:
        problems.append(f"{path}: shape {array.shape}; expected (rows, dim)")
        return EmbeddingFileInfo(
            path, int(array.shape[0]) if array.ndim else 0, 0, str(array.dtype)
        )
    return EmbeddingFileInfo(path, int(array.shape[0]), int(array.shape[1]), str(array.dtype))


def _summarize_part(part: LaionPart, problems: list[str]) -> PartSummary:
    """Read one part's headers; misalignments go to ``problems``."""
    try:
        footer = pq.read_metadata(part.metadata)
        rows, columns = footer.num_rows, tuple(footer.schema.to_arrow_schema().names)
    except Exception as error:  # pyarrow raises several types for a bad file
        problems.append(f"{part.metadata}: not a readable parquet file ({error})")
        rows, columns = 0, ()
    if columns and not any(a in columns for a in METADATA_ALIASES["text"]):
        wanted = " or ".join(METADATA_ALIASES["text"])
        problems.append(
            f"{part.metadata}: no caption column ({wanted}); found {', '.join(columns)}"
        )
    files = {}
    for kind, path in (("img", part.img_emb), ("text", part.text_emb)):
        files[kind] = None if path is None else _read_npy_header(path, problems)
        if files[kind] is not None and columns and files[kind].rows != rows:
            problems.append(
                f"{path}: {files[kind].rows} rows but its metadata part has {rows} rows "
                f"({part.metadata.name})"
            )
    return PartSummary(part, rows, columns, files["img"], files["text"])


def _width_problems(summary_parts: list[PartSummary]) -> list[str]:
    """Embedding widths that differ between files, or between images and captions."""
    problems = []
    for kind in ("img", "text"):
        by_dim: dict[int, Path] = {}
        for p in summary_parts:
            f = getattr(p, kind)
            if f is not None and f.dim:
                by_dim.setdefault(f.dim, f.path)
        if len(by_dim) > 1:
            (d1, f1), (d2, f2) = list(by_dim.items())[:2]
            problems.append(f"{kind}_emb widths differ: {f1} is {d1}-d, {f2} is {d2}-d")
    img = {p.img.dim for p in summary_parts if p.img is not None and p.img.dim}
    text = {p.text.dim for p in summary_parts if p.text is not None and p.text.dim}
    if len(img) == 1 and len(text) == 1 and img != text:
        problems.append(
            f"image embeddings are {img.pop()}-d but caption embeddings {text.pop()}-d: "
            "they cannot come from one CLIP model"
        )
    return problems


def summarize_corpus(root: str | Path) -> CorpusSummary:
    """Recognise ``root``'s layout and read every part's headers.

    Args:
        root: The corpus root (``--corpus``).

    Returns:
        The summary; its ``problems`` name each misaligned or unreadable file and each
        embedding file without a metadata part. Missing embedding files are left to the
        caller (``layout.missing_img`` / ``missing_text``), which knows whether it needs them.

    Raises:
        FileNotFoundError: No metadata parts in any known layout.
        ValueError: Two files claim one part number.
    """
    root = Path(root)
    layout = find_corpus_layout(root)
    problems: list[str] = []
    parts = [_summarize_part(part, problems) for part in layout.parts]
    problems += _width_problems(parts)
    if layout.orphans:
        names = [str(p) for p in layout.orphans]
        problems.append(
            f"{len(names)} embedding file(s) have no metadata part in "
            f"{layout.metadata_dir}: {name_some(names)}"
        )
    return CorpusSummary(layout, tuple(parts), tuple(problems), read_corpus_info(root))
