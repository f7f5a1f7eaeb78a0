"""Cached reads of the database's tables, one helper per ``laionet_core.queries`` read.

SQL lives in ``laionet_core.queries``; these add Streamlit's caches keyed by the
database key of ``laionet_app.connection``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from laionet_app.connection import DbKey, cursor
from laionet_core import queries
from laionet_core.export import (
    build_export_manifest,
    build_export_table,
    encode_export,
)
from laionet_core.selection import (
    SelectionParams,
)


@st.cache_data(show_spinner=False)
def load_meta(db: DbKey) -> dict[str, str]:
    return queries.read_meta(cursor(db))


@st.cache_data(show_spinner=False)
def load_datasets(db: DbKey) -> pd.DataFrame:
    return queries.read_datasets(cursor(db))


@st.cache_data(show_spinner=False)
def load_classes(db: DbKey) -> pd.DataFrame:
    return queries.read_classes(cursor(db))


@st.cache_data(show_spinner=False)
def load_histograms(db: DbKey, dataset: str) -> queries.SimilarityHistograms:
    return queries.load_similarity_histograms(cursor(db), dataset)


@st.cache_data(show_spinner="Preparing the export…", max_entries=8)
def load_export(
    db: DbKey, dataset: str, params: SelectionParams, export_format: str
) -> tuple[bytes, dict]:
    """The export file's bytes and its manifest for one selection."""
    con = cursor(db)
    table = build_export_table(con, dataset, params)
    manifest = build_export_manifest(
        con,
        db_path=db[0],
        dataset=dataset,
        params=params,
        export_format=export_format,
        rows=len(table),
        classes=int(table["wnid"].nunique()),
    )
    return encode_export(table, export_format), manifest


@st.cache_data(show_spinner=False, max_entries=4096)
def load_thumbnail(db: DbKey, thumbnail_id: int) -> bytes | None:
    found = queries.read_thumbnail(cursor(db), thumbnail_id)
    return None if found is None else found[1]


def read_dataset_kind(db: DbKey, dataset: str) -> str | None:
    """``datasets.kind`` of one dataset; None when the database does not hold it."""
    kinds = load_datasets(db).set_index("dataset")["kind"]
    return str(kinds[dataset]) if dataset in kinds.index else None


def class_names(db: DbKey) -> np.ndarray:
    """Class names in class-index order."""
    return load_classes(db)["name"].to_numpy()


@st.cache_data(show_spinner="Loading embeddings…", max_entries=16)
def load_embeddings(db: DbKey, dataset: str, table: str) -> tuple[pd.DataFrame, np.ndarray]:
    """``(rows with sample_id and wnid, (N, D) float32)`` of one dataset's embeddings."""
    return queries.read_embeddings(cursor(db), dataset, table=table)


@st.cache_data(show_spinner=False, max_entries=8)
def load_synset_embeddings(
    db: DbKey, encoder: str, synset_format: str
) -> tuple[list[str], np.ndarray]:
    """Synset-text embeddings of one encoder, in class-index order."""
    return queries.read_synset_embeddings(cursor(db), encoder, synset_format)


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


@st.cache_data(show_spinner=False, max_entries=256)
def load_class_counts(db: DbKey, wnid: str) -> pd.DataFrame:
    return queries.read_class_counts(cursor(db), wnid)


@st.cache_data(show_spinner=False, max_entries=256)
def load_samples_in_band(
    db: DbKey, dataset: str, wnid: str, low: float, high: float, limit: int, seed: int
) -> pd.DataFrame:
    return queries.read_samples_in_band(
        cursor(db), dataset, wnid, low=low, high=high, limit=limit, seed=seed
    )


@st.cache_data(show_spinner=False, max_entries=256)
def load_class_samples(db: DbKey, dataset: str, wnid: str, limit: int, seed: int) -> pd.DataFrame:
    return queries.read_class_samples(cursor(db), dataset, wnid, limit=limit, seed=seed)
