"""AppTest runs of the class browser: bands follow the sliders; captions stay plain text."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from laionet_core import browse_queries, queries
from laionet_core.selection import SelectionParams

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
    assert bands[0] == "Similarity in (0.9, 1]"  # exact edges, no rounding


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


def _metric_values(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_outcomes_follow_the_selection(page: AppTest, demo_db: Path) -> None:
    con = queries.connect(demo_db)
    samples = queries.read_samples(con, "laionet")
    cougars = samples[samples["wnid"] == "n02125311"]
    for threshold in (0.82, 0.6):
        page.slider(key="threshold").set_value(threshold).run()
        kept = queries.read_selected_samples(con, "laionet", SelectionParams(threshold))
        metrics = _metric_values(page)
        assert metrics["Candidates"] == f"{len(cougars):,}"
        assert metrics["Selected"] == f"{int((kept['wnid'] == 'n02125311').sum()):,}"
        below = int((~(cougars["text_similarity"] > threshold)).sum())
        assert metrics["Dropped: below threshold"] == f"{below:,}"
    page.toggle(key="drop_multi_label").set_value(False).run()
    assert _metric_values(page)["Dropped: multi-label"] == "0"


def test_bands_show_their_counts_and_badges(page: AppTest, demo_db: Path) -> None:
    page.slider(key="threshold").set_value(0.6).run()
    con = queries.connect(demo_db)
    counts = browse_queries.read_band_counts(
        con, "laionet", "n02125311", SelectionParams(0.6), low=0.5, high=1.0, n=5
    )
    captions = [c.value for c in page.caption if "candidates," in c.value]
    expected = [
        f"{r.candidates:,} candidates, {r.selected:,} selected"
        for r in counts.iloc[::-1].itertuples()
    ]
    assert captions == expected
    badges = " ".join(m.value for m in page.markdown)
    assert "kept" in badges and "dropped: below threshold" in badges


def test_class_search_finds_a_lemma(page: AppTest) -> None:
    page.selectbox(key="wnid").set_value("n01443537").run()  # goldfish
    page.text_input(key="class_query").input("puma").run()
    assert not page.exception
    assert page.selectbox(key="wnid").options == ["cougar (n02125311)"]
    assert page.selectbox(key="wnid").value == "n02125311"


def test_caption_search_within_the_class_and_the_dataset(page: AppTest, demo_db: Path) -> None:
    page.text_input(key="caption_query").input("puma").run()
    assert not page.exception
    found = page.dataframe[-1].value
    assert len(found) > 0 and found["text"].str.lower().str.contains("puma").all()
    assert (found["wnid"] == "n02125311").all()
    page.selectbox(key="search_scope").set_value("the whole dataset").run()
    wide = page.dataframe[-1].value
    assert len(wide) >= len(found)
    page.text_input(key="caption_query").input(" ".join(["w"] * 9)).run()
    assert any("at most 8" in e.value for e in page.error)
