"""Readers of LAION's on-disk layouts.

The layouts themselves (folder and file names, part pairing) are recognised by
``precompute.ingest.laion_layouts``; this module reads the parts it finds.

Column names differ between them (``SAMPLE_ID/URL/TEXT`` against ``key/url/caption``);
``read_part_metadata`` returns one normalised set of columns for both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from laionet_core.validation import require_embedding_matrix
from precompute.ingest.images import ThumbnailError, read_checked_thumbnail
from precompute.ingest.laion_layouts import LaionPart, list_laion_parts  # noqa: F401  (re-exported)

logger = logging.getLogger(__name__)

# Normalised column -> names it has in LAION's layouts, first found wins.
METADATA_ALIASES: dict[str, tuple[str, ...]] = {
    "sample_id": ("SAMPLE_ID", "key"),
    "url": ("URL", "url"),
    "text": ("TEXT", "caption"),
    "nsfw": ("NSFW",),
    "height": ("HEIGHT", "height"),
    "width": ("WIDTH", "width"),
    "license": ("LICENSE",),
    "similarity": ("similarity",),
}
REQUIRED_METADATA = ("text",)  # without captions there is nothing to match
EMBEDDING_DTYPES = (np.float16, np.float32)  # the release ships float16; accept float32 too
# Rows checked for NaN/inf at a time, so a 1M-row part needs no second full copy in memory.
FINITE_CHECK_ROWS = 262_144

# Parts of a sample id that would make folder / f"{id}.jpg" leave the folder.
UNSAFE_ID_PARTS = ("/", "\\", "..", "\0")

CORPUS_INFO_FILE = "corpus.json"  # written by the simulator; absent for real LAION data
# Recorded as the encoder when the embeddings are LAION's own release (CLIP ViT-B/32).
LAION_RELEASE_ENCODER = "laion-release:ViT-B-32"
# The release's model by its embedding width: LAION-400M ships ViT-B/32 (512), LAION-5B
# ViT-L/14 (768); other widths fall back to LAION_RELEASE_ENCODER with a warning.
LAION_RELEASE_ENCODERS = {512: LAION_RELEASE_ENCODER, 768: "laion-release:ViT-L-14"}


def read_key_stem(path: Path) -> str:
    """The file base name that keys a row without a sample id: ``<stem>:<row>``."""
    return Path(path).name.split(".")[0]


def render_sample_ids(
    values: pa.Array | pa.ChunkedArray,
    *,
    file_stem: str,
    rows: np.ndarray | None = None,
    where: object = "SAMPLE_ID",
) -> list[str]:
    """Sample ids as LAION's keys: the id as text, or ``<file_stem>:<row>`` where missing.

    LAION-400M stores SAMPLE_ID as int64 in some parts and float64 in others; integral
    floats lose their ``.0`` so both give the same key. One definition for the build
    and the ``match`` command.

    Args:
        values: (N,) sample ids: integers, floats or strings; null or NaN where missing.
        file_stem: ``read_key_stem`` of the file the rows come from.
        rows: (N,) row numbers in that file (default ``0 .. N-1``).
        where: The file, for the error message.

    Raises:
        ValueError: The ids are neither numbers nor strings (lists or bytes, say).
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    rows = np.arange(len(values)) if rows is None else np.asarray(rows)
    kind = values.type
    if pa.types.is_floating(kind):
        numbers = values.to_numpy(zero_copy_only=False).astype(np.float64)
        finite = np.isfinite(numbers)
        integral = finite & (numbers == np.round(numbers))
        text = [
            str(int(v)) if whole else (str(v) if ok else None)
            for v, whole, ok in zip(
                numbers.tolist(), integral.tolist(), finite.tolist(), strict=True
            )
        ]
    elif pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = values.cast(pa.string()).to_pylist()
    elif pa.types.is_null(kind):
        text = [None] * len(values)
    else:
        raise ValueError(
            f"{where}: sample id column has type {kind}; expected integers, floats or strings"
        )
    return [
        value if value is not None else f"{file_stem}:{row}"
        for value, row in zip(text, rows.tolist(), strict=True)
    ]


def format_sample_key(value: object, *, file_stem: str, row: int) -> str:
    """One sample's key (``render_sample_ids`` of a single value)."""
    return render_sample_ids(pa.array([value]), file_stem=file_stem, rows=np.array([row]))[0]


