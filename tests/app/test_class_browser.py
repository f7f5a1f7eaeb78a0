"""AppTest runs of the class browser: bands follow the sliders; captions stay plain text."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from laionet_core import queries

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/class_browser.py"
TIMEOUT = 120


@pytest.fixture
def page(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LAIONET_DB", str(demo_db))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def test_opens_on_the_cougar_with_five_bands(page: AppTest) -> None:
    assert page.selectbox(key="wnid").value == "n02125311"
    assert "Synset text: cougar which is large American feline resembling a lion" in _texts(page)
    bands = [s.value for s in page.subheader if s.value.startswith("Similarity in")]
    assert len(bands) == 5
    assert bands[0].startswith("Similarity in (0.90, 1.00]")


def test_band_samples_lie_in_their_band(page: AppTest, demo_db: Path) -> None:
    page.slider(key="n_bands").set_value(2).run()
    page.slider(key="band_range").set_value((0.6, 0.9)).run()
    assert not page.exception
    con = queries.connect(demo_db)
    high = queries.read_samples_in_band(con, "laionet", "n02125311", low=0.75, high=0.9, limit=6)
    shown = set(_texts(page))
    for text, sim in zip(high["text"], high["text_similarity"], strict=True):
        assert 0.75 < sim <= 0.9
        assert text[:300] in shown


def test_html_captions_are_shown_as_text(page: AppTest, demo_db: Path) -> None:
    con = queries.connect(demo_db)
    rows = con.execute(
        "SELECT wnid, text, text_similarity FROM samples WHERE dataset = 'laionet' "
        "AND text LIKE '%<%>%' AND text_similarity > 0.5 ORDER BY sample_id LIMIT 1"
    ).fetchall()
    assert rows, "the simulated corpus should contain HTML captions"
    wnid, text, sim = rows[0]
    page.selectbox(key="wnid").set_value(wnid).run()
    page.slider(key="per_band").set_value(24).run()
    page.slider(key="band_range").set_value((round(sim - 0.005, 2), round(sim + 0.005, 2))).run()
    page.slider(key="n_bands").set_value(1).run()
    assert text[:300] in _texts(page)
    assert all(text[:300] not in m.value for m in page.markdown)


def test_reference_datasets_show_a_random_sample(page: AppTest) -> None:
    page.selectbox(key="dataset").set_value("imagenet-val").run()
    assert not page.exception
    assert "A random sample" in [s.value for s in page.subheader]
