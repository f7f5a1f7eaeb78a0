"""Confidence intervals and dataset comparisons per class (numpy, pandas and scipy only).

Every per-class table here has the same shape so the comparison functions can take
any of them: indexed by label (sorted), columns ``n``, the value (``mean`` or
``recall``), ``se`` (the standard error used for comparisons) and ``ci_low``/``ci_high``.

Statistical choices (see docs/STATISTICS.md for the longer argument):

* Class mean of a 1-D value (image-to-synset similarity, Figure 13): Student-t interval
  with ``n - 1`` degrees of freedom, because classes can be small (ImageNet-V2 has 10
  images per class) and the t interval is exact for normal data and conservative else.
* Recall of one class: Wilson score interval, because recalls near 0 or 1 are common and
  the Wald interval collapses to a point there. Its ``se`` is the Wilson half-width
  divided by the normal quantile, so it stays positive at 0 and 1.
* Difference of two datasets in one class: independent samples, so
  ``se = sqrt(se_a^2 + se_b^2)`` with a normal quantile (Figures 6b, 10b, 12, 13b).
* Significance shares (Figures 8b/c, 16b): a class counts as significantly lower when
  the whole difference interval lies below zero, higher when it lies above zero.
* Relations between per-class quantities (Figures 7, 14, 15): Spearman's rank
  correlation, because the relations are monotone at best and far from linear.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri, stdtr, stdtrit

from laionet_core.validation import check_confidence, check_length

logger = logging.getLogger(__name__)

# The paper reports 95% intervals everywhere.
DEFAULT_CONFIDENCE = 0.95
# Columns a per-class table must have to be compared; the value column is checked apart.
PER_CLASS_COLUMNS = ("n", "ci_low", "ci_high")
# Value columns the comparison looks for, in order, when none is named.
VALUE_COLUMNS = ("mean", "recall")


def compute_normal_quantile(confidence: float) -> float:
    """Two-sided normal quantile, e.g. 1.959964 for ``confidence=0.95``."""
    return float(ndtri(0.5 + check_confidence(confidence) / 2.0))  # the normal quantile


def _as_label_array(labels: object, *, name: str = "labels") -> np.ndarray:
    """Labels as a 1-D array without missing values."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind in "fc" and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN at position {int(np.flatnonzero(np.isnan(arr))[0])}")
    if arr.dtype == object and pd.isna(arr).any():
        raise ValueError(
            f"{name} contains a missing value at position {int(np.argmax(pd.isna(arr)))}"
        )
    return arr


def compute_label_codes(labels: object) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique labels and each row's position among them.

    Hash-based (``pd.factorize``) then sorts only the unique labels, which is several
    times faster than ``np.unique`` on 880k string labels.

    Returns:
        ``(classes, codes)``: classes (C,) sorted, codes (N,) int64 in ``[0, C)``.

    Raises:
        ValueError: labels are not 1-D or contain a missing value.
    """
    arr = _as_label_array(labels)
    codes, uniques = pd.factorize(arr, sort=False, use_na_sentinel=True)
    if codes.size and codes.min() < 0:
        raise ValueError(f"labels contains a missing value at position {int(np.argmin(codes))}")
    uniques = np.asarray(uniques)
    sorter = np.argsort(uniques, kind="stable")
    rank = np.empty(sorter.size, dtype=np.int64)
    rank[sorter] = np.arange(sorter.size)
    return uniques[sorter], rank[codes]


def compute_class_slices(codes: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows grouped by class: ``order`` (N,) and ``starts`` (C + 1,).

    Rows of class ``c`` are ``order[starts[c]:starts[c + 1]]``, in their input order.
    """
    small = codes.astype(np.int16) if n_classes < 2**15 else codes  # int16 sorts by radix
    order = np.argsort(small, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(n_classes + 1))
    return order, starts