def read_part_metadata(part: LaionPart) -> pd.DataFrame:
    """Read a part's metadata into the normalised columns of ``METADATA_ALIASES``.

    Columns a layout lacks come back as missing values; ``sample_id`` is always a string.

    Raises:
        ValueError: The file is not readable parquet or has no caption column.
    """
    try:
        schema_names = pq.read_schema(part.metadata).names
    except Exception as error:  # pyarrow raises several types for a bad file
        raise ValueError(f"{part.metadata}: not a readable parquet file ({error})") from error
    chosen: dict[str, str] = {}
    for column, aliases in METADATA_ALIASES.items():
        found = next((a for a in aliases if a in schema_names), None)
        if found is not None:
            chosen[column] = found
    missing = [c for c in REQUIRED_METADATA if c not in chosen]
    if missing:
        wanted = " or ".join(METADATA_ALIASES["text"])
        raise ValueError(
            f"{part.metadata}: no caption column ({wanted}); found {', '.join(schema_names)}"
        )
    table = pq.read_table(part.metadata, columns=list(chosen.values()))
    frame = table.rename_columns(list(chosen.keys())).to_pandas()
    for column in METADATA_ALIASES:
        if column not in frame:
            frame[column] = None
    stem = read_key_stem(part.metadata)
    ids = table.column(chosen["sample_id"]) if "sample_id" in chosen else pa.nulls(len(frame))
    frame["sample_id"] = render_sample_ids(ids, file_stem=stem, where=part.metadata)
    return frame.loc[:, list(METADATA_ALIASES)]


def load_part_embeddings(path: Path, *, rows: int, dim: int | None = None) -> np.ndarray:
    """Memory-map an embedding part and check it against its metadata.

    Args:
        path: ``img_emb_N.npy`` or ``text_emb_N.npy``.
        rows: Row count of the aligned metadata part.
        dim: Expected dimension, when another file already fixed it.

    Returns:
        The (rows, dim) float16 or float32 array, memory-mapped (read-only).

    Raises:
        ValueError: The dtype is neither float16 nor float32 (the check is made on the
            file, not assumed), the shape disagrees, or a row holds NaN or infinity.
    """
    try:
        array = np.load(path, mmap_mode="r")
    except (ValueError, OSError) as error:
        raise ValueError(f"{path}: not a readable .npy file ({error})") from error
    if array.dtype not in EMBEDDING_DTYPES:
        raise ValueError(f"{path}: dtype {array.dtype}; expected float16 or float32")
    require_embedding_matrix(array[:0], name=str(path), dim=dim)  # shape and dtype only
    if array.ndim != 2 or array.shape[0] != rows:
        raise ValueError(f"{path}: shape {array.shape} but its metadata part has {rows} rows")
    for start in range(0, rows, FINITE_CHECK_ROWS):
        chunk = np.asarray(array[start : start + FINITE_CHECK_ROWS])
        finite = np.isfinite(chunk).all(axis=1)
        if not finite.all():
            bad = start + int(np.flatnonzero(~finite)[0])
            raise ValueError(f"{path}: row {bad} holds NaN or infinite values")
    logger.debug("%s: %s %s", path, array.dtype, array.shape)
    return array


def check_file_stem(sample_id: str, *, folder: Path) -> str:
    """``sample_id`` if it can name a file directly inside ``folder``.

    Ids come from corpus metadata, so one holding a path separator, ``..`` or NUL could
    reach files outside the folder.

    Raises:
        ValueError: The id holds ``/``, ``\\``, ``..`` or NUL (folder and id named).
    """
    bad = next((part for part in UNSAFE_ID_PARTS if part in sample_id), None)
    if bad is not None:
        raise ValueError(
            f"{folder}: sample_id {sample_id!r} contains {bad!r}, so it cannot name a "
            "thumbnail file"
        )
    return sample_id


def read_thumbnail_file(folder: Path | None, sample_id: str) -> tuple[str, bytes] | None:
    """The thumbnail of ``folder/<sample_id>.jpg`` (or .webp/.png), or None if absent.

    The file is checked and re-encoded (``images.read_checked_thumbnail``).

    Returns:
        ``(mime, bytes)`` of the re-encoded thumbnail, or None.

    Raises:
        ValueError: ``sample_id`` cannot name a file inside ``folder`` (``check_file_stem``).
        ThumbnailError: The file is not stored: a link out of ``folder``, too large, too
            many pixels, or not decodable (the reason).
    """
    if folder is None:
        return None
    check_file_stem(sample_id, folder=folder)
    for suffix in (".jpg", ".webp", ".png"):
        path = folder / f"{sample_id}{suffix}"
        if path.is_file() or path.is_symlink():
            return read_checked_thumbnail(path, root=folder)
    return None


def read_thumbnail_files(
    folder: Path, sample_ids: Iterable[str]
) -> tuple[list[tuple[str, bytes] | None], pd.DataFrame]:
    """Thumbnails of ``sample_ids`` (``read_thumbnail_file``), and the files not stored.

    Returns:
        One ``(mime, bytes)`` or None per id, and rejected rows (source, sample_id,
        reason) of the files refused; their samples are kept, without a thumbnail.
    """
    thumbnails: list[tuple[str, bytes] | None] = []
    refused = []
    for sample_id in sample_ids:
        try:
            thumbnails.append(read_thumbnail_file(folder, sample_id))
        except ThumbnailError as error:
            thumbnails.append(None)
            refused.append((str(folder), sample_id, f"thumbnail not stored: {error}"))
    return thumbnails, pd.DataFrame(refused, columns=["source", "sample_id", "reason"])


def read_corpus_info(corpus: Path) -> dict:
    """The simulator's ``corpus.json``, or ``{}`` for real data."""
    path = corpus / CORPUS_INFO_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
