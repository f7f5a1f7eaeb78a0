"""Prediction tables, the simulated model and the comparison glue, against naive oracles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from laionet_core.accuracy import compute_mean_per_class_recall
from laionet_core.comparison import (
    METRIC_COLUMNS,
    METRIC_INTRA,
    METRICS,
    build_metric_table,
    compute_accuracy_by_dataset,
    compute_class_metric_rows,
    compute_matched_pair_counts,
    compute_variant_panel,
)
from laionet_core.nearest_class_mean import (
    calibrate_feature_noise,
    compute_nearest_class_mean_predictions,
)
from laionet_core.prediction_tables import UNKNOWN_PREDICTION, parse_prediction_table
from laionet_core.schema import KIND_TEXT_MATCHED, KIND_TEXT_SELECTED
from precompute.analyses.class_metrics import list_metric_selections

WNIDS = ["n01", "n02", "n03", "n04", "n05", "n06"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_top5_list_column_and_text_lists() -> None:
    table = pd.DataFrame(
        {"sample_id": [1, 2], "top5": [WNIDS[:5], "['n02', 'n03', 'n04', 'n05', 'n06']"]}
    )
    out = parse_prediction_table(table)
    assert out["sample_id"].tolist() == ["1", "2"]
    assert out["top5_wnids"].tolist() == [WNIDS[:5], WNIDS[1:6]]


def test_pred_columns_and_dataset_kept() -> None:
    table = pd.DataFrame({"sample_id": ["a"], "dataset": ["laionet"]})
    for i, w in enumerate(WNIDS[:5], start=1):
        table[f"pred_{i}"] = [w]
    out = parse_prediction_table(table)
    assert out.loc[0, "dataset"] == "laionet"
    assert out.loc[0, "top5_wnids"] == WNIDS[:5]


def test_boolean_columns_become_lists_that_give_back_the_booleans() -> None:
    truth = pd.Series(["n01", "n02", "n03", "n04"], index=["a", "b", "c", "d"])
    table = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", "d"],
            "top_1_is_correct_resnet": [True, False, False, "true"],
            "top_5_is_correct_resnet": [True, True, False, 1],
        }
    )
    out = parse_prediction_table(table, true_wnids=truth)
    lists = np.array(out["top5_wnids"].tolist(), dtype=object)
    labels = truth.loc[out["sample_id"]].to_numpy()
    assert (lists[:, 0] == labels).tolist() == [True, False, False, True]
    assert (lists == labels[:, None]).any(axis=1).tolist() == [True, True, False, True]
    assert lists[2].tolist() == [UNKNOWN_PREDICTION] * 5


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"id": [1]}), "'sample_id'"),
        (pd.DataFrame({"sample_id": [1, 1], "top5": [WNIDS[:5]] * 2}), "repeats sample_id '1'"),
        (pd.DataFrame({"sample_id": [7], "top5": [WNIDS[:4]]}), "sample_id '7' has 4 wnids"),
        (pd.DataFrame({"sample_id": [7], "top5": [3.5]}), "top5 of sample_id '7' is not a list"),
        (pd.DataFrame({"sample_id": [7], "score": [1]}), "'top_1_is_correct_<model>'"),
        (
            pd.DataFrame({"sample_id": ["a"], "top_1_is_correct_m": [True]}),
            "no column(s) ['top_5_is_correct_m']",
        ),
        (
            pd.DataFrame(
                {"sample_id": ["a"], "top_1_is_correct_m": ["maybe"], "top_5_is_correct_m": [1]}
            ),
            "column 'top_1_is_correct_m' must be boolean; sample_id 'a' has 'maybe'",
        ),
        (
            pd.DataFrame(
                {"sample_id": ["a"], "top_1_is_correct_m": [True], "top_5_is_correct_m": [False]}
            ),
            "sample_id 'a' is top-1 correct but not top-5",
        ),
        (
            pd.DataFrame(
                {"sample_id": ["zz"], "top_1_is_correct_m": [True], "top_5_is_correct_m": [True]}
            ),
            "sample_id 'zz' is not in the dataset",
        ),
    ],
)
def test_errors_name_the_bad_column_or_value(table: pd.DataFrame, message: str) -> None:
    truth = pd.Series(["n01"], index=["a"])
    with pytest.raises(ValueError) as info:
        parse_prediction_table(table, true_wnids=truth)
    assert message in str(info.value)


def test_pred_columns_with_a_gap_are_refused() -> None:
    table = pd.DataFrame({f"pred_{i}": ["n01"] for i in range(1, 6)} | {"sample_id": ["q"]})
    table.loc[0, "pred_3"] = None
    with pytest.raises(ValueError, match="empty for sample_id 'q'"):
        parse_prediction_table(table)


def test_several_models_need_a_choice() -> None:
    table = pd.DataFrame(
        {
            "sample_id": ["a"],
            **{f"top_{k}_is_correct_{m}": [True] for k in (1, 5) for m in ("x", "y")},
        }
    )
    truth = pd.Series(["n01"], index=["a"])
    with pytest.raises(ValueError, match=r"models \['x', 'y'\]"):
        parse_prediction_table(table, true_wnids=truth)
    assert parse_prediction_table(table, model="y", true_wnids=truth).loc[0, "top5_wnids"][0] == (
        "n01"
    )


def _naive_ncm(fit, labels, queries, leave_out, k):
    classes = np.unique(labels)
    out = []
    for i, q in enumerate(queries):
        scores = []
        for c in classes:
            rows = [j for j in range(len(labels)) if labels[j] == c and j != leave_out[i]]
            if not rows:
                scores.append(-np.inf)
                continue
            m = fit[rows].sum(axis=0)
            scores.append(q @ m / np.linalg.norm(m))
        order = sorted(range(len(classes)), key=lambda c: (-scores[c], c))
        out.append([classes[c] for c in order[:k]])
    return np.array(out)


def test_nearest_class_mean_matches_the_naive_loop_with_leave_one_out() -> None:
    rng = np.random.default_rng(3)
    labels = np.array(["b", "a", "c", "a", "b", "c", "a", "d"])
    fit = _unit(rng.normal(size=(labels.size, 6)))
    queries = np.vstack([fit, _unit(rng.normal(size=(5, 6)))])
    leave_out = np.concatenate([np.arange(labels.size), -np.ones(5, np.int64)])
    got = compute_nearest_class_mean_predictions(fit, labels, queries, k=3, leave_out=leave_out)
    assert got.tolist() == _naive_ncm(fit, labels, queries, leave_out, 3).tolist()


def test_noise_lowers_accuracy_and_calibration_hits_the_target() -> None:
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(20, 16)))
    labels = np.repeat(np.arange(20), 40)
    fit = _unit(centres[labels] + 0.1 * rng.normal(size=(labels.size, 16)))
    loo = np.arange(labels.size)
    clean = compute_nearest_class_mean_predictions(fit, labels, fit, k=1, leave_out=loo)
    assert compute_mean_per_class_recall(clean[:, 0] == labels, labels) > 0.95
    noise = calibrate_feature_noise(fit, labels, target_accuracy=0.6, steps=16)
    top = compute_nearest_class_mean_predictions(
        fit, labels, fit, k=1, leave_out=loo, noise=noise, seed=0
    )
    assert compute_mean_per_class_recall(top[:, 0] == labels, labels) == pytest.approx(
        0.6, abs=0.02
    )
    hard = _unit(centres[labels] + 0.5 * rng.normal(size=(labels.size, 16)))
    hard_top = compute_nearest_class_mean_predictions(hard, labels, hard, k=1, leave_out=loo)
    assert compute_mean_per_class_recall(hard_top[:, 0] == labels, labels) < 0.99
    assert calibrate_feature_noise(hard, labels, target_accuracy=0.99) == 0.0
    with pytest.raises(ValueError, match="target_accuracy"):
        calibrate_feature_noise(fit, labels, target_accuracy=1.5)


def test_class_metric_rows_and_metric_table_round_trip() -> None:
    rng = np.random.default_rng(1)
    labels = np.array(["n02"] * 6 + ["n01"] * 4)
    emb = _unit(rng.normal(size=(10, 8)))
    synsets = _unit(rng.normal(size=(3, 8)))
    rows = compute_class_metric_rows(
        "d", labels, emb, rng.uniform(size=10), synsets, ["n01", "n02", "n03"]
    )
    assert list(rows.columns) == list(METRIC_COLUMNS)
    assert set(rows["metric"]) == set(METRICS)
    table = build_metric_table(rows, "d", METRIC_INTRA)
    g = emb[labels == "n01"] @ emb[labels == "n01"].T
    assert table.loc["n01", "value"] == pytest.approx((g.sum() - np.trace(g)) / 12)
    assert table["n"].tolist() == [4, 6]


def test_matched_pair_counts() -> None:
    pairs = compute_matched_pair_counts(
        pd.Series({"x": 3, "y": 100, "z": 1}), pd.Series({"x": 50, "y": 60, "w": 9})
    )
    assert pairs.to_dict() == {"x": 3, "y": 1225}


def test_variant_panel_orders_by_selection_frequency() -> None:
    def table(values: list[float]) -> pd.DataFrame:
        v = np.array(values)
        return pd.DataFrame(
            {"n": 50, "value": v, "ci_low": v - 0.01, "ci_high": v + 0.01},
            index=pd.Index(["n01", "n02", "n03", "n04"], name="label"),
        )

    tables = {
        "ref": table([0.5, 0.6, 0.9, 0.7]),
        "v-low": table([0.55, 0.6, 0.8, 0.6]),
        "v-high": table([0.9, 0.9, 0.9, 0.9]),
    }
    panel = compute_variant_panel(
        tables, references=["ref", "missing"], variants={"v-high": 0.9, "v-low": 0.7}
    )
    assert panel["variant"].tolist() == ["v-low", "v-low", "v-high", "v-high"]
    assert panel["share"].tolist() == [0.25, 0.5, 0.75, 0.0]
    assert panel["lower"].tolist() == ["ref", "v-low", "ref", "v-high"]
    # A variant chosen as reference (dataset A on the Compare page) is not compared with
    # itself, and a reference named twice counts once.
    again = compute_variant_panel(
        tables, references=["v-low", "ref", "v-low"], variants={"v-high": 0.9, "v-low": 0.7}
    )
    pairs = list(dict.fromkeys(zip(again["reference"], again["variant"], strict=True)))
    assert pairs == [("v-low", "v-high"), ("ref", "v-low"), ("ref", "v-high")]


def test_accuracy_by_dataset_matches_a_naive_mean_of_recalls() -> None:
    rng = np.random.default_rng(5)
    n = 300
    truth = rng.choice(WNIDS, size=n)
    preds = [list(rng.choice(WNIDS, size=5, replace=False)) for _ in range(n)]
    frame = pd.DataFrame(
        {"dataset": rng.choice(["a", "b"], size=n), "wnid": truth, "top5_wnids": preds}
    )
    weights = pd.Series({"n01": 5.0, "n02": 1.0, "n03": 2.0, "n04": 1.0})
    result = compute_accuracy_by_dataset(frame, class_weights=weights)
    for name, acc in result.items():
        part = frame[(frame["dataset"] == name) & frame["wnid"].isin(weights.index)]
        hit1 = {c: [] for c in weights.index}
        for w, p in zip(part["wnid"], part["top5_wnids"], strict=True):
            hit1[w].append(p[0] == w)
        recalls = {c: np.mean(v) for c, v in hit1.items()}
        assert acc.summary.loc[1, "equal"] == pytest.approx(np.mean(list(recalls.values())))
        expected = sum(weights[c] * recalls[c] for c in weights.index) / weights.sum()
        assert acc.summary.loc[1, "weighted"] == pytest.approx(expected)


def test_pair_sampling_accepts_a_series_covering_every_class() -> None:
    # pandas (copy-on-write) hands out read-only arrays; the sampler must not write to them.
    from laionet_core.metrics import sample_pairwise_similarities

    rng = np.random.default_rng(2)
    labels = np.array(["a"] * 5 + ["b"] * 4)
    emb = _unit(rng.normal(size=(9, 4)))
    pairs = sample_pairwise_similarities(
        emb, labels, n_pairs_per_label=pd.Series({"a": 7, "b": 3}), seed=0
    )
    assert pairs["label"].value_counts().to_dict() == {"a": 7, "b": 3}
    assert pairs["similarity"].between(-1, 1).all()


def test_repeated_or_near_equal_thresholds_give_one_selection_each() -> None:
    text = list_metric_selections(
        "laionet", KIND_TEXT_SELECTED, thresholds=[0.75, 0.82, 0.75, 0.8201, 0.751]
    )
    assert [(t, p.threshold) for t, p in text] == [(0.75, 0.75), (0.82, 0.82)]
    matched = list_metric_selections("tm", KIND_TEXT_MATCHED, text_match_thresholds=[0.7, 0.701])
    assert [(t, p.threshold) for t, p in matched] == [(0.7, 0.7)]
    with pytest.raises(ValueError, match="--text-match-threshold 1.5: threshold 1.5 is outside"):
        list_metric_selections("tm", KIND_TEXT_MATCHED, text_match_thresholds=[0.7, 1.5])
    with pytest.raises(ValueError, match="--threshold nan: threshold must be a finite number"):
        list_metric_selections("laionet", KIND_TEXT_SELECTED, thresholds=[float("nan")])


def test_metric_subset_with_known_ranks_equals_the_full_computation() -> None:
    """The selection lab's shortcut: ranks scored once, only the metrics it shows."""
    from laionet_core.comparison import METRIC_ZERO_SHOT_1, METRIC_ZERO_SHOT_5
    from laionet_core.ranking import compute_true_class_ranks

    rng = np.random.default_rng(3)
    classes = _unit(rng.normal(size=(len(WNIDS), 8)))
    labels = np.array(WNIDS)[rng.integers(0, len(WNIDS), size=120)]
    codes = pd.Index(WNIDS).get_indexer(labels)
    images = _unit(classes[codes] + rng.normal(scale=0.9, size=(labels.size, 8)))
    sims = np.einsum("ij,ij->i", images, classes[codes])
    full = compute_class_metric_rows("d", labels, images, sims, classes, WNIDS)
    _, ranks = compute_true_class_ranks(images, labels, classes, WNIDS)
    shown = (METRIC_INTRA, METRIC_ZERO_SHOT_1, METRIC_ZERO_SHOT_5)
    part = compute_class_metric_rows(
        "d", labels, images, sims, classes, WNIDS, true_class_ranks=ranks, metrics=shown
    )
    assert part["metric"].unique().tolist() == list(shown)
    expected = full[full["metric"].isin(shown)].sort_values(["metric", "wnid"])
    pd.testing.assert_frame_equal(
        part.sort_values(["metric", "wnid"]).reset_index(drop=True),
        expected.reset_index(drop=True),
    )
    # top-1 by brute force: the class whose text is most similar is the true one
    top1 = part[part["metric"] == METRIC_ZERO_SHOT_1].set_index("wnid")["value"]
    best = np.asarray(WNIDS)[np.argmax(images @ classes.T, axis=1)]
    oracle = pd.Series(best == labels).groupby(labels).mean()
    pd.testing.assert_series_equal(top1.sort_index(), oracle.sort_index(), check_names=False)
    with pytest.raises(ValueError, match="unknown metric 'recall'"):
        compute_class_metric_rows("d", labels, images, sims, classes, WNIDS, metrics=("recall",))
