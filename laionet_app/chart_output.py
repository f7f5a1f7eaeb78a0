"""Altair charts onto the page without Altair's second, whole-spec validation.

Altair checks a chart twice: each part when it is made (its debug mode, on by default),
and the whole spec again when ``st.altair_chart`` converts it (``to_dict``). The second
pass walks the whole Vega-Lite JSON schema: 20 ms of a 100 ms Threshold explorer move at
LAIONet's scale, for specs whose shape does not change between reruns. The app skips
it; the app tests turn it back on (``VALIDATE_WHOLE_SPECS``, set by tests/conftest.py),
so every chart every page draws is still validated whole there.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import streamlit as st

# True: validate each chart's whole spec when it is drawn (the app tests set it).
VALIDATE_WHOLE_SPECS = False


class _WholeSpecUnchecked:
    """Mixin: ``to_dict`` skips the whole-spec validation unless asked for it."""

    def to_dict(self, *args: Any, validate: bool | None = None, **kwargs: Any) -> dict:
        if validate is None:
            validate = VALIDATE_WHOLE_SPECS
        return super().to_dict(*args, validate=validate, **kwargs)  # type: ignore[misc]


_UNCHECKED: dict[type, type] = {}


def skip_whole_spec_validation(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """A shallow copy of ``chart`` whose conversion skips the whole-spec validation
    (unless ``VALIDATE_WHOLE_SPECS``); the chart itself is left as it was."""
    base = type(chart)
    unchecked = _UNCHECKED.get(base)
    if unchecked is None:
        unchecked = _UNCHECKED.setdefault(
            base, type(base.__name__, (_WholeSpecUnchecked, base), {})
        )
    out = chart.copy(deep=False)
    object.__setattr__(out, "__class__", unchecked)  # Altair's own __setattr__ would keep it
    return out


def show_chart(chart: alt.TopLevelMixin, **kwargs: Any) -> Any:
    """``st.altair_chart(chart, **kwargs)`` without the whole-spec validation.

    Returns:
        What ``st.altair_chart`` returns (the selection state with ``on_select``).
    """
    return st.altair_chart(skip_whole_spec_validation(chart), **kwargs)
