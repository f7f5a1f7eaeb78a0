"""Cached loaders of the Compare datasets, Model accuracy and Diagnose ImageNet pages.

Datasets kept by a threshold (text-selected and text-matched) are taken at the user's
selection or, when none is given, at their kind's paper selection; the others are used
whole. Per-class metrics come from the rows ``python -m precompute metrics`` stored
(datasets taken whole, and thresholded ones at the paper selection) and are otherwise
computed live with the closed-form functions, cached by database, dataset and selection.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from laionet_app.connection import DbKey, cursor
from laionet_app.tables import (
    load_class_metrics,
    load_classes,
    load_dataset_synsets,
    load_datasets,
    load_embeddings,
    load_selection_stats,
    load_selection_subsets,
    read_dataset_kind,
    read_dataset_parameters,
)
from laionet_core import queries, schema
from laionet_core.comparison import (
    IMAGENETV2_SELECTION_FREQUENCY,
    METRIC_IMAGE_SIMILARITY,
    METRIC_INTRA,
    METRIC_ZERO_SHOT_1,
    METRIC_ZERO_SHOT_5,
    build_metric_table,
    compute_matched_pair_counts,
    compute_sample_metric_rows,
    compute_variant_panel,
    default_selection_for_kind,
)
from laionet_core.export import is_downloaded_selection
from laionet_core.metrics import bin_caption_diagnostics, sample_pairwise_similarities
from laionet_core.selection import SelectionParams
from laionet_core.selection_pairs import (
    PairHistogram,
    bin_pair_similarities,
    draw_matched_pair_histogram,
)
from laionet_core.selection_stats import count_selected_rows, evaluate_metric_rows
from laionet_core.settings import IMAGENET_DATASET
from laionet_core.stats import compare_class_means, compute_significance_shares
from laionet_core.thresholds import THRESHOLDED_KINDS

# The metrics selection statistics give (the paper's estimator is stored by metrics only).
STATS_METRICS = (METRIC_INTRA, METRIC_IMAGE_SIMILARITY, METRIC_ZERO_SHOT_1, METRIC_ZERO_SHOT_5)
# Seed of the Figure 6a pair sample, so the histogram does not move on every rerun.
PAIR_SEED = 0


def is_thresholded(db: DbKey, dataset: str) -> bool:
    """True when ``dataset`` is kept by a threshold on ``text_similarity`` (LAIONet-like
    or text-matched), so selection controls apply to it."""
    if is_downloaded_selection(read_dataset_parameters(db, dataset)):
        return False  # a downloaded export: its selection was made before the download
    return read_dataset_kind(db, dataset) in THRESHOLDED_KINDS


def _selection(db: DbKey, dataset: str, params: SelectionParams | None) -> SelectionParams | None:
    """The selection of ``dataset``: ``params``, or its kind's paper default when None;
    None for datasets used whole."""
    kind = read_dataset_kind(db, dataset)
    if kind not in THRESHOLDED_KINDS or not is_thresholded(db, dataset):
        return None
    return params if params is not None else default_selection_for_kind(kind)


def resolve_selection(
    db: DbKey, dataset: str, params: SelectionParams | None
) -> SelectionParams | None:
    """``params``, the kind's paper selection when None, or None for a dataset used whole."""
    return _selection(db, dataset, params)


@st.cache_resource(show_spinner=False, max_entries=4)
def load_all_samples(db: DbKey, dataset: str) -> pd.DataFrame:
    """Every sample of ``dataset``, scored or not (shared: callers must not modify it)."""
    return queries.read_samples(cursor(db), dataset)


@st.cache_resource(show_spinner=False, max_entries=4)
def load_selected_samples(db: DbKey, dataset: str, params: SelectionParams | None) -> pd.DataFrame:
    """Samples of ``dataset`` kept by its selection (``_selection``); every sample of a
    dataset used whole."""
    params = _selection(db, dataset, params)
    if params is None:
        return load_all_samples(db, dataset)
    return queries.read_selected_samples(cursor(db), dataset, params)


