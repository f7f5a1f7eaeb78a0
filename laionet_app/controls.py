"""The selection controls every page shares: dataset picker, threshold slider, filters."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from laionet_app.connection import DbKey
from laionet_app.tables import load_datasets, load_histograms
from laionet_core import schema
from laionet_core.selection import (
    DEFAULT_MIN_SAMPLES_PER_CLASS,
    DEFAULT_TEXT_MATCH_THRESHOLD,
    DEFAULT_THRESHOLD,
    THRESHOLD_MAX,
    THRESHOLD_MIN,
    THRESHOLD_STEP,
    SelectionParams,
)
from laionet_core.settings import LAIONET_DATASET


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


def select_dataset(db: DbKey, *, key: str = "dataset") -> str:
    """A picker over the datasets with caption similarities (all of them if none has)."""
    names = load_datasets(db)["dataset"].tolist()
    names = [name for name in names if load_histograms(db, name).counts.any()] or names
    if not names:
        st.info("The database holds no dataset yet.")
        st.stop()
    default = names.index(LAIONET_DATASET) if LAIONET_DATASET in names else 0
    return st.selectbox("Dataset", names, index=default, key=key)


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
