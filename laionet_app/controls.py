"""The selection controls every page shares: dataset picker, threshold slider, filters.

Each is kept in the URL and in the session by ``laionet_app.url_state.linked_widget``:
a copied URL reopens the same view, and the selection (threshold and filters) follows
the user from page to page, under the same keys on every page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from laionet_app.connection import DbKey
from laionet_app.tables import load_datasets, load_histograms, read_dataset_parameters
from laionet_app.url_state import (
    linked_widget,
    parse_bool,
    parse_number,
    parse_option,
    serialize_bool,
    serialize_number,
)
from laionet_core import schema
from laionet_core.content_rules import describe_content_switch
from laionet_core.selection import (
    DEFAULT_MIN_SAMPLES_PER_CLASS,
    SelectionParams,
)
from laionet_core.settings import LAIONET_DATASET
from laionet_core.thresholds import CAPTION_THRESHOLD, ThresholdSpec, read_threshold_spec

# "Min samples per class" is a coverage criterion only: the paper counts a class as
# covered once it has samples, and keeps every selected sample in the dataset.
MIN_SAMPLES_HELP = (
    "Counts a class as covered once it has at least this many selected samples. It "
    "changes the classes-covered count only: the dataset size, the class frequencies "
    "and the export keep every selected sample."
)


def select_bound_option(
    label: str,
    options: Sequence[str],
    *,
    key: str,
    default: str | None = None,
    warn_unknown: bool = True,
    **kwargs: Any,
) -> str:
    """A selectbox over ``options`` kept in the URL and the session (``linked_widget``),
    starting at ``default`` if present. The URL holds the option itself, whatever
    ``format_func`` shows.

    ``warn_unknown=False`` when the options are narrowed on purpose (a search).
    """
    options = list(options)
    if not options:
        raise ValueError(f"no option to choose for {key!r}")
    first = default if default in options else options[0]
    if st.session_state.get(key, first) not in options:
        st.session_state[key] = first  # narrowed options: fall back visibly to the first
    return linked_widget(
        st.selectbox,
        label,
        key=key,
        default=first,
        parse=parse_option(options),
        warn=warn_unknown,
        options=options,
        **kwargs,
    )


@st.cache_data(show_spinner=False, max_entries=16)
def load_scored_dataset_names(db: DbKey) -> list[str]:
    """The datasets with caption similarities counted (all of them if none has): each
    histogram scanned once, not on every rerun (13 MB for LAIONet)."""
    names = load_datasets(db)["dataset"].tolist()
    return [name for name in names if load_histograms(db, name).counts.any()] or names


def select_dataset(db: DbKey, *, key: str = "dataset") -> str:
    """A picker over the datasets with caption similarities (all of them if none has)."""
    names = load_scored_dataset_names(db)
    if not names:
        st.info("The database holds no dataset yet.")
        st.stop()
    return select_bound_option("Dataset", names, key=key, default=LAIONET_DATASET)


def _content_switch_words(db: DbKey | None, dataset: str, kind: str) -> tuple[str, str]:
    """Label and help of the content-rules switch, from the dataset's recorded rules."""
    parameters = None if db is None else read_dataset_parameters(db, dataset)
    return describe_content_switch(parameters, kind)


def select_threshold_control(kind: str) -> ThresholdSpec:
    """The threshold slider's wording, default and bounds for a dataset kind (a kind used
    whole gets the caption threshold's, for a slider that has nothing to select)."""
    return read_threshold_spec(kind) or CAPTION_THRESHOLD


def selection_controls(
    kind: str = schema.KIND_TEXT_SELECTED, *, db: DbKey | None = None, dataset: str | None = None
) -> SelectionParams:
    """The threshold slider and filters, as one frozen params object.

    Args:
        kind: Kind of the dataset being selected; it sets the slider's label, default
            and key (text-matched datasets are thresholded on text-to-text similarity).
        db, dataset: The dataset selected; its recorded content rules name the switch
            (``content_rules.describe_content_switch``). Without them, LAIONet's.
    """
    control = select_threshold_control(kind)
    threshold = linked_widget(
        st.slider,
        control.label,
        key=control.param,
        default=control.default,
        parse=parse_number(control.low, control.high),
        serialize=serialize_number,
        min_value=control.low,
        max_value=control.high,
        step=control.step,
        format="%.3f",
        help=control.help,
    )
    left, right, third = st.columns(3)
    flag = {"default": True, "parse": parse_bool, "serialize": serialize_bool}
    label, rules = _content_switch_words(db, dataset or LAIONET_DATASET, kind)
    drop_nsfw = linked_widget(left.toggle, label, key="drop_nsfw", help=rules, **flag)
    drop_multi = True
    if kind != schema.KIND_TEXT_MATCHED:  # text-matched rows are never multi-label
        drop_multi = linked_widget(
            right.toggle, "Drop multi-label captions", key="drop_multi_label", **flag
        )
    min_samples = linked_widget(
        third.number_input,
        "Min samples per class (coverage only)",
        key="min_samples_per_class",
        default=DEFAULT_MIN_SAMPLES_PER_CLASS,
        parse=parse_number(1, 10**9, integer=True),
        min_value=1,
        step=1,
        help=MIN_SAMPLES_HELP,
    )
    return SelectionParams(
        threshold=float(threshold),
        drop_nsfw=drop_nsfw,
        drop_multi_label=drop_multi,
        min_samples_per_class=int(min_samples),
    )
