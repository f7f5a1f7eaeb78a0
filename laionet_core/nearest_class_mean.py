"""The SIMULATED ImageNet model: a nearest-class-mean classifier, chunked in float32.

It fits class means on reference (ImageNet-like) image embeddings and predicts the top-k
classes of any number of queries in bounded memory; ``calibrate_feature_noise`` sets its
feature noise so its leave-one-out accuracy is a target (``precompute.simulate``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from laionet_core.accuracy import compute_mean_per_class_recall
from laionet_core.stats import compute_label_codes

# Rows whose accuracy calibrates the simulated model's noise: +-0.5% binomial error at 80%.
CALIBRATION_ROWS = 10_000
# Bisection steps of that calibration: the level to 2**-14 of its bracket.
CALIBRATION_STEPS = 14
# Queries scored at once by the nearest-class-mean model: (rows x classes) float32 scores.
PREDICTION_CHUNK_ROWS = 20_000


@dataclass(frozen=True)
class NearestClassMeans:
    """A fitted nearest-class-mean classifier.

    Attributes:
        classes: (C,) sorted class labels.
        codes: (M,) class position of each fit row.
        sums: (C, D) float64 sums of the fit rows per class.
        counts: (C,) fit rows per class.
        means: (C, D) float32 L2-normalised class means.
    """

    classes: np.ndarray
    codes: np.ndarray
    sums: np.ndarray
    counts: np.ndarray
    means: np.ndarray


def fit_nearest_class_means(fit_embeddings: np.ndarray, fit_labels: object) -> NearestClassMeans:
    """Class sums and normalised means of the fit rows, read ``PREDICTION_CHUNK_ROWS`` at a time.

    Raises:
        ValueError: ``fit_embeddings`` is not (M, D) with one label per row.
    """
    classes, codes = compute_label_codes(fit_labels)
    x = np.asarray(fit_embeddings)
    if x.ndim != 2 or x.shape[0] != codes.size:
        raise ValueError(
            f"fit_embeddings {x.shape} and fit_labels {codes.shape} must be (M, D) and (M,)"
        )
    sums = np.zeros((classes.size, x.shape[1]))
    for start in range(0, codes.size, PREDICTION_CHUNK_ROWS):
        stop = start + PREDICTION_CHUNK_ROWS
        block = codes[start:stop]
        order = np.argsort(block, kind="stable")
        present, first = np.unique(block[order], return_index=True)
        rows = np.asarray(x[start:stop], dtype=np.float64)[order]
        sums[present] += np.add.reduceat(rows, first, axis=0)
    counts = np.bincount(codes, minlength=classes.size)
    means = (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)
    return NearestClassMeans(classes, codes, sums, counts, means)


def _leave_one_out_scores(
    model: NearestClassMeans,
    fit_embeddings: np.ndarray,
    q: np.ndarray,
    scores: np.ndarray,
    leave_out: np.ndarray,
) -> None:
    """Rescore each query that is fit row ``leave_out[i] >= 0`` against its mean without it."""
    rows = np.flatnonzero(leave_out >= 0)
    if rows.size == 0:
        return
    own = model.codes[leave_out[rows]]
    reduced = model.sums[own] - np.asarray(fit_embeddings[leave_out[rows]], dtype=np.float64)
    norms = np.linalg.norm(reduced, axis=1)
    ok = model.counts[own] > 1
    sim = np.full(rows.size, -np.inf, dtype=np.float32)
    sim[ok] = np.einsum("ij,ij->i", q[rows[ok]].astype(np.float64), reduced[ok]) / norms[ok]
    scores[rows, own] = sim


def _top_k_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """(N, k) column indices of the k highest scores per row, best first, ties by column."""
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        # A tie at the k-th score may have left out a lower column: take every column
        # at least as high as the k-th best, then order by (-score, column).
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)
        if int((scores >= kth).sum(axis=1).max()) > k:
            return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    else:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    values = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -values), axis=1)
    return np.take_along_axis(part, order, axis=1)


def compute_nearest_class_mean_predictions(
    fit_embeddings: np.ndarray,
    fit_labels: object,
    embeddings: np.ndarray,
    *,
    k: int = 5,
    leave_out: np.ndarray | None = None,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Top-k classes of a nearest-class-mean classifier (the SIMULATED ImageNet model).

    Class means of the (normalised) fit embeddings are normalised and each query gets the
    k classes with the highest cosine similarity. When a query is itself one of the fit
    rows (``leave_out[i] = j``, the fit row index, else -1), its own class mean is
    recomputed without it, so in-sample accuracy is not inflated.

    A real classifier errs; with ``noise > 0`` it sees each query through a Gaussian
    feature channel, ``q + noise * z`` (z standard normal, float32, seeded, drawn chunk
    after chunk from one stream), so queries far from their class mean (atypical,
    diverse images) are misclassified more often than typical ones.
    ``calibrate_feature_noise`` picks the level from a target accuracy.

    Queries are scored ``PREDICTION_CHUNK_ROWS`` at a time in float32, so memory is
    bounded by the chunk and not by N (``embeddings`` may be a memory map).

    Args:
        fit_embeddings: (M, D) embeddings of the reference (ImageNet-like) images.
        fit_labels: (M,) their classes.
        embeddings: (N, D) queries.
        k: Predictions per query (at most the number of classes).
        leave_out: (N,) int fit-row index of each query, or -1; None for no query.
        noise: Standard deviation of the feature noise per dimension.
        seed: Seed of that noise.

    Returns:
        (N, k) array of class labels, best first.

    Raises:
        ValueError: Shapes disagree, ``k`` is out of range or ``noise`` is negative.
    """
    model = fit_nearest_class_means(fit_embeddings, fit_labels)
    return predict_nearest_class_means(
        model, embeddings, fit_embeddings, k=k, leave_out=leave_out, noise=noise, seed=seed
    )


