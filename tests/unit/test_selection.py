"""Selection: the threshold grid, histograms and curves against a brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_core.selection import (
    DEFAULT_THRESHOLD,
    N_BINS,
    SelectionParams,
    compute_counts_above,
    compute_selection_curves,
    compute_similarity_bins,
    select_histograms,
    select_mask,
    snap_threshold,
    summarize_selection,
    threshold_grid,
)


def _histograms(sims, classes, nsfw, multi, n_classes) -> np.ndarray:
    counts = np.zeros((n_classes, 2, 2, N_BINS), dtype=np.int64)
    np.add.at(
        counts, (classes, nsfw.astype(int), multi.astype(int), compute_similarity_bins(sims)), 1
    )
    return counts


def _brute_force(sims, classes, nsfw, multi, n_classes, params):
    """Classes covered and size at every grid threshold, by a loop over thresholds."""
    covered, size = [], []
    for t in threshold_grid():
        keep = select_mask(
            sims,
            nsfw,
            multi,
            SelectionParams(
                threshold=float(t),
                drop_nsfw=params.drop_nsfw,
                drop_multi_label=params.drop_multi_label,
            ),
        )
        per_class = np.bincount(classes[keep], minlength=n_classes)
        covered.append(int((per_class >= params.min_samples_per_class).sum()))
        size.append(int(keep.sum()))
    return np.array(covered), np.array(size)


def test_grid_contains_the_paper_threshold_exactly() -> None:
    grid = threshold_grid()
    assert grid[0] == -1.0 and grid[-1] == 1.0
    assert 0.82 in grid
    assert snap_threshold(0.8212) == 0.82
    assert grid.size + 1 == N_BINS


def test_bins_count_grid_thresholds_strictly_below() -> None:
    bins = compute_similarity_bins(np.array([-1.0, -0.999, 0.82, 0.8200001, 1.0, 2.0, np.nan]))
    grid = threshold_grid()
    assert bins[0] == 0
    assert bins[1] == 1
    assert bins[2] == np.searchsorted(grid, 0.82)  # 0.82 is not > 0.82
    assert bins[3] == bins[2] + 1
    assert bins[4] == grid.size - 1
    assert bins[5] == grid.size
    assert bins[6] == 0


def test_strictly_above_threshold_rule_on_hand_data() -> None:
    sims = np.array([0.81, 0.82, 0.83, 0.9], dtype=np.float32)
    keep = select_mask(sims, np.zeros(4, bool), np.zeros(4, bool), SelectionParams(threshold=0.82))
    # float32(0.82) is just below the double 0.82, so it is not kept; 0.83 and 0.9 are.
    assert keep.tolist() == [False, False, True, True]
    counts = _histograms(sims, np.zeros(4, int), np.zeros(4, bool), np.zeros(4, bool), 1)
    k = int(np.searchsorted(threshold_grid(), 0.82))
    assert compute_counts_above(counts.sum(axis=(1, 2)))[0, k] == 2


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(0, 300),
    drop_nsfw=st.booleans(),
    drop_multi=st.booleans(),
    min_samples=st.integers(1, 5),
)
def test_curves_match_brute_force(seed, n, drop_nsfw, drop_multi, min_samples) -> None:
    rng = np.random.default_rng(seed)
    n_classes = 7
    sims = rng.uniform(-1.0, 1.0, n).astype(np.float32)
    sims[: n // 10] = rng.choice(threshold_grid(), n // 10)  # values exactly on the grid
    classes = rng.integers(0, n_classes, n)
    nsfw = rng.random(n) < 0.2
    multi = rng.random(n) < 0.3
    params = SelectionParams(
        threshold=DEFAULT_THRESHOLD,
        drop_nsfw=drop_nsfw,
        drop_multi_label=drop_multi,
        min_samples_per_class=min_samples,
    )
    kept = select_histograms(_histograms(sims, classes, nsfw, multi, n_classes), params)
    covered, size = compute_selection_curves(kept, min_samples_per_class=min_samples)
    expected_covered, expected_size = _brute_force(sims, classes, nsfw, multi, n_classes, params)
    np.testing.assert_array_equal(size, expected_size)
    np.testing.assert_array_equal(covered, expected_covered)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), low=st.floats(-1, 1), high=st.floats(-1, 1))
def test_raising_the_threshold_never_selects_more(seed, low, high) -> None:
    low, high = sorted((low, high))
    rng = np.random.default_rng(seed)
    sims = rng.uniform(-1, 1, 200)
    flags = np.zeros(200, bool)
    n_low = select_mask(sims, flags, flags, SelectionParams(threshold=low)).sum()
    n_high = select_mask(sims, flags, flags, SelectionParams(threshold=high)).sum()
    assert n_high <= n_low


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), threshold=st.sampled_from([0.0, 0.5, 0.82, 0.9]))
def test_class_counts_sum_to_the_dataset_size(seed, threshold) -> None:
    rng = np.random.default_rng(seed)
    n = 500
    counts = _histograms(
        rng.uniform(0, 1, n), rng.integers(0, 9, n), rng.random(n) < 0.1, rng.random(n) < 0.1, 9
    )
    summary = summarize_selection(counts, SelectionParams(threshold=threshold))
    assert summary.class_counts.sum() == summary.size
    assert summary.covered == int((summary.class_counts >= 1).sum())
    assert np.all(np.diff(summary.dataset_size) <= 0)
    assert np.all(np.diff(summary.classes_covered) <= 0)


def test_params_validate_their_values() -> None:
    with pytest.raises(ValueError, match="outside"):
        SelectionParams(threshold=1.5)
    with pytest.raises(ValueError, match="finite"):
        SelectionParams(threshold=float("nan"))
    with pytest.raises(ValueError, match="at least 1"):
        SelectionParams(min_samples_per_class=0)
    with pytest.raises(TypeError, match="int"):
        SelectionParams(min_samples_per_class=2.5)
    assert SelectionParams(threshold=0.8213).threshold == 0.82
