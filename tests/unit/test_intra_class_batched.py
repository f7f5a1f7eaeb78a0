"""The batched intra-class U-statistic (``laionet_core.u_statistics``) against oracles.

The mean is checked against an explicit loop over pairs; the variance against the
per-class implementation it replaced (one class at a time: full Gram matrix of all rows,
or of ``zeta2_rows`` rows drawn with ``default_rng([seed, c])``), written out here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import laionet_core.metrics as metrics
import laionet_core.u_statistics as u_statistics
from laionet_core.metrics import compute_intra_class_similarity

SIZES = [1, 2, 3, 5, 64, 65, 200]


def _data(dtype: type, seed: int = 0, d: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows of classes of ``SIZES``, each around its own direction, shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(SIZES)), SIZES)
    x = rng.standard_normal((labels.size, d)) + 0.4 * rng.standard_normal((len(SIZES), d))[labels]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    perm = rng.permutation(labels.size)
    return x[perm].astype(dtype), labels[perm]


def _pair_loop_mean(xc: np.ndarray) -> float:
    n = xc.shape[0]
    pairs = [xc[i] @ xc[j] for i in range(n) for j in range(i + 1, n)]
    return float(np.mean(pairs)) if pairs else float("nan")


def _per_class_oracle(xc: np.ndarray, rows: np.ndarray, c: int, zeta2_rows: int, seed: int):
    """The previous per-class implementation's formulas, in float64 (rows ascending)."""
    n = xc.shape[0]
    if n < 2:
        return float("nan"), float("nan")
    s = xc.sum(axis=0)
    sq = np.einsum("ij,ij->i", xc, xc)
    mean = (s @ s - sq.sum()) / (n * (n - 1))
    if n < 3:
        return mean, float("nan")
    zeta1 = np.var((xc @ s - sq) / (n - 1), ddof=1)
    if n <= zeta2_rows:
        sub = xc
    else:
        sample = np.sort(np.random.default_rng([seed, c]).choice(rows, zeta2_rows, replace=False))
        sub = xc[np.searchsorted(rows, sample)]
    g = sub @ sub.T
    off = g[~np.eye(sub.shape[0], dtype=bool)]
    zeta2 = np.var(off)
    return mean, (4.0 * (n - 2) * zeta1 + 2.0 * zeta2) / (n * (n - 1))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("block", [1_024, 37])
def test_batched_u_statistic_matches_pair_loop_and_per_class_oracle(
    dtype: type, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(u_statistics, "BLOCK_ROWS", block)  # 37: classes span groups
    monkeypatch.setattr(u_statistics, "GRAM_BATCH_BYTES", 3 * 4 * 16 * 8)  # 3 Grams a batch
    x, labels = _data(dtype)
    seed, zeta2_rows = 3, 4
    out = compute_intra_class_similarity(x, labels, zeta2_rows=zeta2_rows, seed=seed)
    assert out["n"].tolist() == SIZES
    wide = x.astype(np.float64)  # the exact values of the low-precision rows
    for c, n in enumerate(SIZES):
        rows = np.flatnonzero(labels == c)
        mean, var = _per_class_oracle(wide[rows], rows, c, zeta2_rows, seed)
        if n < 2:
            assert np.isnan(out.loc[c, "mean"]) and np.isnan(out.loc[c, "se"])
            continue
        np.testing.assert_allclose(out.loc[c, "mean"], _pair_loop_mean(wide[rows]), rtol=1e-6)
        np.testing.assert_allclose(out.loc[c, "mean"], mean, rtol=1e-6)
        if n < 3:
            assert np.isnan(out.loc[c, "se"])
        else:
            np.testing.assert_allclose(out.loc[c, "se"] ** 2, var, rtol=1e-5)


def test_batched_u_statistic_does_not_depend_on_sizes_or_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, labels = _data(np.float64, seed=1)
    whole = compute_intra_class_similarity(x, labels, zeta2_rows=8, workers=1)
    threads = compute_intra_class_similarity(x, labels, zeta2_rows=8, workers=3)
    pd.testing.assert_frame_equal(whole, threads)
    monkeypatch.setattr(u_statistics, "BLOCK_ROWS", 5)
    monkeypatch.setattr(metrics, "CHUNK_ROWS", 11)  # the 64, 65 and 200 classes read twice
    monkeypatch.setattr(u_statistics, "GRAM_BATCH_BYTES", 1)  # one Gram a batch
    small = compute_intra_class_similarity(x, labels, zeta2_rows=8, workers=2)
    pd.testing.assert_frame_equal(whole, small, rtol=1e-12)


def test_batched_u_statistic_names_the_bad_row_and_skips_singletons() -> None:
    x, labels = _data(np.float32, seed=2)
    solo = int(np.flatnonzero(labels == 0)[0])  # the class of one row has no pair
    x[solo, 0] = np.nan
    out = compute_intra_class_similarity(x, labels)
    assert np.isnan(out.loc[0, "mean"]) and out.loc[1:, "mean"].notna().all()
    bad = int(np.flatnonzero(labels == 6)[17])
    x[bad, 3] = np.inf
    with pytest.raises(ValueError, match=f"row {bad} "):
        compute_intra_class_similarity(x, labels)
