"""Intra-class similarity and pair sampling (numpy, pandas, scipy).

Caption diagnostics (Section 4.2) live in ``caption_diagnostics`` and are re-exported.

Intra-class similarity of a class is the mean cosine similarity over its distinct image
pairs (Section 3.2). It is computed without any n x n matrix: with rows ``x_i`` and the
class sum ``s``, ``sum_{i != j} x_i.x_j = ||s||^2 - sum_i ||x_i||^2``.

Its confidence interval (docs/STATISTICS.md has the derivation): the class mean is a
U-statistic of degree 2 with kernel ``k(x, y) = x.y``, so pairs sharing an image are
correlated and a t interval over the n(n-1)/2 pairs is far too narrow. Hoeffding's exact
variance is ``Var(U) = 2 / (n(n-1)) * (2(n-2) zeta1 + zeta2)`` with
``zeta1 = Var(E[k(x_i, X) | x_i])`` and ``zeta2 = Var(k)``. We estimate

* ``zeta1`` by the sample variance (ddof 1) of ``h_i = x_i.(s - x_i) / (n-1)``, the mean
  similarity of image i to the other images, which costs one matrix-vector product;
* ``zeta2`` by the variance of the pair similarities, exactly from the Gram matrix when
  ``n <= zeta2_rows`` and from the Gram matrix of ``zeta2_rows`` rows drawn at random
  otherwise. The exact value needs ``X^T X`` per class (n d^2 flops, 2.3e11 for 880k x 512),
  too slow; the zeta2 term weighs ``zeta2 / (2(n-2) zeta1)`` relative to the zeta1 term,
  a few percent at n = 128 and less beyond, so a sampled estimate changes the interval's
  width by well under 1%.

The interval is ``U +- z * sqrt(Var)`` with the normal quantile z. ``h_i``'s variance
slightly overestimates zeta1, so the interval errs on the wide side for small classes;
tests check coverage by simulation. n < 2: NaN mean and interval; n = 2: NaN interval.
``estimator="paper"`` gives the paper's narrower interval (``intra_class_paper``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from laionet_core.accuracy import compute_mean_per_class_recall, compute_zero_shot_accuracy
from laionet_core.caption_diagnostics import bin_caption_diagnostics, compute_caption_diagnostics
from laionet_core.intra_class_paper import (
    compute_paper_intra_class_similarity,
    select_rows_per_class,
)
from laionet_core.ranking import compute_true_class_ranks
from laionet_core.stats import (
    DEFAULT_CONFIDENCE,
    compute_class_slices,
    compute_label_codes,
    compute_normal_quantile,
)
from laionet_core.u_statistics import compute_class_u_statistics
from laionet_core.validation import check_confidence, check_embeddings, check_length

# The paper's measures in one import for notebooks: intra-class similarity is here;
# mean per-class recall and zero-shot accuracy live in ``accuracy`` and are re-exported.
__all__ = [
    "bin_caption_diagnostics",
    "compute_caption_diagnostics",
    "compute_intra_class_similarity",
    "compute_mean_per_class_recall",
    "compute_true_class_ranks",
    "compute_zero_shot_accuracy",
    "sample_pairwise_similarities",
]

logger = logging.getLogger(__name__)

# Rows whose Gram matrix gives zeta2: exact for ImageNet-val-sized classes (50), and
# 918 classes x 64 rows x D=512 cost about 0.1 s.
ZETA2_ROWS = 64
# Groups of classes and Gram batches are spread over threads (numpy releases the GIL);
# the target box has 2 cores.
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))
# Most rows gathered and widened at once, into one buffer per thread (the calling thread
# included; a class larger than this is read in chunks): 65,536 x 512 x (4 + 2) bytes
# = 192 MiB each for float16 input, allocated only when a class is that large.
CHUNK_ROWS = 65_536


def _rows_float64(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return x[rows].astype(np.float64, copy=False)


class _SharedBlasLimit:
    """One BLAS thread while any caller needs it, shared by overlapping callers.

    threadpoolctl's limit is process-wide. App sessions run in threads, so two overlapping
    ``threadpool_limits`` blocks could restore in the wrong order and leave BLAS on one
    thread for good (A saves N, B saves 1, A restores N, B restores 1). Here the first
    caller in sets the limit and the last one out restores it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: threadpool_limits | None = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._limiter = threadpool_limits(limits=1, user_api="blas")
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._limiter is not None:
                    self._limiter.restore_original_limits()
                    self._limiter = None


