"""Charts drawn without Altair's whole-spec validation: the same spec, the check skipped."""

from __future__ import annotations

import altair as alt
import jsonschema
import pandas as pd
import pytest

from laionet_app import chart_output
from laionet_app.chart_output import skip_whole_spec_validation


def _layered() -> alt.LayerChart:
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [3, 1, 2]})
    line = alt.Chart(frame).mark_line().encode(x="x:Q", y="y:Q")
    return alt.layer(line, alt.Chart(frame).mark_point().encode(x="x:Q", y="y:Q"), height=100)


def _invalid() -> alt.Chart:
    chart = alt.Chart(pd.DataFrame({"x": [1]})).mark_point().encode(x="x:Q")
    chart.mark = "no-such-mark"  # set after construction: only the whole-spec pass sees it
    return chart


@pytest.mark.parametrize("make", [_layered, lambda: _layered().properties(width=80)])
def test_the_spec_is_the_same(make) -> None:
    chart = make()
    fast = skip_whole_spec_validation(chart)
    assert fast.to_dict() == chart.to_dict()
    assert isinstance(fast, type(chart))
    assert type(chart) in (alt.LayerChart, alt.Chart)  # the original is left as it was


def test_the_whole_spec_check_is_skipped_only_when_switched_off(monkeypatch) -> None:
    with pytest.raises(jsonschema.ValidationError):
        _invalid().to_dict()  # Altair's own conversion checks the whole spec
    monkeypatch.setattr(chart_output, "VALIDATE_WHOLE_SPECS", False)
    assert skip_whole_spec_validation(_invalid()).to_dict()["mark"] == {"type": "no-such-mark"}
    monkeypatch.setattr(chart_output, "VALIDATE_WHOLE_SPECS", True)  # as in the app tests
    with pytest.raises(jsonschema.ValidationError):
        skip_whole_spec_validation(_invalid()).to_dict()
    assert skip_whole_spec_validation(_invalid()).to_dict(validate=False)["mark"]
