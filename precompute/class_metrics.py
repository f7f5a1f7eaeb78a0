"""``python -m precompute metrics``: per-class metrics of every dataset into class_metrics.

For each dataset with image embeddings: intra-class similarity, image-to-synset
similarity and CLIP zero-shot recall@1/@5 against every class of the database (synset
embeddings of the dataset's encoder and the database's synset format). Text-selected
datasets are measured on a selection: the paper's (threshold 0.82, NSFW and multi-label
captions dropped) under the dataset's own name, other ``--threshold`` values under
``"<dataset>@<T>"`` (see ``laionet_core.comparison``).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from laionet_core import queries, schema
from laionet_core.comparison import (
    METRIC_ZERO_SHOT_1,
    METRIC_ZERO_SHOT_5,
    compute_sample_metric_rows,
    default_selection,
    name_selection_dataset,
)
from laionet_core.selection import DEFAULT_THRESHOLD
from laionet_core.storage import open_database_for_update, write_class_metrics
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT
from precompute.predictions import DEFAULT_FIT_DATASET, simulate_predictions

logger = logging.getLogger(__name__)

# The demo's model: a nearest-class-mean classifier on the reference images (SIMULATED).
DEMO_MODEL = "simulated-nearest-class-mean"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``metrics``."""
    parser = subparsers.add_parser(
        "metrics",
        help="compute per-class metrics (intra-class similarity, zero-shot recall, ...)",
        description="Compute per-class metrics of every dataset and store them in "
        "class_metrics (text-selected datasets on the paper's selection).",
    )
    parser.add_argument("--db", type=Path, required=True, help="database to update")
    parser.add_argument(
        "--threshold",
        type=float,
        nargs="+",
        default=[DEFAULT_THRESHOLD],
        help="selection thresholds of text-selected datasets (default: %(default)s)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute and store."""
    rows = compute_database_metrics(args.db, thresholds=args.threshold)
    logger.info("stored %d class_metrics rows in %s", len(rows), args.db)
    return 0


def compute_database_metrics(db: Path, *, thresholds: list[float]) -> pd.DataFrame:
    """Compute every dataset's class metrics and replace them in ``db``.

    Args:
        db: An existing database.
        thresholds: Selection thresholds of text-selected datasets.

    Returns:
        The rows written (``comparison.METRIC_COLUMNS``).

    Raises:
        ValueError: a dataset's encoder has no synset embeddings in the database's format.
    """
    parts = []
    with open_database_for_update(db) as con:
        synset_format = queries.read_meta(con).get("synset_format", DEFAULT_SYNSET_TEXT_FORMAT)
        datasets = queries.read_datasets(con)
        for info in datasets.itertuples(index=False):
            embedded = queries.read_embeddings(con, info.dataset)
            if embedded[0].empty:
                logger.info("%s has no image embeddings; skipped", info.dataset)
                continue
            synsets = queries.read_synset_embeddings(con, info.encoder, synset_format)
            if not synsets[0]:
                raise ValueError(
                    f"no synset embeddings for encoder {info.encoder!r} and format "
                    f"{synset_format!r} (dataset {info.dataset!r})"
                )
            if info.kind == schema.KIND_TEXT_SELECTED:
                for t in thresholds:
                    params = replace(default_selection(), threshold=t)
                    samples = queries.read_selected_samples(con, info.dataset, params)
                    name = name_selection_dataset(info.dataset, params.threshold)
                    parts.append(compute_sample_metric_rows(name, embedded, samples, synsets))
            else:
                samples = queries.read_samples(con, info.dataset)
                parts.append(compute_sample_metric_rows(info.dataset, embedded, samples, synsets))
        rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if not rows.empty:
            write_class_metrics(con, rows)
    _log_summary(rows)
    return rows


def _log_summary(rows: pd.DataFrame) -> None:
    if rows.empty:
        return
    zero = rows[rows["metric"].isin([METRIC_ZERO_SHOT_1, METRIC_ZERO_SHOT_5])]
    summary = zero.groupby(["dataset", "metric"])["value"].mean().unstack()
    for dataset, row in summary.iterrows():
        logger.info(
            "%s: zero-shot top-1 %.3f, top-5 %.3f (mean per-class recall)",
            dataset,
            row.get(METRIC_ZERO_SHOT_1, np.nan),
            row.get(METRIC_ZERO_SHOT_5, np.nan),
        )


def add_demo_metrics(db: Path) -> None:
    """The demo's metrics stage: class metrics plus the SIMULATED model's predictions."""
    rows = compute_database_metrics(db, thresholds=[DEFAULT_THRESHOLD])
    if rows.empty or DEFAULT_FIT_DATASET not in set(rows["dataset"]):
        logger.info("no %s reference images: no simulated model predictions", DEFAULT_FIT_DATASET)
        return
    simulate_predictions(db, DEMO_MODEL)
