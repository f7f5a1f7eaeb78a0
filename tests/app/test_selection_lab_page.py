"""AppTest runs of the selection lab: matched sizes, mechanisms picked, the difference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from laionet_app.text import escape_markdown
from laionet_core import queries
from laionet_core.selection import SelectionParams
from laionet_core.selection_lab import (
    MECHANISM_TEXT,
    MECHANISM_TEXT_IMAGE,
    MECHANISM_TOP_K_IMAGE,
    MECHANISMS,
)

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT = 180


@pytest.fixture
def lab(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LAIONET_DB", str(demo_db))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/selection_lab.py").run()
    assert not at.exception, at.exception
    return at


def _summary(at: AppTest):
    return at.dataframe[0].value


def test_every_mechanism_at_the_text_thresholds_size(lab: AppTest, demo_db: Path) -> None:
    summary = _summary(lab)
    assert summary["mechanism"].tolist() == list(MECHANISMS)
    n = queries.count_selected(queries.connect(demo_db), "laionet", SelectionParams())[0]
    assert n > 0
    assert (summary["size"] == n).all()
    # The paper's argument on the simulated data: selecting on the image raises
    # intra-class similarity above the text threshold's at the same size.
    by = summary.set_index("mechanism")["intra_class_similarity"]
    assert by[MECHANISM_TOP_K_IMAGE] > by[MECHANISM_TEXT]


def test_threshold_and_mechanisms_change_the_comparison(lab: AppTest, demo_db: Path) -> None:
    lab.slider(key="threshold").set_value(0.78).run()
    lab.multiselect(key="mechanisms").set_value([MECHANISM_TEXT, MECHANISM_TEXT_IMAGE]).run()
    assert not lab.exception
    summary = _summary(lab)
    n = queries.count_selected(queries.connect(demo_db), "laionet", SelectionParams(0.78))[0]
    assert summary["mechanism"].tolist() == [MECHANISM_TEXT, MECHANISM_TEXT_IMAGE]
    assert (summary["size"] == n).all()
    lab.slider(key="multimodal_threshold").set_value(0.6).run()
    assert not lab.exception and (_summary(lab)["size"] == n).all()


def test_difference_between_two_mechanisms_is_downloadable(lab: AppTest) -> None:
    lab.selectbox(key="lab_metric").set_value("image_similarity").run()
    assert not lab.exception
    buttons = [b for b in lab.get("download_button") if b.proto.label.startswith("Download the")]
    assert len(buttons) == 1
    metrics = {m.label: m.value for m in lab.metric}
    assert int(metrics["Classes compared"].replace(",", "")) > 0
    lab.selectbox(key="mechanism_b").set_value(MECHANISM_TOP_K_IMAGE).run()
    metrics = {m.label: m.value for m in lab.metric}
    # A mechanism against itself: no class differs significantly.
    assert metrics[f"{escape_markdown(MECHANISM_TOP_K_IMAGE)} significantly lower"] == "0.0%"
    assert np.isfinite(_summary(lab)["image_similarity"]).all()


def test_no_mechanism_says_so(lab: AppTest) -> None:
    lab.multiselect(key="mechanisms").set_value([]).run()
    assert not lab.exception
    assert any("at least one mechanism" in i.body for i in lab.info)
