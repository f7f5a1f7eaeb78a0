"""AppTest runs of Compare datasets and Model accuracy: widgets drive the numbers shown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from laionet_core import queries
from laionet_core.comparison import METRIC_INTRA, build_metric_table, compute_accuracy_by_dataset
from laionet_core.metrics import compute_intra_class_similarity
from laionet_core.selection import SelectionParams
from laionet_core.stats import compare_class_means, compute_significance_shares
from precompute.simulate.predictions import DEMO_MODEL

TIMEOUT = 120
APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _metrics(at: AppTest) -> dict[str, str]:
    """Metric values by label; the first wins (the intra-class block comes first)."""
    shown: dict[str, str] = {}
    for metric in at.metric:
        shown.setdefault(metric.label, metric.value)
    return shown


def _open(page: str, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("LAIONET_DB", str(demo_db))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _intra_shares(con, a: str, b: str, params: SelectionParams) -> dict[str, float]:
    """The shares recomputed from the embeddings (A at the selection, B whole)."""
    tables = []
    for name in (a, b):
        ids, emb = queries.read_embeddings(con, name)
        if name == a:
            kept = queries.read_selected_samples(con, name, params)["sample_id"]
            keep = ids["sample_id"].isin(kept).to_numpy()
            ids, emb = ids[keep], emb[keep]
        tables.append(compute_intra_class_similarity(emb, ids["wnid"].to_numpy()))
    return compute_significance_shares(compare_class_means(*tables))


def test_compare_page_shows_the_pure_functions_numbers(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open("pages/compare_datasets.py", demo_db, monkeypatch)
    con = queries.connect(demo_db)
    shares = _intra_shares(con, "laionet", "imagenet-val", SelectionParams())
    shown = _metrics(at)
    assert shown["Classes compared"] == f"{shares['n_classes']:,}"
    assert shown["laionet significantly lower"] == f"{shares['lower']:.1%}"
    assert len(at.get("vega_lite_chart")) >= 7

    at.slider(key="threshold").set_value(0.75).run()
    assert not at.exception
    shares = _intra_shares(con, "laionet", "imagenet-val", SelectionParams(threshold=0.75))
    shown = _metrics(at)
    assert shown["Classes compared"] == f"{shares['n_classes']:,}"
    assert shown["laionet significantly lower"] == f"{shares['lower']:.1%}"

    at.selectbox(key="dataset_b").set_value("imagenetv2-b").run()
    assert not at.exception
    shares = _intra_shares(con, "laionet", "imagenetv2-b", SelectionParams(threshold=0.75))
    assert _metrics(at)["laionet significantly higher"] == f"{shares['higher']:.1%}"


def test_compare_page_with_a_reference_as_a(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open("pages/compare_datasets.py", demo_db, monkeypatch)
    at.selectbox(key="dataset_a").set_value("imagenetv2-c").run()
    assert not at.exception
    con = queries.connect(demo_db)
    rows = queries.read_class_metrics(con)
    diff = compare_class_means(
        build_metric_table(rows, "imagenetv2-c", METRIC_INTRA),
        build_metric_table(rows, "imagenet-val", METRIC_INTRA),
        value_column="value",
    )
    shares = compute_significance_shares(diff)
    assert _metrics(at)["imagenetv2\\-c significantly lower"] == f"{shares['lower']:.1%}"
    # Every class of the reference has the same size, so Figure 15 has no correlation.
    assert rows[rows["dataset"] == "imagenetv2-c"].groupby("wnid")["n"].first().nunique() == 1
    assert _metrics(at)["Spearman correlation in imagenetv2\\-c"] == "undefined"


def _accuracy(con, params: SelectionParams) -> dict:
    preds = queries.read_predictions(con, DEMO_MODEL)
    kept = queries.read_selected_samples(con, "laionet", params)
    preds = preds[(preds["dataset"] != "laionet") | preds["sample_id"].isin(kept["sample_id"])]
    return compute_accuracy_by_dataset(preds, class_weights=kept["wnid"].value_counts())


def test_model_page_accuracy_follows_the_selection(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open("pages/model_accuracy.py", demo_db, monkeypatch)
    assert at.selectbox(key="model").value == DEMO_MODEL
    assert any("SIMULATED model" in c.value for c in at.caption)
    con = queries.connect(demo_db)
    for threshold in (0.82, 0.7):
        if threshold != 0.82:
            at.slider(key="threshold").set_value(threshold).run()
            assert not at.exception
        acc = _accuracy(con, SelectionParams(threshold=threshold))
        shown = _metrics(at)
        for k in (1, 5):
            imagenet, laion = (acc[n].summary.loc[k, "equal"] for n in ("imagenet-val", "laionet"))
            assert shown[f"Top-{k}: imagenet-val → laionet"] == f"{imagenet:.3f} → {laion:.3f}"
        table = at.dataframe[0].value
        laion = table[(table["dataset"] == "laionet") & (table["k"] == 1)].iloc[0]
        assert laion["weighted"] == pytest.approx(acc["laionet"].summary.loc[1, "weighted"])


def test_model_comparison_holds_each_stored_model_on_both_datasets(demo_db: Path) -> None:
    from laionet_app.connection import stat_database
    from laionet_app.model_accuracy import build_model_comparison

    params = SelectionParams(threshold=0.8)
    db = stat_database(demo_db)
    compared = build_model_comparison(db, [DEMO_MODEL], "laionet", params).set_index("k")
    acc = _accuracy(queries.connect(demo_db), params)
    for k in (1, 5):
        assert compared.loc[k, "imagenet"] == acc["imagenet-val"].summary.loc[k, "equal"]
        assert compared.loc[k, "laion"] == acc["laionet"].summary.loc[k, "equal"]


def test_uploaded_table_is_parsed_like_the_cli(demo_db: Path) -> None:
    from laionet_app.connection import stat_database
    from laionet_app.model_accuracy import parse_uploaded_predictions
    from laionet_core.uploads import UploadError

    con = queries.connect(demo_db)
    samples = queries.read_samples(con, "laionet").head(10)
    table = pd.DataFrame(
        {
            "sample_id": samples["sample_id"],
            "top_1_is_correct_x": np.arange(10) < 4,
            "top_5_is_correct_x": np.arange(10) < 7,
        }
    )
    db = stat_database(demo_db)
    parsed = parse_uploaded_predictions(db, table.to_csv(index=False).encode(), "up.csv")
    assert parsed["dataset"].eq("laionet").all()
    assert parsed["wnid"].tolist() == samples["wnid"].tolist()
    hits = [w in p for p, w in zip(parsed["top5_wnids"], parsed["wnid"], strict=True)]
    assert hits == (np.arange(10) < 7).tolist()
    with pytest.raises(UploadError, match=r"dataset \['nope'\] not in the database"):
        parse_uploaded_predictions(
            db, table.assign(dataset="nope").to_csv(index=False).encode(), "up.csv"
        )


def test_compare_page_thresholds_a_text_matched_a_on_its_own_scale(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _open("pages/compare_datasets.py", demo_db, monkeypatch)
    at.selectbox(key="dataset_a").set_value("text-matched").run()
    assert not at.exception
    assert at.slider(key="text_match_threshold").value == pytest.approx(0.7)
    con = queries.connect(demo_db)
    for threshold in (0.7, 0.8):
        if threshold != 0.7:
            at.slider(key="text_match_threshold").set_value(threshold).run()
            assert not at.exception
        params = SelectionParams(threshold=threshold)
        shares = _intra_shares(con, "text-matched", "imagenet-val", params)
        shown = _metrics(at)
        assert shown["Classes compared"] == f"{shares['n_classes']:,}"
        assert shown["text\\-matched significantly lower"] == f"{shares['lower']:.1%}"
