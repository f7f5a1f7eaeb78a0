"""Metrics of a selection read in place (``rows=``) equal those of the copied selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from laionet_core.comparison import METRICS, compute_class_metric_rows
from laionet_core.metrics import compute_intra_class_similarity


def _data(n: int = 600, d: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sizes = rng.integers(1, 120, size=12)
    labels = np.repeat([f"n{i:02d}" for i in range(12)], sizes)[:n]
    labels = np.resize(labels, n)
    rng.shuffle(labels)
    keep = rng.random(n) < 0.6
    return x, labels, np.flatnonzero(keep)


@pytest.mark.parametrize("estimator", ["u-statistic", "paper"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_intra_class_of_rows_in_place_equals_the_copy(estimator: str, dtype) -> None:
    x, labels, rows = _data()
    x = x.astype(dtype)
    options = {"estimator": estimator, "zeta2_rows": 5} if estimator != "paper" else {}
    copied = compute_intra_class_similarity(x[rows], labels[rows], **options)
    in_place = compute_intra_class_similarity(x, labels[rows], rows=rows, **options)
    pd.testing.assert_frame_equal(in_place, copied, check_exact=False, rtol=1e-12)


def test_rows_must_match_the_labels_and_lie_in_the_matrix() -> None:
    x, labels, rows = _data()
    with pytest.raises(ValueError, match="rows has 3 rows but labels has"):
        compute_intra_class_similarity(x, labels[rows], rows=rows[:3])
    bad = rows.copy()
    bad[-1] = len(x)
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 600\)"):
        compute_intra_class_similarity(x, labels[rows], rows=bad)


def test_class_metric_rows_in_place_equal_the_copy() -> None:
    x, labels, rows = _data(seed=1)
    rng = np.random.default_rng(2)
    classes = np.unique(labels)
    texts = rng.normal(size=(len(classes), x.shape[1])).astype(np.float32)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    sims = rng.random(len(x))
    copied = compute_class_metric_rows("d", labels[rows], x[rows], sims[rows], texts, classes)
    in_place = compute_class_metric_rows(
        "d", labels[rows], x, sims[rows], texts, classes, rows=rows
    )
    assert set(copied["metric"]) == set(METRICS)
    pd.testing.assert_frame_equal(in_place, copied, check_exact=False, rtol=1e-12)
