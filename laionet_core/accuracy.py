"""Recall per class, CLIP zero-shot accuracy and ImageNet models' accuracy (numpy, pandas).

Accuracy follows the paper (Sections 2 and 3.1): the mean over classes of per-class
recall, so every class counts equally as in ImageNet's validation set with 50 images
per class. The LAION-weighted accuracy (Figure 5) weights each class's recall by its
relative frequency in the LAION-derived dataset instead.

Standard error of a weighted accuracy ``A = sum_c w_c p_c`` (weights normalised to sum
to 1, classes independent, binomial within a class): ``SE = sqrt(sum_c w_c^2 p_c (1 -
p_c) / n_c)``; equal weighting is ``w_c = 1 / C``. It is the plug-in (Wald) estimate, so
classes with recall 0 or 1 add nothing; with hundreds of classes that bias is small.
Per-class intervals are Wilson intervals (see ``stats``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from laionet_core.ranking import compute_true_class_ranks
from laionet_core.stats import (
    DEFAULT_CONFIDENCE,
    compute_label_codes,
    compute_normal_quantile,
    compute_wilson_interval,
)
from laionet_core.validation import check_length

# The paper reports top-1 and top-5 throughout.
DEFAULT_TOP_K = (1, 5)
# The paper's prediction tables name columns top_<k>_is_correct_<model>.
PREDICTION_COLUMN = re.compile(r"^top_(\d+)_is_correct_(.+)$")
# Rows whose accuracy calibrates the simulated model's noise: +-0.5% binomial error at 80%.
CALIBRATION_ROWS = 10_000
# Bisection steps of that calibration: the level to 2**-14 of its bracket.
CALIBRATION_STEPS = 14


def _as_correct(correct: object, n: int) -> np.ndarray:
    arr = np.asarray(correct)
    if arr.ndim != 1:
        raise ValueError(f"correct must be 1-D, got shape {arr.shape}")
    check_length(arr, n, name="correct")
    if arr.dtype != bool:
        if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
            raise ValueError("correct must be boolean (or 0/1 without NaN)")
        arr = arr.astype(bool)
    return arr


def compute_per_class_recall(
    correct: object, labels: object, *, confidence: float = DEFAULT_CONFIDENCE
) -> pd.DataFrame:
    """Recall of each class with a Wilson interval.

    Args:
        correct: (N,) bool, whether each sample was classified correctly.
        labels: (N,) true class of each sample.
        confidence: Two-sided level.

    Returns:
        DataFrame indexed by label (sorted): ``n``, ``recall``, ``se`` (Wilson half-width
        over the normal quantile), ``ci_low``, ``ci_high``.
    """
    classes, codes = compute_label_codes(labels)
    ok = _as_correct(correct, codes.size)
    n = np.bincount(codes, minlength=classes.size)
    hits = np.bincount(codes, weights=ok, minlength=classes.size)
    return _recall_table(classes, n, hits, confidence)


def _recall_table(
    classes: np.ndarray, n: np.ndarray, hits: np.ndarray, confidence: float
) -> pd.DataFrame:
    z = compute_normal_quantile(confidence)
    low, high = compute_wilson_interval(hits, n, confidence=confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = hits / n
    return pd.DataFrame(
        {
            "n": n.astype(np.int64),
            "recall": recall,
            "se": (high - low) / (2 * z),
            "ci_low": low,
            "ci_high": high,
        },
        index=pd.Index(classes, name="label"),
    )


def compute_mean_per_class_recall(correct: object, labels: object) -> float:
    """Mean over classes of per-class recall (the paper's accuracy).

    Args:
        correct: (N,) bool per sample.
        labels: (N,) true class per sample.

    Returns:
        Accuracy in [0, 1]; NaN when there are no samples.
    """
    classes, codes = compute_label_codes(labels)
    ok = _as_correct(correct, codes.size)
    if classes.size == 0:
        return float("nan")
    n = np.bincount(codes, minlength=classes.size)
    hits = np.bincount(codes, weights=ok, minlength=classes.size)
    return float(np.mean(hits / n))


@dataclass(frozen=True)
class ZeroShotResult:
    """CLIP zero-shot accuracy.

    Attributes:
        accuracy: k -> mean of per-class recall@k.
        per_class: Indexed by label: ``n`` and ``recall@k`` for each k.
    """

    accuracy: dict[int, float]
    per_class: pd.DataFrame

    def recall_table(self, k: int, *, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
        """Per-class recall@k in ``compute_per_class_recall``'s shape (for comparisons)."""
        col = f"recall@{k}"
        if col not in self.per_class.columns:
            raise ValueError(f"no {col}; computed {list(self.per_class.columns)}")
        n = self.per_class["n"].to_numpy()
        hits = np.round(self.per_class[col].to_numpy() * n)
        return _recall_table(self.per_class.index.to_numpy(), n, hits, confidence)


def compute_zero_shot_accuracy(
    image_embeddings: object,
    labels: object,
    class_text_embeddings: object,
    class_labels: object,
    *,
    k: Sequence[int] = DEFAULT_TOP_K,
) -> ZeroShotResult:
    """Zero-shot top-k accuracy by cosine similarity to class texts (Section 2, Fig. 12).

    An image is correct at k when fewer than k classes have a strictly higher cosine
    similarity than its own class (ties go to the true class). Scored in batches.

    Args:
        image_embeddings: (N, D) image embeddings (normalised or not).
        labels: (N,) true class; every one must be in ``class_labels``.
        class_text_embeddings: (C, D) synset text embeddings.
        class_labels: (C,) distinct labels of those rows.
        k: The k values, each >= 1.

    Returns:
        ZeroShotResult over the classes present in ``labels``.

    Raises:
        ValueError: a label is not in ``class_labels`` (named), or shapes disagree.
    """
    ks = tuple(int(v) for v in k)
    if not ks or min(ks) < 1:
        raise ValueError(f"k must be positive integers, got {k!r}")
    _, rank = compute_true_class_ranks(
        image_embeddings,
        labels,
        class_text_embeddings,
        class_labels,
        query_name="image_embeddings",
    )
    classes, codes = compute_label_codes(labels)
    n = np.bincount(codes, minlength=classes.size)
    table = pd.DataFrame({"n": n}, index=pd.Index(classes, name="label"))
    for kk in ks:
        table[f"recall@{kk}"] = np.bincount(codes, weights=rank < kk, minlength=classes.size) / n
    acc = {kk: float(table[f"recall@{kk}"].mean()) for kk in ks}
    return ZeroShotResult(accuracy=acc, per_class=table)


def list_models_in_prediction_table(df: pd.DataFrame) -> list[str]:
    """Models with a ``top_<k>_is_correct_<model>`` column, sorted."""
    return sorted({m.group(2) for c in df.columns if (m := PREDICTION_COLUMN.match(str(c)))})


@dataclass(frozen=True)
class ModelAccuracy:
    """Accuracy of one model on one dataset.

    Attributes:
        summary: Indexed by k: ``equal``, ``equal_se``, ``weighted``, ``weighted_se``
            (weighted columns NaN when no class weights were given).
        per_class: k -> ``compute_per_class_recall`` table.
    """

    summary: pd.DataFrame
    per_class: dict[int, pd.DataFrame]


def _weighted_accuracy(table: pd.DataFrame, weights: np.ndarray) -> tuple[float, float]:
    w = weights / weights.sum()
    p = table["recall"].to_numpy()
    n = table["n"].to_numpy()
    return float(w @ p), float(np.sqrt(np.sum(w**2 * p * (1 - p) / n)))


def _correct_columns(
    source: pd.DataFrame | np.ndarray, labels: np.ndarray, model: str | None, ks: tuple[int, ...]
) -> dict[int, np.ndarray]:
    if isinstance(source, pd.DataFrame):
        models = list_models_in_prediction_table(source)
        if model is None:
            if len(models) != 1:
                raise ValueError(f"prediction table has models {models}; pass model= to pick one")
            model = models[0]
        cols = {kk: f"top_{kk}_is_correct_{model}" for kk in ks}
        missing = [c for c in cols.values() if c not in source.columns]
        if missing:
            raise ValueError(f"prediction table has no column(s) {missing}; models: {models}")
        return {kk: _as_correct(source[c].to_numpy(), labels.size) for kk, c in cols.items()}
    pred = np.asarray(source)
    if pred.ndim == 1:
        pred = pred[:, None]
    if pred.ndim != 2:
        raise ValueError(f"predictions must be (N, k) labels, got shape {pred.shape}")
    check_length(pred, labels.size, name="predictions")
    if max(ks) > pred.shape[1]:
        raise ValueError(f"predictions have {pred.shape[1]} columns, fewer than k={max(ks)}")
    return {kk: (pred[:, :kk] == labels[:, None]).any(axis=1) for kk in ks}


def compute_model_accuracy(
    predictions: pd.DataFrame | np.ndarray,
    labels: object,
    *,
    model: str | None = None,
    class_weights: Mapping[object, float] | pd.Series | None = None,
    k: Sequence[int] = DEFAULT_TOP_K,
    confidence: float = DEFAULT_CONFIDENCE,
) -> ModelAccuracy:
    """Equally weighted and frequency-weighted top-k accuracy of a classifier (Figs 1, 5).

    Args:
        predictions: Either (N, >=max(k)) predicted labels per sample, best first, or a
            DataFrame with the paper's ``top_<k>_is_correct_<model>`` boolean columns.
        labels: (N,) true class per sample.
        model: Which model's columns to use; needed when the table has several.
        class_weights: Label -> weight (e.g. the class count in LAIONet); normalised over
            the classes present. Every present class needs one.
        k: The k values.
        confidence: Level of the per-class Wilson intervals.

    Returns:
        ModelAccuracy.

    Raises:
        ValueError: missing columns or weights (named), or shapes disagree.
    """
    lab = np.asarray(labels)
    classes, codes = compute_label_codes(lab)
    ks = tuple(int(v) for v in k)
    correct = _correct_columns(predictions, lab, model, ks)
    weights = None
    if class_weights is not None:
        ws = pd.Series(class_weights, dtype=np.float64).reindex(classes)
        if ws.isna().any():
            raise ValueError(f"class_weights has no weight for {list(ws.index[ws.isna()])[:10]}")
        if (ws < 0).any() or ws.sum() <= 0:
            raise ValueError("class_weights must be non-negative with a positive sum")
        weights = ws.to_numpy()
    n = np.bincount(codes, minlength=classes.size)
    per_class, rows = {}, []
    for kk in ks:
        hits = np.bincount(codes, weights=correct[kk], minlength=classes.size)
        table = _recall_table(classes, n, hits, confidence)
        per_class[kk] = table
        eq, eq_se = _weighted_accuracy(table, np.ones(classes.size))
        wt, wt_se = (np.nan, np.nan) if weights is None else _weighted_accuracy(table, weights)
        rows.append({"k": kk, "equal": eq, "equal_se": eq_se, "weighted": wt, "weighted_se": wt_se})
    return ModelAccuracy(summary=pd.DataFrame(rows).set_index("k"), per_class=per_class)


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
    feature channel, ``q + noise * z`` (z standard normal, seeded), so queries far from
    their class mean (atypical, diverse images) are misclassified more often than
    typical ones. ``calibrate_feature_noise`` picks the level from a target accuracy.

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
    """
    classes, codes = compute_label_codes(fit_labels)
    x = np.asarray(fit_embeddings, dtype=np.float64)
    q = np.asarray(embeddings, dtype=np.float64)
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    if noise > 0:
        q = q + noise * np.random.default_rng(seed).standard_normal(q.shape)
    if x.ndim != 2 or q.ndim != 2 or x.shape[1] != q.shape[1] or x.shape[0] != codes.size:
        raise ValueError(
            f"fit_embeddings {x.shape}, fit_labels {codes.shape} and embeddings {q.shape} "
            "must be (M, D), (M,) and (N, D)"
        )
    if not 1 <= k <= classes.size:
        raise ValueError(f"k must be in [1, {classes.size}], got {k}")
    sums = np.zeros((classes.size, x.shape[1]))
    np.add.at(sums, codes, x)
    counts = np.bincount(codes, minlength=classes.size)
    means = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    scores = q @ means.T
    if leave_out is not None:
        lo = np.asarray(leave_out, dtype=np.int64)
        rows = np.flatnonzero(lo >= 0)
        own = codes[lo[rows]]
        reduced = sums[own] - x[lo[rows]]
        norms = np.linalg.norm(reduced, axis=1)
        ok = counts[own] > 1
        sim = np.full(rows.size, -np.inf)
        sim[ok] = np.einsum("ij,ij->i", q[rows[ok]], reduced[ok]) / norms[ok]
        scores[rows, own] = sim
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return classes[top]


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

    def accuracy(noise: float) -> float:
        top = compute_nearest_class_mean_predictions(
            x, labels, x[rows], k=1, leave_out=rows, noise=noise, seed=seed
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
