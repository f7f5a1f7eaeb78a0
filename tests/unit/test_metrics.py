"""Intra-class similarity, pair sampling, zero-shot, model accuracy and caption diagnostics.

Each fast routine is checked against a naive loop (full Gram matrix, per-sample argsort).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from laionet_core.accuracy import (
    compute_mean_per_class_recall,
    compute_model_accuracy,
    compute_per_class_recall,
    compute_zero_shot_accuracy,
    list_models_in_prediction_table,
)
from laionet_core.metrics import (
    bin_caption_diagnostics,
    compute_caption_diagnostics,
    compute_intra_class_similarity,
    sample_pairwise_similarities,
)
from laionet_core.selection_matched import (
    find_matching_image_threshold,
    select_by_thresholds,
    select_top_k_per_class,
)


def _unit_rows(rng: np.random.Generator, n: int, d: int, centre_weight: float = 0.0) -> np.ndarray:
    x = rng.standard_normal((n, d)) + centre_weight * np.ones(d)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _naive_intra(x: np.ndarray) -> tuple[float, float]:
    """Brute-force mean and Hoeffding variance over the explicit pair list."""
    n = x.shape[0]
    g = x @ x.T
    iu = np.triu_indices(n, 1)
    pairs = g[iu]
    mean = pairs.mean()
    if n < 3:
        return mean, np.nan
    h = np.array([np.mean([g[i, j] for j in range(n) if j != i]) for i in range(n)])
    zeta1 = np.var(h, ddof=1)
    zeta2 = np.var(pairs)
    return mean, (4 * (n - 2) * zeta1 + 2 * zeta2) / (n * (n - 1))


def test_intra_class_hand_checkable_3x8_in_4d() -> None:
    # Class a: all rows e1 -> every pair 1. Class b: e1 and e2 alternating -> 12 of the 28
    # pairs equal (1), 16 orthogonal (0) -> mean 12/28. Class c: e3 and -e3 -> (12-16)/28.
    e = np.eye(4)
    x = np.vstack([np.tile(e[0], (8, 1)), np.tile(e[:2], (4, 1)), np.tile([e[2], -e[2]], (4, 1))])
    labels = ["a"] * 8 + ["b"] * 8 + ["c"] * 8
    out = compute_intra_class_similarity(x, labels)
    assert list(out.index) == ["a", "b", "c"]
    assert out["n"].tolist() == [8, 8, 8]
    np.testing.assert_allclose(out["mean"], [1.0, 12 / 28, -4 / 28], atol=1e-12)
    assert out.loc["a", "se"] == 0.0  # no spread at all
    assert out.loc["b", "ci_low"] < 12 / 28 < out.loc["b", "ci_high"]


def test_intra_class_matches_brute_force_oracle() -> None:
    rng = np.random.default_rng(1)
    sizes = [2, 3, 5, 17, 40, 63]
    x = np.vstack([_unit_rows(rng, n, 6, centre_weight=0.3 * i) for i, n in enumerate(sizes)])
    labels = np.repeat(np.arange(len(sizes)), sizes)
    perm = rng.permutation(labels.size)
    out = compute_intra_class_similarity(x[perm], labels[perm], zeta2_rows=64)
    for c, n in enumerate(sizes):
        mean, var = _naive_intra(x[labels == c])
        assert out.loc[c, "mean"] == pytest.approx(mean, abs=1e-9)
        if n < 3:
            assert np.isnan(out.loc[c, "se"])
        else:
            assert out.loc[c, "se"] == pytest.approx(np.sqrt(var), rel=1e-9)
            z = sps.norm.ppf(0.975)
            assert out.loc[c, "ci_high"] == pytest.approx(mean + z * np.sqrt(var), rel=1e-9)


def test_intra_class_sampled_zeta2_close_to_exact() -> None:
    rng = np.random.default_rng(2)
    x = _unit_rows(rng, 600, 16, centre_weight=0.2)
    labels = np.zeros(600, dtype=int)
    exact = compute_intra_class_similarity(x, labels, zeta2_rows=600)
    sampled = compute_intra_class_similarity(x, labels, zeta2_rows=64)
    assert sampled.loc[0, "mean"] == exact.loc[0, "mean"]
    assert sampled.loc[0, "se"] == pytest.approx(exact.loc[0, "se"], rel=0.01)


def test_intra_class_threads_do_not_change_results() -> None:
    rng = np.random.default_rng(3)
    x = _unit_rows(rng, 500, 8)
    labels = rng.integers(0, 5, 500)
    a = compute_intra_class_similarity(x, labels, zeta2_rows=20, workers=1)
    b = compute_intra_class_similarity(x, labels, zeta2_rows=20, workers=3)
    pd.testing.assert_frame_equal(a, b)


def test_intra_class_coverage_by_simulation() -> None:
    # Population: unit vectors around a common direction; its mean pair similarity is
    # estimated once from a very large sample, then 200 classes of 40 are drawn.
    rng = np.random.default_rng(4)
    d, n, reps = 8, 40, 200
    truth_x = _unit_rows(rng, 40_000, d, centre_weight=0.4)
    s = truth_x.sum(0)
    truth = (s @ s - truth_x.shape[0]) / (truth_x.shape[0] * (truth_x.shape[0] - 1))
    x = _unit_rows(rng, n * reps, d, centre_weight=0.4)
    out = compute_intra_class_similarity(x, np.repeat(np.arange(reps), n))
    coverage = np.mean((out["ci_low"] <= truth) & (truth <= out["ci_high"]))
    assert 0.90 <= coverage <= 0.99, coverage


def test_intra_class_edge_cases() -> None:
    rng = np.random.default_rng(5)
    x = _unit_rows(rng, 4, 3).astype(np.float16)
    out = compute_intra_class_similarity(x, ["solo", "pair", "pair", "x"])
    assert out.loc["solo", "n"] == 1 and np.isnan(out.loc["solo", "mean"])
    assert np.isnan(out.loc["solo", "ci_low"])
    xp = x[[1, 2]].astype(np.float64)
    # float16 input is worked in float32: products exact, sums to about 1e-7.
    assert out.loc["pair", "mean"] == pytest.approx(xp[0] @ xp[1], abs=1e-6)
    empty = compute_intra_class_similarity(np.zeros((0, 3)), np.array([], dtype=int))
    assert len(empty) == 0
    with pytest.raises(ValueError, match="embeddings"):
        compute_intra_class_similarity(x, ["a", "b"])
    bad = x.astype(np.float32)
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match="row 2"):
        compute_intra_class_similarity(bad, ["a", "a", "a", "b"])
    with pytest.raises(ValueError, match="missing"):
        compute_intra_class_similarity(x, ["a", None, "a", "b"])
    with pytest.raises(TypeError):
        compute_intra_class_similarity(np.ones((4, 3), dtype=int), [0, 0, 1, 1])


@settings(max_examples=30, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=5),
)
def test_intra_class_properties(seed: int, sizes: list[int]) -> None:
    rng = np.random.default_rng(seed)
    total = sum(sizes)
    x = _unit_rows(rng, total, 5) if total else np.zeros((0, 5))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    out = compute_intra_class_similarity(x, labels)
    assert out["n"].sum() == total
    m = out["mean"].dropna()
    assert ((m >= -1 - 1e-12) & (m <= 1 + 1e-12)).all()
    ok = out["se"].notna()
    assert (out.loc[ok, "ci_low"] <= out.loc[ok, "mean"]).all()
    assert (out.loc[ok, "mean"] <= out.loc[ok, "ci_high"]).all()
    perm = rng.permutation(total)
    shuffled = compute_intra_class_similarity(x[perm], labels[perm])
    pd.testing.assert_frame_equal(out, shuffled, rtol=1e-9, atol=1e-12)


def test_sample_pairwise_similarities_distinct_pairs_and_counts() -> None:
    rng = np.random.default_rng(6)
    # Rows of a class are equal unit vectors except one sign flip, so self-pairs (1.0)
    # would be visible: with three rows e, e, -e the pair values are only 1 or -1.
    e = np.eye(3)
    x = np.vstack([e[0], -e[0], e[1], e[2], e[2]])
    labels = np.array(["a", "a", "b", "c", "c"])
    out = sample_pairwise_similarities(x, labels, n_pairs_per_label={"a": 500, "b": 4}, seed=0)
    assert (out["label"] == "a").sum() == 500 and (out["label"] != "a").sum() == 0
    np.testing.assert_allclose(out["similarity"], -1.0)  # the only distinct pair of a
    out = sample_pairwise_similarities(x, labels, n_pairs_per_label=7, seed=1)
    assert out.groupby("label").size().to_dict() == {"a": 7, "c": 7}
    # Large class: sampled mean approaches the exact mean pair similarity.
    y = _unit_rows(rng, 30, 4, centre_weight=0.5)
    s = sample_pairwise_similarities(y, np.zeros(30), n_pairs_per_label=20_000, seed=2)
    exact = compute_intra_class_similarity(y, np.zeros(30))
    assert s["similarity"].mean() == pytest.approx(exact.loc[0.0, "mean"], abs=0.01)


def _naive_topk(x: np.ndarray, labels: np.ndarray, t: np.ndarray, cl: np.ndarray, k: int) -> float:
    tn = t / np.linalg.norm(t, axis=1, keepdims=True)
    hits: dict[object, list[bool]] = {}
    for row, lab in zip(x, labels, strict=True):
        top = cl[np.argsort(-(tn @ row))[:k]]
        hits.setdefault(lab, []).append(lab in top)
    return float(np.mean([np.mean(v) for v in hits.values()]))


def test_zero_shot_matches_per_sample_loop_and_class_order() -> None:
    rng = np.random.default_rng(7)
    c, d, n = 12, 6, 300
    t = rng.standard_normal((c, d))
    cl = np.array([f"n{i:08d}" for i in range(c)])
    labels = cl[rng.integers(0, c, n)]
    x = t[pd.Index(cl).get_indexer(labels)] + 1.5 * rng.standard_normal((n, d))
    res = compute_zero_shot_accuracy(x, labels, t, cl, k=(1, 5))
    for k in (1, 5):
        assert res.accuracy[k] == pytest.approx(_naive_topk(x, labels, t, cl, k), abs=1e-12)
    assert 0 < res.accuracy[1] < res.accuracy[5] < 1
    perm = rng.permutation(c)
    res2 = compute_zero_shot_accuracy(x.astype(np.float32), labels, t[perm], cl[perm])
    assert res2.accuracy == pytest.approx(res.accuracy)
    assert res.per_class["n"].sum() == n
    table = res.recall_table(1)
    assert (table["ci_low"] <= table["recall"]).all()
    with pytest.raises(ValueError, match="n99999999"):
        compute_zero_shot_accuracy(x[:2], ["n99999999", cl[0]], t, cl)


def test_recall_functions_hand_checked() -> None:
    correct = [True, False, True, True, False, False]
    labels = ["a", "a", "b", "b", "b", "c"]
    # recalls: a 1/2, b 2/3, c 0 -> mean 7/18
    assert compute_mean_per_class_recall(correct, labels) == pytest.approx(7 / 18)
    table = compute_per_class_recall(correct, labels)
    np.testing.assert_allclose(table["recall"], [0.5, 2 / 3, 0.0])
    assert table.loc["c", "ci_low"] == 0.0 and table.loc["c", "se"] > 0
    with pytest.raises(ValueError, match="correct"):
        compute_per_class_recall(correct[:3], labels)


def test_model_accuracy_from_predictions_and_prediction_table() -> None:
    labels = np.array(["a", "a", "a", "a", "b", "b"])
    preds = np.array([["a", "x"], ["x", "a"], ["x", "y"], ["a", "b"], ["b", "a"], ["a", "y"]])
    acc = compute_model_accuracy(preds, labels, k=(1, 2), class_weights={"a": 3, "b": 1})
    # top-1 recall a 2/4, b 1/2; top-2 recall a 3/4, b 1/2.
    assert acc.summary.loc[1, "equal"] == pytest.approx(0.5)
    assert acc.summary.loc[2, "equal"] == pytest.approx(0.625)
    assert acc.summary.loc[2, "weighted"] == pytest.approx(0.75 * 0.75 + 0.25 * 0.5)
    se = np.sqrt(0.25 * (0.75 * 0.25 / 4 + 0.5 * 0.5 / 2))
    assert acc.summary.loc[2, "equal_se"] == pytest.approx(se)
    df = pd.DataFrame(
        {
            "top_1_is_correct_resnet50": preds[:, 0] == labels,
            "top_5_is_correct_resnet50": (preds == labels[:, None]).any(1),
            "top_1_is_correct_vit": np.ones(6, bool),
            "top_5_is_correct_vit": np.ones(6, bool),
        }
    )
    assert list_models_in_prediction_table(df) == ["resnet50", "vit"]
    from_table = compute_model_accuracy(df, labels, model="resnet50")
    assert from_table.summary.loc[1, "equal"] == pytest.approx(0.5)
    assert from_table.summary.loc[5, "equal"] == pytest.approx(0.625)
    assert np.isnan(from_table.summary.loc[1, "weighted"])
    with pytest.raises(ValueError, match="model="):
        compute_model_accuracy(df, labels)
    with pytest.raises(ValueError, match="'b'"):
        compute_model_accuracy(preds, labels, k=(1,), class_weights={"a": 1})


def test_caption_diagnostics_against_loop_and_bins() -> None:
    rng = np.random.default_rng(8)
    c, d, n = 9, 5, 120
    t = rng.standard_normal((c, d))
    labels = rng.integers(0, c, n)
    x = t[labels] + rng.standard_normal((n, d))
    out = compute_caption_diagnostics(x, labels, t, np.arange(c))
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    tn = t / np.linalg.norm(t, axis=1, keepdims=True)
    for i in range(n):
        sims = tn @ xn[i]
        own = sims[labels[i]]
        assert out.loc[i, "similarity"] == pytest.approx(own, abs=1e-12)
        others = np.delete(sims, labels[i])
        assert out.loc[i, "proportion_more_similar"] == pytest.approx(np.mean(others > own))
    binned = bin_caption_diagnostics(out, bins=[-1.0, 0.0, 0.5, 1.0])
    assert binned["n"].sum() == n
    mid = out[(out["similarity"] >= 0.0) & (out["similarity"] < 0.5)]
    assert binned.loc[1, "mean"] == pytest.approx(mid["proportion_more_similar"].mean())
    # Higher own similarity means fewer false classes above it.
    assert binned.loc[0, "mean"] > binned.loc[2, "mean"]


def test_find_matching_image_threshold_against_brute_force() -> None:
    rng = np.random.default_rng(9)
    text = rng.random(300)
    image = np.round(rng.random(300), 2)  # many ties
    image[5] = np.nan
    candidates = np.concatenate([[-np.inf], np.unique(image[~np.isnan(image)])])
    for target in [0, 1, 7, 50, 120, 299, 1000]:
        thr = find_matching_image_threshold(text, image, text_threshold=0.4, target_size=target)
        size = select_by_thresholds(text, image, text_threshold=0.4, image_threshold=thr).sum()
        sizes = [
            select_by_thresholds(text, image, text_threshold=0.4, image_threshold=c).sum()
            for c in candidates
        ]
        assert size == max(s for s in sizes if s <= target)


def test_select_top_k_per_class_against_loop() -> None:
    rng = np.random.default_rng(10)
    scores = rng.random(100)
    scores[3] = np.nan
    labels = rng.integers(0, 6, 100)
    mask = select_top_k_per_class(scores, labels, k=4)
    for c in range(6):
        rows = np.flatnonzero((labels == c) & ~np.isnan(scores))
        best = rows[np.argsort(-scores[rows])[:4]]
        assert set(np.flatnonzero(mask & (labels == c))) == set(best)


def test_intra_class_chunked_path_matches_single_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    import laionet_core.metrics as metrics

    rng = np.random.default_rng(11)
    x = _unit_rows(rng, 90, 6, centre_weight=0.3)
    labels = rng.integers(0, 2, 90)
    whole = compute_intra_class_similarity(x, labels, zeta2_rows=64)
    monkeypatch.setattr(metrics, "CHUNK_ROWS", 7)
    chunked = compute_intra_class_similarity(x, labels, zeta2_rows=64)
    pd.testing.assert_frame_equal(whole, chunked, rtol=1e-12)


def test_notebook_api_from_metrics_alone_hand_checked() -> None:
    # The three functions notebooks call, all from laionet_core.metrics. 2 classes in 2-D:
    # class "a" images at e1 (twice) and e2, class "b" at e2 (twice); class texts e1, e2.
    from laionet_core import metrics

    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    images = np.array([e1, e1, e2, e2, e2])
    labels = np.array(["a", "a", "a", "b", "b"])
    intra = metrics.compute_intra_class_similarity(images, labels)
    # a: pairs (e1,e1)=1, (e1,e2)=0 twice -> 1/3; b: one pair (e2,e2) = 1.
    np.testing.assert_allclose(intra["mean"], [1 / 3, 1.0], atol=1e-12)
    zero_shot = metrics.compute_zero_shot_accuracy(images, labels, np.array([e1, e2]), ["a", "b"])
    # a: 2 of 3 nearest to e1; b: 2 of 2 -> mean of recalls (2/3 + 1) / 2.
    assert zero_shot.accuracy[1] == pytest.approx((2 / 3 + 1) / 2)
    assert zero_shot.accuracy[5] == 1.0
    correct = np.array([True, True, False, True, True])
    assert metrics.compute_mean_per_class_recall(correct, labels) == pytest.approx(5 / 6)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_intra_class_low_precision_input_matches_float64(dtype) -> None:
    # float16/32 rows are widened to float32 (float16 through a lookup table), with sums
    # in float64: the result must agree with the float64 computation on the same values.
    rng = np.random.default_rng(7)
    x = _unit_rows(rng, 3_000, 64, centre_weight=0.1).astype(dtype)
    x[5, 3] = np.float16(3e-6)  # a float16 subnormal
    labels = rng.integers(0, 7, 3_000)
    low = compute_intra_class_similarity(x, labels)
    exact = compute_intra_class_similarity(x.astype(np.float64), labels)
    np.testing.assert_allclose(low["mean"], exact["mean"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(low["se"], exact["se"], rtol=1e-4)
    bad = x.copy()
    bad[11, 0] = np.inf
    with pytest.raises(ValueError, match="row 11"):
        compute_intra_class_similarity(bad, labels)


def test_overlapping_callers_leave_blas_threads_as_they_found_them() -> None:
    # App sessions are threads: A enters, B enters, A leaves, B leaves. Plain nested
    # threadpool_limits blocks would leave one BLAS thread behind for good.
    from threadpoolctl import threadpool_info, threadpool_limits

    from laionet_core.metrics import _SharedBlasLimit

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == {2}
        shared = _SharedBlasLimit()
        a, b = shared.hold(), shared.hold()
        a.__enter__()
        b.__enter__()
        assert blas_threads() == {1}
        a.__exit__(None, None, None)
        assert blas_threads() == {1}  # B still needs one thread
        b.__exit__(None, None, None)
        assert blas_threads() == {2}
