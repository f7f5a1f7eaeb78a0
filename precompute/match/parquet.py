"""Lemma matching at LAION scale: metadata parquet files -> captions that name a synset.

The stage behind ``python -m precompute match``. Reads only the caption column (and the
sample id when present, ``precompute.ingest.laion.METADATA_ALIASES``) batch by batch, matches
lemmas with :class:`laionet_core.matching.LemmaMatcher`, and writes one row per matched
caption: ``key``, ``wnids``, ``lemmas``. Files, and row ranges of large files (at
row-group boundaries where possible), are matched in parallel processes; the
output is written atomically (a temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from laionet_core.files import open_atomically
from laionet_core.matching import DEFAULT_MATCH_MODE, LemmaMatcher
from laionet_core.vocabulary import load_vocabulary
from precompute.build.lifetime import die_with_parent
from precompute.ingest.laion import METADATA_ALIASES, read_key_stem, render_sample_ids

logger = logging.getLogger(__name__)

# Caption and sample-id columns we recognise, in order (LAION-400M parts, then the
# embeddings release); rows without a sample id are keyed "<file base name>:<row>".
TEXT_COLUMNS = METADATA_ALIASES["text"]
SAMPLE_ID_COLUMNS = METADATA_ALIASES["sample_id"]
# Rows per parquet read: bounded memory, and large enough to amortise per-batch work.
READ_BATCH_ROWS = 1 << 18
# Jobs per worker process (a few, so a slow job does not leave a process idle), and the
# fewest rows worth a job of their own (a process start and a file open cost ~0.1 s).
JOBS_PER_WORKER = 2
MIN_JOB_ROWS = 200_000
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


def _open_parquet(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise ValueError(f"{path}: not a readable parquet file: {e}") from e


def match_parquet_file(
    path: str | Path,
    matcher: LemmaMatcher,
    *,
    text_column: str | None = None,
    rows: tuple[int, int] | None = None,
) -> tuple[pa.Table, int]:
    """Match every caption of one parquet file, or of its rows ``start:stop``.

    Only the row groups that hold those rows are read, so several processes can share
    one large file (``plan_match_jobs``).

    Args:
        path: A LAION metadata parquet part.
        matcher: The lemma matcher.
        text_column: The caption column; detected from ``TEXT_COLUMNS`` when omitted.
        rows: ``(start, stop)`` row range of the file; None for all rows.

    Returns:
        (table, captions): matched rows with ``MATCH_SCHEMA`` in file order, and the
        number of captions read.

    Raises:
        ValueError: The file is not readable parquet or has no caption column.
    """
    path = Path(path)
    parquet = _open_parquet(path)
    names = parquet.schema_arrow.names
    column = select_text_column(path, names, text_column)
    id_column = next((name for name in SAMPLE_ID_COLUMNS if name in names), None)
    columns = [column] + ([id_column] if id_column else [])
    stem = read_key_stem(path)
    start, stop = rows if rows is not None else (0, parquet.metadata.num_rows)
    groups, position = _row_groups_between(parquet.metadata, start, stop)
    keys: list[str] = []
    wnids: list[tuple[str, ...]] = []
    lemmas: list[tuple[str, ...]] = []
    batches = parquet.iter_batches(batch_size=READ_BATCH_ROWS, row_groups=groups, columns=columns)
    for batch in batches:
        lo, hi = max(start - position, 0), min(stop - position, batch.num_rows)
        if hi > lo:
            part = batch.slice(lo, hi - lo)
            matches = matcher.match(part.column(column))
            if len(matches.rows):
                ids = part.column(id_column) if id_column else pa.nulls(part.num_rows)
                chosen = ids.take(pa.array(matches.rows))
                found = matches.rows + position + lo
                keys.extend(render_sample_ids(chosen, file_stem=stem, rows=found, where=path))
                wnids.extend(matches.wnids)
                lemmas.extend(matches.lemmas)
        position += batch.num_rows
        if position >= stop:
            break
    table = pa.table({"key": keys, "wnids": wnids, "lemmas": lemmas}, schema=MATCH_SCHEMA)
    return table, stop - start


def _row_groups_between(metadata: pq.FileMetaData, start: int, stop: int) -> tuple[list[int], int]:
    """Row groups overlapping rows ``start:stop``, and the file row where the first begins."""
    groups, first, position = [], None, 0
    for group in range(metadata.num_row_groups):
        n = metadata.row_group(group).num_rows
        if position < stop and position + n > start:
            groups.append(group)
            first = position if first is None else first
        position += n
    return groups, first if first is not None else start


@dataclass(frozen=True)
class MatchJob:
    """One process's share of the work: rows ``start:stop`` of one file."""

    path: str
    text_column: str | None
    start: int
    stop: int


