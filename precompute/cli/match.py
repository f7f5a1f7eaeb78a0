"""``python -m precompute match``: LAION metadata parquet -> captions that name a synset.

Reads only the caption column (and ``SAMPLE_ID`` when present) batch by batch, matches
lemmas with :class:`laionet_core.matching.LemmaMatcher`, and writes one row per matched
caption: ``key``, ``wnids``, ``lemmas``. Files are matched in parallel processes; the
output is written atomically (a temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import argparse
import glob
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from laionet_core.matching import DEFAULT_MATCH_MODE, MATCH_MODES, LemmaMatcher
from laionet_core.vocabulary import load_vocabulary
from precompute.build.lifetime import die_with_parent
from precompute.cli.options import refuse_output_over_inputs
from precompute.ingest.sample_ids import require_sample_id_type

logger = logging.getLogger(__name__)

# Caption columns we recognise, in order: LAION-400M parts, then the embeddings release.
TEXT_COLUMNS = ("TEXT", "caption")
# LAION's sample identifier; rows without one are keyed "<file name>:<row>".
SAMPLE_ID_COLUMN = "SAMPLE_ID"
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


def _render_sample_ids(values: pa.Array) -> list[str | None]:
    """SAMPLE_ID values as strings; integral floats lose their ".0"; null/NaN -> None."""
    if pa.types.is_floating(values.type):
        numbers = values.to_numpy(zero_copy_only=False).astype(np.float64)
        integral = np.isfinite(numbers) & (numbers == np.round(numbers))
        if integral.all():
            return pa.array(numbers.astype(np.int64)).cast(pa.string()).to_pylist()
        return [
            None if math.isnan(v) else (str(int(v)) if ok else str(v))
            for v, ok in zip(numbers.tolist(), integral.tolist(), strict=True)
        ]
    return values.cast(pa.string()).to_pylist()


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
    columns = [column] + ([SAMPLE_ID_COLUMN] if SAMPLE_ID_COLUMN in names else [])
    if SAMPLE_ID_COLUMN in names:
        id_type = parquet.schema_arrow.field(SAMPLE_ID_COLUMN).type
        require_sample_id_type(id_type, where=f"{path}: column {SAMPLE_ID_COLUMN}")
    keys: list[str] = []
    wnids: list[tuple[str, ...]] = []
    lemmas: list[tuple[str, ...]] = []
    start = 0
    for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS, columns=columns):
        matches = matcher.match(batch.column(column))
        if len(matches.rows):
            sample_ids: list[str | None] = [None] * len(matches.rows)
            if SAMPLE_ID_COLUMN in columns:
                chosen = batch.column(SAMPLE_ID_COLUMN).take(pa.array(matches.rows))
                sample_ids = _render_sample_ids(chosen)
            rows = (matches.rows + start).tolist()
            keys.extend(
                sid if sid is not None else f"{path.name}:{row}"
                for sid, row in zip(sample_ids, rows, strict=True)
            )
            wnids.extend(matches.wnids)
            lemmas.extend(matches.lemmas)
        start += batch.num_rows
    table = pa.table(
        {"key": keys, "wnids": wnids, "lemmas": lemmas},
        schema=MATCH_SCHEMA,
    )
    return table, start


def _init_worker(vocab: str | None, mode: str, parent_pid: int | None = None) -> None:
    global _worker_matcher
    if parent_pid is not None:  # a pool process: end with the command
        die_with_parent(parent_pid)
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
        initargs = (vocab, mode, os.getpid())
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=initargs) as pool:
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


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``match``."""
    parser = subparsers.add_parser(
        "match",
        help="find captions that contain an ImageNet lemma",
        description="Write one row (key, wnids, lemmas) per caption naming a synset.",
    )
    parser.add_argument("--input", required=True, help="glob of LAION metadata parquet files")
    parser.add_argument("--out", required=True, help="output parquet file")
    parser.add_argument(
        "--mode",
        choices=MATCH_MODES,
        default=DEFAULT_MATCH_MODE,
        help=f"lemma matching rules (default {DEFAULT_MATCH_MODE}; see docs/MATCHING.md)",
    )
    parser.add_argument(
        "--vocab", default=None, help="file of wnids, one per line (default ImageNet-1k)"
    )
    parser.add_argument(
        "--text-column",
        default=None,
        help=f"caption column (default: the first of {', '.join(TEXT_COLUMNS)})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="parallel processes (default min(2, CPUs))",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Match every input file and write the matches; returns 0."""
    paths = list_input_files(args.input)
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    refuse_output_over_inputs(
        args.out, [("--vocab", args.vocab), *(("an --input file", p) for p in paths)]
    )
    load_vocabulary(args.vocab)  # fail on a bad --vocab before any worker starts
    started = time.perf_counter()
    tables: list[pa.Table] = []
    captions = 0
    for _, table, n in match_parquet_files(
        paths,
        vocab=args.vocab,
        mode=args.mode,
        text_column=args.text_column,
        workers=args.workers,
    ):
        tables.append(table)
        captions += n
    result = pa.concat_tables(tables) if tables else MATCH_SCHEMA.empty_table()
    write_table_atomically(result, args.out)
    seconds = time.perf_counter() - started
    multi = int(np.sum(np.asarray(result["wnids"].combine_chunks().value_lengths()) > 1))
    logger.info(
        "%d files, %d captions read, %d matched (%.2f%%), %d multi-label, "
        "%.0f captions/s (%s mode) -> %s",
        len(paths),
        captions,
        result.num_rows,
        100 * result.num_rows / max(captions, 1),
        multi,
        captions / max(seconds, 1e-9),
        args.mode,
        args.out,
    )
    return 0
