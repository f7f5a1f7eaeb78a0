"""class_metrics and predictions in the simulated demo database (built through the CLI)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from laionet_core import queries
from laionet_core.accuracy import compute_zero_shot_accuracy
from laionet_core.comparison import (
    IMAGENETV2_SELECTION_FREQUENCY,
    METRIC_IMAGE_SIMILARITY,
    METRIC_INTRA,
    METRIC_ZERO_SHOT_1,
    METRIC_ZERO_SHOT_5,
    METRICS,
    build_metric_table,
    compute_accuracy_by_dataset,
)
from laionet_core.metrics import compute_intra_class_similarity
from laionet_core.selection import SelectionParams
from laionet_core.stats import compare_class_means, compute_class_means, compute_significance_shares
from precompute.cli import main as precompute_main
from precompute.simulate.predictions import DEMO_MODEL

DATASETS = ("laionet", "imagenet-val", "imagenetv2-a", "imagenetv2-b", "imagenetv2-c")


@pytest.fixture(scope="module")
def con(demo_db: Path):
    connection = queries.connect(demo_db)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def rows(con) -> pd.DataFrame:
    return queries.read_class_metrics(con)


@pytest.fixture
def db_copy(demo_db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, target)
    return target


def _selected(con, dataset: str) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    ids, emb = queries.read_embeddings(con, dataset)
    if dataset == "laionet":
        samples = queries.read_selected_samples(con, dataset, SelectionParams())
    else:
        samples = queries.read_samples(con, dataset)
    keep = ids["sample_id"].isin(samples["sample_id"]).to_numpy()
    return ids[keep], emb[keep], samples.set_index("sample_id")


@pytest.mark.parametrize("dataset", ["laionet", "imagenet-val", "imagenetv2-b"])
def test_stored_metrics_agree_with_the_pure_functions(con, rows, dataset: str) -> None:
    ids, emb, samples = _selected(con, dataset)
    labels = ids["wnid"].to_numpy()
    intra = compute_intra_class_similarity(emb, labels)
    stored = build_metric_table(rows, dataset, METRIC_INTRA)
    assert stored.index.tolist() == intra.index.tolist()
    assert stored["n"].tolist() == intra["n"].tolist()
    np.testing.assert_allclose(stored["value"], intra["mean"], rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(stored["ci_low"], intra["ci_low"], rtol=1e-9, equal_nan=True)
    image = compute_class_means(samples["image_similarity"].reindex(ids["sample_id"]), labels)
    stored_image = build_metric_table(rows, dataset, METRIC_IMAGE_SIMILARITY)
    np.testing.assert_allclose(stored_image["value"], image["mean"], rtol=1e-9)
    encoder = queries.read_datasets(con).set_index("dataset").loc[dataset, "encoder"]
    wnids, synsets = queries.read_synset_embeddings(con, encoder, "name_def")
    zero = compute_zero_shot_accuracy(emb, labels, synsets, wnids)
    for k, metric in ((1, METRIC_ZERO_SHOT_1), (5, METRIC_ZERO_SHOT_5)):
        table = build_metric_table(rows, dataset, metric)
        np.testing.assert_allclose(table["value"], zero.per_class[f"recall@{k}"])


def test_every_dataset_has_every_metric(rows) -> None:
    for dataset in DATASETS:
        assert set(rows.loc[rows["dataset"] == dataset, "metric"]) == set(METRICS)


def _laionet_against_imagenet(rows: pd.DataFrame, metric: str) -> dict[str, float]:
    """Shares of classes where LAIONet's stored metric is significantly lower / higher."""
    diff = compare_class_means(
        build_metric_table(rows, "laionet", metric),
        build_metric_table(rows, "imagenet-val", metric),
        value_column="value",
    )
    return compute_significance_shares(diff)


def test_laionet_is_less_similar_within_classes_than_imagenet(rows) -> None:
    shares = _laionet_against_imagenet(rows, METRIC_INTRA)
    assert shares["n_classes"] >= 20
    assert shares["lower"] > 0.5 > shares["higher"]


@pytest.mark.parametrize("dataset", ["laionet", "imagenet-val"])
def test_zero_shot_recall_is_neither_trivial_nor_chance(rows, dataset: str) -> None:
    # Siblings' synset texts are confusable (class families), so CLIP errs, mostly among them.
    top1 = build_metric_table(rows, dataset, METRIC_ZERO_SHOT_1)["value"].mean()
    top5 = build_metric_table(rows, dataset, METRIC_ZERO_SHOT_5)["value"].mean()
    assert 0.4 < top1 < 0.95 and top1 + 0.1 < top5


def test_zero_shot_recall_differs_by_class_between_laionet_and_imagenet(rows) -> None:
    # Figure 12: captions close to the synset come with pictures that show the class
    # clearly, so more classes are significantly easier on LAIONet than harder.
    shares = _laionet_against_imagenet(rows, METRIC_ZERO_SHOT_1)
    assert shares["higher"] >= 0.04 and shares["higher"] > shares["lower"]


def test_imagenetv2_intra_class_similarity_follows_selection_frequency(rows) -> None:
    means = [
        build_metric_table(rows, name, METRIC_INTRA)["value"].mean()
        for name in sorted(IMAGENETV2_SELECTION_FREQUENCY, key=IMAGENETV2_SELECTION_FREQUENCY.get)
    ]
    assert means == sorted(means) and means[0] < means[-1]


