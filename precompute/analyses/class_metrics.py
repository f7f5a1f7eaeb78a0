"""Per-class metrics of every dataset into class_metrics (``python -m precompute metrics``).

For each dataset with image embeddings: intra-class similarity, image-to-synset
similarity and CLIP zero-shot recall@1/@5 against every class of the database (synset
embeddings of the dataset's encoder and the database's synset format). Text-selected
datasets are measured on the paper's selection (NSFW and multi-label captions dropped)
at each ``--threshold`` (0.82 by default); text-matched datasets (Section 4.3) at each
text-to-text ``--text-match-threshold`` (0.7); rows carry their ``threshold`` (see
``laionet_core.comparison``). ``write_dataset_metrics`` does one dataset (used by
``add-reference`` and ``text-match``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from laionet_core import queries, schema
from laionet_core.comparison import (
    METRIC_COLUMNS,
    METRIC_ZERO_SHOT_1,
    METRIC_ZERO_SHOT_5,
    compute_sample_metric_rows,
    default_selection_for_kind,
)
from laionet_core.export import SELECTION_SOURCE
from laionet_core.selection import (
    DEFAULT_TEXT_MATCH_THRESHOLD,
    DEFAULT_THRESHOLD,
    SelectionParams,
    snap_threshold,
)
from laionet_core.storage import open_database_for_update
from laionet_core.storage_results import write_class_metrics
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT
from precompute.analyses.selection_stats import write_dataset_selection_stats

logger = logging.getLogger(__name__)


def list_metric_selections(
    dataset: str,
    kind: str,
    *,
    thresholds: Sequence[float] = (DEFAULT_THRESHOLD,),
    text_match_thresholds: Sequence[float] = (DEFAULT_TEXT_MATCH_THRESHOLD,),
) -> list[tuple[float | None, SelectionParams | None]]:
    """The selections of one dataset that get class metrics, with their thresholds.

    Text-selected datasets at ``thresholds``, text-matched ones at
    ``text_match_thresholds``, any other dataset whole (threshold and selection None).
    Thresholds are snapped to the grid first, so repeated or near-equal ones (0.7 and
    0.701) give one selection, in first-given order.

    Raises:
        ValueError: A threshold off the grid's range or not finite (the option is named).
    """
    base = default_selection_for_kind(kind)
    if base is None:
        return [(None, None)]
    if kind == schema.KIND_TEXT_SELECTED:
        option, chosen = "--threshold", thresholds
    else:
        option, chosen = "--text-match-threshold", text_match_thresholds
    snapped: dict[float, None] = {}
    for t in chosen:
        try:
            snapped[snap_threshold(t)] = None
        except ValueError as error:
            raise ValueError(f"{option} {t!r}: {error}") from error
    if len(snapped) < len(chosen):
        logger.info("%s %s: %d distinct on the grid", option, list(chosen), len(snapped))
    return [(t, replace(base, threshold=t)) for t in snapped]


def compute_dataset_metrics(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    *,
    thresholds: Sequence[float] = (DEFAULT_THRESHOLD,),
    text_match_thresholds: Sequence[float] = (DEFAULT_TEXT_MATCH_THRESHOLD,),
) -> pd.DataFrame:
    """Class metrics of one dataset's selections (``list_metric_selections``).

    Args:
        con: An open connection to the database.
        dataset: A dataset of the database.
        thresholds, text_match_thresholds: See ``list_metric_selections``.

    Returns:
        Rows with ``comparison.METRIC_COLUMNS``; empty without image embeddings.

    Raises:
        ValueError: Unknown dataset, or its encoder has no synset embeddings in the
            database's format.
    """
    info = queries.read_dataset_info(con, dataset)
    if info is None:
        raise ValueError(f"no dataset {dataset!r} in the database")
    kind, encoder = info["kind"], info["encoder"]
    selections = list_metric_selections(
        dataset, kind, thresholds=thresholds, text_match_thresholds=text_match_thresholds
    )
    if info["parameters"].get(SELECTION_SOURCE):  # a downloaded selection: never re-selected
        selections = [(None, None)]
    embedded = queries.read_embeddings(con, dataset, above=_lowest_threshold(selections))
    if embedded[0].empty:
        logger.info("%s has no image embeddings; no class metrics", dataset)
        return pd.DataFrame(columns=list(METRIC_COLUMNS))
    synset_format = queries.read_meta(con).get("synset_format", DEFAULT_SYNSET_TEXT_FORMAT)
    synsets = queries.read_synset_embeddings(con, encoder, synset_format)
    if not synsets[0]:
        raise ValueError(
            f"no synset embeddings for encoder {encoder!r} and format "
            f"{synset_format!r} (dataset {dataset!r})"
        )
    parts = []
    for threshold, params in selections:
        if params is None:
            samples = queries.read_samples(con, dataset)
        else:
            samples = queries.read_selected_samples(con, dataset, params)
        rows = compute_sample_metric_rows(dataset, embedded, samples, synsets, threshold=threshold)
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def _lowest_threshold(selections: list[tuple[float | None, object]]) -> float | None:
    """The lowest threshold of thresholded selections: embeddings at or below it are
    never measured, so they are not read (None when a selection uses the dataset whole)."""
    if any(params is None for _, params in selections):
        return None
    return min(threshold for threshold, _ in selections)


def write_dataset_metrics(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    *,
    text_match_thresholds: Sequence[float] = (DEFAULT_TEXT_MATCH_THRESHOLD,),
) -> pd.DataFrame:
    """Compute, replace and log one dataset's class metrics (``compute_dataset_metrics``).

    Returns:
        The rows written (empty without image embeddings).
    """
    rows = compute_dataset_metrics(con, dataset, text_match_thresholds=text_match_thresholds)
    if not rows.empty:
        write_class_metrics(con, rows)
        write_dataset_selection_stats(con, dataset)
        log_metric_summary(rows)
    return rows


def compute_database_metrics(
    db: Path,
    *,
    thresholds: Sequence[float] = (DEFAULT_THRESHOLD,),
    text_match_thresholds: Sequence[float] = (DEFAULT_TEXT_MATCH_THRESHOLD,),
) -> pd.DataFrame:
    """Compute every dataset's class metrics and replace them in ``db``.

    Args:
        db: An existing database.
        thresholds: Selection thresholds of text-selected datasets.
        text_match_thresholds: Text-to-text thresholds of text-matched datasets.

    Returns:
        The rows written (``comparison.METRIC_COLUMNS``).

    Raises:
        ValueError: a dataset's encoder has no synset embeddings in the database's format.
    """
    parts = []
    with open_database_for_update(db) as con:
        for dataset in queries.read_datasets(con)["dataset"]:
            rows = compute_dataset_metrics(
                con, dataset, thresholds=thresholds, text_match_thresholds=text_match_thresholds
            )
            if not rows.empty:
                parts.append(rows)
                write_dataset_selection_stats(con, dataset)
        rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if not rows.empty:
            write_class_metrics(con, rows)
    log_metric_summary(rows)
    return rows


def log_metric_summary(rows: pd.DataFrame) -> None:
    """Log each dataset's zero-shot top-1/top-5 accuracy (mean per-class recall)."""
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
