"""``python -m precompute match``: LAION metadata parquet -> captions that name a synset.

The work is ``precompute.match.parquet``: one row (key, wnids, lemmas) per matched caption.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import numpy as np
import pyarrow as pa

from laionet_core.matching import MATCH_MODES
from laionet_core.vocabulary import load_vocabulary
from precompute.cli.options import MAX_WORKERS, int_between, refuse_output_over_inputs
from precompute.cli.recipes import add_recipe_argument, resolve_recipe
from precompute.match.parquet import (
    MATCH_SCHEMA,
    TEXT_COLUMNS,
    list_input_files,
    match_parquet_files,
    write_table_atomically,
)

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``match``."""
    parser = subparsers.add_parser(
        "match",
        help="find captions that contain an ImageNet lemma",
        description="Write one row (key, wnids, lemmas) per caption naming a synset.",
    )
    parser.add_argument("--input", required=True, help="glob of LAION metadata parquet files")
    parser.add_argument("--out", required=True, help="output parquet file")
    add_recipe_argument(parser)
    parser.add_argument(
        "--mode",
        choices=MATCH_MODES,
        default=None,
        help="lemma matching rules (default: the recipe's; see docs/MATCHING.md)",
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
        type=int_between(None, MAX_WORKERS),
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
    recipe = resolve_recipe(args, match_mode=args.mode)
    started = time.perf_counter()
    tables: list[pa.Table] = []
    captions = 0
    for _, table, n in match_parquet_files(
        paths,
        vocab=args.vocab,
        mode=recipe.match_mode,
        text_column=args.text_column,
        workers=args.workers,
        omit_wnids=recipe.lemma_source_omits,
    ):
        tables.append(table)
        captions += n
    result = pa.concat_tables(tables) if tables else MATCH_SCHEMA.empty_table()
    write_table_atomically(result, args.out)
    seconds = time.perf_counter() - started
    multi = int(np.sum(np.asarray(result["wnids"].combine_chunks().value_lengths()) > 1))
    logger.info(
        "%d files, %d captions read, %d matched (%.2f%%), %d multi-label, "
        "%.0f captions/s (%s mode, recipe %s) -> %s",
        len(paths),
        captions,
        result.num_rows,
        100 * result.num_rows / max(captions, 1),
        multi,
        captions / max(seconds, 1e-9),
        recipe.match_mode,
        recipe.name,
        args.out,
    )
    return 0
