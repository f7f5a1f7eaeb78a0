"""The URL holds every control that shapes a view, and the selection follows the user
from page to page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from laionet_app.text import escape_markdown
from laionet_core import queries
from laionet_core.selection import SelectionParams

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT = 180


@pytest.fixture
def app(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LAIONET_DB", str(demo_db))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def test_home_is_the_default_page(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert app.header[0].value == "What makes ImageNet look unlike LAION?"
    assert any("Simulated data" in w.body for w in app.warning)


def test_query_parameters_set_the_view(app: AppTest, demo_db: Path) -> None:
    app.query_params.update({"threshold": "0.75", "drop_nsfw": "false"})
    app.run()
    app.switch_page("pages/threshold_explorer.py").run()
    assert not app.exception
    assert app.slider(key="threshold").value == pytest.approx(0.75)
    assert app.toggle(key="drop_nsfw").value is False
    n = queries.count_selected(
        queries.connect(demo_db), "laionet", SelectionParams(0.75, drop_nsfw=False)
    )[0]
    assert {m.label: m.value for m in app.metric}["Dataset size"] == f"{n:,}"


def test_threshold_follows_to_another_page(app: AppTest) -> None:
    app.run()
    app.switch_page("pages/threshold_explorer.py").run()
    app.slider(key="threshold").set_value(0.84).run()
    app.switch_page("pages/compare_datasets.py").run()
    assert not app.exception
    assert app.slider(key="threshold").value == pytest.approx(0.84)


def test_unknown_link_value_is_named(app: AppTest) -> None:
    app.query_params["dataset_b"] = "no-such-dataset"
    app.run()
    app.switch_page("pages/compare_datasets.py").run()
    assert not app.exception
    assert any(escape_markdown("no-such-dataset") in w.body for w in app.warning)


def test_a_class_link_opens_that_class(app: AppTest) -> None:
    app.query_params["wnid"] = "n01443537"  # goldfish, as a chart's link gives it
    app.run()
    app.switch_page("pages/class_browser.py").run()
    assert not app.exception
    assert app.selectbox(key="wnid").value == "n01443537"
    app.selectbox(key="wnid").set_value("n02125311").run()  # the user moves on
    assert app.selectbox(key="wnid").value == "n02125311"


def test_a_stale_url_does_not_move_the_slider_back(app: AppTest, demo_db: Path) -> None:
    """Quick key presses: the rerun of the last press arrives with the URL of an earlier
    one (the browser had not yet taken the newer value the app wrote)."""
    app.run()
    app.switch_page("pages/threshold_explorer.py").run()
    app.slider(key="threshold").set_value(0.83).run()
    assert app.query_params["threshold"] == "0.83"
    app.query_params["threshold"] = "0.82"  # an older URL, echoed with the next move
    app.slider(key="threshold").set_value(0.85).run()
    assert not app.exception
    assert app.slider(key="threshold").value == pytest.approx(0.85)
    n = queries.count_selected(queries.connect(demo_db), "laionet", SelectionParams(0.85))[0]
    assert {m.label: m.value for m in app.metric}["Dataset size"] == f"{n:,}"
    assert app.query_params["threshold"] == "0.85"
    # A link opened without touching the slider still sets it.
    app.query_params["threshold"] = "0.78"
    app.run()
    assert app.slider(key="threshold").value == pytest.approx(0.78)
