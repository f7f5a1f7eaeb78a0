"""Selections compared at a matched size: two thresholds, or the top k per class.

The paper's multimodal variants keep a sample when its caption is similar enough to the
synset text AND its image is similar enough to the synset text; to compare such a
selection with a reference one fairly, the image threshold is set so both have the same
size. All thresholds are strict (``value > threshold``) as in ``selection``; NaN values
are never selected.
"""

from __future__ import annotations

import numpy as np

from laionet_core.stats import compute_class_slices, compute_label_codes
from laionet_core.validation import check_length


def _as_scores(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def select_by_thresholds(
    text_sim: object, image_sim: object, *, text_threshold: float, image_threshold: float
) -> np.ndarray:
    """Mask of samples with ``text_sim > text_threshold`` and ``image_sim > image_threshold``.

    Args:
        text_sim: (N,) caption-to-synset cosine similarity.
        image_sim: (N,) image-to-synset cosine similarity.
        text_threshold: Strict lower bound on ``text_sim``.
        image_threshold: Strict lower bound on ``image_sim`` (``-inf`` keeps all finite).

    Returns:
        (N,) bool.
    """
    t = _as_scores(text_sim, "text_sim")
    i = _as_scores(image_sim, "image_sim")
    check_length(i, t.size, name="image_sim", other="text_sim")
    return (t > text_threshold) & (i > image_threshold)


def _rank_within_class(scores: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's rank in its class by score, highest first (ties: input order).

    Returns:
        ``(scores, rank)``: the scores as float64 and (N,) int64 ranks from 0; NaN
        scores rank after every number of their class.
    """
    s = _as_scores(scores, "scores")
    classes, codes = compute_label_codes(labels)
    check_length(s, codes.size, name="scores")
    ok = ~np.isnan(s)
    # Sort by class, then score descending, then input order; rank within class by offset.
    order = np.lexsort((np.arange(s.size), -np.where(ok, s, -np.inf), ~ok, codes))
    _, starts = compute_class_slices(codes, classes.size)
    rank = np.empty(s.size, dtype=np.int64)
    rank[order] = np.arange(s.size) - starts[codes[order]]
    return s, rank


def select_top_k_per_class(scores: object, labels: object, *, k: int) -> np.ndarray:
    """Mask of the k highest-scoring samples of each class (all of a smaller class).

    Ties at the boundary are broken by input order (earlier wins); NaN scores are never
    selected.

    Args:
        scores: (N,) score per sample, e.g. image-to-synset similarity.
        labels: (N,) class per sample.
        k: Samples kept per class, >= 0.

    Returns:
        (N,) bool.
    """
    if int(k) < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    s, rank = _rank_within_class(scores, labels)
    return (rank < int(k)) & ~np.isnan(s)


def select_top_k_to_size(scores: object, labels: object, *, size: int) -> np.ndarray:
    """Mask of exactly ``size`` samples taken as the top k per class (fewer only when
    fewer samples have a score).

    Every class gives its best sample, then its second best, and so on: the selection is
    the top k of each class for the largest k that fits, plus, from the samples ranked
    k + 1 in their class, those with the highest scores until ``size`` is reached. This
    is top-k selection at a size matched to another selection's.

    Args:
        scores: (N,) score per sample.
        labels: (N,) class per sample.
        size: Samples wanted, >= 0.

    Returns:
        (N,) bool with ``min(size, number of non-NaN scores)`` True values.
    """
    if int(size) < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    s, rank = _rank_within_class(scores, labels)
    ok = ~np.isnan(s)
    order = np.lexsort((np.arange(s.size), -np.where(ok, s, -np.inf), rank, ~ok))
    mask = np.zeros(s.size, dtype=bool)
    mask[order[: int(size)]] = True
    return mask & ok


def find_matching_image_threshold(
    text_sim: object, image_sim: object, *, text_threshold: float, target_size: int
) -> float:
    """Image threshold giving the largest selection of at most ``target_size`` samples.

    Among the samples passing the text threshold, sorted by image similarity descending
    ``v``, the threshold ``v[target_size]`` keeps exactly the samples strictly above it:
    ``target_size`` of them, fewer only when ``v[target_size]`` is tied with values above
    it. Any lower threshold would keep ``v[target_size]`` too, so this is the best.

    Args:
        text_sim: (N,) caption-to-synset similarity.
        image_sim: (N,) image-to-synset similarity.
        text_threshold: Strict text threshold of the selection.
        target_size: Wanted size, e.g. the size of a reference selection, >= 0.

    Returns:
        The image threshold for ``select_by_thresholds``; ``-inf`` when every candidate
        fits.
    """
    t = _as_scores(text_sim, "text_sim")
    i = _as_scores(image_sim, "image_sim")
    check_length(i, t.size, name="image_sim", other="text_sim")
    if int(target_size) < 0:
        raise ValueError(f"target_size must be >= 0, got {target_size}")
    cand = i[(t > text_threshold) & ~np.isnan(i)]
    if int(target_size) >= cand.size:
        return float("-inf")
    return float(-np.partition(-cand, int(target_size))[int(target_size)])