def compute_wilson_interval(
    successes: np.ndarray, n: np.ndarray, *, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for binomial proportions, elementwise.

    Args:
        successes: (K,) counts of successes.
        n: (K,) trials; ``n == 0`` gives NaN bounds.
        confidence: Two-sided level.

    Returns:
        ``(low, high)``, each (K,) float64 within [0, 1].
    """
    z = compute_normal_quantile(confidence)
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if np.any(x < 0) or np.any(x > n):
        raise ValueError("successes must lie in [0, n] for every class")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1.0 + z * z / n
        center = (p + z * z / (2.0 * n)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    low = np.where(x == 0, 0.0, np.clip(center - half, 0.0, 1.0))  # exact ends, no rounding
    high = np.where(x == n, 1.0, np.clip(center + half, 0.0, 1.0))
    low[n == 0] = np.nan
    high[n == 0] = np.nan
    return low, high


def compute_class_means(
    values: object, labels: object, *, confidence: float = DEFAULT_CONFIDENCE
) -> pd.DataFrame:
    """Per-class mean of a 1-D value with a Student-t interval (Figure 13).

    NaN values are dropped; ``n`` counts the finite values. A class with one value gets
    NaN ``se`` and interval, a class with none also a NaN mean.

    Args:
        values: (N,) numbers, e.g. image-to-synset cosine similarity.
        labels: (N,) class of each value.
        confidence: Two-sided level.

    Returns:
        DataFrame indexed by label (sorted): ``n``, ``mean``, ``se``, ``ci_low``, ``ci_high``.

    Raises:
        ValueError: ``values`` is not 1-D numeric or its length differs from ``labels``.
    """
    confidence = check_confidence(confidence)
    classes, codes = compute_label_codes(labels)
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError("values must be numeric") from e
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    check_length(v, codes.size, name="values")
    ok = np.isfinite(v)
    c, v = codes[ok], v[ok]
    k = classes.size
    n = np.bincount(c, minlength=k).astype(np.float64)
    total = np.bincount(c, weights=v, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        dev2 = np.bincount(c, weights=(v - mean[c]) ** 2, minlength=k)
        se = np.sqrt(dev2 / (n - 1.0) / n)
        tq = stdtrit(np.maximum(n - 1.0, 1.0), 0.5 + confidence / 2.0)  # Student's t quantile
    se[n < 2] = np.nan
    frame = pd.DataFrame(
        {"n": n.astype(np.int64), "mean": mean, "se": se},
        index=pd.Index(classes, name="label"),
    )
    frame["ci_low"] = mean - tq * se
    frame["ci_high"] = mean + tq * se
    return frame


def _value_column(frame: pd.DataFrame, value_column: str | None, name: str) -> str:
    if value_column is not None:
        if value_column not in frame.columns:
            raise ValueError(f"{name} has no column {value_column!r}; has {list(frame.columns)}")
        return value_column
    for col in VALUE_COLUMNS:
        if col in frame.columns:
            return col
    raise ValueError(f"{name} needs one of the columns {VALUE_COLUMNS}; has {list(frame.columns)}")


def _standard_error(frame: pd.DataFrame, z: float, name: str) -> pd.Series:
    """The table's ``se`` column, else the interval's half-width over the quantile."""
    if "se" in frame.columns:
        return frame["se"].astype(np.float64)
    missing = [c for c in PER_CLASS_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} has neither 'se' nor the columns {missing}")
    return (frame["ci_high"] - frame["ci_low"]).astype(np.float64) / (2.0 * z)


def compare_class_means(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    value_column: str | None = None,
) -> pd.DataFrame:
    """Per-class difference ``a - b`` with a normal interval (Figures 6b, 10b, 12, 13b).

    The two datasets are independent samples, so ``se = sqrt(se_a^2 + se_b^2)`` and the
    interval is ``difference +- z * se``. Each side's ``se`` is its ``se`` column, or,
    for tables without one, its interval's half-width divided by the normal quantile.

    Args:
        a: Per-class table (index label; ``n``, value column, ``se`` or ``ci_low``/``ci_high``).
        b: The same for the other dataset.
        confidence: Two-sided level of the difference's interval.
        value_column: Column to compare; default the first of ``mean``, ``recall``.

    Returns:
        DataFrame indexed by label, only classes in both tables, sorted by ``difference``
        ascending: ``n_a``, ``n_b``, ``value_a``, ``value_b``, ``difference``, ``se``,
        ``ci_low``, ``ci_high``.
    """
    z = compute_normal_quantile(confidence)
    col_a = _value_column(a, value_column, "a")
    col_b = _value_column(b, value_column, "b")
    common = a.index.intersection(b.index)
    se_a = _standard_error(a, z, "a").reindex(common)
    se_b = _standard_error(b, z, "b").reindex(common)
    va = a[col_a].reindex(common).astype(np.float64)
    vb = b[col_b].reindex(common).astype(np.float64)
    out = pd.DataFrame(
        {
            "n_a": a["n"].reindex(common) if "n" in a.columns else np.nan,
            "n_b": b["n"].reindex(common) if "n" in b.columns else np.nan,
            "value_a": va,
            "value_b": vb,
            "difference": va - vb,
            "se": np.sqrt(se_a**2 + se_b**2),
        },
        index=common,
    )
    out["ci_low"] = out["difference"] - z * out["se"]
    out["ci_high"] = out["difference"] + z * out["se"]
    out.index.name = a.index.name or "label"
    return out.sort_values("difference", kind="stable")


def compute_significance_shares(diff: pd.DataFrame) -> dict[str, float]:
    """Shares of classes where ``a`` is significantly lower or higher than ``b``.

    Args:
        diff: Output of ``compare_class_means`` (columns ``ci_low``, ``ci_high``).

    Returns:
        ``{"n_classes", "lower", "higher", "not_significant"}``; shares are over the classes
        with a finite interval (``n_classes``), NaN when there are none.
    """
    missing = [c for c in ("ci_low", "ci_high") if c not in diff.columns]
    if missing:
        raise ValueError(f"diff needs columns {missing}; has {list(diff.columns)}")
    lo = diff["ci_low"].to_numpy(np.float64)
    hi = diff["ci_high"].to_numpy(np.float64)
    ok = np.isfinite(lo) & np.isfinite(hi)
    n = int(ok.sum())
    if n == 0:
        return {"n_classes": 0, "lower": np.nan, "higher": np.nan, "not_significant": np.nan}
    lower = float(np.sum(hi[ok] < 0.0)) / n
    higher = float(np.sum(lo[ok] > 0.0)) / n
    return {
        "n_classes": n,
        "lower": lower,
        "higher": higher,
        "not_significant": 1.0 - lower - higher,
    }


@dataclass(frozen=True)
class RankCorrelation:
    """Two per-class quantities side by side and their Spearman correlation.

    Attributes:
        table: Indexed by label (classes with both values finite), the two named columns.
        rho: Spearman's rank correlation coefficient (NaN with fewer than 3 classes, or
            when either side is constant, e.g. class sizes of a reference with 50 per class).
        p_value: Two-sided p-value of ``rho = 0`` (scipy's t approximation).
        n: Number of classes used.
    """

    table: pd.DataFrame
    rho: float
    p_value: float
    n: int


def compute_rank_correlation(
    x: pd.Series, y: pd.Series, *, x_name: str = "x", y_name: str = "y"
) -> RankCorrelation:
    """Align two per-class Series on their labels and correlate their ranks (Figs 7, 14, 15).

    Args:
        x: Per-class values indexed by label, e.g. relative frequency.
        y: Per-class values indexed by label, e.g. mean intra-class similarity.
        x_name: Column name for ``x`` in the table.
        y_name: Column name for ``y`` in the table.

    Returns:
        RankCorrelation over the labels where both values are finite.
    """
    if not isinstance(x, pd.Series) or not isinstance(y, pd.Series):
        raise TypeError("x and y must be pandas Series indexed by label")
    if x_name == y_name:
        raise ValueError(f"x_name and y_name must differ, both are {x_name!r}")
    table = pd.concat({x_name: x.astype(np.float64), y_name: y.astype(np.float64)}, axis=1)
    table = table.replace([np.inf, -np.inf], np.nan).dropna().sort_index()
    n = len(table)
    if n < 3 or table[x_name].nunique() < 2 or table[y_name].nunique() < 2:
        return RankCorrelation(table, float("nan"), float("nan"), n)
    rho, p_value = _spearman(table[x_name].to_numpy(), table[y_name].to_numpy())
    return RankCorrelation(table, rho, p_value, n)


def _spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman's rho and its two-sided p-value, as ``scipy.stats.spearmanr`` gives them
    (Pearson's r of average ranks; Student's t with n - 2 degrees of freedom), without
    importing ``scipy.stats``: 0.5 s of a page's first load."""
    rx = pd.Series(x).rank(method="average").to_numpy()
    ry = pd.Series(y).rank(method="average").to_numpy()
    rho = float(np.clip(np.corrcoef(rx, ry)[0, 1], -1.0, 1.0))
    dof = x.size - 2
    with np.errstate(divide="ignore"):  # |rho| = 1: t is infinite, p is 0
        t = rho * np.sqrt(dof / np.float64((rho + 1.0) * (1.0 - rho)))
    return rho, float(2.0 * stdtr(dof, -abs(t)))


def select_matched_sample(
    labels: object,
    target_counts: Mapping[object, int] | pd.Series,
    *,
    seed: int,
    replace: bool = True,
) -> np.ndarray:
    """Row indices that give each class the target number of rows (Figures 6a, 13a).

    The paper samples LAIONet with replacement to match ImageNet's count per class.
    Classes missing from ``labels`` or with a target of 0 contribute nothing; without
    replacement a class gives ``min(target, n)`` rows.

    Args:
        labels: (N,) class of each row.
        target_counts: Label -> number of rows wanted.
        seed: Seed of numpy's default generator.
        replace: Sample with replacement (the paper) or without.

    Returns:
        (M,) int64 row indices, grouped by class in sorted label order.
    """
    classes, codes = compute_label_codes(labels)
    order, starts = compute_class_slices(codes, classes.size)
    rng = np.random.default_rng(seed)
    targets = pd.Series(target_counts)
    picks = []
    for c, label in enumerate(classes):
        want = int(targets.get(label, 0))
        if want < 0:
            raise ValueError(f"target count for class {label!r} is negative: {want}")
        rows = order[starts[c] : starts[c + 1]]
        if want == 0 or rows.size == 0:
            continue
        take = want if replace else min(want, rows.size)
        picks.append(rng.choice(rows, size=take, replace=replace))
    return np.concatenate(picks).astype(np.int64) if picks else np.empty(0, np.int64)
