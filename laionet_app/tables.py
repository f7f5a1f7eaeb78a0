"""Cached reads of the database's tables, one helper per ``laionet_core.queries`` read.

SQL lives in ``laionet_core.queries``; these add Streamlit's caches keyed by the
database key of ``laionet_app.connection``. Large values (histograms, embeddings,
selection statistics, predictions) are shared read-only through ``st.cache_resource``:
``st.cache_data`` would pickle them on every hit. Small ones stay in ``st.cache_data``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from laionet_app.connection import DbKey, cursor
from laionet_core import queries
from laionet_core.export import (
    EXPORT_COLUMNS,
    build_export_manifest,
    build_export_table,
    encode_export,
)
from laionet_core.queries_stats import (
    read_bin_samples,
    read_class_summaries,
    read_export_sample,
    read_selection_stats,
    read_selection_subsets,
    read_value_histogram,
    select_band_samples,
    select_class_counts,
)
from laionet_core.selection import (
    GRID_MIN,
    THRESHOLD_STEP,
    SelectionParams,
    SelectionSummary,
    compute_counts_above,
    compute_selection_curves,
    select_histograms,
    threshold_grid,
    threshold_index,
)
from laionet_core.selection_pairs import SubsetArrays, build_subset_arrays
from laionet_core.selection_stats import SelectionStats, build_selection_stats
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT


@st.cache_data(show_spinner=False)
def load_meta(db: DbKey) -> dict[str, str]:
    return queries.read_meta(cursor(db))


@st.cache_data(show_spinner=False)
def load_datasets(db: DbKey) -> pd.DataFrame:
    return queries.read_datasets(cursor(db))


@st.cache_resource(show_spinner=False, max_entries=4)
def load_classes(db: DbKey) -> pd.DataFrame:
    """Every class in class-index order. Shared, read-only (a threshold move reads it
    three times; unpickling a copy each time cost 7 ms): callers select, never assign."""
    return queries.read_classes(cursor(db))


# Rows whose encoded size gives an export's size before it is made.
EXPORT_SAMPLE_ROWS = 2_000


@st.cache_resource(show_spinner=False, max_entries=32)
def load_histograms(db: DbKey, dataset: str) -> queries.SimilarityHistograms:
    """Shared, read-only: (C, 2, 2, N_BINS) counts, 13 MB at 1,000 classes."""
    return queries.load_similarity_histograms(cursor(db), dataset)


@st.cache_resource(show_spinner=False, max_entries=64)
def _load_curves(
    db: DbKey, dataset: str, drop_nsfw: bool, drop_multi_label: bool, min_samples: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Everything of a selection that does not depend on the threshold: the curves,
    the per-class counts above every grid threshold (C, T) and the bin counts."""
    params = SelectionParams(
        drop_nsfw=drop_nsfw, drop_multi_label=drop_multi_label, min_samples_per_class=min_samples
    )
    kept = select_histograms(load_histograms(db, dataset).counts, params)
    covered, size = compute_selection_curves(kept, min_samples_per_class=min_samples)
    above = np.ascontiguousarray(compute_counts_above(kept).T)  # (T, C): a row per move
    for array in (covered, size, above):
        array.setflags(write=False)
    return covered, size, above, kept.sum(axis=0)


def load_selection_summary(db: DbKey, dataset: str, params: SelectionParams) -> SelectionSummary:
    """``selection.summarize_selection`` of a dataset, the threshold-free part cached:
    a slider move costs one row lookup (O(classes))."""
    covered, size, above, bin_counts = _load_curves(
        db, dataset, params.drop_nsfw, params.drop_multi_label, params.min_samples_per_class
    )
    index = threshold_index(params.threshold)
    return SelectionSummary(
        thresholds=threshold_grid(),
        classes_covered=covered,
        dataset_size=size,
        class_counts=above[index],
        bin_counts=bin_counts,
        index=index,
    )


@st.cache_data(show_spinner=False, max_entries=16)
def _export_bytes_per_row(db: DbKey, dataset: str, export_format: str) -> float:
    sample = read_export_sample(cursor(db), dataset, limit=EXPORT_SAMPLE_ROWS)
    if sample.empty:
        return 0.0
    table = sample.loc[:, list(EXPORT_COLUMNS)].rename(columns=EXPORT_COLUMNS)
    return len(encode_export(table, export_format)) / len(table)


def estimate_export_bytes(db: DbKey, dataset: str, export_format: str, rows: int) -> int:
    """About how large an export of ``rows`` rows will be, before it is made: the mean
    encoded size of ``EXPORT_SAMPLE_ROWS`` rows of the dataset, times ``rows``."""
    return int(_export_bytes_per_row(db, dataset, export_format) * rows)


def make_export(db: DbKey, dataset: str, params: SelectionParams, export_format: str) -> bytes:
    """The export file's bytes, made when the user clicks (a download button's callable)."""
    return encode_export(build_export_table(cursor(db), dataset, params), export_format)


def make_export_manifest(
    db: DbKey, dataset: str, params: SelectionParams, export_format: str, *, rows: int, classes: int
) -> dict:
    """The manifest of one export (cheap: no scan of the samples)."""
    return build_export_manifest(
        cursor(db),
        db_path=db[0],
        dataset=dataset,
        params=params,
        export_format=export_format,
        rows=rows,
        classes=classes,
    )


