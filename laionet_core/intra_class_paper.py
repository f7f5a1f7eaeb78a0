"""The paper's intra-class similarity estimator, and seeded per-class subsampling.

The authors' code (Section 3.2, Figure 6b) takes, per class, the cosine similarities of
the distinct pairs among at most 100 images, and reports

    mean(pairs) +- 1.96 * sd(pairs) / sqrt(pairs - 1)

with ``sd`` the population standard deviation (ddof 0), treating the pairs as
independent; classes with fewer than 7 pairs are dropped. Pairs that share an image
are correlated, so this interval is too narrow (``docs/STATISTICS.md`` measures its
coverage); ``laionet_core.metrics`` gives the U-statistic interval instead. This one is
here so the paper's shares ("about two thirds lower") can be reproduced exactly.

Pair moments come without listing pairs: with rows ``x_i`` and class sum ``s``,
``sum_{i<j} x_i.x_j = (||s||^2 - sum ||x_i||^2) / 2`` and
``sum_{i<j} (x_i.x_j)^2 = (||G||_F^2 - sum ||x_i||^4) / 2`` with ``G`` the Gram matrix
(or ``X^T X``, whose Frobenius norm is the same, when that is smaller).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laionet_core.stats import (
    DEFAULT_CONFIDENCE,
    compute_class_slices,
    compute_label_codes,
    compute_normal_quantile,
)
from laionet_core.validation import check_confidence, check_embeddings, check_length

# The paper uses at most this many LAIONet images per class.
PAPER_MAX_PER_CLASS = 100
# The paper drops classes with fewer pairs than this (4 images give 6 pairs).
PAPER_MIN_PAIRS = 7


def select_rows_per_class(labels: object, max_per_class: int | None, *, seed: int) -> np.ndarray:
    """Rows to keep so that no class has more than ``max_per_class`` of them.

    Each class larger than the cap draws that many rows without replacement from
    ``numpy.random.default_rng([seed, k])``, k its position among the sorted labels,
    so the draw of one class does not depend on the others.

    Args:
        labels: (N,) class of each row.
        max_per_class: The cap; None keeps every row.
        seed: Seed of the draws.

    Returns:
        (M,) int64 kept row positions, ascending.

    Raises:
        ValueError: ``max_per_class`` is below 2.
    """
    classes, codes = compute_label_codes(labels)
    if max_per_class is None:
        return np.arange(codes.size, dtype=np.int64)
    if isinstance(max_per_class, bool) or int(max_per_class) < 2:
        raise ValueError(f"max_per_class must be None or at least 2, got {max_per_class!r}")
    order, starts = compute_class_slices(codes, classes.size)
    kept = []
    for k in range(classes.size):
        rows = order[starts[k] : starts[k + 1]]
        if rows.size > max_per_class:
            rng = np.random.default_rng([seed, k])
            rows = rng.choice(rows, size=int(max_per_class), replace=False)
        kept.append(rows)
    return np.sort(np.concatenate(kept)) if kept else np.empty(0, np.int64)


def _pair_sums(xc: np.ndarray) -> tuple[float, float]:
    """Sum and sum of squares of ``x_i.x_j`` over the distinct pairs i < j."""
    sq = np.einsum("ij,ij->i", xc, xc)
    s = xc.sum(axis=0)
    gram = xc @ xc.T if xc.shape[0] <= xc.shape[1] else xc.T @ xc
    total = (float(s @ s) - float(sq.sum())) / 2.0
    squares = (float(np.einsum("ij,ij->", gram, gram)) - float(sq @ sq)) / 2.0
    return total, squares


def compute_paper_intra_class_similarity(
    embeddings: object,
    labels: object,
    *,
    max_per_class: int | None = PAPER_MAX_PER_CLASS,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
    min_pairs: int = PAPER_MIN_PAIRS,
) -> pd.DataFrame:
    """Mean pair similarity per class with the paper's pairs-as-independent interval.

    Args:
        embeddings: (N, D) float, L2-normalised rows.
        labels: (N,) class of each row.
        max_per_class: Images drawn per class (seeded, ``select_rows_per_class``);
            None uses every image.
        seed: Seed of that draw.
        confidence: Two-sided level (0.95 gives the paper's 1.96).
        min_pairs: Classes with fewer pairs get NaN mean and interval (dropped).

    Returns:
        DataFrame indexed by label (sorted): ``n`` (images used), ``pairs``, ``mean``,
        ``se`` (= sd / sqrt(pairs - 1)), ``ci_low``, ``ci_high``.

    Raises:
        ValueError: shapes disagree or a row is not finite.
    """
    z = compute_normal_quantile(check_confidence(confidence))
    x = check_embeddings(embeddings)
    all_classes, all_codes = compute_label_codes(labels)
    check_length(x, all_codes.size, name="embeddings")
    rows = select_rows_per_class(all_codes, max_per_class, seed=seed)
    codes = all_codes[rows]
    order, starts = compute_class_slices(codes, all_classes.size)
    n = np.diff(starts)
    pairs = n * (n - 1) // 2
    mean = np.full(all_classes.size, np.nan)
    se = np.full(all_classes.size, np.nan)
    for k in np.flatnonzero(pairs >= max(int(min_pairs), 2)):
        xc = x[rows[order[starts[k] : starts[k + 1]]]].astype(np.float64)
        if not np.isfinite(xc).all():
            raise ValueError(f"embeddings of class {all_classes[k]!r} are not finite")
        total, squares = _pair_sums(xc)
        mean[k] = total / pairs[k]
        variance = max(squares / pairs[k] - mean[k] ** 2, 0.0)
        se[k] = np.sqrt(variance) / np.sqrt(pairs[k] - 1)
    return pd.DataFrame(
        {
            "n": n,
            "pairs": pairs,
            "mean": mean,
            "se": se,
            "ci_low": mean - z * se,
            "ci_high": mean + z * se,
        },
        index=pd.Index(all_classes, name="label"),
    )
