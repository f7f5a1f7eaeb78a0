"""The one place where a control meets the URL and the session.

``linked_widget`` keeps a widget's value in ``st.session_state`` for the whole session
(a copy beside the widget's state, which Streamlit drops on a page switch) and in
``st.query_params`` under the widget's key:

* a URL value the session has not seen yet (a shared link, a chart's link to a class)
  sets the widget; one it cannot take is named in a warning, never dropped silently;
* after that the widget writes the URL (a value equal to the default stays out of it),
  so the address bar always reopens the view, and a page switch, which empties the
  URL, gets the session's values back.

Streamlit's own ``bind="query-params"`` is not used for these: it writes a selectbox's
formatted label rather than its value, and drops a parameter when the user switches
pages, so the selection would not follow the user. Page-local controls (band ranges,
search boxes) use it through ``bound_widget``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from laionet_app.text import escape_markdown

# Session key prefixes: the URL value each control last saw or wrote, and its value,
# kept apart from the widget's own state, which Streamlit drops on a page switch.
_SEEN = "_url_seen_"
_KEPT = "_url_kept_"


def bound_widget(widget: Callable[..., Any], label: str, *, key: str, **kwargs: Any) -> Any:
    """``widget(label, key=key, ...)`` bound to the query parameter ``key`` by Streamlit.

    For page-local controls; a value equal to the default stays out of the URL.
    """
    return widget(label, key=key, bind="query-params", **kwargs)


def warn_link_value(key: str, value: str) -> None:
    """Say that the link's ``key`` value cannot be used here."""
    shown = escape_markdown(value)
    st.warning(f"The link's {key}={shown} is not available here; showing the default.")


def linked_widget(
    widget: Callable[..., Any],
    label: str,
    *,
    key: str,
    default: Any,
    parse: Callable[[str], Any],
    serialize: Callable[[Any], str] = str,
    warn: bool = True,
    **kwargs: Any,
) -> Any:
    """A widget whose value lives in the session and in the URL parameter ``key``.

    Args:
        widget: A Streamlit widget function or a container's method.
        label: The widget's label.
        key: Widget key and query parameter name.
        default: The value without a link; never written to the URL.
        parse: URL text -> value; raises ``ValueError`` for a value the widget cannot take.
        serialize: Value -> URL text.
        warn: Name a link value the widget cannot take (False where the options are
            narrowed on purpose, by a search).
        **kwargs: The widget's other arguments (no ``value``/``index``: the session holds it).

    Returns:
        The widget's value.
    """
    given = st.query_params.get(key)
    linked = False
    # A rerun the widget itself asked for (its value differs from the last run's) carries
    # the URL the browser had when the user moved it, which may predate what the last
    # runs wrote: quick key presses on a slider sent the old value back and the slider
    # jumped back. Only a run the widget did not start takes a new link.
    moved = key in st.session_state and st.session_state[key] != st.session_state.get(
        _KEPT + key, st.session_state[key]
    )
    if given is not None and given != st.session_state.get(_SEEN + key) and not moved:
        try:
            st.session_state[key] = parse(given)
            linked = True
        except (ValueError, TypeError):
            if warn:
                warn_link_value(key, given)
    if not linked:
        # Written back on every run: a page switch creates a new widget under the same
        # key, which takes the value only from a write (Streamlit's multipage recipe).
        st.session_state[key] = st.session_state.get(
            key, st.session_state.get(_KEPT + key, default)
        )
    value = widget(label, key=key, **kwargs)
    st.session_state[_KEPT + key] = value
    if value == default:
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = serialize(value)
    st.session_state[_SEEN + key] = st.query_params.get(key)
    return value


def parse_option(options: Sequence[str]) -> Callable[[str], str]:
    """A parser that accepts only one of ``options``."""

    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"{text!r} is not an option")
        return text

    return parse


def parse_bool(text: str) -> bool:
    """``true`` / ``false`` (any case)."""
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"{text!r} is not true or false")
    return lowered == "true"


def parse_number(low: float, high: float, *, integer: bool = False) -> Callable[[str], float]:
    """A parser of a finite number in ``[low, high]`` (an int when ``integer``)."""

    def parse(text: str) -> float:
        value = int(text) if integer else float(text)
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"{text!r} is outside [{low}, {high}]")
        return value

    return parse


def serialize_bool(value: bool) -> str:
    return "true" if value else "false"


def serialize_number(value: float) -> str:
    """Shortest text of a slider's number (0.84, not 0.8400000000000001)."""
    return f"{round(float(value), 6):g}" if isinstance(value, float) else str(value)
