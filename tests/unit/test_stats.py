"""Confidence intervals, comparisons, significance shares, Spearman and matched sampling."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from laionet_core.stats import (
    compare_class_means,
    compute_class_means,
    compute_label_codes,
    compute_normal_quantile,
    compute_rank_correlation,
    compute_significance_shares,
    compute_wilson_interval,
    select_matched_sample,
)


def test_wilson_interval_known_values() -> None:
    # 0 of 10 at 95%: upper bound z^2 / (n + z^2) = 0.2775...
    low, high = compute_wilson_interval(np.array([0, 5, 10]), np.array([10, 10, 10]))
    z = compute_normal_quantile(0.95)
    assert low[0] == 0.0
    assert high[0] == pytest.approx(z**2 / (10 + z**2))
    assert low[1] + high[1] == pytest.approx(1.0)  # symmetric around 1/2
    assert high[2] == 1.0
    low, high = compute_wilson_interval(np.array([0]), np.array([0]))
    assert np.isnan(low[0]) and np.isnan(high[0])
    with pytest.raises(ValueError):
        compute_wilson_interval(np.array([3]), np.array([2]))


def test_class_means_t_interval_and_nan_handling() -> None:
    values = [1.0, 2.0, 3.0, np.nan, 5.0, np.nan]
    labels = ["a", "a", "a", "a", "b", "c"]
    out = compute_class_means(values, labels)
    assert out["n"].tolist() == [3, 1, 0]
    assert out.loc["a", "mean"] == 2.0
    half = sps.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)  # sd of 1,2,3 is 1
    assert out.loc["a", "ci_high"] == pytest.approx(2.0 + half)
    assert out.loc["b", "mean"] == 5.0 and np.isnan(out.loc["b", "ci_low"])
    assert out.loc["c", "mean"] != out.loc["c", "mean"]  # no finite value -> NaN
    with pytest.raises(ValueError, match="values"):
        compute_class_means([1.0, 2.0], ["a"])
    with pytest.raises(ValueError, match="confidence"):
        compute_class_means([1.0], ["a"], confidence=95)


def test_compare_class_means_difference_and_order() -> None:
    a = pd.DataFrame(
        {"n": [10, 10, 10], "mean": [0.5, 0.2, 0.9], "se": [0.1, 0.1, 0.1]}, index=["x", "y", "z"]
    )
    b = pd.DataFrame(
        {"n": [20, 20], "mean": [0.1, 0.9], "ci_low": [0.0, 0.6], "ci_high": [0.2, 1.2]},
        index=["x", "z"],
    )
    out = compare_class_means(a, b)
    assert list(out.index) == ["z", "x"]  # only shared classes, ascending difference
    z = compute_normal_quantile(0.95)
    se_x = np.sqrt(0.1**2 + (0.1 / z) ** 2)
    assert out.loc["x", "difference"] == pytest.approx(0.4)
    assert out.loc["x", "se"] == pytest.approx(se_x)
    assert out.loc["x", "ci_low"] == pytest.approx(0.4 - z * se_x)
    shares = compute_significance_shares(out)
    assert shares == {"n_classes": 2, "lower": 0.0, "higher": 0.5, "not_significant": 0.5}
    with pytest.raises(ValueError, match="mean"):
        compare_class_means(a.rename(columns={"mean": "avg"}), b)


def test_significance_shares_ignore_nan_intervals() -> None:
    diff = pd.DataFrame({"ci_low": [-0.3, 0.1, np.nan, -0.1], "ci_high": [-0.1, 0.2, 0.5, 0.1]})
    shares = compute_significance_shares(diff)
    assert shares["n_classes"] == 3
    assert shares["lower"] == pytest.approx(1 / 3) and shares["higher"] == pytest.approx(1 / 3)


def test_rank_correlation_aligns_on_labels() -> None:
    x = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=list("abcde"))
    y = pd.Series([50.0, 40.0, np.nan, 20.0, 10.0, 99.0], index=list("abcdef"))
    res = compute_rank_correlation(x, y, x_name="frequency", y_name="similarity")
    assert res.n == 4 and list(res.table.columns) == ["frequency", "similarity"]
    assert res.rho == pytest.approx(-1.0)
    expected = sps.spearmanr([1, 2, 4, 5], [50, 40, 20, 10])
    assert res.p_value == pytest.approx(expected.pvalue)
    assert np.isnan(compute_rank_correlation(x[:2], y[:2]).rho)


def test_rank_correlation_of_a_constant_side_is_nan_without_a_warning() -> None:
    # A reference with 50 images in every class has one relative frequency (Figure 15).
    sizes = pd.Series(0.25, index=list("abcd"))
    values = pd.Series([0.1, 0.4, 0.2, 0.3], index=list("abcd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = compute_rank_correlation(sizes, values)
    assert np.isnan(res.rho) and np.isnan(res.p_value) and res.n == 4


def test_select_matched_sample_counts() -> None:
    labels = np.array(["a"] * 5 + ["b"] * 2 + ["c"])
    idx = select_matched_sample(labels, {"a": 3, "b": 6, "z": 4}, seed=0)
    assert pd.Series(labels[idx]).value_counts().to_dict() == {"a": 3, "b": 6}
    idx = select_matched_sample(labels, {"a": 3, "b": 6}, seed=0, replace=False)
    assert pd.Series(labels[idx]).value_counts().to_dict() == {"a": 3, "b": 2}
    assert len(set(idx)) == len(idx)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["n01", "n02", "n03", "n04"]), min_size=1, max_size=60))
def test_label_codes_and_class_means_properties(labels: list[str]) -> None:
    classes, codes = compute_label_codes(labels)
    assert list(classes) == sorted(set(labels))
    assert (classes[codes] == np.array(labels)).all()
    values = np.arange(len(labels), dtype=float)
    out = compute_class_means(values, labels)
    assert out["n"].sum() == len(labels)
    ok = out["se"].notna()
    assert (out.loc[ok, "ci_low"] <= out.loc[ok, "mean"]).all()
    wil_low, wil_high = compute_wilson_interval(out["n"].to_numpy() // 2, out["n"].to_numpy())
    assert ((wil_low >= 0) & (wil_high <= 1) & (wil_low <= wil_high)).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [3, 4, 10, 200])
def test_rank_correlation_equals_scipys_spearman(seed: int, n: int) -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(seed)
    x = pd.Series(rng.integers(0, 5, n).astype(float), index=[f"c{i}" for i in range(n)])
    y = pd.Series(x.to_numpy() * rng.choice([-1, 1]) + rng.normal(size=n), index=x.index)
    if x.nunique() < 2:
        x.iloc[0] += 1.0  # ties stay, but not a constant side
    res = compute_rank_correlation(x, y, x_name="a", y_name="b")
    expected = spearmanr(x, y)
    assert res.rho == pytest.approx(expected.statistic, abs=1e-12)
    assert res.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-15)


def test_a_perfect_rank_correlation_has_p_zero() -> None:
    x = pd.Series([1.0, 2.0, 3.0, 4.0], index=list("abcd"))
    res = compute_rank_correlation(x, -x, x_name="a", y_name="b")
    assert res.rho == -1.0 and res.p_value == 0.0
