"""Cached loader of the selection lab: each mechanism's samples measured like a dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from laionet_app.connection import DbKey, cursor
from laionet_app.definitions import METRIC_LABELS
from laionet_app.tables import load_dataset_synsets, read_dataset_parameters
from laionet_app.text import escape_markdown
from laionet_core.comparison import build_metric_table, compute_class_metric_rows
from laionet_core.queries import read_embedding_floor
from laionet_core.queries_lab import (
    LabCandidates,
    read_lab_candidates,
    read_stored_lab_candidates,
)
from laionet_core.ranking import compute_true_class_ranks
from laionet_core.selection_lab import LabParams, build_lab_summary, compute_lab_selections
from laionet_core.stats import compare_class_means


@st.cache_resource(show_spinner="Reading the candidates and their embeddings…", max_entries=1)
def load_lab_candidates(db: DbKey, dataset: str) -> tuple[LabCandidates, np.ndarray]:
    """Shared, read-only: the embedded candidates the lab measures (at most
    ``LAB_MAX_CANDIDATES``, a seeded sample beyond) and each one's true-class rank
    among the class texts (zero-shot recall), scored once for every mechanism."""
    pool = read_stored_lab_candidates(cursor(db), dataset)
    if pool is not None:  # stored by ``precompute metrics``, ranks included
        return pool, pool.true_ranks
    pool = read_lab_candidates(cursor(db), dataset)
    synset_wnids, synset_embeddings = load_dataset_synsets(db, dataset)
    _, ranks = compute_true_class_ranks(
        pool.embeddings, pool.rows["wnid"].to_numpy(), synset_embeddings, synset_wnids
    )
    ranks.setflags(write=False)
    return pool, ranks


def describe_lab_pool(db: DbKey, dataset: str) -> str:
    """One sentence on the candidates the mechanisms draw from."""
    pool, _ = load_lab_candidates(db, dataset)
    text = (
        f"Candidates: the {pool.embedded:,} of {pool.samples:,} samples of "
        f"{escape_markdown(dataset)} with a "
        "stored image embedding (the image metrics need one)."
    )
    if pool.sampled:
        text += (
            f" At this scale the lab measures a seeded uniform sample of {len(pool.rows):,} "
            "of them (every class keeps its share; every mechanism draws from the same rows)."
        )
    floor = read_embedding_floor(read_dataset_parameters(db, dataset))
    if floor is not None:
        text += (
            f" The build stored image embeddings only for captions above {floor:.3f}, "
            "so at a text threshold at or below it every mechanism keeps the same samples."
        )
    return text


@st.cache_data(show_spinner="Selecting and measuring each mechanism…", max_entries=16)
def load_lab(db: DbKey, dataset: str, params: LabParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every mechanism's summary and its class_metrics rows (``dataset`` = mechanism).

    Returns:
        ``(summary, rows)``: ``build_lab_summary``'s table and the per-class rows.
    """
    pool, ranks = load_lab_candidates(db, dataset)
    candidates = pool.rows
    masks = compute_lab_selections(candidates, params)
    synset_wnids, synset_embeddings = load_dataset_synsets(db, dataset)
    labels = candidates["wnid"].astype(str).to_numpy()
    image = candidates["image_similarity"].to_numpy(np.float64)
    rows = pd.concat(
        [
            compute_class_metric_rows(
                mechanism,
                labels[mask],
                pool.embeddings,
                image[mask],
                synset_embeddings,
                synset_wnids,
                true_class_ranks=ranks[mask],
                metrics=tuple(METRIC_LABELS),
                rows=np.flatnonzero(mask),  # read in place, not copied per mechanism
            )
            for mechanism, mask in masks.items()
        ],
        ignore_index=True,
    )
    summary = build_lab_summary(
        masks,
        labels,
        rows,
        metrics=tuple(METRIC_LABELS),  # the four of the paper's figures
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
