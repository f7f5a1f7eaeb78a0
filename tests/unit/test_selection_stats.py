"""Sufficient statistics per class and bin against the brute-force computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from laionet_core.comparison import METRICS as ALL_METRICS
from laionet_core.comparison import compute_class_metric_rows
from laionet_core.ranking import compute_true_class_ranks
from laionet_core.selection import (
    SelectionParams,
    compute_similarity_bins,
    select_mask,
)
from laionet_core.selection_stats import (
    SUBSET_ROWS,
    ZETA2_MIN_ROWS,
    build_selection_stats,
    evaluate_metric_rows,
)
from laionet_core.selection_sums import compute_class_stats, select_subset

# The four metrics the statistics give (ALL_METRICS adds the paper's estimator).
METRICS = ALL_METRICS[:4]
D = 8
N_CLASSES = 6


def _world(sizes: list[int], seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(N_CLASSES, D))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    x = centres[labels] + rng.normal(scale=1.2, size=(labels.size, D))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    image = rng.uniform(0.1, 0.4, labels.size)
    image[rng.random(labels.size) < 0.05] = np.nan
    frame = pd.DataFrame(
        {
            "wnid": np.array([f"n{c:08d}" for c in range(N_CLASSES)])[labels],
            "text_similarity": rng.uniform(0.6, 0.95, labels.size),
            "filtered": rng.random(labels.size) < 0.15,
            "multi_label": rng.random(labels.size) < 0.2,
            "image_similarity": image,
        }
    )
    synsets = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    return frame, x, synsets.astype(np.float32)


def _stats(frame: pd.DataFrame, x: np.ndarray, synsets: np.ndarray) -> pd.DataFrame:
    classes = np.array([f"n{c:08d}" for c in range(N_CLASSES)])
    _, rank = compute_true_class_ranks(x, frame["wnid"], synsets, classes)
    sample = frame.assign(
        bin=compute_similarity_bins(frame["text_similarity"].to_numpy()), rank=rank
    )
    parts = []
    for code, wnid in enumerate(sorted(frame["wnid"].unique())):
        rows = np.flatnonzero(frame["wnid"].to_numpy() == wnid)
        stats, _ = compute_class_stats(x[rows], sample.iloc[rows], class_code=code)
        parts.append(stats.assign(wnid=wnid))
    return pd.concat(parts, ignore_index=True)


PARAMS = [
    SelectionParams(threshold=0.6),
    SelectionParams(threshold=0.82),
    SelectionParams(threshold=0.9, drop_nsfw=False),
    SelectionParams(threshold=0.7, drop_nsfw=False, drop_multi_label=False),
    SelectionParams(threshold=0.75, drop_multi_label=False),
    SelectionParams(threshold=0.99),
]


@pytest.mark.parametrize("params", PARAMS)
def test_lookup_matches_the_live_computation_on_small_classes(params: SelectionParams) -> None:
    # Every class holds at most 64 rows: the live interval is exact there, and so is ours.
    frame, x, synsets = _world([3, 20, 40, 64, 1, 50])
    stats = build_selection_stats(_stats(frame, x, synsets))
    fast = evaluate_metric_rows(stats, params, "d", metrics=METRICS)
    mask = select_mask(frame["text_similarity"], frame["filtered"], frame["multi_label"], params)
    classes = np.array([f"n{c:08d}" for c in range(N_CLASSES)])
    slow = compute_class_metric_rows(
        "d",
        frame["wnid"].to_numpy()[mask],
        x[mask],
        frame["image_similarity"].to_numpy()[mask],
        synsets,
        classes,
    )
    slow = slow[slow["metric"].isin(METRICS)]
    key = ["metric", "wnid"]
    if slow.empty:
        assert fast.empty
        return
    fast = fast.sort_values(key).reset_index(drop=True)
    slow = slow.sort_values(key).reset_index(drop=True)
    assert fast[key + ["n"]].equals(slow[key + ["n"]].astype({"n": np.int64}))
    for column in ("value", "ci_low", "ci_high"):
        np.testing.assert_allclose(fast[column], slow[column], rtol=1e-5, atol=1e-6)


def _naive_intra(x: np.ndarray, zeta2_rows: np.ndarray) -> tuple[float, float]:
    """Mean and U-statistic variance of one selection by its Gram matrix, with zeta2
    from the pairs among ``zeta2_rows`` (positions within the selection)."""
    n = len(x)
    g = x.astype(np.float64) @ x.astype(np.float64).T
    mean = (g.sum() - np.trace(g)) / (n * (n - 1))
    h = (g.sum(axis=1) - np.diag(g)) / (n - 1)
    sub = g[np.ix_(zeta2_rows, zeta2_rows)]
    zeta2 = np.var(sub[~np.eye(len(zeta2_rows), dtype=bool)])
    return mean, (4 * (n - 2) * np.var(h, ddof=1) + 2 * zeta2) / (n * (n - 1))


@pytest.mark.parametrize("threshold", [0.6, 0.7, 0.9])
def test_large_classes_take_zeta2_from_all_pairs_or_the_kept_subset_rows(threshold: float) -> None:
    # Small selections use all their pairs; larger ones the subset rows they keep.
    size = 3 * SUBSET_ROWS
    frame, x, synsets = _world([size, 30], seed=3)
    stats = build_selection_stats(_stats(frame, x, synsets))
    params = SelectionParams(threshold=threshold)
    fast = evaluate_metric_rows(stats, params, "d", metrics=METRICS).set_index(["metric", "wnid"])
    row = fast.loc[(METRICS[0], "n00000000")]
    mask = select_mask(frame["text_similarity"], frame["filtered"], frame["multi_label"], params)
    chosen = np.flatnonzero(mask[:size])
    if chosen.size <= SUBSET_ROWS:
        zeta2_rows = np.arange(chosen.size)
    else:
        zeta2_rows = np.flatnonzero(np.isin(chosen, select_subset(size, 0)))
        assert zeta2_rows.size >= ZETA2_MIN_ROWS
    mean, var = _naive_intra(x[chosen], zeta2_rows)
    assert row["n"] == chosen.size
    assert row["value"] == pytest.approx(mean, rel=1e-5)
    half = (row["ci_high"] - row["ci_low"]) / 2
    assert half == pytest.approx(1.959963984540054 * np.sqrt(var), rel=1e-4)


def test_raising_the_threshold_never_keeps_more() -> None:
    frame, x, synsets = _world([40, 80, 10, 3, 64, 200], seed=5)
    stats = build_selection_stats(_stats(frame, x, synsets))
    previous = None
    for threshold in np.arange(0.5, 1.0, 0.005):
        rows = evaluate_metric_rows(
            stats, SelectionParams(threshold=float(threshold)), "d", metrics=METRICS
        )
        counts = rows[rows["metric"] == METRICS[0]].set_index("wnid")["n"]
        if previous is not None:
            assert (counts <= previous.reindex(counts.index)).all()
        previous = counts


def test_a_class_whose_every_row_a_filter_drops_has_no_selection_there() -> None:
    frame, x, synsets = _world([12, 20], seed=8)
    frame.loc[:11, "filtered"] = True  # the content rules drop every row of the first class
    stats = build_selection_stats(_stats(frame, x, synsets))
    kept = evaluate_metric_rows(stats, SelectionParams(threshold=0.6), "d", metrics=METRICS)
    assert "n00000000" not in set(kept["wnid"])
    whole = evaluate_metric_rows(
        stats,
        SelectionParams(threshold=0.6, drop_nsfw=False, drop_multi_label=False),
        "d",
        metrics=METRICS,
    )
    assert "n00000000" in set(whole["wnid"])
