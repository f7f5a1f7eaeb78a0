"""``python -m precompute upgrade``: bring a version-2 database to this schema in place.

Adds ``samples.filtered`` (the recipe's content rules, ``laionet_core.content_rules``),
recounts the histograms and refreshes the selection statistics, atomically; the work
is ``precompute.build.upgrade.upgrade_database``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from laionet_core.recipes import DEFAULT_RECIPE, RECIPES, get_recipe
from precompute.build.ocr import check_ocr_files
from precompute.build.upgrade import upgrade_database
from precompute.cli.options import add_ocr_argument

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``upgrade``."""
    parser = subparsers.add_parser(
        "upgrade",
        help="upgrade a version-2 database in place (content rules, histograms, statistics)",
        description="Add samples.filtered (the recipe's NSFW and OCR rules), recount the "
        "similarity histograms and refresh the selection statistics of a version-2 "
        "database, in one transaction on a copy swapped in at the end. A current database "
        "can be upgraded again to apply another recipe's rules or OCR text.",
    )
    parser.add_argument("--db", type=Path, required=True, help="database to upgrade")
    parser.add_argument(
        "--recipe",
        choices=tuple(RECIPES),
        default=None,
        help="recipe whose content rules every dataset gets (default: the recipe recorded "
        f"with each dataset, else {DEFAULT_RECIPE})",
    )
    add_ocr_argument(
        parser,
        help_tail=") for the recipe's OCR rule",
    )
    parser.add_argument(
        "--class-order",
        action="store_true",
        help="also store the samples in class order, as new databases are (faster class "
        "reads; at 20M samples 75 s more, 4.4 GB of memory, a file larger by the samples "
        "table)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Upgrade the database."""
    ocr = check_ocr_files(args.ocr) if args.ocr else None
    recipe = get_recipe(args.recipe) if args.recipe else None
    counts = upgrade_database(args.db, recipe=recipe, ocr=ocr, class_order=args.class_order)
    for dataset, dropped in counts.items():
        logger.info("%s: %d samples dropped by the content rules", dataset, dropped["filtered"])
    return 0
