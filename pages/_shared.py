"""Streamlit glue shared by every page: the database, cached reads, banner, controls.

Pages call these helpers and draw what they return; SQL lives in ``laionet_core.queries``
and math in ``laionet_core``. Cached helpers take the database path and its modification
time, so a rebuilt database is picked up without restarting the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import streamlit as st

from laionet_core import queries, schema
from laionet_core.export import (
    build_export_manifest,
    build_export_table,
    encode_export,
)
from laionet_core.selection import (
    DEFAULT_MIN_SAMPLES_PER_CLASS,
    DEFAULT_TEXT_MATCH_THRESHOLD,
    DEFAULT_THRESHOLD,
    THRESHOLD_MAX,
    THRESHOLD_MIN,
    THRESHOLD_STEP,
    SelectionParams,
)
from laionet_core.settings import DB_ENV_VAR, DEFAULT_DB_PATH, LAIONET_DATASET, resolve_db_path

DbKey = tuple[str, float]  # (path, modification time): a cache key that changes on rebuild


@dataclass(frozen=True)
class ThresholdControl:
    """How the slider over a dataset's ``text_similarity`` reads for one dataset kind.

    Attributes:
        label: The slider's label.
        quantity: What the similarity compares, for axis titles.
        default: The paper's threshold for that kind.
        key: Widget key, named after the parameter (distinct kinds, distinct parameters).
        help: One line on where the default comes from.
    """

    label: str
    quantity: str
    default: float
    key: str
    help: str


CAPTION_THRESHOLD = ThresholdControl(
    "Caption-to-synset similarity threshold (keep >)",
    "caption-to-synset similarity",
    DEFAULT_THRESHOLD,
    "threshold",
    f"The paper keeps captions with CLIP similarity above {DEFAULT_THRESHOLD} to "
    "'<name> which is <definition>'.",
)
# Text-matched datasets hold the similarity of each LAION caption to the ImageNet-Captions
# text that chose it (Section 4.3), a different quantity with its own threshold.
TEXT_MATCH_THRESHOLD = ThresholdControl(
    "Text-to-text similarity threshold (keep >)",
    "similarity to the ImageNet-Captions text",
    DEFAULT_TEXT_MATCH_THRESHOLD,
    "text_match_threshold",
    "The paper keeps a LAION caption when its CLIP similarity to the ImageNet-Captions "
    f"text is above {DEFAULT_TEXT_MATCH_THRESHOLD} (Section 4.3).",
)
# Kinds whose samples are kept by a threshold on text_similarity (the rest are used whole).
THRESHOLDED_KINDS = (schema.KIND_TEXT_SELECTED, schema.KIND_TEXT_MATCHED)


def require_database() -> DbKey:
    """The database key, or a page explaining how to build the database (then stop)."""
    path = resolve_db_path()
    if not path.is_file():
        st.error(f"No database at `{path}`.")
        st.markdown(
            f"Build the simulated demo database with `python -m precompute demo --db {path}`, "
            f"or point `{DB_ENV_VAR}` at a database (default: `{DEFAULT_DB_PATH}`)."
        )
        st.stop()
    return str(path), path.stat().st_mtime


@st.cache_resource(show_spinner=False)
def _connection(path: str, mtime: float) -> duckdb.DuckDBPyConnection:
    return queries.connect(path)


def cursor(db: DbKey) -> duckdb.DuckDBPyConnection:
    """A cursor of the shared read-only connection (one per call: cursors are cheap)."""
    return _connection(*db).cursor()


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


def render_simulated_banner(db: DbKey) -> None:
    """Say loudly when the database holds simulated data, and where it came from."""
    simulated = load_meta(db).get("simulated") == "true"
    if simulated:
        st.warning(
            "**Simulated data.** This database was generated from the paper's causal story "
            "(class → caption and image; selection by text vs by image). No image, caption or "
            "figure here is real LAION or ImageNet data.",
            icon=":material/warning:",
        )
    st.caption(f"Database: `{Path(db[0])}`" + (" · SIMULATED" if simulated else ""))


def select_dataset(db: DbKey, *, key: str = "dataset") -> str:
    """A picker over the datasets with caption similarities (all of them if none has)."""
    names = load_datasets(db)["dataset"].tolist()
    names = [name for name in names if load_histograms(db, name).counts.any()] or names
    if not names:
        st.info("The database holds no dataset yet.")
        st.stop()
    default = names.index(LAIONET_DATASET) if LAIONET_DATASET in names else 0
    return st.selectbox("Dataset", names, index=default, key=key)


def read_dataset_kind(db: DbKey, dataset: str) -> str | None:
    """``datasets.kind`` of one dataset; None when the database does not hold it."""
    kinds = load_datasets(db).set_index("dataset")["kind"]
    return str(kinds[dataset]) if dataset in kinds.index else None


def select_threshold_control(kind: str) -> ThresholdControl:
    """The threshold slider's wording and default for a dataset kind."""
    return TEXT_MATCH_THRESHOLD if kind == schema.KIND_TEXT_MATCHED else CAPTION_THRESHOLD


def selection_controls(kind: str = schema.KIND_TEXT_SELECTED) -> SelectionParams:
    """The threshold slider and filters, as one frozen params object.

    Args:
        kind: Kind of the dataset being selected; it sets the slider's label, default
            and key (text-matched datasets are thresholded on text-to-text similarity).
    """
    control = select_threshold_control(kind)
    threshold = st.slider(
        control.label,
        min_value=THRESHOLD_MIN,
        max_value=THRESHOLD_MAX,
        value=control.default,
        step=THRESHOLD_STEP,
        format="%.3f",
        key=control.key,
        help=control.help,
    )
    left, right, third = st.columns(3)
    drop_nsfw = left.toggle("Drop NSFW", value=True, key="drop_nsfw")
    drop_multi = True
    if kind != schema.KIND_TEXT_MATCHED:  # text-matched rows are never multi-label
        drop_multi = right.toggle("Drop multi-label captions", value=True, key="drop_multi_label")
    min_samples = third.number_input(
        "Min samples per class (coverage)",
        min_value=1,
        value=DEFAULT_MIN_SAMPLES_PER_CLASS,
        step=1,
        key="min_samples_per_class",
    )
    return SelectionParams(
        threshold=float(threshold),
        drop_nsfw=drop_nsfw,
        drop_multi_label=drop_multi,
        min_samples_per_class=int(min_samples),
    )


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
    db: DbKey, dataset: str | None = None, metric: str | None = None
) -> pd.DataFrame:
    """Precomputed per-class metrics."""
    return queries.read_class_metrics(cursor(db), dataset=dataset, metric=metric)


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


def render_sample_grid(db: DbKey, samples: pd.DataFrame, *, columns: int = 6) -> None:
    """Thumbnails with their captions, shown as plain text (captions are raw web text)."""
    if samples.empty:
        st.caption("No samples here.")
        return
    for start in range(0, len(samples), columns):
        cells = st.columns(columns)
        for cell, row in zip(
            cells, samples.iloc[start : start + columns].itertuples(), strict=False
        ):
            with cell:
                image = (
                    None if pd.isna(row.thumbnail_id) else load_thumbnail(db, int(row.thumbnail_id))
                )
                if image is not None:
                    st.image(image, width="stretch")
                if isinstance(row.text, str):
                    st.text(row.text[:300])  # st.text never interprets HTML or Markdown
                if not pd.isna(row.text_similarity):
                    st.text(f"text sim {row.text_similarity:.3f}")
