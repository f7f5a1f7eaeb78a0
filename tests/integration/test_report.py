"""The headline report: its JSON keys, its numbers against the database, and the panel."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from laionet_app.text import escape_markdown
from laionet_core import queries, schema
from laionet_core.comparison import METRIC_ZERO_SHOT_1
from laionet_core.report import HEADLINE_KEYS, compute_headline_report
from laionet_core.report_store import HEADLINE_REPORT_KEY, read_stored_headline_report
from laionet_core.selection import SelectionParams
from laionet_core.storage import open_database_for_update
from precompute.cli import main

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def report(demo_db: Path) -> dict:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["report", "--db", str(demo_db), "--format", "json"]) == 0
    return json.loads(buffer.getvalue())


def test_report_json_keys(report: dict) -> None:
    assert set(report) == {
        "simulated",
        "recipe",
        "recipe_recorded",
        "intra_class_estimator",
        "ocr_filter",
        "headlines",
    }
    assert [h["key"] for h in report["headlines"]] == list(HEADLINE_KEYS)
    for headline in report["headlines"]:
        assert set(headline) == {"key", "label", "section", "paper", "database"}
        assert headline["section"].startswith("Section")
    assert report["simulated"] is True and report["recipe"] == "explorer"
    by_key = {h["key"]: h for h in report["headlines"]}
    assert by_key["zero_shot_accuracy"]["paper"]["laionet"] == {"top1": 0.665, "top5": 0.905}
    assert set(by_key["intra_class_lower_share"]["database"]) == {"u-statistic", "paper"}


def test_report_numbers_match_the_database(report: dict, demo_db: Path) -> None:
    by_key = {h["key"]: h["database"] for h in report["headlines"]}
    con = queries.connect(demo_db)
    n, classes = queries.count_selected(con, "laionet", SelectionParams())  # explorer's rules
    rows = queries.read_class_metrics(con, dataset="laionet", metric=METRIC_ZERO_SHOT_1)
    rows = rows[rows["threshold"].round(3) == 0.82]
    con.close()
    assert by_key["laionet_size"] == {"samples": n, "classes": classes}
    top1 = rows["value"].dropna().mean()
    assert by_key["zero_shot_accuracy"]["laionet"]["top1"] == pytest.approx(top1)
    shares = by_key["intra_class_lower_share"]
    assert 0 < shares["paper"]["classes"] <= shares["u-statistic"]["classes"]


def test_report_markdown_names_the_simulated_data(demo_db: Path, capsys) -> None:
    assert main(["report", "--db", str(demo_db)]) == 0
    text = capsys.readouterr().out
    assert "**Simulated data**" in text and "| headline | source | paper | this database |" in text
    assert "Section 4.3, Figure 10b" in text


def test_landing_panel_shows_paper_beside_database(demo_db: Path, monkeypatch) -> None:
    monkeypatch.setenv("LAIONET_DB", str(demo_db))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    assert any("Simulated data: the right-hand column" in w.body for w in at.warning)
    table = next(d.value for d in at.dataframe if "this database" in d.value.columns)
    assert table["source"].tolist()[0] == "Section 2"
    assert "66.5%" in table["paper"].iloc[1]


def test_compare_page_offers_both_estimators(demo_db: Path, monkeypatch) -> None:
    from laionet_core.comparison import METRIC_INTRA, METRIC_INTRA_PAPER, build_metric_table
    from laionet_core.stats import compare_class_means, compute_significance_shares

    monkeypatch.setenv("LAIONET_DB", str(demo_db))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/compare_datasets.py").run()
    assert not at.exception, at.exception
    con = queries.connect(demo_db)
    rows = queries.read_class_metrics(con)
    con.close()
    laion = rows[(rows["threshold"].round(3) == 0.82) | rows["threshold"].isna()]
    shown = {m.label: m.value for m in at.metric}
    expected = {}
    for name, metric in (("u-statistic", METRIC_INTRA), ("paper", METRIC_INTRA_PAPER)):
        diff = compare_class_means(
            build_metric_table(laion, "laionet", metric),
            build_metric_table(laion, "imagenet-val", metric),
            value_column="value",
        )
        expected[name] = compute_significance_shares(diff)
        label = f"laionet significantly lower than {escape_markdown('imagenet-val')}: {name}"
        assert shown[label] == f"{expected[name]['lower']:.1%}"
    assert at.radio(key="intra_estimator").value == "u-statistic"  # the explorer recipe's
    at.radio(key="intra_estimator").set_value("paper").run()
    assert not at.exception
    first = {}
    for m in at.metric:  # the intra-class block comes first
        first.setdefault(m.label, m.value)
    assert first["Classes compared"] == f"{expected['paper']['n_classes']:,}"
    assert first["laionet significantly lower"] == f"{expected['paper']['lower']:.1%}"


def test_weighted_accuracy_matches_the_per_sample_computation(report: dict, demo_db: Path) -> None:
    """Oracle: the per-class counts done in DuckDB against every prediction row in pandas."""
    from laionet_core.comparison import compute_accuracy_by_dataset
    from laionet_core.recipes import get_recipe
    from laionet_core.report import count_selection

    recipe = get_recipe(report["recipe"])
    by_key = {h["key"]: h["database"] for h in report["headlines"]}
    con = queries.connect(demo_db)
    params = SelectionParams(threshold=recipe.threshold)
    kept = queries.read_selected_samples(con, "laionet", params)
    weights = kept["wnid"].value_counts().astype(float)
    assert count_selection(con, "laionet", recipe)["samples"] == len(kept)
    models = queries.list_prediction_models(con)
    assert models and set(by_key["weighted_accuracy"]) == set(models)
    for model in models:
        rows = queries.read_predictions(con, model)
        mine = rows[(rows["dataset"] == "laionet") & rows["sample_id"].isin(kept["sample_id"])]
        top1 = compute_accuracy_by_dataset(mine, class_weights=weights)["laionet"].summary.loc[1]
        assert by_key["weighted_accuracy"][model] == pytest.approx(
            {"equal": top1["equal"], "weighted": top1["weighted"]}
        )
    con.close()


def test_the_build_keeps_the_report_it_would_compute(report: dict, demo_db: Path) -> None:
    con = queries.connect(demo_db)
    stored = read_stored_headline_report(con)
    assert stored == json.loads(json.dumps(compute_headline_report(con)))
    assert stored == report  # what `precompute report --format json` prints
    con.close()


def test_an_update_keeps_the_report_of_what_it_wrote(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)
    con = queries.connect(db)
    model = queries.list_prediction_models(con)[0]
    before = {h["key"]: h["database"] for h in read_stored_headline_report(con)["headlines"]}
    assert model in before["weighted_accuracy"]
    con.close()
    with open_database_for_update(db) as con:
        con.execute(f"DELETE FROM {schema.PREDICTIONS} WHERE model = ?", [model])
    con = queries.connect(db)
    stored = {h["key"]: h["database"] for h in read_stored_headline_report(con)["headlines"]}
    assert model not in stored["weighted_accuracy"]
    assert read_stored_headline_report(con) == json.loads(json.dumps(compute_headline_report(con)))
    con.close()


def test_the_landing_panel_shows_the_kept_report(
    demo_db: Path, tmp_path: Path, monkeypatch
) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)
    con = duckdb.connect(str(db))
    kept = json.loads(
        con.execute("SELECT value FROM meta WHERE key = ?", [HEADLINE_REPORT_KEY]).fetchall()[0][0]
    )
    kept["headlines"][0]["label"] = "kept, not computed"
    con.execute("UPDATE meta SET value = ? WHERE key = ?", [json.dumps(kept), HEADLINE_REPORT_KEY])
    con.close()
    monkeypatch.setenv("LAIONET_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "this database" in d.value.columns)
    assert table["headline"].iloc[0] == "kept, not computed"


def test_a_kept_report_that_is_not_json_is_named(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)
    con = duckdb.connect(str(db))
    con.execute("UPDATE meta SET value = '{' WHERE key = ?", [HEADLINE_REPORT_KEY])
    with pytest.raises(ValueError, match="meta 'headline_report' is not JSON"):
        read_stored_headline_report(con)
    con.close()
