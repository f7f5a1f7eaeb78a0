"""Checked option types and the output-is-input refusal shared by the commands.

The ``type=`` callables make argparse refuse a bad value before any work, with a
message that names the option (``argument --model: must not be empty``).
``refuse_output_over_inputs`` stops a command whose output path would replace one of
its own inputs.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

# Longest dataset or model name: it is shown on every page and stored in every row.
MAX_NAME_CHARS = 200
# The first bytes of a DuckDB file carry this magic at offset 8.
DUCKDB_MAGIC = b"DUCK"
# More worker processes than any one machine runs: a typo, not a plan.
MAX_WORKERS = 1024
# Counts go to C libraries (faiss, numpy, torch) as 32-bit ints.
MAX_COUNT = 2**31 - 1
# Images per forward pass: far beyond any accelerator's memory.
MAX_BATCH_SIZE = 1 << 16


# What every ``--ocr`` reads: ``python -m precompute ocr``'s output or metadata parts.
OCR_FILES_HELP = "parquet file(s) with SAMPLE_ID and ocr_text (python -m precompute ocr's output"


def add_ocr_argument(parser: argparse.ArgumentParser, *, help_tail: str) -> None:
    """``--ocr FILE.parquet [...]``: recognised image text for a recipe's OCR rule.

    Args:
        parser: The command's parser.
        help_tail: The rest of the help after ``OCR_FILES_HELP``, saying what the
            command does with the text.
    """
    parser.add_argument(
        "--ocr",
        type=Path,
        nargs="+",
        default=None,
        metavar="FILE.parquet",
        help=f"{OCR_FILES_HELP}{help_tail}",
    )


def nonempty_name(value: str) -> str:
    """A dataset or model name: not blank, printable, at most ``MAX_NAME_CHARS`` long."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    if len(value) > MAX_NAME_CHARS:
        raise argparse.ArgumentTypeError(f"{len(value)} characters; at most {MAX_NAME_CHARS}")
    if not value.isprintable():
        raise argparse.ArgumentTypeError(f"{value!r} holds control characters")
    return value


def similarity(value: str) -> float:
    """A cosine-similarity threshold: a finite number in [-1, 1]."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(number) or not -1.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a similarity in [-1, 1]")
    return number


def _parse_int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None


def int_between(low: int | None, high: int) -> Callable[[str], int]:
    """An option type: an integer in ``[low, high]`` (``low`` None: the command checks it)."""

    def parse(value: str) -> int:
        number = _parse_int(value)
        if low is not None and number < low:
            raise argparse.ArgumentTypeError(f"{value!r} must be >= {low}")
        if number > high:
            raise argparse.ArgumentTypeError(f"{value!r} is more than {high}")
        return number

    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse


positive_int = int_between(1, MAX_COUNT)
worker_count = int_between(1, MAX_WORKERS)
# Image decoding may run in the command's own process (0 workers).
decode_worker_count = int_between(0, MAX_WORKERS)
batch_size = int_between(1, MAX_BATCH_SIZE)
random_seed = int_between(0, 2**63 - 1)


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (after symlinks; hard links too)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def refuse_output_over_inputs(
    out: str | Path, inputs: Iterable[tuple[str, str | Path | None]], *, option: str = "--out"
) -> None:
    """Raise unless ``out`` differs from every input.

    Args:
        out: The file the command writes.
        inputs: ``(option, path)`` pairs of what it reads; None paths are skipped.
        option: The output's option, for the message.

    Raises:
        ValueError: ``out`` is one of the inputs (both options and the path named).
    """
    out = Path(out)
    for name, path in inputs:
        if path is not None and str(path) and _same_file(out, Path(path)):
            raise ValueError(
                f"{option} {out} is also {name}: writing it would replace the command's own "
                "input; choose another output path"
            )


def refuse_replacing_a_non_database(db: str | Path, *, option: str = "--db") -> None:
    """Raise when ``db`` exists and is not a DuckDB file (a build would replace it).

    Raises:
        ValueError: ``db`` is a folder, or a file without DuckDB's header (named).
    """
    path = Path(db)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; give the database file's path")
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with path.open("rb") as handle:
            header = handle.read(12)
    except OSError as error:
        raise ValueError(f"{option} {path}: cannot read it ({error.strerror})") from error
    if header[8:12] != DUCKDB_MAGIC:
        raise ValueError(
            f"{option} {path} exists and is not a DuckDB database; refusing to replace it "
            "(move it away or choose another path)"
        )
