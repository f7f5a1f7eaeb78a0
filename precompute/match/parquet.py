"""Lemma matching at LAION scale: metadata parquet files -> captions that name a synset.

The stage behind ``python -m precompute match``. Reads only the caption column (and the
sample id when present, ``precompute.ingest.laion.METADATA_ALIASES``) batch by batch, matches
lemmas with :class:`laionet_core.matching.LemmaMatcher`, and writes one row per matched
caption: ``key``, ``wnids``, ``lemmas``. Files are matched in parallel processes; the
output is written atomically (a temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import glob
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from laionet_core.matching import DEFAULT_MATCH_MODE, LemmaMatcher
from laionet_core.vocabulary import load_vocabulary
from precompute.ingest.laion import METADATA_ALIASES, read_key_stem, render_sample_ids

logger = logging.getLogger(__name__)

# Caption and sample-id columns we recognise, in order (LAION-400M parts, then the
# embeddings release); rows without a sample id are keyed "<file base name>:<row>".
TEXT_COLUMNS = METADATA_ALIASES["text"]
SAMPLE_ID_COLUMNS = METADATA_ALIASES["sample_id"]
# Rows per parquet read: bounded memory, and large enough to amortise per-batch work.
READ_BATCH_ROWS = 1 << 18
# The output schema, shared by every writer of match results.
MATCH_SCHEMA = pa.schema(
    [("key", pa.string()), ("wnids", pa.list_(pa.string())), ("lemmas", pa.list_(pa.string()))]
)

_worker_matcher: LemmaMatcher | None = None


def select_text_column(path: str | Path, columns: Sequence[str], text_column: str | None) -> str:
    """The caption column of a parquet file.

    Raises:
        ValueError: ``text_column`` (or, when omitted, every known caption column) is
            missing; the message names the file and the columns found.
    """
    wanted = (text_column,) if text_column else TEXT_COLUMNS
    for name in wanted:
        if name in columns:
            return name
    raise ValueError(
        f"{path}: no caption column {' or '.join(map(repr, wanted))}; columns found: "
        f"{', '.join(columns) or '(none)'} (choose one with --text-column)"
    )


def match_parquet_file(
    path: str | Path, matcher: LemmaMatcher, *, text_column: str | None = None
) -> tuple[pa.Table, int]:
    """Match every caption of one parquet file.

    Args:
        path: A LAION metadata parquet part.
        matcher: The lemma matcher.
        text_column: The caption column; detected from ``TEXT_COLUMNS`` when omitted.

    Returns:
        (table, captions): matched rows with ``MATCH_SCHEMA`` in file order, and the
        number of captions read.

    Raises:
        ValueError: The file is not readable parquet or has no caption column.
    """
    path = Path(path)
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise ValueError(f"{path}: not a readable parquet file: {e}") from e
    names = parquet.schema_arrow.names
    column = select_text_column(path, names, text_column)
    id_column = next((name for name in SAMPLE_ID_COLUMNS if name in names), None)
    columns = [column] + ([id_column] if id_column else [])
    stem = read_key_stem(path)
    keys: list[str] = []
    wnids: list[tuple[str, ...]] = []
    lemmas: list[tuple[str, ...]] = []
    start = 0
    for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS, columns=columns):
        matches = matcher.match(batch.column(column))
        if len(matches.rows):
            rows = matches.rows + start
            ids = batch.column(id_column) if id_column else pa.nulls(batch.num_rows)
            chosen = ids.take(pa.array(matches.rows))
            keys.extend(render_sample_ids(chosen, file_stem=stem, rows=rows, where=path))
            wnids.extend(matches.wnids)
            lemmas.extend(matches.lemmas)
        start += batch.num_rows
    table = pa.table(
        {"key": keys, "wnids": wnids, "lemmas": lemmas},
        schema=MATCH_SCHEMA,
    )
    return table, start


def _init_worker(vocab: str | None, mode: str) -> None:
    global _worker_matcher
    _worker_matcher = LemmaMatcher(load_vocabulary(vocab), mode=mode)


def _match_in_worker(job: tuple[str, str | None]) -> tuple[pa.Table, int]:
    assert _worker_matcher is not None, "worker not initialised"
    return match_parquet_file(job[0], _worker_matcher, text_column=job[1])


def list_input_files(pattern: str) -> list[Path]:
    """Files matching a glob, sorted.

    Raises:
        ValueError: Nothing matches ``pattern``.
    """
    paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not paths:
        raise ValueError(f"--input {pattern!r} matches no files")
    return paths


def match_parquet_files(
    paths: Sequence[Path],
    *,
    vocab: str | None = None,
    mode: str = DEFAULT_MATCH_MODE,
    text_column: str | None = None,
    workers: int = 1,
    progress: bool = True,
) -> Iterator[tuple[Path, pa.Table, int]]:
    """Match files in ``workers`` processes, yielding results in input order.

    Yields:
        (path, matched table, captions read) per file.
    """
    jobs = [(str(p), text_column) for p in paths]
    bar = tqdm(total=len(paths), unit="file", desc="match", disable=not progress)
    try:
        if workers <= 1 or len(paths) == 1:
            _init_worker(vocab, mode)
            results = map(_match_in_worker, jobs)
            for path, (table, n) in zip(paths, results, strict=True):
                bar.update()
                yield path, table, n
            return
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(vocab, mode)) as pool:
            for path, (table, n) in zip(paths, pool.map(_match_in_worker, jobs), strict=True):
                bar.update()
                yield path, table, n
    finally:
        bar.close()


def write_table_atomically(table: pa.Table, out: str | Path) -> None:
    """Write parquet to a temporary file beside ``out``, then rename it into place."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(handle)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
