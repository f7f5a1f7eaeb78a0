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
    return compute_zero_shot_from_ranks(rank, labels, k=ks)


def compute_zero_shot_from_ranks(
    ranks: object, labels: object, *, k: Sequence[int] = DEFAULT_TOP_K
) -> ZeroShotResult:
    """Zero-shot top-k accuracy from each sample's true-class rank.

    Args:
        ranks: (N,) classes scored strictly above the true one
            (``ranking.compute_true_class_ranks``); correct at k when below k.
        labels: (N,) true class.
        k: The k values, each >= 1.

    Returns:
        ZeroShotResult over the classes present in ``labels``.
    """
    rank = np.asarray(ranks)
    classes, codes = compute_label_codes(labels)
    check_length(codes, rank.size, name="labels", other="ranks")
    n = np.bincount(codes, minlength=classes.size)
    table = pd.DataFrame({"n": n}, index=pd.Index(classes, name="label"))
    for kk in k:
        table[f"recall@{kk}"] = np.bincount(codes, weights=rank < kk, minlength=classes.size) / n
    acc = {int(kk): float(table[f"recall@{kk}"].mean()) for kk in k}
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


def compute_counted_accuracy(
    n: np.ndarray, hits: np.ndarray, weights: np.ndarray
) -> tuple[float, float]:
    """Equal- and frequency-weighted accuracy from per-class counts (as ``ModelAccuracy``).

    Args:
        n: (C,) samples per class, each > 0.
        hits: (C,) correct predictions per class.
        weights: (C,) non-negative class weights with a positive sum (e.g. class counts).

    Returns:
        ``(equal, weighted)``: the mean per-class accuracy, and its ``weights`` average.
    """
    recall = np.asarray(hits, dtype=np.float64) / np.asarray(n, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    return float(recall.mean()), float(w @ recall / w.sum())


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
