"""AppTest of Diagnose ImageNet (Section 4): the numbers shown equal the stored data."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from laionet_core import queries
from laionet_core.metrics import compute_intra_class_similarity
from laionet_core.selection import SelectionParams
from laionet_core.stats import compare_class_means, compute_significance_shares

TIMEOUT = 120
APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def page(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LAIONET_DB", str(demo_db))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/diagnose_imagenet.py").run()
    assert not at.exception, at.exception
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _intra_shares(con, threshold: float) -> dict[str, float]:
    """Shares of classes where the text-matched selection is significantly less / more
    similar than imagenet-val, from the embeddings."""
    tables = []
    for name in ("text-matched", "imagenet-val"):
        ids, emb = queries.read_embeddings(con, name)
        if name == "text-matched":
            kept = queries.read_selected_samples(con, name, SelectionParams(threshold=threshold))
            keep = ids["sample_id"].isin(kept["sample_id"]).to_numpy()
            ids, emb = ids[keep], emb[keep]
        tables.append(compute_intra_class_similarity(emb, ids["wnid"].to_numpy()))
    return compute_significance_shares(compare_class_means(*tables))


def test_caption_diagnostics_numbers(page: AppTest, demo_db: Path) -> None:
    diagnostics = queries.read_caption_diagnostics(queries.connect(demo_db), "imagenet-captions")
    low = diagnostics["own_similarity"] <= 0.7
    shown = _metrics(page)
    assert shown["Captions"] == f"{len(diagnostics):,}"
    assert shown["Similarity to own synset ≤ 0.7"] == f"{low.mean():.1%}"
    share = diagnostics.loc[low, "false_classes_more_similar"].mean()
    assert shown["Other classes more similar, for those captions"] == f"{share:.1%}"
    assert len(page.get("vega_lite_chart")) >= 6  # Figures 9a, 9b, 10a, 10b, 16a, 16b


def test_text_matched_comparison_follows_its_threshold(page: AppTest, demo_db: Path) -> None:
    con = queries.connect(demo_db)
    for threshold in (0.7, 0.8):
        if threshold != 0.7:
            page.slider(key="text_match_threshold").set_value(threshold).run()
            assert not page.exception
        n, classes = queries.count_selected(
            con, "text-matched", SelectionParams(threshold=threshold)
        )
        shown = _metrics(page)
        assert shown["LAION samples kept"] == f"{n:,}"
        assert shown["Classes covered"] == f"{classes:,}"
        lower = _intra_shares(con, threshold)["lower"]
        assert shown["text\\-matched significantly lower"] == f"{lower:.1%}"


def test_significance_sweep_names_the_lower_side(demo_db: Path) -> None:
    from laionet_app.connection import stat_database
    from laionet_app.loaders import load_significance_sweep

    db = stat_database(demo_db)
    sweep = load_significance_sweep(
        db, "text-matched", "imagenet-val", SelectionParams(threshold=0.7), (0.6, 0.8)
    )
    con = queries.connect(demo_db)
    for threshold in (0.6, 0.8):
        shares = _intra_shares(con, threshold)
        at = sweep[sweep["threshold"] == threshold].set_index("side")["share"]
        assert at["text-matched lower"] == pytest.approx(shares["lower"])
        assert at["imagenet-val lower"] == pytest.approx(shares["higher"])
    # The two sides differ here, so swapping them could not pass unseen.
    assert sweep["share"].nunique() > 1