@st.cache_data(show_spinner="Computing metrics…", max_entries=32)
def load_metric_rows(db: DbKey, dataset: str, params: SelectionParams | None) -> pd.DataFrame:
    """class_metrics rows of one dataset (or its selection), stored, looked up or live.

    Stored rows are used for datasets taken whole and for the kind's paper selection at
    any threshold that ``python -m precompute metrics`` stored. Other selections come
    from the precomputed selection statistics (a lookup per class); only a database
    without them is computed live from the embeddings.
    """
    params = _selection(db, dataset, params)
    if params is None or _is_paper_selection(db, dataset, params):
        threshold = None if params is None else params.threshold
        stored = load_class_metrics(db, dataset, threshold=threshold)
        if not stored.empty:
            return stored
    stats = load_selection_stats(db, dataset) if params is not None else None
    if stats is not None:
        return evaluate_metric_rows(stats, params, dataset, metrics=STATS_METRICS)
    synsets = load_dataset_synsets(db, dataset)
    embedded = load_embeddings(db, dataset, schema.IMAGE_EMBEDDINGS)
    selected = load_selected_samples(db, dataset, params)
    threshold = None if params is None else params.threshold
    return compute_sample_metric_rows(dataset, embedded, selected, synsets, threshold=threshold)


def _is_paper_selection(db: DbKey, dataset: str, params: SelectionParams) -> bool:
    """``params`` filters as the kind's paper selection does, at any threshold (coverage
    aside): its stored metrics, if any, are the ones at ``params.threshold``."""
    paper = default_selection_for_kind(read_dataset_kind(db, dataset))
    if paper is None:
        return False
    ignored = {"threshold": 0.0, "min_samples_per_class": 1}
    return replace(params, **ignored) == replace(paper, **ignored)


def load_metric_table(
    db: DbKey, dataset: str, params: SelectionParams | None, metric: str
) -> pd.DataFrame:
    """One metric of one dataset, indexed by wnid: ``n``, ``value``, ``ci_low``, ``ci_high``."""
    return build_metric_table(load_metric_rows(db, dataset, params), dataset, metric)


def load_difference(
    db: DbKey,
    a: str,
    params_a: SelectionParams | None,
    b: str,
    params_b: SelectionParams | None,
    metric: str,
) -> pd.DataFrame:
    """Per-class ``a - b`` of ``metric`` with its 95% interval, sorted ascending."""
    return compare_class_means(
        load_metric_table(db, a, params_a, metric),
        load_metric_table(db, b, params_b, metric),
        value_column="value",
    )


@st.cache_data(show_spinner="Sampling pairs…", max_entries=16)
def load_matched_pairs(
    db: DbKey, a: str, params_a: SelectionParams | None, b: str, params_b: SelectionParams | None
) -> PairHistogram:
    """Figure 6a: pairwise similarities within classes, equal pair counts per class,
    binned (at most 100 bars a side reach the browser).

    Drawn from the precomputed class subsets when both datasets have them, else from
    the embeddings.
    """
    sides = [(a, _selection(db, a, params_a)), (b, _selection(db, b, params_b))]
    stats = [load_selection_stats(db, name) for name, _ in sides]
    if all(s is not None for s in stats):
        counts = [count_selected_rows(s, p) for s, (_, p) in zip(stats, sides, strict=True)]
        pairs = compute_matched_pair_counts(counts[0], counts[1])
        chosen = [(name, load_selection_subsets(db, name), p) for name, p in sides]
        return draw_matched_pair_histogram(chosen, pairs, seed=PAIR_SEED)
    return _draw_live_pairs(db, sides)