def plan_match_jobs(
    paths: Sequence[Path], *, text_column: str | None, workers: int
) -> list[MatchJob]:
    """Split the files into about ``JOBS_PER_WORKER * workers`` jobs of similar size.

    A file smaller than a job's share is one job (many parts: one per file, no extra
    reads); a large one is cut into row ranges at row-group boundaries where one lies
    near the cut, so even a single large part uses every process.

    Raises:
        ValueError: A file is not readable parquet.
    """
    sizes = [_open_parquet(p).metadata.num_rows for p in paths]
    target = max(MIN_JOB_ROWS, -(-sum(sizes) // max(1, workers * JOBS_PER_WORKER)))
    jobs = []
    for path, n in zip(paths, sizes, strict=True):
        pieces = max(1, round(n / target)) if workers > 1 else 1
        cuts = _snap_cuts(path, [n * i // pieces for i in range(pieces + 1)], n // (4 * pieces))
        jobs += [MatchJob(str(path), text_column, a, b) for a, b in pairwise(cuts) if b > a]
        if n == 0:
            jobs.append(MatchJob(str(path), text_column, 0, 0))
    return jobs


def _snap_cuts(path: Path, cuts: list[int], slack: int) -> list[int]:
    """Move each inner cut to a row-group boundary within ``slack`` rows, if there is one."""
    if len(cuts) <= 2:
        return cuts
    metadata = _open_parquet(path).metadata
    bounds = np.cumsum([metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)])
    snapped = [cuts[0]]
    for cut in cuts[1:-1]:
        near = bounds[np.abs(bounds - cut) <= slack]
        snapped.append(int(near[np.argmin(np.abs(near - cut))]) if near.size else cut)
    return sorted(set(snapped)) + [cuts[-1]]


def _init_worker(
    vocab: str | None,
    mode: str,
    parent_pid: int | None = None,
    omit_wnids: tuple[str, ...] = (),
) -> None:
    global _worker_matcher
    if parent_pid is not None:  # a pool process: end with the command
        die_with_parent(parent_pid)
    _worker_matcher = LemmaMatcher(load_vocabulary(vocab), mode=mode, omit_wnids=omit_wnids)


def _match_in_worker(job: MatchJob) -> tuple[pa.Table, int]:
    assert _worker_matcher is not None, "worker not initialised"
    return match_parquet_file(
        job.path, _worker_matcher, text_column=job.text_column, rows=(job.start, job.stop)
    )


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
    omit_wnids: tuple[str, ...] = (),
) -> Iterator[tuple[Path, pa.Table, int]]:
    """Match files in ``workers`` processes, yielding results in input order.

    ``omit_wnids`` are classes whose lemmas stay out of the dictionary (a recipe's).

    Work is split by ``plan_match_jobs`` (by file, and by row range within large
    files), so every process is busy whether there are many parts or one.

    Yields:
        (path, matched table, captions read) per file.
    """
    if workers <= 1:
        jobs = [MatchJob(str(p), text_column, 0, _open_parquet(p).metadata.num_rows) for p in paths]
    else:
        jobs = plan_match_jobs(paths, text_column=text_column, workers=workers)
    bar = tqdm(total=len(paths), unit="file", desc="match", disable=not progress)
    try:
        if workers <= 1 or len(jobs) == 1:
            _init_worker(vocab, mode, None, omit_wnids)
            yield from _by_file(paths, jobs, map(_match_in_worker, jobs), bar)
            return
        initargs = (vocab, mode, os.getpid(), omit_wnids)
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=initargs) as pool:
            yield from _by_file(paths, jobs, pool.map(_match_in_worker, jobs), bar)
    finally:
        bar.close()


def _by_file(
    paths: Sequence[Path], jobs: list[MatchJob], results: Iterator[tuple[pa.Table, int]], bar
) -> Iterator[tuple[Path, pa.Table, int]]:
    """Gather the jobs' results (in job order) into one table per file."""
    pending: list[pa.Table] = []
    captions = 0
    for index, (job, (table, n)) in enumerate(zip(jobs, results, strict=True)):
        pending.append(table)
        captions += n
        if index + 1 == len(jobs) or jobs[index + 1].path != job.path:
            path = next(p for p in paths if str(p) == job.path)
            bar.update()
            yield path, pa.concat_tables(pending), captions
            pending, captions = [], 0


def write_table_atomically(table: pa.Table, out: str | Path) -> None:
    """Write parquet to a temporary file beside ``out``, then rename it into place."""
    with open_atomically(out) as handle:
        pq.write_table(table, handle)
