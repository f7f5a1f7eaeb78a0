"""The selection controls every page shares: dataset picker, threshold slider, filters."""

from __future__ import annotations

import streamlit as st

from laionet_app.connection import DbKey
from laionet_app.tables import load_datasets, load_histograms
from laionet_core import schema
from laionet_core.selection import (
    DEFAULT_MIN_SAMPLES_PER_CLASS,
    SelectionParams,
)
from laionet_core.settings import LAIONET_DATASET
from laionet_core.thresholds import CAPTION_THRESHOLD, ThresholdSpec, read_threshold_spec


def select_dataset(db: DbKey, *, key: str = "dataset") -> str:
    """A picker over the datasets with caption similarities (all of them if none has)."""
    names = load_datasets(db)["dataset"].tolist()
    names = [name for name in names if load_histograms(db, name).counts.any()] or names
    if not names:
        st.info("The database holds no dataset yet.")
        st.stop()
    default = names.index(LAIONET_DATASET) if LAIONET_DATASET in names else 0
    return st.selectbox("Dataset", names, index=default, key=key)


def select_threshold_control(kind: str) -> ThresholdSpec:
    """The threshold slider's wording, default and bounds for a dataset kind (a kind used
    whole gets the caption threshold's, for a slider that has nothing to select)."""
    return read_threshold_spec(kind) or CAPTION_THRESHOLD


def selection_controls(kind: str = schema.KIND_TEXT_SELECTED) -> SelectionParams:
    """The threshold slider and filters, as one frozen params object.

    Args:
        kind: Kind of the dataset being selected; it sets the slider's label, default
            and key (text-matched datasets are thresholded on text-to-text similarity).
    """
    control = select_threshold_control(kind)
    threshold = st.slider(
        control.label,
        min_value=control.low,
        max_value=control.high,
        value=control.default,
        step=control.step,
        format="%.3f",
        key=control.param,
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
