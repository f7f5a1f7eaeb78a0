"""Assembly: shard outputs -> one dataset of the database, streamed chunk by chunk.

Shards are read one at a time, in part order, and appended through
``laionet_core.storage.DatasetWriter`` ``ASSEMBLY_CHUNK_ROWS`` samples at a time from
memory-mapped embeddings, so memory is bounded by a chunk and the database is the same
whichever shards were reused. The similarity histograms are
summed over shards by the writer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from tqdm import tqdm

from laionet_core.content_rules import OcrText
from laionet_core.storage import DatasetInfo, DatasetWriter, DuplicateSampleError
from precompute.build.shards import (
    CANDIDATES_FILE,
    IMG_EMB_FILE,
    REJECTED_FILE,
    SAMPLES_FILE,
    TEXT_EMB_FILE,
    THUMBNAILS_FILE,
)
from precompute.ingest.laion import load_part_embeddings

logger = logging.getLogger(__name__)

# Samples appended at once: bounds the float32 embedding copies and Arrow buffers.
ASSEMBLY_CHUNK_ROWS = 100_000
# DuckDB keeps written blocks in memory up to its limit (80% of RAM by default) before
# it spills them, so the driver grew with the database; bounded, it writes them out.
ASSEMBLY_MEMORY_LIMIT = "2GB"


@dataclass(frozen=True)
class ShardOutputs:
    """One shard's outputs, row-aligned with its N samples.

    Attributes:
        samples: N rows with ``storage.SAMPLE_COLUMNS``.
        candidates: Every scored (sample_id, wnid, text_similarity) pair.
        rejected: Rows that could not be used: source, sample_id, reason.
        text_emb: (N, D) caption embeddings.
        img_emb: (N, D) image embeddings, or None.
        thumbnails: The shard's thumbnails file (one row per sample, read chunk by
            chunk), or None when the shard has none.
    """

    samples: pd.DataFrame
    candidates: pd.DataFrame
    rejected: pd.DataFrame
    text_emb: np.ndarray
    img_emb: np.ndarray | None
    thumbnails: Path | None


@dataclass
class ShardTotals:
    """Row counts over all shards (from their manifests)."""

    rows_in: int = 0
    matched: int = 0
    rejected: int = 0
    shards: int = 0


def _output_names(manifest: dict) -> set[str]:
    return {output["name"] for output in manifest["outputs"]}


def read_shard_outputs(folder: Path, manifest: dict) -> ShardOutputs:
    """Read a verified shard's outputs.

    Raises:
        ValueError: The samples, candidates or rejected file disagrees with the
            manifest's row counts, the embeddings or thumbnails do not have one row per
            sample, or a sample_id repeats within the shard (the file and the id are named).
    """
    names = _output_names(manifest)
    path = folder / SAMPLES_FILE
    samples = _read_counted_table(path, manifest["rows"]["matched"])
    candidates = _read_counted_table(folder / CANDIDATES_FILE, manifest["rows"]["candidates"])
    rejected = _read_counted_table(folder / REJECTED_FILE, manifest["rows"]["rejected"])
    repeated = samples["sample_id"][samples["sample_id"].duplicated()]
    if len(repeated):
        raise ValueError(f"{path}: sample_id {repeated.iloc[0]!r} appears more than once")
    n = len(samples)
    text_emb = load_part_embeddings(folder / TEXT_EMB_FILE, rows=n)
    img_emb = load_part_embeddings(folder / IMG_EMB_FILE, rows=n) if IMG_EMB_FILE in names else None
    thumbnails = None
    if THUMBNAILS_FILE in names:
        thumbnails = folder / THUMBNAILS_FILE
        rows = pq.ParquetFile(thumbnails).metadata.num_rows
        if rows != n:
            raise ValueError(f"{thumbnails}: {rows} rows for {n} samples")
    return ShardOutputs(samples, candidates, rejected, text_emb, img_emb, thumbnails)


def _read_counted_table(path: Path, expected: int) -> pd.DataFrame:
    """A shard's parquet file as a frame, which must have the ``expected`` rows."""
    frame = pq.read_table(path).to_pandas()
    if len(frame) != expected:
        raise ValueError(f"{path}: {len(frame)} rows, its manifest says {expected}")
    return frame


def _find_earlier_shard(sample_id: str, shards: list[tuple[Path, dict]]) -> Path | None:
    for folder, _ in shards:
        ids = pq.read_table(folder / SAMPLES_FILE, columns=["sample_id"])["sample_id"]
        if sample_id in set(ids.to_pylist()):
            return folder
    return None


def iter_thumbnail_chunks(path: Path, chunk_rows: int) -> Iterator[list[tuple[str, bytes] | None]]:
    """A shard's thumbnails, ``chunk_rows`` at a time (the last chunk may be shorter)."""
    pending: list[tuple[str, bytes] | None] = []
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
        columns = batch.to_pydict()
        pending += [
            (mime, data) if mime is not None else None
            for mime, data in zip(columns["mime"], columns["data"], strict=True)
        ]
        while len(pending) >= chunk_rows:
            yield pending[:chunk_rows]
            pending = pending[chunk_rows:]
    if pending:
        yield pending