def predict_nearest_class_means(
    model: NearestClassMeans,
    embeddings: np.ndarray,
    fit_embeddings: np.ndarray | None = None,
    *,
    k: int = 5,
    leave_out: np.ndarray | None = None,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Top-k classes of a fitted model (``compute_nearest_class_mean_predictions``).

    Args:
        model: From ``fit_nearest_class_means``.
        embeddings: (N, D) queries.
        fit_embeddings: The fit rows, needed only with ``leave_out``.
        k, leave_out, noise, seed: As in ``compute_nearest_class_mean_predictions``.

    Returns:
        (N, k) array of class labels, best first.

    Raises:
        ValueError: Shapes disagree, ``k`` is out of range, ``noise`` is negative or
            ``leave_out`` comes without ``fit_embeddings``.
    """
    q_all = np.asarray(embeddings)
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    if q_all.ndim != 2 or q_all.shape[1] != model.means.shape[1]:
        raise ValueError(
            f"fit embeddings of dimension {model.means.shape[1]}, fit_labels "
            f"{model.codes.shape} and embeddings {q_all.shape} must be (M, D), (M,) and (N, D)"
        )
    if not 1 <= k <= model.classes.size:
        raise ValueError(f"k must be in [1, {model.classes.size}], got {k}")
    if leave_out is not None and fit_embeddings is None:
        raise ValueError("leave_out needs the fit embeddings")
    rng = np.random.default_rng(seed)
    lo_all = None if leave_out is None else np.asarray(leave_out, dtype=np.int64)
    out = np.empty((q_all.shape[0], k), dtype=model.classes.dtype)
    for start in range(0, q_all.shape[0], PREDICTION_CHUNK_ROWS):
        stop = min(start + PREDICTION_CHUNK_ROWS, q_all.shape[0])
        q = np.asarray(q_all[start:stop], dtype=np.float32)
        if noise > 0:
            q = q + np.float32(noise) * rng.standard_normal(q.shape, dtype=np.float32)
        scores = q @ model.means.T
        if lo_all is not None:
            _leave_one_out_scores(model, fit_embeddings, q, scores, lo_all[start:stop])
        out[start:stop] = model.classes[_top_k_columns(scores, k)]
    return out


def calibrate_feature_noise(
    fit_embeddings: np.ndarray,
    fit_labels: object,
    *,
    target_accuracy: float,
    seed: int = 0,
    max_rows: int = CALIBRATION_ROWS,
    steps: int = CALIBRATION_STEPS,
) -> float:
    """Feature noise at which the leave-one-out top-1 accuracy on the fit set is the target.

    Bisection on the noise level, with the same noise draws at every step (so accuracy
    falls monotonically in the level up to sampling error) on at most ``max_rows`` rows.

    Args:
        fit_embeddings: (M, D) reference embeddings.
        fit_labels: (M,) their classes.
        target_accuracy: Mean per-class top-1 recall wanted, in (0, 1).
        seed: Seed of the row sample and of the noise.
        max_rows: Rows used to measure accuracy.
        steps: Bisection steps.

    Returns:
        The noise level (0 when the noiseless accuracy is already at or below target).
    """
    if not 0 < target_accuracy < 1:
        raise ValueError(f"target_accuracy must be in (0, 1), got {target_accuracy}")
    x = np.asarray(fit_embeddings)
    labels = np.asarray(fit_labels)
    rows = np.arange(labels.size)
    if rows.size > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False))

    model = fit_nearest_class_means(x, labels)
    queries = x[rows]

    def accuracy(noise: float) -> float:
        top = predict_nearest_class_means(
            model, queries, x, k=1, leave_out=rows, noise=noise, seed=seed
        )
        return compute_mean_per_class_recall(top[:, 0] == labels[rows], labels[rows])

    if accuracy(0.0) <= target_accuracy:
        return 0.0
    low, high = 0.0, 1.0
    while accuracy(high) > target_accuracy:
        low, high = high, high * 2
    for _ in range(steps):
        mid = (low + high) / 2
        low, high = (mid, high) if accuracy(mid) > target_accuracy else (low, mid)
    return (low + high) / 2