_ONE_BLAS_THREAD = _SharedBlasLimit()


INTRA_CLASS_ESTIMATORS = ("u-statistic", "paper")


def compute_intra_class_similarity(
    embeddings: object,
    labels: object,
    *,
    estimator: str = "u-statistic",
    max_per_class: int | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    zeta2_rows: int = ZETA2_ROWS,
    seed: int = 0,
    workers: int = DEFAULT_WORKERS,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Mean pairwise cosine similarity within each class, with its interval.

    Args:
        embeddings: (N, D) float16/32/64, L2-normalised rows (the dot product is used).
        labels: (N,) class of each row (str, int or any sortable hashable).
        estimator: ``u-statistic`` (Hoeffding's variance, every image by default) or
            ``paper`` (pairs as independent, classes under 7 pairs dropped;
            ``laionet_core.intra_class_paper``).
        max_per_class: Draw at most this many images per class first (seeded; the
            paper uses 100 for LAIONet); None uses every image.
        confidence: Two-sided level of the interval.
        zeta2_rows: Classes larger than this estimate zeta2 from this many random rows.
        seed: Seed of the per-class draw and of the zeta2 row sample (the U-statistic
            mean never depends on the latter).
        workers: Threads the groups of classes and the Gram batches are spread over;
            results do not depend on it.
        rows: (M,) positions in ``embeddings`` of the rows ``labels`` describe, read in
            place (a selection of a larger matrix, without copying it); None: every
            row, in order. The results equal those of ``embeddings[rows]``.

    Returns:
        DataFrame indexed by label (sorted): ``n`` (images used), ``mean``, ``se``,
        ``ci_low``, ``ci_high`` (the paper estimator adds ``pairs``); NaN mean for
        n < 2, NaN ``se`` and interval for n < 3.

    Raises:
        ValueError: unknown estimator, shapes disagree, a row is not finite, or
            ``zeta2_rows < 2`` / ``max_per_class < 2``.
        TypeError: ``embeddings`` is not floating point.
    """
    if estimator == "paper":
        x = embeddings if rows is None else check_embeddings(embeddings)[rows]
        return compute_paper_intra_class_similarity(
            x, labels, max_per_class=max_per_class, seed=seed, confidence=confidence
        )
    if estimator != "u-statistic":
        raise ValueError(
            f"unknown estimator {estimator!r}; allowed: {', '.join(INTRA_CLASS_ESTIMATORS)}"
        )
    z = compute_normal_quantile(check_confidence(confidence))
    if int(zeta2_rows) < 2:
        raise ValueError(f"zeta2_rows must be at least 2, got {zeta2_rows}")
    x = check_embeddings(embeddings)
    classes, codes = compute_label_codes(labels)
    kept = select_rows_per_class(codes, max_per_class, seed=seed)
    index = _positions_of(kept, rows, x, codes.size)
    stats = _u_statistics(x, codes[kept], index, classes.size, int(zeta2_rows), seed, workers)
    return _interval_table(classes, stats, z)


def _interval_table(
    classes: np.ndarray, stats: tuple[np.ndarray, np.ndarray, np.ndarray], z: float
) -> pd.DataFrame:
    """Per class: ``n``, ``mean``, ``se`` and the normal interval ``mean +- z se``, from
    ``_u_statistics``' (means, variances, sizes)."""
    mean, var, n = stats
    se = np.sqrt(var)
    return pd.DataFrame(
        {"n": n, "mean": mean, "se": se, "ci_low": mean - z * se, "ci_high": mean + z * se},
        index=pd.Index(classes, name="label"),
    )


def _positions_of(kept: np.ndarray, rows: object, x: np.ndarray, n_labels: int) -> np.ndarray:
    """Rows of ``x`` of the labels at ``kept``: ``kept`` itself when ``rows`` is None
    (every row of ``x``, one per label), else ``rows[kept]``.

    Raises:
        ValueError: The lengths differ, or a position is outside ``x``.
    """
    if rows is None:
        check_length(x, n_labels, name="embeddings")
        return kept
    positions = np.asarray(rows, dtype=np.int64)
    check_length(positions, n_labels, name="rows")
    if positions.size and (positions.min() < 0 or positions.max() >= x.shape[0]):
        raise ValueError(f"rows must lie in [0, {x.shape[0]}) (the embeddings' rows)")
    return positions[kept]


def _u_statistics(
    x: np.ndarray,
    codes: np.ndarray,
    kept: np.ndarray,
    k: int,
    zeta2_rows: int,
    seed: int,
    workers: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K,) means, U-statistic variances and sizes of the classes of rows ``kept``."""
    order, starts = compute_class_slices(codes, k)
    # One BLAS thread: the Gram products are small, and BLAS threads on top of ours
    # oversubscribe the cores.
    with _ONE_BLAS_THREAD.hold():
        mean, var = compute_class_u_statistics(
            x,
            kept[order],
            starts,
            zeta2_rows=zeta2_rows,
            seed=seed,
            chunk_rows=CHUNK_ROWS,
            workers=workers,
        )
    return mean, var, np.diff(starts)


def sample_pairwise_similarities(
    embeddings: object,
    labels: object,
    *,
    n_pairs_per_label: int | Mapping[object, int] | pd.Series,
    seed: int,
) -> pd.DataFrame:
    """Cosine similarities of random distinct pairs within each class (Figure 6a).

    Pairs are drawn with replacement (the paper samples with replacement) among ordered
    pairs ``i != j``. Pass the other dataset's per-class pair counts to match sizes.
    Classes absent from the mapping, or with fewer than two rows, give no pairs.

    Args:
        embeddings: (N, D) float, L2-normalised rows.
        labels: (N,) class of each row.
        n_pairs_per_label: Pairs for every class, or label -> pairs.
        seed: Seed of numpy's default generator.

    Returns:
        DataFrame with columns ``label`` and ``similarity`` (float64), grouped by class.
    """
    x = check_embeddings(embeddings)
    classes, codes = compute_label_codes(labels)
    check_length(x, codes.size, name="embeddings")
    order, starts = compute_class_slices(codes, classes.size)
    if isinstance(n_pairs_per_label, Mapping | pd.Series):
        wanted = pd.Series(n_pairs_per_label).reindex(classes).fillna(0).to_numpy()
    else:
        wanted = np.full(classes.size, n_pairs_per_label)
    wanted = np.array(wanted, dtype=np.int64)  # a copy: pandas may hand out read-only views
    if (wanted < 0).any():
        raise ValueError(f"n_pairs_per_label is negative for class {classes[wanted < 0][0]!r}")
    n = np.diff(starts)
    short = (n < 2) & (wanted > 0)
    if short.any():
        logger.warning("%d classes have fewer than 2 rows and give no pairs", int(short.sum()))
    wanted[n < 2] = 0
    rng = np.random.default_rng(seed)
    cls = np.repeat(np.arange(classes.size), wanted)
    i = rng.integers(0, n[cls])
    j = rng.integers(0, n[cls] - 1)
    j += j >= i
    gi, gj = order[starts[cls] + i], order[starts[cls] + j]
    sims = np.empty(cls.size)
    for a in range(0, cls.size, CHUNK_ROWS):
        xi = _rows_float64(x, gi[a : a + CHUNK_ROWS])
        sims[a : a + xi.shape[0]] = np.einsum(
            "ij,ij->i", xi, _rows_float64(x, gj[a : a + CHUNK_ROWS])
        )
    return pd.DataFrame({"label": classes[cls], "similarity": sims})
