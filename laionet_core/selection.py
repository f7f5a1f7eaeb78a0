"""Selection by caption-to-synset similarity: the threshold, its grid and the curves.

The threshold has one definition here, used by the CLI and the app's slider alike.
A sample is kept when ``text_similarity > threshold`` (strictly, as in the paper).

Moving the slider must cost microseconds, so precompute stores, per class and per
(filtered, multi_label) flag pair, a histogram of similarities over the threshold grid.
Any selection on the grid is then a reversed cumulative sum of that histogram:
bin ``b`` of a similarity ``s`` is the number of grid thresholds strictly below ``s``,
so ``s > grid[k]`` exactly when ``b > k``.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass

import numpy as np

# Cosine similarities live in [-1, 1]; the grid spans all of it so any encoder fits.
GRID_MIN = -1.0
GRID_MAX = 1.0
# 0.005 resolves the paper's 0.82 and leaves 401 thresholds: small enough to precompute.
THRESHOLD_STEP = 0.005
# The slider shows the useful part of the grid for CLIP-like text encoders.
THRESHOLD_MIN = 0.0
THRESHOLD_MAX = 1.0
# The paper's threshold for CLIP ViT-B/32 text embeddings (Section 2).
DEFAULT_THRESHOLD = 0.82
# Section 4.3: text-to-text similarity that counts two captions as the same.
DEFAULT_TEXT_MATCH_THRESHOLD = 0.7
# Coverage counts a class once it has this many samples (1 = any sample at all).
DEFAULT_MIN_SAMPLES_PER_CLASS = 1
# LAION's NSFW column holds UNLIKELY, UNSURE or NSFW (or nothing). The recipes' NSFW
# rules (``NSFW_RULES``) read it: the arXiv paper drops NSFW, the TMLR paper keeps
# UNLIKELY only. The build stores the verdict as ``samples.filtered``
# (``laionet_core.content_rules``); selections read that flag, never the tag.
NSFW_TAG = "NSFW"

_DECIMALS = 6  # grid values are rounded so 0.82 is the same double everywhere


def threshold_grid() -> np.ndarray:
    """All thresholds on the grid, ascending, shape (401,) float64."""
    n = int(round((GRID_MAX - GRID_MIN) / THRESHOLD_STEP))
    return np.round(GRID_MIN + THRESHOLD_STEP * np.arange(n + 1), _DECIMALS)


N_BINS = threshold_grid().size + 1  # a bin per count of grid thresholds below a value


def snap_threshold(value: float) -> float:
    """Round ``value`` to the nearest grid threshold.

    Raises:
        ValueError: ``value`` is not a finite number in [GRID_MIN, GRID_MAX].
    """
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"threshold must be a finite number, got {value!r}")
    if not GRID_MIN <= value <= GRID_MAX:
        raise ValueError(f"threshold {value} is outside [{GRID_MIN}, {GRID_MAX}]")
    return float(threshold_grid()[threshold_index(value)])


def threshold_index(value: float) -> int:
    """Index of the grid threshold nearest to ``value`` (clipped to the grid)."""
    k = int(round((value - GRID_MIN) / THRESHOLD_STEP))
    return min(max(k, 0), threshold_grid().size - 1)


@dataclass(frozen=True)
class SelectionParams:
    """What a user varies when selecting a text-selected dataset.

    Attributes:
        threshold: Keep samples with text_similarity strictly above this (on the grid).
        drop_nsfw: Apply the content rules recorded with the dataset's recipe: drop the
            samples whose ``samples.filtered`` flag is set (``content_rules``: the NSFW
            rule, e.g. TMLR's "keep only UNLIKELY", and the OCR rule). The name stays
            from the time the only rule was "drop NSFW".
        drop_multi_label: Drop captions that matched lemmas of more than one class.
        min_samples_per_class: A class counts as covered with at least this many samples.
    """

    threshold: float = DEFAULT_THRESHOLD
    drop_nsfw: bool = True
    drop_multi_label: bool = True
    min_samples_per_class: int = DEFAULT_MIN_SAMPLES_PER_CLASS

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", snap_threshold(self.threshold))
        if isinstance(self.min_samples_per_class, bool) or not isinstance(
            self.min_samples_per_class, int
        ):
            raise TypeError(
                f"min_samples_per_class must be an int, got {self.min_samples_per_class!r}"
            )
        if self.min_samples_per_class < 1:
            raise ValueError(
                f"min_samples_per_class must be at least 1, got {self.min_samples_per_class}"
            )


def compute_similarity_bins(similarities: np.ndarray) -> np.ndarray:
    """Bin of each similarity: how many grid thresholds lie strictly below it.

    Args:
        similarities: (N,) float array; NaN (no score) gets bin 0, never selected.

    Returns:
        (N,) int16 bins in [0, N_BINS).
    """
    values = np.asarray(similarities, dtype=np.float64)
    bins = np.searchsorted(threshold_grid(), values, side="left")
    bins[np.isnan(values)] = 0
    return bins.astype(np.int16)


def compute_counts_above(histograms: np.ndarray) -> np.ndarray:
    """Samples strictly above each grid threshold, from per-bin counts.

    Args:
        histograms: (..., N_BINS) counts per bin (any leading shape, e.g. classes).

    Returns:
        (..., N_BINS - 1) int64: entry k counts samples with similarity > grid[k].
    """
    h = np.asarray(histograms, dtype=np.int64)
    above = np.cumsum(h[..., ::-1], axis=-1)[..., ::-1]  # above[..., b] = sum of bins >= b
    return above[..., 1:]


def compute_selection_curves(
    histograms: np.ndarray, *, min_samples_per_class: int = DEFAULT_MIN_SAMPLES_PER_CLASS
) -> tuple[np.ndarray, np.ndarray]:
    """Classes covered and dataset size at every grid threshold (the paper's Figure 3b/c).

    Args:
        histograms: (C, N_BINS) per-class counts per similarity bin, already restricted
            to the samples the user keeps (content and multi-label filters applied).
        min_samples_per_class: Samples a class needs to count as covered.

    Returns:
        ``(classes_covered, dataset_size)``, each (N_BINS - 1,) int64 over the grid.
    """
    above = compute_counts_above(histograms)
    covered = (above >= min_samples_per_class).sum(axis=0)
    return covered.astype(np.int64), above.sum(axis=0)


def select_mask(
    text_similarity: np.ndarray,
    filtered: np.ndarray,
    multi_label: np.ndarray,
    params: SelectionParams,
) -> np.ndarray:
    """Which samples ``params`` keeps, computed directly (the oracle for the SQL path).

    Args:
        text_similarity: (N,) float similarities (NaN never selected).
        filtered: (N,) bool, True where the content rules drop the sample.
        multi_label: (N,) bool, True where the caption matched several classes.
        params: The selection.

    Returns:
        (N,) bool mask.
    """
    sims = np.asarray(text_similarity, dtype=np.float64)
    keep = sims > params.threshold
    if params.drop_nsfw:
        keep &= ~np.asarray(filtered, dtype=bool)
    if params.drop_multi_label:
        keep &= ~np.asarray(multi_label, dtype=bool)
    return keep


def select_histograms(histograms: np.ndarray, params: SelectionParams) -> np.ndarray:
    """Sum the flag variants that ``params`` keeps.

    Args:
        histograms: (C, 2, 2, N_BINS) counts indexed [class, filtered, multi_label, bin].
        params: Which flags to drop.

    Returns:
        (C, N_BINS) counts of the kept samples.
    """
    h = np.asarray(histograms)
    if h.ndim != 4 or h.shape[1:3] != (2, 2):
        raise ValueError(f"histograms must have shape (C, 2, 2, N_BINS), got {h.shape}")
    filtered = slice(0, 1) if params.drop_nsfw else slice(0, 2)
    multi = slice(0, 1) if params.drop_multi_label else slice(0, 2)
    return h[:, filtered, multi, :].sum(axis=(1, 2))


@dataclass(frozen=True)
class SelectionSummary:
    """Everything the threshold explorer shows for one selection.

    Attributes:
        thresholds: (T,) the grid.
        classes_covered: (T,) classes with >= min samples above each threshold.
        dataset_size: (T,) samples above each threshold.
        class_counts: (C,) samples per class at the chosen threshold.
        bin_counts: (N_BINS,) kept samples per similarity bin, all classes together.
        index: Position of the chosen threshold on the grid.
    """

    thresholds: np.ndarray
    classes_covered: np.ndarray
    dataset_size: np.ndarray
    class_counts: np.ndarray
    bin_counts: np.ndarray
    index: int

    @property
    def covered(self) -> int:
        return int(self.classes_covered[self.index])

    @property
    def size(self) -> int:
        return int(self.dataset_size[self.index])


def summarize_selection(histograms: np.ndarray, params: SelectionParams) -> SelectionSummary:
    """Curves, class counts and similarity histogram from (C, 2, 2, N_BINS) counts.

    Costs a few array passes over C x N_BINS numbers, with no scan of the samples.
    """
    kept = select_histograms(histograms, params)
    covered, size = compute_selection_curves(
        kept, min_samples_per_class=params.min_samples_per_class
    )
    index = threshold_index(params.threshold)
    return SelectionSummary(
        thresholds=threshold_grid(),
        classes_covered=covered,
        dataset_size=size,
        class_counts=compute_counts_above(kept)[:, index],
        bin_counts=kept.sum(axis=0),
        index=index,
    )


def compute_band_edges(low: float, high: float, n_bands: int) -> list[tuple[float, float]]:
    """Split (low, high] into ``n_bands`` equal similarity bands (the paper's Figure 11).

    Raises:
        ValueError: ``low >= high`` or ``n_bands < 1``.
    """
    if not low < high:
        raise ValueError(f"band range must have low < high, got ({low}, {high})")
    if n_bands < 1:
        raise ValueError(f"n_bands must be at least 1, got {n_bands}")
    edges = np.round(np.linspace(low, high, n_bands + 1), _DECIMALS)
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


# NSFW rules of the recipes: LAION's tag is UNLIKELY, UNSURE, NSFW or missing.
NSFW_RULES = ("keep-all", "drop-nsfw", "unlikely-only")
# ``unlikely-only`` (the TMLR paper) keeps this tag alone: UNSURE and missing tags go too.
SAFE_TAG = "UNLIKELY"
_OCR_PUNCTUATION = str.maketrans(string.punctuation, " " * len(string.punctuation))
_OCR_WHITESPACE = re.compile("[ \t\n\r\f\v]+")


def select_by_nsfw_rule(tags: object, rule: str) -> np.ndarray:
    """Which samples an NSFW rule keeps.

    Args:
        tags: (N,) LAION NSFW tags (str or None); compared trimmed, case-insensitively.
        rule: ``keep-all``; ``drop-nsfw`` (the arXiv paper: drop ``NSFW``); or
            ``unlikely-only`` (the TMLR paper: keep ``UNLIKELY`` alone).

    Returns:
        (N,) bool keep mask.

    Raises:
        ValueError: Unknown rule.
    """
    values = [t.strip().upper() if isinstance(t, str) else "" for t in np.asarray(tags, object)]
    if rule == "keep-all":
        return np.ones(len(values), dtype=bool)
    if rule == "drop-nsfw":
        return np.array([v != NSFW_TAG for v in values], dtype=bool)
    if rule == "unlikely-only":
        return np.array([v == SAFE_TAG for v in values], dtype=bool)
    raise ValueError(f"unknown NSFW rule {rule!r}; allowed: {', '.join(NSFW_RULES)}")


def _ocr_form(text: str) -> str:
    """Lower-cased, ASCII punctuation as spaces, ASCII whitespace runs as one space,
    padded with a space (``content_rules`` does the same in SQL)."""
    words = _OCR_WHITESPACE.split(text.lower().translate(_OCR_PUNCTUATION))
    return " " + " ".join(w for w in words if w) + " "


def select_by_ocr_text(
    ocr_texts: object, wnids: object, class_lemmas: dict[str, tuple[str, ...]]
) -> np.ndarray:
    """Keep the samples whose image text (OCR) names no lemma of their own class.

    The TMLR paper drops a sample whose recognised image text contains its class. Text
    and lemmas are compared case-insensitively as whole words: lower-cased, ASCII
    punctuation as spaces, padded with a space (``"PUMA!"`` contains ``puma``).

    Args:
        ocr_texts: (N,) recognised text per sample; None or empty never drops.
        wnids: (N,) each sample's class.
        class_lemmas: wnid -> its lemmas.

    Returns:
        (N,) bool keep mask.
    """
    forms = {w: tuple(_ocr_form(x) for x in lemmas) for w, lemmas in class_lemmas.items()}
    keep = []
    for text, wnid in zip(np.asarray(ocr_texts, object), np.asarray(wnids, object), strict=True):
        if not isinstance(text, str) or not text.strip():
            keep.append(True)
            continue
        form = _ocr_form(text)
        keep.append(not any(lemma in form for lemma in forms.get(wnid, ())))
    return np.array(keep, dtype=bool)
