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
        default=[DEFAULT_THRESHOLD],
        help="selection thresholds of text-selected datasets (default: %(default)s)",
    )
    parser.add_argument(
        "--text-match-threshold",
        type=similarity,
        nargs="+",
        default=[DEFAULT_TEXT_MATCH_THRESHOLD],
        help="text-to-text thresholds of text-matched datasets (default: %(default)s)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute and store."""
    rows = compute_database_metrics(
        args.db, thresholds=args.threshold, text_match_thresholds=args.text_match_threshold
    )
    logger.info("stored %d class_metrics rows in %s", len(rows), args.db)
    return 0
