"""``python -m precompute add-predictions``: a model's top-5 predictions into the database.

``--from FILE`` stores a file's predictions (``precompute.analyses.predictions``);
``--simulate`` the SIMULATED nearest-class-mean model of ``precompute.simulate.predictions``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from laionet_core.settings import LAIONET_DATASET
from precompute.analyses.predictions import add_prediction_file
from precompute.cli.options import nonempty_name
from precompute.simulate.predictions import (
    DEFAULT_FIT_DATASET,
    TARGET_FIT_ACCURACY,
    simulate_predictions,
)

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``add-predictions``."""
    parser = subparsers.add_parser(
        "add-predictions",
        help="store a model's top-5 predictions (from a file, or a simulated model)",
        description="Store top-5 predicted wnids per sample in the predictions table.",
    )
    parser.add_argument("--db", type=Path, required=True, help="database to update")
    parser.add_argument(
        "--model", type=nonempty_name, required=True, help="model name to store them under"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", type=Path, help="parquet or CSV predictions")
    source.add_argument(
        "--simulate",
        action="store_true",
        help="a SIMULATED nearest-class-mean model fitted on the reference images",
    )
    parser.add_argument(
        "--dataset",
        type=nonempty_name,
        default=LAIONET_DATASET,
        help="dataset of the file's samples when it has no 'dataset' column (default: %(default)s)",
    )
    parser.add_argument(
        "--fit-dataset",
        type=nonempty_name,
        default=DEFAULT_FIT_DATASET,
        help="dataset whose class means the simulated model uses (default: %(default)s)",
    )
    parser.add_argument(
        "--target-accuracy",
        type=float,
        default=TARGET_FIT_ACCURACY,
        help="simulated model's top-1 accuracy on the fit dataset (default: %(default)s)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read or simulate, then store."""
    if args.simulate:
        model = simulate_predictions(
            args.db,
            args.model,
            fit_dataset=args.fit_dataset,
            target_accuracy=args.target_accuracy,
        )
    else:
        model = add_prediction_file(args.db, args.model, args.source, dataset=args.dataset)
    logger.info("stored predictions of %s in %s", model, args.db)
    return 0