def _draw_live_pairs(db: DbKey, sides: list[tuple[str, SelectionParams | None]]) -> PairHistogram:
    """``load_matched_pairs`` from the embeddings (no selection statistics stored)."""
    drawn = []
    for name, params in sides:
        ids, emb = load_embeddings(db, name, schema.IMAGE_EMBEDDINGS)
        keep = ids["sample_id"].isin(load_selected_samples(db, name, params)["sample_id"])
        drawn.append((name, ids["wnid"].to_numpy()[keep], emb[keep.to_numpy()]))
    counts = [pd.Series(labels).value_counts() for _, labels, _ in drawn]
    pairs = compute_matched_pair_counts(counts[0], counts[1])
    values, classes, total = {}, 0, 0
    for name, labels, emb in drawn:
        if pairs.empty:
            break
        frame = sample_pairwise_similarities(emb, labels, n_pairs_per_label=pairs, seed=PAIR_SEED)
        values[name] = frame["similarity"].to_numpy()
        classes, total = frame["label"].nunique(), len(frame)
    return PairHistogram(bin_pair_similarities(values), classes=classes, pairs_each=total)


def load_variant_panel(db: DbKey, laion: str, params: SelectionParams | None) -> pd.DataFrame:
    """Figure 8b/c for intra-class similarity: ``laion`` (at ``params``) and ImageNet vs
    ImageNetV2 a/b/c."""
    names = set(load_datasets(db)["dataset"])
    wanted = [laion, IMAGENET_DATASET, *IMAGENETV2_SELECTION_FREQUENCY]
    tables = {
        name: load_metric_table(db, name, params if name == laion else None, METRIC_INTRA)
        for name in wanted
        if name in names
    }
    return compute_variant_panel(tables, references=[laion, IMAGENET_DATASET])


@st.cache_data(show_spinner=False, max_entries=8)
def load_caption_diagnostics(db: DbKey, dataset: str) -> pd.DataFrame:
    """Section 4.2 per caption: sample_id, wnid, text, similarity (to its own synset),
    proportion_more_similar (share of the other classes more similar); empty if none."""
    diagnostics = queries.read_caption_diagnostics(cursor(db), dataset)
    texts = load_all_samples(db, dataset).set_index("sample_id")["text"]
    return diagnostics.rename(
        columns={
            "own_similarity": "similarity",
            "false_classes_more_similar": "proportion_more_similar",
        }
    ).assign(text=lambda d: texts.reindex(d["sample_id"]).to_numpy())


def load_least_explained_captions(db: DbKey, dataset: str, rows: int) -> pd.DataFrame:
    """The ``rows`` captions least similar to their own synset, with their class name."""
    names = load_classes(db).set_index("wnid")["name"]
    least = load_caption_diagnostics(db, dataset).nsmallest(rows, "similarity")
    return least.assign(label=names.reindex(least["wnid"]).to_numpy())


def load_caption_diagnostic_bins(db: DbKey, dataset: str) -> pd.DataFrame:
    """Figure 9b: mean share of more-similar false classes per 0.05 similarity bin."""
    return bin_caption_diagnostics(load_caption_diagnostics(db, dataset))


@st.cache_data(show_spinner="Comparing at each threshold…", max_entries=16)
def load_significance_sweep(
    db: DbKey,
    matched: str,
    reference: str,
    params: SelectionParams,
    thresholds: tuple[float, ...],
) -> pd.DataFrame:
    """Figure 16b: shares of classes significantly lower in intra-class similarity, on
    each side, as the selection threshold of ``matched`` varies.

    Returns:
        Rows ``threshold``, ``side`` ("<matched> lower" or "<reference> lower"),
        ``share``, ``n_classes``.
    """
    rows = []
    for threshold in thresholds:
        chosen = replace(params, threshold=threshold)
        shares = compute_significance_shares(
            load_difference(db, matched, chosen, reference, None, METRIC_INTRA)
        )
        for side, key in ((matched, "lower"), (reference, "higher")):
            rows.append(
                {
                    "threshold": chosen.threshold,
                    "side": f"{side} lower",
                    "share": shares[key],
                    "n_classes": shares["n_classes"],
                }
            )
    return pd.DataFrame(rows, columns=["threshold", "side", "share", "n_classes"])


def relative_frequency(weights: pd.Series) -> pd.Series:
    """Class counts as shares of the total."""
    total = float(np.sum(weights.to_numpy()))
    return weights / total if total > 0 else weights.astype(np.float64)
