"""The ``paper-scale`` preset at test size: same code path, small numbers.

The full preset (21M captions) is a benchmark, not a test (``benchmarks/bench_simulate.py
--preset``); here its tiny version is built once and its shape is checked: heavy-tailed
class frequencies, the selected count, every dataset, the simulated flag, embeddings
exactly for the rows above the floor, predictions of two models and a text match.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from laionet_core import queries
from precompute.simulate.paper_scale import (
    PRESET_NAME,
    PaperScaleConfig,
    build_paper_scale_database,
    compute_class_plan,
    compute_selected_counts,
)

pytestmark = pytest.mark.slow
TINY = PaperScaleConfig().tiny()
APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("paper_scale") / "tiny.duckdb"
    return build_paper_scale_database(TINY, db)


def _laion_selected_per_class(con: duckdb.DuckDBPyConnection, threshold: float) -> np.ndarray:
    rows = con.execute(
        "SELECT count(*) FROM samples WHERE dataset = 'laionet' AND text_similarity > ? "
        "GROUP BY wnid",
        [threshold],
    ).fetchall()
    return np.sort(np.array([r[0] for r in rows]))[::-1]


def test_full_preset_plan_has_laionets_heavy_tail() -> None:
    config = PaperScaleConfig()
    expected = compute_selected_counts(config)
    assert expected.sum() == pytest.approx(880_000, rel=1e-6)
    assert expected[0] / expected.sum() == pytest.approx(0.05, rel=1e-6)
    assert 200 <= np.median(expected) <= 400
    assert np.mean(expected < 50) == pytest.approx(0.25, abs=0.02)
    n_captions, mean = compute_class_plan(config, np.random.default_rng(0))
    assert n_captions.sum() == config.n_samples and n_captions.min() >= 20
    # The mean similarity puts each class's expected selection rate above 0.82.
    assert np.all((mean > 0.3) & (mean < 0.9))


def test_tiny_preset_has_the_shape_of_the_real_database(tiny_db: Path) -> None:
    con = duckdb.connect(str(tiny_db), read_only=True)
    try:
        counts = dict(con.execute("SELECT dataset, count(*) FROM samples GROUP BY 1").fetchall())
        assert counts["laionet"] == TINY.n_samples
        for name in ("imagenetv2-a", "imagenetv2-b", "imagenetv2-c"):
            assert counts[name] == TINY.imagenetv2_per_class * TINY.n_classes
        assert counts["imagenet-val"] == TINY.imagenet_val_per_class * TINY.n_classes
        assert counts["imagenet-captions"] == TINY.captions_per_class * TINY.n_classes
        assert 0 < counts["text-matched"] <= counts["imagenet-captions"]
        selected = _laion_selected_per_class(con, TINY.threshold)
        assert selected.sum() == pytest.approx(TINY.n_selected, rel=0.1)
        assert selected[0] / selected.sum() == pytest.approx(TINY.head_share, rel=0.3)
        assert np.median(selected) == pytest.approx(TINY.median_selected, rel=0.4)
        # Embeddings exactly for the LAION rows above the floor, as --embedding-floor keeps.
        stored = con.execute(
            "SELECT count(*) FROM image_embeddings WHERE dataset = 'laionet'"
        ).fetchone()[0]
        assert stored == selected.sum()
        missing = con.execute(
            "SELECT count(*) FROM samples s ANTI JOIN text_embeddings e "
            "ON s.dataset = e.dataset AND s.sample_id = e.sample_id "
            "WHERE s.dataset = 'laionet' AND s.text_similarity > ?",
            [TINY.threshold],
        ).fetchone()[0]
        assert missing == 0
        multi = con.execute(
            "SELECT avg(multi_label::INT), sum(len(matched_wnids)) FROM samples "
            "WHERE dataset = 'laionet'"
        ).fetchone()
        assert multi[0] == pytest.approx(TINY.multi_label_fraction, abs=0.01)
        assert con.execute("SELECT count(*) FROM candidates").fetchone()[0] == multi[1]
        models = con.execute("SELECT DISTINCT model FROM predictions").fetchall()
        assert len(models) >= 2 and all(m[0].startswith("simulated-") for m in models)
        assert queries.read_meta(con)["simulated"] == "true"
        assert con.execute("SELECT bool_and(simulated) FROM datasets").fetchone()[0]
        assert (
            con.execute("SELECT count(*) FROM samples WHERE thumbnail_id IS NULL").fetchone()[0]
            == 0
        )
        assert con.execute("SELECT count(*) FROM thumbnails").fetchone()[0] <= (
            6 * TINY.n_classes * TINY.thumbnails_per_class
        )
    finally:
        con.close()


def test_histograms_agree_with_the_samples(tiny_db: Path) -> None:
    con = duckdb.connect(str(tiny_db), read_only=True)
    try:
        hist = con.execute(
            "SELECT sum(n) FROM similarity_histograms WHERE dataset = 'laionet'"
        ).fetchone()[0]
        assert hist == TINY.n_samples
        metrics = con.execute("SELECT count(DISTINCT dataset) FROM class_metrics").fetchone()[0]
        assert metrics >= 6
    finally:
        con.close()


def test_demo_help_lists_the_preset() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "precompute", "demo", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--preset" in out and PRESET_NAME in out


@pytest.mark.parametrize(
    "page",
    [
        "pages/threshold_explorer.py",
        "pages/class_browser.py",
        "pages/compare_datasets.py",
        "pages/model_accuracy.py",
        "pages/diagnose_imagenet.py",
    ],
)
def test_every_page_opens_on_the_tiny_preset(
    tiny_db: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    monkeypatch.setenv("LAIONET_DB", str(tiny_db))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    shown = " ".join(str(e.value) for e in at.markdown) + " ".join(str(e.value) for e in at.caption)
    assert "SIMULATED" in shown.upper() or "simulated" in shown
