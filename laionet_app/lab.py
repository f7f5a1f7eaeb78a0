"""Cached loader of the selection lab: each mechanism's samples measured like a dataset."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from laionet_app.connection import DbKey
from laionet_app.loaders import load_all_samples
from laionet_app.tables import load_datasets, load_embeddings, load_meta, load_synset_embeddings
from laionet_core import schema
from laionet_core.comparison import METRICS, build_metric_table, compute_sample_metric_rows
from laionet_core.selection_lab import LabParams, build_lab_summary, compute_lab_selections
from laionet_core.stats import compare_class_means
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT


@st.cache_data(show_spinner="Selecting and measuring each mechanism…", max_entries=16)
def load_lab(db: DbKey, dataset: str, params: LabParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every mechanism's summary and its class_metrics rows (``dataset`` = mechanism).

    Returns:
        ``(summary, rows)``: ``build_lab_summary``'s table and the per-class rows.
    """
    candidates = load_all_samples(db, dataset)
    masks = compute_lab_selections(candidates, params)
    info = load_datasets(db).set_index("dataset").loc[dataset]
    fmt = load_meta(db).get("synset_format", DEFAULT_SYNSET_TEXT_FORMAT)
    synsets = load_synset_embeddings(db, info["encoder"], fmt)
    embedded = load_embeddings(db, dataset, schema.IMAGE_EMBEDDINGS)
    rows = pd.concat(
        [
            compute_sample_metric_rows(mechanism, embedded, candidates[mask], synsets)
            for mechanism, mask in masks.items()
        ],
        ignore_index=True,
    )
    labels = candidates["wnid"].astype(str).to_numpy()
    summary = build_lab_summary(
        masks,
        labels,
        rows,
        metrics=METRICS,
        min_samples_per_class=params.selection.min_samples_per_class,
    )
    return summary, rows


def load_lab_difference(
    db: DbKey, dataset: str, params: LabParams, a: str, b: str, metric: str
) -> pd.DataFrame:
    """Per-class ``a - b`` of ``metric`` between two mechanisms, with 95% intervals."""
    _, rows = load_lab(db, dataset, params)
    return compare_class_means(
        build_metric_table(rows, a, metric),
        build_metric_table(rows, b, metric),
        value_column="value",
    )