def append_shard(
    writer: DatasetWriter,
    folder: Path,
    out: ShardOutputs,
    *,
    embedding_floor: float | None,
    with_images: bool,
) -> None:
    """Append one shard, ``ASSEMBLY_CHUNK_ROWS`` samples at a time.

    Embeddings are sliced from the memory-mapped files chunk by chunk, so memory is
    bounded by the chunk, not by the shard. With ``embedding_floor``, each chunk is
    written as two batches: rows above the floor with embeddings, the others without.
    The shard's candidates and rejected rows go with its first batch.
    """
    n = len(out.samples)
    thumbs = iter_thumbnail_chunks(out.thumbnails, ASSEMBLY_CHUNK_ROWS) if out.thumbnails else None
    extras = {"candidates": out.candidates, "rejected": out.rejected}
    for lo in range(0, max(n, 1), ASSEMBLY_CHUNK_ROWS):
        hi = min(lo + ASSEMBLY_CHUNK_ROWS, n)
        samples = out.samples.iloc[lo:hi]
        chunk_thumbs = next(thumbs) if thumbs is not None and hi > lo else None
        above = np.ones(hi - lo, dtype=bool)
        if embedding_floor is not None:
            above = samples["text_similarity"].to_numpy() > embedding_floor
        for embed in (True, False) if embedding_floor is not None else (True,):
            rows = above if embed else ~above
            if not rows.any() and not extras:
                continue
            writer.append_batch(
                samples[rows],
                image_embeddings=_rows_of(out.img_emb, lo, hi, rows)
                if embed and with_images
                else None,
                text_embeddings=_rows_of(out.text_emb, lo, hi, rows) if embed else None,
                thumbnails=(
                    [t for t, keep in zip(chunk_thumbs, rows, strict=True) if keep]
                    if chunk_thumbs is not None
                    else None
                ),
                **extras,
                source=str(folder),
            )
            extras = {}


def _rows_of(array: np.ndarray | None, lo: int, hi: int, rows: np.ndarray) -> np.ndarray | None:
    """Rows ``lo:hi`` of a (memory-mapped) array where ``rows`` is True: only they are read."""
    if array is None:
        return None
    return np.asarray(array[lo:hi])[rows]


def write_shard_dataset(
    con: duckdb.DuckDBPyConnection,
    info: DatasetInfo,
    shards: list[tuple[Path, dict]],
    *,
    embedding_floor: float | None = None,
    ocr_text: OcrText | None = None,
) -> ShardTotals:
    """Write one dataset from its shards, one chunk of one shard in memory at a time.

    Sets the connection's DuckDB memory limit to ``ASSEMBLY_MEMORY_LIMIT``, so the
    written database does not stay in memory.

    Args:
        con: An open, writable connection.
        info: The dataset's row in ``datasets``.
        shards: ``(folder, manifest)`` per shard, in the order rows are written.
        embedding_floor: Store image and caption embeddings only of samples whose
            text similarity is above it; None stores all.
        ocr_text: OCR text for the recipe's OCR rule (``DatasetWriter``), or None.

    Returns:
        Row counts over the shards.

    Raises:
        ValueError: A sample id is in two shards (both are named), or a shard file
            disagrees with its manifest.
    """
    with_images = all(IMG_EMB_FILE in _output_names(m) for _, m in shards)
    if not with_images and any(IMG_EMB_FILE in _output_names(m) for _, m in shards):
        logger.warning("some parts have no img_emb: no image embeddings are stored")
    con.execute(f"SET memory_limit = '{ASSEMBLY_MEMORY_LIMIT}'")
    writer = DatasetWriter(con, info, ocr_text=ocr_text)
    totals = ShardTotals()
    for index, (folder, manifest) in enumerate(tqdm(shards, desc="assemble", unit="shard")):
        out = read_shard_outputs(folder, manifest)
        try:
            append_shard(
                writer, folder, out, embedding_floor=embedding_floor, with_images=with_images
            )
        except DuplicateSampleError as error:
            earlier = _find_earlier_shard(error.sample_id, shards[:index])
            raise ValueError(
                f"sample_id {error.sample_id!r} is in two shards: {earlier or folder} and "
                f"{folder} (their inputs: {_metadata_of(shards, earlier)} and "
                f"{_metadata_of(shards, folder)})"
            ) from error
        totals.rows_in += manifest["rows"]["in"]
        totals.matched += len(out.samples)
        totals.rejected += manifest["rows"]["rejected"]
        totals.shards += 1
    counts = {
        "rows_in": totals.rows_in,
        "rows_matched": totals.matched,
        "rows_rejected": totals.rejected,
        "shards": totals.shards,
    }
    writer.finish(parameters=counts)
    return totals


def _metadata_of(shards: list[tuple[Path, dict]], folder: Path | None) -> str:
    for candidate, manifest in shards:
        if candidate == folder:
            return next(r["path"] for r in manifest["inputs"] if r["role"] == "metadata")
    return "?"
