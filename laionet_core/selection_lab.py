"""The selection lab: four ways to select a dataset from the same LAION candidates,
compared at a matched size.

The paper's argument is that selecting on the image (ImageNet's annotators) makes the
images of a class more alike than selecting on the caption (LAIONet). Here every
mechanism picks from one candidate pool (the samples of a text-selected dataset that pass
the NSFW and multi-label filters) and keeps as many samples as LAIONet's own rule, the
text threshold, so the comparison is at the same dataset size:

* ``text threshold``: caption-to-synset similarity above the threshold (LAIONet's rule,
  and the size every other mechanism matches);
* ``text + image thresholds``: caption similarity above a lower bound and image-to-synset
  similarity above the bound that gives the matched size (the paper's multimodal
  variants);
* ``top-k by text`` and ``top-k by image``: the best samples of every class by caption or
  by image-to-synset similarity (``select_top_k_to_size``), ImageNet's kind of selection
  made from LAION's own candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from laionet_core.selection import SelectionParams, snap_threshold
from laionet_core.selection_matched import (
    find_matching_image_threshold,
    select_by_thresholds,
    select_top_k_to_size,
)
from laionet_core.stats import DEFAULT_CONFIDENCE, compute_label_codes, compute_normal_quantile

MECHANISM_TEXT = "text threshold"
MECHANISM_TEXT_IMAGE = "text + image thresholds"
MECHANISM_TOP_K_TEXT = "top-k by text"
MECHANISM_TOP_K_IMAGE = "top-k by image"
MECHANISMS = (MECHANISM_TEXT, MECHANISM_TEXT_IMAGE, MECHANISM_TOP_K_TEXT, MECHANISM_TOP_K_IMAGE)
# The multimodal variants loosen the caption bound and let the image decide the rest.
DEFAULT_MULTIMODAL_TEXT_THRESHOLD = 0.7
# Columns the mechanisms read from the candidates.
CANDIDATE_COLUMNS = ("wnid", "text_similarity", "image_similarity", "filtered", "multi_label")


@dataclass(frozen=True)
class LabParams:
    """What the user varies in the selection lab.

    Attributes:
        selection: LAIONet's rule (threshold and filters); its size is the matched size,
            and its filters define the candidate pool of every mechanism.
        multimodal_text_threshold: Caption bound of ``text + image thresholds``.
        mechanisms: The mechanisms compared, in display order.
    """

    selection: SelectionParams = field(default_factory=SelectionParams)
    multimodal_text_threshold: float = DEFAULT_MULTIMODAL_TEXT_THRESHOLD
    mechanisms: tuple[str, ...] = MECHANISMS

    def __post_init__(self) -> None:
        unknown = [m for m in self.mechanisms if m not in MECHANISMS]
        if unknown:
            raise ValueError(f"unknown mechanism {unknown[0]!r}; choose from {list(MECHANISMS)}")
        if not self.mechanisms:
            raise ValueError("choose at least one mechanism")
        object.__setattr__(
            self, "multimodal_text_threshold", snap_threshold(self.multimodal_text_threshold)
        )


def select_candidate_pool(candidates: pd.DataFrame, params: SelectionParams) -> np.ndarray:
    """Mask of candidates that pass the content-rule and multi-label filters of ``params``.

    Args:
        candidates: Rows with ``CANDIDATE_COLUMNS``.
        params: The filters (the threshold is not applied here).

    Returns:
        (N,) bool.
    """
    missing = [c for c in CANDIDATE_COLUMNS if c not in candidates.columns]
    if missing:
        raise ValueError(f"candidates lack column {missing[0]!r}; need {list(CANDIDATE_COLUMNS)}")
    keep = np.ones(len(candidates), dtype=bool)
    if params.drop_nsfw:
        keep &= ~candidates["filtered"].fillna(False).astype(bool).to_numpy()
    if params.drop_multi_label:
        keep &= ~candidates["multi_label"].fillna(False).astype(bool).to_numpy()
    return keep


def compute_lab_selections(candidates: pd.DataFrame, params: LabParams) -> dict[str, np.ndarray]:
    """Each mechanism's mask over ``candidates``, all at the text threshold's size.

    Args:
        candidates: Rows with ``CANDIDATE_COLUMNS`` (e.g. every sample of LAIONet).
        params: The lab's parameters.

    Returns:
        Mechanism -> (N,) bool mask, in ``params.mechanisms`` order. A mechanism whose
        candidates are fewer than the matched size keeps all it can.
    """
    pool = select_candidate_pool(candidates, params.selection)
    text = candidates["text_similarity"].to_numpy(np.float64)
    image = candidates["image_similarity"].to_numpy(np.float64)
    labels = candidates["wnid"].astype(str).to_numpy()
    reference = pool & (np.nan_to_num(text, nan=-np.inf) > params.selection.threshold)
    size = int(reference.sum())
    in_pool = np.where(pool, text, np.nan), np.where(pool, image, np.nan)
    masks = {}
    for mechanism in params.mechanisms:
        if mechanism == MECHANISM_TEXT:
            masks[mechanism] = reference
        elif mechanism == MECHANISM_TEXT_IMAGE:
            bound = params.multimodal_text_threshold
            image_bound = find_matching_image_threshold(
                *in_pool, text_threshold=bound, target_size=size
            )
            masks[mechanism] = select_by_thresholds(
                *in_pool, text_threshold=bound, image_threshold=image_bound
            )
        else:
            scores = in_pool[0] if mechanism == MECHANISM_TOP_K_TEXT else in_pool[1]
            masks[mechanism] = select_top_k_to_size(scores, labels, size=size)
    return masks


def summarize_class_values(
    values: pd.Series, *, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float, float, int]:
    """Mean of per-class values with its normal interval over classes.

    Args:
        values: One value per class; NaN values are left out.
        confidence: Two-sided level of the interval.

    Returns:
        ``(mean, ci_low, ci_high, n_classes)``; NaN bounds with fewer than two classes.
    """
    x = values.dropna().to_numpy(np.float64)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan"), 1
    half = compute_normal_quantile(confidence) * float(x.std(ddof=1)) / np.sqrt(x.size)
    return mean, mean - half, mean + half, int(x.size)


def build_lab_summary(
    masks: dict[str, np.ndarray],
    labels: np.ndarray,
    metric_rows: pd.DataFrame,
    *,
    metrics: tuple[str, ...],
    min_samples_per_class: int = 1,
) -> pd.DataFrame:
    """One row per mechanism: size, coverage and each metric's class mean with interval.

    Args:
        masks: ``compute_lab_selections`` output.
        labels: (N,) class of each candidate.
        metric_rows: class_metrics rows whose ``dataset`` is the mechanism's name.
        metrics: Metric names to summarise, in column order.
        min_samples_per_class: Samples a class needs to count as covered.

    Returns:
        Columns ``mechanism``, ``size``, ``classes covered``, then per metric
        ``<metric>``, ``<metric> low``, ``<metric> high``.
    """
    rows = []
    classes, codes = compute_label_codes(labels)  # once, not a string count per mechanism
    for mechanism, mask in masks.items():
        counts = np.bincount(codes[mask], minlength=classes.size)
        counts = counts[counts > 0]
        row = {
            "mechanism": mechanism,
            "size": int(mask.sum()),
            "classes covered": int((counts >= min_samples_per_class).sum()),
        }
        mine = metric_rows[metric_rows["dataset"] == mechanism]
        for metric in metrics:
            mean, low, high, _ = summarize_class_values(mine.loc[mine["metric"] == metric, "value"])
            row.update({metric: mean, f"{metric} low": low, f"{metric} high": high})
        rows.append(row)
    return pd.DataFrame(rows)