@st.cache_data(show_spinner=False, max_entries=4096)
def load_thumbnail(db: DbKey, thumbnail_id: int) -> bytes | None:
    found = queries.read_thumbnail(cursor(db), thumbnail_id)
    return None if found is None else found[1]


def read_dataset_kind(db: DbKey, dataset: str) -> str | None:
    """``datasets.kind`` of one dataset; None when the database does not hold it."""
    kinds = load_datasets(db).set_index("dataset")["kind"]
    return str(kinds[dataset]) if dataset in kinds.index else None


def read_dataset_parameters(db: DbKey, dataset: str) -> dict:
    """``datasets.parameters`` of ``dataset`` ({} when the database does not hold it)."""
    frame = load_datasets(db).set_index("dataset")
    return frame.at[dataset, "parameters"] if dataset in frame.index else {}


def class_names(db: DbKey) -> np.ndarray:
    """Class names in class-index order."""
    return load_classes(db)["name"].to_numpy()


@st.cache_resource(show_spinner="Loading embeddings…", max_entries=4)
def load_embeddings(db: DbKey, dataset: str, table: str) -> tuple[pd.DataFrame, np.ndarray]:
    """``(rows with sample_id and wnid, (N, D) float32)`` of one dataset's embeddings."""
    return queries.read_embeddings(cursor(db), dataset, table=table)


@st.cache_data(show_spinner=False, max_entries=8)
def load_synset_embeddings(
    db: DbKey, encoder: str, synset_format: str
) -> tuple[list[str], np.ndarray]:
    """Synset-text embeddings of one encoder, in class-index order."""
    return queries.read_synset_embeddings(cursor(db), encoder, synset_format)


def load_dataset_synsets(db: DbKey, dataset: str) -> tuple[list[str], np.ndarray]:
    """Synset-text embeddings of the encoder ``dataset`` was scored with, in the
    database's synset-text format."""
    encoder = load_datasets(db).set_index("dataset").at[dataset, "encoder"]
    fmt = load_meta(db).get("synset_format", DEFAULT_SYNSET_TEXT_FORMAT)
    return load_synset_embeddings(db, encoder, fmt)


@st.cache_data(show_spinner=False)
def load_class_metrics(
    db: DbKey,
    dataset: str | None = None,
    metric: str | None = None,
    *,
    threshold: float | None = None,
) -> pd.DataFrame:
    """Precomputed per-class metrics (``queries.read_class_metrics``)."""
    return queries.read_class_metrics(
        cursor(db), dataset=dataset, metric=metric, threshold=threshold
    )


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_class_summaries(db: DbKey) -> pd.DataFrame:
    """Per dataset and class: samples and mean similarities (one scan, shared)."""
    return read_class_summaries(cursor(db))


@st.cache_data(show_spinner=False, max_entries=256)
def load_class_counts(db: DbKey, wnid: str) -> pd.DataFrame:
    """``queries.read_class_counts`` from the per-class summaries: no scan per class."""
    return select_class_counts(_load_class_summaries(db), load_datasets(db), wnid)


@st.cache_data(show_spinner=False, max_entries=64)
def _load_bin_samples(db: DbKey, dataset: str, wnid: str, limit: int, seed: int) -> pd.DataFrame:
    return read_bin_samples(
        cursor(db), dataset, wnid, limit=limit, seed=seed, grid_min=GRID_MIN, step=THRESHOLD_STEP
    )


def _on_grid(value: float) -> bool:
    steps = (value - GRID_MIN) / THRESHOLD_STEP
    return abs(steps - round(steps)) < 1e-6


@st.cache_data(show_spinner=False, max_entries=256)
def load_samples_in_band(
    db: DbKey, dataset: str, wnid: str, low: float, high: float, limit: int, seed: int
) -> pd.DataFrame:
    """``queries.read_samples_in_band``; bands on the threshold grid share one query per
    class (``read_bin_samples``), so a class switch scans the samples once, not per band."""
    if _on_grid(low) and _on_grid(high):
        bins = _load_bin_samples(db, dataset, wnid, limit, seed)
        return select_band_samples(bins, low=low, high=high, limit=limit)
    return queries.read_samples_in_band(
        cursor(db), dataset, wnid, low=low, high=high, limit=limit, seed=seed
    )


@st.cache_data(show_spinner=False, max_entries=256)
def load_class_samples(db: DbKey, dataset: str, wnid: str, limit: int, seed: int) -> pd.DataFrame:
    return queries.read_class_samples(cursor(db), dataset, wnid, limit=limit, seed=seed)


@st.cache_resource(show_spinner="Loading selection statistics…", max_entries=16)
def load_selection_stats(db: DbKey, dataset: str) -> SelectionStats | None:
    """Shared, read-only lookups of a dataset's precomputed statistics; None when the
    database has none for it (``python -m precompute metrics`` writes them)."""
    rows = read_selection_stats(cursor(db), dataset)
    return None if rows is None else build_selection_stats(rows)


@st.cache_resource(show_spinner=False, max_entries=16)
def load_selection_subsets(db: DbKey, dataset: str) -> SubsetArrays:
    """Shared, read-only: every class's subset rows and pair similarities, flat."""
    return build_subset_arrays(read_selection_subsets(cursor(db), dataset))


@st.cache_data(show_spinner=False, max_entries=64)
def load_value_histogram(
    db: DbKey, dataset: str, params: SelectionParams | None, column: str
) -> pd.DataFrame:
    """Binned distribution of one per-sample column of a selection, counted in SQL."""
    return read_value_histogram(cursor(db), dataset, params, column)
