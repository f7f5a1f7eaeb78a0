"""AppTest runs of the app: every page opens, and the widgets drive the numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from laionet_core import queries
from laionet_core.selection import (
    SelectionParams,
    select_by_nsfw_rule,
    select_by_ocr_text,
    select_mask,
)

TIMEOUT = 120
APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture
def app(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LAIONET_DB", str(demo_db))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/threshold_explorer.py").run()
    assert not at.exception, at.exception
    return at


def test_opens_with_the_simulated_banner_and_paper_threshold(app: AppTest, demo_db: Path) -> None:
    assert any("Simulated data" in w.body for w in app.warning)
    assert app.slider(key="threshold").value == pytest.approx(0.82)
    con = queries.connect(demo_db)
    n, classes = queries.count_selected(con, "laionet", SelectionParams())
    metrics = _metrics(app)
    assert metrics["Dataset size"] == f"{n:,}"
    assert metrics["Classes covered"] == f"{classes:,} / 1,000"


@pytest.mark.parametrize("threshold", [0.7, 0.9])
def test_slider_moves_size_and_coverage(app: AppTest, demo_db: Path, threshold: float) -> None:
    app.slider(key="threshold").set_value(threshold).run()
    assert not app.exception
    con = queries.connect(demo_db)
    n, classes = queries.count_selected(con, "laionet", SelectionParams(threshold=threshold))
    assert _metrics(app)["Dataset size"] == f"{n:,}"
    assert _metrics(app)["Classes covered"] == f"{classes:,} / 1,000"


def test_toggles_and_min_samples(app: AppTest, demo_db: Path) -> None:
    app.toggle(key="drop_nsfw").set_value(False).run()
    app.toggle(key="drop_multi_label").set_value(False).run()
    con = queries.connect(demo_db)
    params = SelectionParams(drop_nsfw=False, drop_multi_label=False)
    assert _metrics(app)["Dataset size"] == f"{queries.count_selected(con, 'laionet', params)[0]:,}"
    app.number_input(key="min_samples_per_class").set_value(10).run()
    selected = queries.read_selected_samples(con, "laionet", params)
    rich = int((selected["wnid"].value_counts() >= 10).sum())
    assert _metrics(app)["Classes covered"] == f"{rich:,} / 1,000"


def test_export_buttons_follow_the_selection(app: AppTest, demo_db: Path) -> None:
    app.radio(key="export_format").set_value("csv").run()
    assert not app.exception
    con = queries.connect(demo_db)
    n = queries.count_selected(con, "laionet", SelectionParams())[0]
    labels = [b.proto.label for b in app.get("download_button")]
    assert f"Download {n:,} rows (csv)" in labels


def test_missing_database_explains_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAIONET_DB", str(tmp_path / "nope.duckdb"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("No database" in e.body for e in at.error)
    assert any("python -m precompute demo" in m.body for m in at.markdown)


def test_text_matched_dataset_is_thresholded_on_text_to_text_similarity(
    app: AppTest, demo_db: Path
) -> None:
    app.selectbox(key="dataset").set_value("text-matched").run()
    assert not app.exception
    slider = app.slider(key="text_match_threshold")
    assert slider.value == pytest.approx(0.7)  # Section 4.3's threshold, not 0.82
    assert "Text-to-text" in slider.label
    con = queries.connect(demo_db)
    for threshold in (0.7, 0.85):
        slider.set_value(threshold).run()
        n, classes = queries.count_selected(
            con, "text-matched", SelectionParams(threshold=threshold)
        )
        assert _metrics(app)["Dataset size"] == f"{n:,}"
        assert _metrics(app)["Classes covered"] == f"{classes:,} / 1,000"
        slider = app.slider(key="text_match_threshold")


def test_default_selection_is_the_tmlr_content_rule(
    app: AppTest, demo_db: Path, demo_corpus: Path
) -> None:
    """The default selection keeps NSFW = UNLIKELY only and drops images whose OCR text
    names their class, counted here from the corpus's raw tags and OCR text."""
    toggle = app.toggle(key="drop_nsfw")
    assert toggle.label == "Apply explorer's content rules (NSFW = UNLIKELY only; OCR rule)"
    assert toggle.help.startswith("Keep only NSFW = UNLIKELY")
    assert "names their class" in toggle.help and "not applied" not in toggle.help
    con = queries.connect(demo_db)
    samples = queries.read_samples(con, "laionet")
    classes = queries.read_classes(con)
    con.close()
    parts = sorted((demo_corpus / "metadata").glob("*.parquet"))
    meta = pd.concat(
        [pq.read_table(p, columns=["SAMPLE_ID", "ocr_text"]).to_pandas() for p in parts]
    )
    ocr = meta.set_index(meta["SAMPLE_ID"].astype(str))["ocr_text"]
    lemmas = {w: tuple(x) for w, x in zip(classes["wnid"], classes["lemmas"], strict=True)}
    keep = select_by_nsfw_rule(samples["nsfw"].to_numpy(object), "unlikely-only")
    texts = ocr.reindex(samples["sample_id"]).to_numpy(object)
    keep &= select_by_ocr_text(texts, samples["wnid"].to_numpy(object), lemmas)
    assert (~keep).sum() > 0 and (samples["nsfw"].isna() | (samples["nsfw"] == "UNSURE")).any()
    mask = select_mask(samples["text_similarity"], ~keep, samples["multi_label"], SelectionParams())
    assert _metrics(app)["Dataset size"] == f"{int(mask.sum()):,}"
    arxiv = select_by_nsfw_rule(samples["nsfw"].to_numpy(object), "drop-nsfw")
    looser = select_mask(
        samples["text_similarity"], ~arxiv, samples["multi_label"], SelectionParams()
    )
    assert looser.sum() > mask.sum()  # the arXiv rule would keep more
