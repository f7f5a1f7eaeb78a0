"""``python -m precompute metrics``: per-class metrics of every dataset into class_metrics.

The work is ``precompute.analyses.class_metrics.compute_database_metrics``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from laionet_core.selection import DEFAULT_TEXT_MATCH_THRESHOLD, DEFAULT_THRESHOLD
from precompute.analyses.class_metrics import compute_database_metrics
from precompute.cli.options import similarity
from precompute.cli.recipes import add_recipe_argument, resolve_recipe

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``metrics``."""
    parser = subparsers.add_parser(
        "metrics",
        help="compute per-class metrics (intra-class similarity, zero-shot recall, ...)",
        description="Compute per-class metrics of every dataset and store them in "
        "class_metrics (text-selected datasets on the paper's selection, text-matched "
        "ones above the text-to-text threshold).",
    )
    parser.add_argument("--db", type=Path, required=True, help="database to update")
    parser.add_argument(
        "--threshold",
        type=similarity,
        nargs="+",
        default=None,
        help=f"selection thresholds of text-selected datasets (default: the recipe's, "
        f"{DEFAULT_THRESHOLD})",
    )
    parser.add_argument(
        "--text-match-threshold",
        type=similarity,
        nargs="+",
        default=None,
        help=f"text-to-text thresholds of text-matched datasets (default: the recipe's, "
        f"{DEFAULT_TEXT_MATCH_THRESHOLD})",
    )
    add_recipe_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute and store (both intra-class estimators; the recipe names the one in use)."""
    recipe = resolve_recipe(args)
    thresholds = args.threshold or [recipe.threshold]
    text_match_thresholds = args.text_match_threshold or [recipe.text_match_threshold]
    logger.info(
        "intra-class similarity is stored with both estimators; recipe %s uses %s",
        recipe.name,
        recipe.intra_class_estimator,
    )
    rows = compute_database_metrics(
        args.db, thresholds=thresholds, text_match_thresholds=text_match_thresholds
    )
    logger.info("stored %d class_metrics rows in %s", len(rows), args.db)
    return 0