def test_simulated_model_stored_and_worse_on_laionet(con) -> None:
    assert DEMO_MODEL in queries.list_prediction_models(con)
    preds = queries.read_predictions(con, DEMO_MODEL)
    for dataset in DATASETS:
        n_samples = len(queries.read_samples(con, dataset))
        assert (preds["dataset"] == dataset).sum() == n_samples
    assert preds["top5_wnids"].map(len).eq(5).all()
    selected = set(queries.read_selected_samples(con, "laionet", SelectionParams())["sample_id"])
    preds = preds[(preds["dataset"] != "laionet") | preds["sample_id"].isin(selected)]
    weights = preds.loc[preds["dataset"] == "laionet", "wnid"].value_counts()
    acc = compute_accuracy_by_dataset(preds, class_weights=weights)
    for k in (1, 5):
        assert acc["laionet"].summary.loc[k, "equal"] < acc["imagenet-val"].summary.loc[k, "equal"]


def test_metrics_command_stores_other_thresholds_in_the_threshold_column(db_copy: Path) -> None:
    assert precompute_main(["metrics", "--db", str(db_copy), "--threshold", "0.82", "0.75"]) == 0
    con = queries.connect(db_copy)
    rows = queries.read_class_metrics(con, dataset="laionet")
    assert sorted(rows["threshold"].unique()) == pytest.approx([0.75, 0.82])
    assert set(queries.read_class_metrics(con)["dataset"]) <= set(
        queries.read_datasets(con)["dataset"]
    )
    wide = build_metric_table(rows, "laionet", METRIC_INTRA, threshold=0.75)
    narrow = build_metric_table(rows, "laionet", METRIC_INTRA, threshold=0.82)
    assert wide["n"].sum() > narrow["n"].sum()
    at_75 = queries.read_class_metrics(con, dataset="laionet", threshold=0.75)
    assert len(at_75) == len(rows[rows["threshold"] == 0.75]) > 0
    whole = queries.read_class_metrics(con, dataset="imagenet-val")
    assert whole["threshold"].isna().all()


def test_add_predictions_from_files_in_both_forms(db_copy: Path, tmp_path: Path) -> None:
    con = queries.connect(db_copy)
    samples = queries.read_samples(con, "imagenet-val").head(40)
    con.close()
    wnids = samples["wnid"].tolist()
    top5 = pd.DataFrame(
        {
            "sample_id": samples["sample_id"],
            **{
                f"pred_{i}": [wnids[(j + i - 1) % len(wnids)] for j in range(40)]
                for i in range(1, 6)
            },
        }
    )
    top5.to_csv(tmp_path / "top5.csv", index=False)
    flags = pd.DataFrame(
        {
            "sample_id": samples["sample_id"],
            "dataset": "imagenet-val",
            "top_1_is_correct_m": np.arange(40) % 2 == 0,
            "top_5_is_correct_m": np.arange(40) % 4 != 3,
        }
    )
    flags.to_parquet(tmp_path / "flags.parquet")
    for model, path in (("lists", "top5.csv"), ("flags", "flags.parquet")):
        argv = ["add-predictions", "--db", str(db_copy), "--model", model]
        argv += ["--from", str(tmp_path / path), "--dataset", "imagenet-val"]
        assert precompute_main(argv) == 0
    con = queries.connect(db_copy)
    lists = queries.read_predictions(con, "lists").set_index("sample_id")
    assert (
        lists.loc[samples["sample_id"], "top5_wnids"].map(list).tolist()
        == top5[[f"pred_{i}" for i in range(1, 6)]].to_numpy().tolist()
    )
    stored = queries.read_predictions(con, "flags").set_index("sample_id")
    got = stored.loc[flags["sample_id"]]
    top1 = [p[0] == w for p, w in zip(got["top5_wnids"], got["wnid"], strict=True)]
    top5_hit = [w in list(p) for p, w in zip(got["top5_wnids"], got["wnid"], strict=True)]
    assert top1 == flags["top_1_is_correct_m"].tolist()
    assert top5_hit == flags["top_5_is_correct_m"].tolist()


def test_add_predictions_names_unknown_samples_and_wnids(
    db_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "bad.csv"
    pd.DataFrame({"sample_id": ["no-such-sample"], "top5": ["n0 n1 n2 n3 n4"]}).to_csv(path)
    argv = ["add-predictions", "--db", str(db_copy), "--model", "m", "--from", str(path)]
    assert precompute_main(argv) == 2
    assert "sample_id 'no-such-sample' is not in dataset 'laionet'" in capsys.readouterr().err
    con = queries.connect(db_copy)
    real = queries.read_samples(con, "laionet")["sample_id"].iloc[0]
    con.close()
    pd.DataFrame({"sample_id": [real], "top5": ["n0 n1 n2 n3 n4"]}).to_csv(path)
    assert precompute_main(argv) == 2
    assert "predicted wnid 'n0' is not a class of the database" in capsys.readouterr().err


def test_embeddings_read_above_a_threshold_are_the_rows_above_it(con) -> None:
    ids, emb = queries.read_embeddings(con, "laionet")
    sims = queries.read_samples(con, "laionet").set_index("sample_id")["text_similarity"]
    above = (sims.reindex(ids["sample_id"]) > 0.8).to_numpy()
    assert 0 < above.sum() < len(ids)  # the demo stores embeddings below 0.8 too
    few_ids, few = queries.read_embeddings(con, "laionet", above=0.8)
    pd.testing.assert_frame_equal(few_ids, ids[above].reset_index(drop=True))
    np.testing.assert_array_equal(few, emb[above])
