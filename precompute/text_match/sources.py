"""Where the text match's candidate captions come from: a database dataset or a corpus.

* A dataset of the database (default ``laionet``: every matched LAION caption, no
  threshold): its caption embeddings are searched in memory; the chosen candidates'
  rows, image embeddings and thumbnails are copied from the database.
* A LAION-layout corpus (``metadata/``, ``text_emb/``, ``img_emb/``, ``images/``): ALL of
  its captions, matched or not, streamed part by part as ``ChunkSource`` chunks; the
  chosen candidates' metadata, image embeddings and thumbnails are then read from the
  parts they are in.
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

from laionet_core import queries, schema
from precompute.ingest.laion import (
    LaionPart,
    list_laion_parts,
    load_part_embeddings,
    read_part_metadata,
    read_thumbnail_file,
)

logger = logging.getLogger(__name__)

CORPUS_CHUNK_ROWS = 262_144  # candidate rows converted to float32 at once (512 MiB at D=512)


@dataclass(frozen=True)
class CandidateRows:
    """The chosen candidates, row-aligned.

    Attributes:
        samples: Columns sample_id, url, text, nsfw.
        text_embeddings: (M, D) float32 caption embeddings.
        image_embeddings: (M, D') float32 image embeddings (zero rows where missing),
            or None when no candidate has one.
        has_image: (M,) bool, which rows of ``image_embeddings`` are real.
        thumbnails: M ``(mime, bytes)`` or None.
        kept: Which of the requested rows these M are (None: all of them).
        rejected: Requested rows that cannot be stored (``source``, ``sample_id``,
            ``reason``); None when there are none.
    """

    samples: pd.DataFrame
    text_embeddings: np.ndarray
    image_embeddings: np.ndarray | None
    has_image: np.ndarray
    thumbnails: list[tuple[str, bytes] | None]
    kept: np.ndarray | None = None
    rejected: pd.DataFrame | None = None


def _align_images(keys: list, found: dict) -> tuple[np.ndarray | None, np.ndarray]:
    """(M, D) image embeddings of ``keys`` (zero rows where ``found`` lacks one) and a mask."""
    has = np.array([k in found for k in keys], dtype=bool)
    if not has.any():
        return None, has
    dim = len(next(iter(found.values())))
    out = np.zeros((len(keys), dim), dtype=np.float32)
    for i, k in enumerate(keys):
        if has[i]:
            out[i] = found[k]
    return out, has


def read_database_candidates(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    sample_ids: list[str],
    text_embeddings: np.ndarray,
) -> CandidateRows:
    """Rows, image embeddings and thumbnails of chosen samples of a database dataset.

    Args:
        con: An open connection.
        dataset: The candidates' dataset.
        sample_ids: (M,) chosen sample ids.
        text_embeddings: (M, D) their caption embeddings, row-aligned.
    """
    samples = queries.read_samples(con, dataset).set_index("sample_id").loc[sample_ids]
    ids, images = queries.read_embeddings(con, dataset)
    wanted = set(sample_ids)
    found = {s: images[i] for i, s in enumerate(ids["sample_id"]) if s in wanted}
    image_emb, has = _align_images(sample_ids, found)
    thumbs = dict.fromkeys(samples["thumbnail_id"].dropna().astype(np.int64).tolist())
    if thumbs:
        rows = con.execute(
            f"SELECT thumbnail_id, mime, data FROM {schema.THUMBNAILS} WHERE thumbnail_id = ANY(?)",
            [list(thumbs)],
        ).fetchall()
        thumbs = {r[0]: (r[1], bytes(r[2])) for r in rows}
    thumbnails = [
        None if pd.isna(t) else thumbs.get(int(t)) for t in samples["thumbnail_id"].tolist()
    ]
    frame = samples.reset_index().loc[:, ["sample_id", "url", "text", "nsfw"]]
    return CandidateRows(frame, np.asarray(text_embeddings), image_emb, has, thumbnails)


@dataclass(frozen=True)
class CorpusTexts:
    """The caption embeddings of a LAION-layout corpus, part by part.

    Attributes:
        parts: The corpus's parts (each with ``text_emb``).
        offsets: (P + 1,) int64 global row of each part's first caption, then the total.
        dim: Embedding width.
    """

    parts: list[LaionPart]
    offsets: np.ndarray
    dim: int

    @property
    def n_total(self) -> int:
        """Captions in the corpus."""
        return int(self.offsets[-1])

    def iter_chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """A pass over every caption embedding: ``(global first row, (n, D) float16/32)``."""
        for i, part in enumerate(self.parts):
            offset, rows = int(self.offsets[i]), int(self.offsets[i + 1] - self.offsets[i])
            array = np.load(part.text_emb, mmap_mode="r")  # checked by open_corpus_texts
            for start in range(0, rows, CORPUS_CHUNK_ROWS):
                yield offset + start, np.asarray(array[start : start + CORPUS_CHUNK_ROWS])


def open_corpus_texts(corpus: Path) -> CorpusTexts:
    """Find a corpus's parts and check that each has caption embeddings.

    Raises:
        FileNotFoundError: No LAION parts under ``corpus``.
        ValueError: A part has no ``text_emb``, or its rows, width or values are bad
            (``readers.load_part_embeddings`` names the file).
    """
    parts = list_laion_parts(corpus)
    rows, dim = [], None
    for part in parts:
        if part.text_emb is None:
            raise ValueError(
                f"{part.metadata}: no text_emb/text_emb_{part.index}.npy; the text match "
                "needs the corpus's caption embeddings"
            )
        n = pq.ParquetFile(part.metadata).metadata.num_rows
        dim = load_part_embeddings(part.text_emb, rows=n, dim=dim).shape[1]
        rows.append(n)
    offsets = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
    return CorpusTexts(parts, offsets, int(dim))


def _screen_rows(
    part: LaionPart,
    which: np.ndarray,
    rows: np.ndarray,
    sample_ids: pd.Series,
    first_row: dict[str, int],
    thumbs: dict[int, tuple[str, bytes] | None],
    rejected: list[dict],
) -> np.ndarray:
    """Which of a part's chosen rows can be stored; the others go to ``rejected``.

    A repeated sample_id (``first_row`` holds those kept so far) or one that cannot name
    a thumbnail file is rejected; the thumbnails of kept rows go to ``thumbs``.
    """
    ok = np.zeros(len(which), dtype=bool)
    for j, (i, sample_id) in enumerate(zip(which, sample_ids, strict=True)):
        reason = None
        if sample_id in first_row:
            reason = (
                f"sample_id {sample_id!r} repeats corpus row {first_row[sample_id]} "
                f"(row {rows[i]} is dropped)"
            )
        else:
            try:
                thumbs[i] = read_thumbnail_file(part.images, sample_id)
            except ValueError as error:
                reason = str(error)
        if reason is not None:
            rejected.append(
                {"source": str(part.metadata), "sample_id": sample_id, "reason": reason}
            )
            continue
        first_row[sample_id], ok[j] = int(rows[i]), True
    return ok


def _in_input_order(
    order: list[np.ndarray],
    frames: list[pd.DataFrame],
    text_parts: list[np.ndarray],
    image_found: dict[int, np.ndarray],
    thumbs: dict[int, tuple[str, bytes] | None],
    kept: np.ndarray,
    rejected: list[dict],
) -> CandidateRows:
    """The kept rows, gathered part by part, put back in the order they were asked for."""
    positions = np.concatenate(order)
    back = np.argsort(positions, kind="stable")
    positions = positions[back]  # kept input positions, in input order
    samples = pd.concat(frames, ignore_index=True).iloc[back].reset_index(drop=True)
    image_emb, has = _align_images(positions.tolist(), image_found)
    return CandidateRows(
        samples,
        np.concatenate(text_parts)[back],
        image_emb,
        has,
        [thumbs[i] for i in positions.tolist()],
        kept=kept,
        rejected=pd.DataFrame(rejected, columns=["source", "sample_id", "reason"]),
    )


def read_corpus_candidates(texts: CorpusTexts, rows: np.ndarray) -> CandidateRows:
    """Metadata, caption and image embeddings and thumbnails of chosen corpus rows.

    Rows that cannot be stored become ``rejected`` rows instead of stopping the run
    after its search: a row whose sample_id an earlier chosen row (in corpus order)
    already has (``DatasetWriter`` needs distinct ids), and a row whose id cannot name
    a thumbnail file (``readers.check_file_stem``).

    Args:
        texts: From ``open_corpus_texts``.
        rows: (M,) distinct global caption rows, in any order.

    Returns:
        The kept rows in the order of ``rows`` (``kept`` says which), and the rejected.
    """
    rows = np.asarray(rows, dtype=np.int64)
    part_of = np.searchsorted(texts.offsets, rows, side="right") - 1
    kept = np.zeros(len(rows), dtype=bool)
    frames, text_parts, order, rejected = [], [], [], []
    image_found: dict[int, np.ndarray] = {}  # keyed by input position: ids may repeat
    thumbs: dict[int, tuple[str, bytes] | None] = {}
    first_row: dict[str, int] = {}  # sample_id -> the global row kept under it
    for p in np.unique(part_of):  # ascending: corpus order decides which repeat is kept
        part = texts.parts[p]
        which = np.flatnonzero(part_of == p)
        which = which[np.argsort(rows[which], kind="stable")]
        local = rows[which] - texts.offsets[p]
        meta = read_part_metadata(part).iloc[local]
        ok = _screen_rows(part, which, rows, meta["sample_id"], first_row, thumbs, rejected)
        if not ok.any():
            continue
        which, local, meta = which[ok], local[ok], meta[ok]
        kept[which] = True
        order.append(which)
        n = int(texts.offsets[p + 1] - texts.offsets[p])
        frames.append(meta.loc[:, ["sample_id", "url", "text", "nsfw"]])
        emb = load_part_embeddings(part.text_emb, rows=n, dim=texts.dim)
        text_parts.append(np.asarray(emb[local], dtype=np.float32))
        if part.img_emb is not None:
            images = np.asarray(load_part_embeddings(part.img_emb, rows=n)[local], np.float32)
            image_found.update(zip(which.tolist(), images, strict=True))
    if rejected:
        logger.warning("%d chosen corpus rows rejected, e.g. %s", len(rejected), rejected[0])
    if not order:
        raise ValueError(f"every chosen corpus row was rejected, e.g. {rejected[0]['reason']}")
    return _in_input_order(order, frames, text_parts, image_found, thumbs, kept, rejected)
