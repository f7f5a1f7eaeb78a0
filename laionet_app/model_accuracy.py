"""Cached loaders of the Model accuracy page: stored predictions as outcomes, the
selection's class weights, and uploaded prediction files.

Datasets kept by a threshold are taken at the user's selection (LAIONet) or at their
kind's paper selection, as in ``laionet_app.loaders``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from laionet_app.connection import DbKey, cursor
from laionet_app.loaders import (
    is_thresholded,
    load_all_samples,
    load_selected_samples,
    resolve_selection,
)
from laionet_app.tables import load_classes, load_datasets, load_histograms, load_selection_summary
from laionet_core import queries
from laionet_core.comparison import compute_accuracy_by_dataset
from laionet_core.prediction_outcomes import (
    compute_outcome_accuracy,
    prepare_outcomes,
    select_outcomes,
)
from laionet_core.queries_stats import read_prediction_outcomes
from laionet_core.selection import SelectionParams
from laionet_core.settings import IMAGENET_DATASET, LAIONET_DATASET
from laionet_core.uploads import parse_prediction_upload


@st.cache_data(show_spinner=False)
def load_prediction_models(db: DbKey) -> list[str]:
    """Models with stored predictions."""
    return queries.list_prediction_models(cursor(db))


@st.cache_resource(show_spinner="Loading predictions…", max_entries=2)
def _load_all_predictions(db: DbKey) -> dict[str, pd.DataFrame]:
    """Every stored model's outcomes, read in one join (the page compares them all)."""
    models = load_prediction_models(db)
    return {
        model: prepare_outcomes(rows)
        for model, rows in read_prediction_outcomes(cursor(db), models).items()
    }


def load_predictions(db: DbKey, model: str) -> pd.DataFrame:
    """Stored predictions of ``model`` as outcomes (shared, read-only): dataset, wnid,
    position of the true class in the top 5, bin, filtered, multi_label
    (``prediction_outcomes.prepare_outcomes``).

    Raises:
        KeyError: The database has no predictions of ``model``.
    """
    return _load_all_predictions(db)[model]


def parse_uploaded_predictions(db: DbKey, data: bytes, name: str) -> pd.DataFrame:
    """An uploaded prediction file in ``load_predictions``' shape, checked as the CLI checks
    files (``laionet_core.uploads``: columns capped, unknown wnids reported with counts).

    Raises:
        UploadError: One bounded line naming the file, column or value.
    """
    return parse_prediction_upload(
        data,
        name,
        datasets=load_datasets(db)["dataset"].tolist(),
        read_truth=lambda dataset: load_all_samples(db, dataset).set_index("sample_id")["wnid"],
        classes=load_classes(db)["wnid"].tolist(),
        default_dataset=LAIONET_DATASET,
    )


def compute_selection_weights(db: DbKey, laion: str, params: SelectionParams) -> pd.Series:
    """Class counts of the LAION-derived selection (the weights of Figure 5), from the
    precomputed histograms: classes with a sample, sorted by wnid."""
    counts = load_selection_summary(db, laion, params).class_counts
    weights = pd.Series(counts, index=load_histograms(db, laion).wnids, name="count")
    return weights[weights > 0].sort_index()


def restrict_to_selection(
    db: DbKey, predictions: pd.DataFrame, laion: str, params: SelectionParams
) -> pd.DataFrame:
    """Predictions with each thresholded dataset cut down to its selection: ``laion`` to
    the user's ``params``, the others (text-matched sets) to their kind's paper selection.
    """
    if "bin" in predictions.columns:  # stored outcomes: integer masks, no join
        keep = np.ones(len(predictions), dtype=bool)
        codes = predictions["dataset"].cat.codes.to_numpy()
        for code, dataset in enumerate(predictions["dataset"].cat.categories):
            chosen = resolve_selection(db, dataset, params if dataset == laion else None)
            if chosen is not None:
                keep &= (codes != code) | select_outcomes(predictions, chosen)
        return predictions[keep]
    keep = pd.Series(True, index=predictions.index)
    for dataset in predictions["dataset"].unique():
        if not is_thresholded(db, dataset):
            continue
        kept = load_selected_samples(db, dataset, params if dataset == laion else None)
        in_dataset = predictions["dataset"] == dataset
        keep &= ~in_dataset | predictions["sample_id"].isin(kept["sample_id"])
    return predictions[keep]


def build_accuracy_summary(
    predictions: pd.DataFrame, weights: pd.Series
) -> tuple[pd.DataFrame, dict]:
    """Figures 1 and 5: per dataset and k, equal and LAION-weighted accuracy with SEs.

    Returns:
        ``(summary, per_dataset)``: summary has dataset, k, equal, equal_se, weighted,
        weighted_se; per_dataset maps dataset -> ModelAccuracy.
    """
    if "position" in predictions.columns:
        per_dataset = compute_outcome_accuracy(predictions, class_weights=weights)
    else:
        per_dataset = compute_accuracy_by_dataset(predictions, class_weights=weights)
    rows = [acc.summary.reset_index().assign(dataset=name) for name, acc in per_dataset.items()]
    summary = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return summary, per_dataset


def build_model_comparison(
    db: DbKey, models: list[str], laion: str, params: SelectionParams
) -> pd.DataFrame:
    """Figure 1: every stored model's accuracy on ImageNet and on the LAION selection.

    Returns:
        One row per model and k: ``model``, ``k``, ``imagenet``, ``laion`` (equally
        weighted accuracy over the classes of the selection); models missing either
        dataset are left out.
    """
    weights = compute_selection_weights(db, laion, params)
    rows = []
    for model in models:
        chosen = restrict_to_selection(db, load_predictions(db, model), laion, params)
        summary, _ = build_accuracy_summary(chosen, weights)
        if summary.empty:
            continue
        wide = summary.pivot(index="k", columns="dataset", values="equal")
        if {IMAGENET_DATASET, laion} <= set(wide.columns):
            for k, row in wide.iterrows():
                rows.append(
                    {"model": model, "k": k, "imagenet": row[IMAGENET_DATASET], "laion": row[laion]}
                )
    return pd.DataFrame(rows, columns=["model", "k", "imagenet", "laion"])
