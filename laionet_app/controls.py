"""The selection controls every page shares: dataset picker, threshold slider, filters.

Every control that shapes a view is bound to the URL (``bind="query-params"``: its key
is the query parameter, and a value equal to the default stays out of the URL) and
kept for the whole session (``persist_state="session"``), so a copied URL reopens the
same view and the selection follows the user from page to page. ``bound_widget`` is the
one place that binds; a link's value that the widget cannot take is named in a warning
rather than dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from laionet_app.connection import DbKey
from laionet_app.tables import load_datasets, load_histograms
from laionet_app.text import escape_markdown
from laionet_core import schema
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


def bound_widget(widget: Callable[..., Any], label: str, *, key: str, **kwargs: Any) -> Any:
    """``widget(label, key=key, ...)`` bound to the query parameter ``key`` and kept for
    the session.

    Args:
        widget: A Streamlit widget function (``st.slider``, ``st.selectbox``, ...) or the
            same method of a container.
        label: The widget's label.
        key: Widget key, also the query parameter's name.
        **kwargs: The widget's other arguments.

    Returns:
        The widget's value.
    """
    return widget(label, key=key, bind="query-params", persist_state="session", **kwargs)


def warn_unknown_link_value(key: str, allowed: Sequence[str]) -> None:
    """Name a query parameter whose value is not among ``allowed`` (Streamlit drops it)."""
    given = st.query_params.get_all(key)
    unknown = [value for value in given if value not in allowed]
    if unknown:
        shown = escape_markdown(unknown[0])
        st.warning(f"The link's {key}={shown} is not available here; showing the default.")


def select_bound_option(
    label: str,
    options: Sequence[str],
    *,
    key: str,
    default: str | None = None,
    warn_unknown: bool = True,
    **kwargs: Any,
) -> str:
    """A selectbox over ``options`` bound to the URL, starting at ``default`` if present.

    ``warn_unknown=False`` when the options are narrowed on purpose (a search).
    """
    options = list(options)
    if warn_unknown:
        warn_unknown_link_value(key, options)
    index = options.index(default) if default in options else 0
    return bound_widget(st.selectbox, label, key=key, options=options, index=index, **kwargs)


def select_linked_option(
    label: str,
    options: Sequence[str],
    *,
    key: str,
    default: str,
    format_func: Callable[[str], str],
    warn_unknown: bool = True,
) -> str:
    """A selectbox shown through ``format_func`` whose query parameter holds the raw
    option (``?wnid=n02125311``, not the label that ``bind`` would write).

    A URL value the session has not seen yet (a shared link, a chart's link) sets the
    widget; after that the widget writes the URL. The value is kept for the session.
    """
    options = list(options)
    seen = f"_url_{key}"
    given = st.query_params.get(key)
    if given is not None and given != st.session_state.get(seen):
        if given in options:
            st.session_state[key] = given
        elif warn_unknown:
            warn_unknown_link_value(key, options)
    if st.session_state.get(key) not in options:
        st.session_state[key] = default if default in options else options[0]
    value = st.selectbox(label, options, key=key, format_func=format_func, persist_state="session")
    if value == default:
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = value
    st.session_state[seen] = st.query_params.get(key)
    return value


def select_dataset(db: DbKey, *, key: str = "dataset") -> str:
    """A picker over the datasets with caption similarities (all of them if none has)."""
    names = load_datasets(db)["dataset"].tolist()
    names = [name for name in names if load_histograms(db, name).counts.any()] or names
    if not names:
        st.info("The database holds no dataset yet.")
        st.stop()
    return select_bound_option("Dataset", names, key=key, default=LAIONET_DATASET)


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
    threshold = bound_widget(
        st.slider,
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
    drop_nsfw = bound_widget(left.toggle, "Drop NSFW", value=True, key="drop_nsfw")
    drop_multi = True
    if kind != schema.KIND_TEXT_MATCHED:  # text-matched rows are never multi-label
        drop_multi = bound_widget(
            right.toggle, "Drop multi-label captions", value=True, key="drop_multi_label"
        )
    min_samples = bound_widget(
        third.number_input,
        "Min samples per class (coverage only)",
        min_value=1,
        value=DEFAULT_MIN_SAMPLES_PER_CLASS,
        step=1,
        key="min_samples_per_class",
        help=MIN_SAMPLES_HELP,
    )
    return SelectionParams(
        threshold=float(threshold),
        drop_nsfw=drop_nsfw,
        drop_multi_label=drop_multi,
        min_samples_per_class=int(min_samples),
    )
