"""Why a sample was kept or dropped by a selection, per sample and counted per class.

The reasons follow ``SelectionParams``: below (or at) the threshold, multi-label, and
the recipe's content rules (``samples.filtered``: its NSFW rule and, when OCR text was
given, its OCR rule). A sample can have several.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laionet_core.selection import SelectionParams, threshold_index

REASON_BELOW = "below threshold"
REASON_MULTI_LABEL = "multi-label"
# The content rules (NSFW and OCR rules of the recipe): ``samples.filtered``.
REASON_NSFW = "content rules"


def list_drop_reasons(samples: pd.DataFrame, params: SelectionParams) -> pd.Series:
    """Each sample's reasons to be dropped, joined by ", " (empty when kept).

    Args:
        samples: Rows with ``text_similarity``, ``filtered`` and ``multi_label``.
        params: The selection.

    Returns:
        Series of strings aligned with ``samples``.
    """
    below = ~(samples["text_similarity"].astype("float64") > params.threshold)
    filtered = samples["filtered"].fillna(False).astype(bool)
    multi = samples["multi_label"].fillna(False).astype(bool)
    flags = {
        REASON_BELOW: below,
        REASON_MULTI_LABEL: multi & params.drop_multi_label,
        REASON_NSFW: filtered & params.drop_nsfw,
    }
    return pd.Series(
        [
            ", ".join(reason for reason, flag in flags.items() if flag.iloc[i])
            for i in range(len(samples))
        ],
        index=samples.index,
        dtype=object,
    )


def count_class_outcomes(class_histogram: np.ndarray, params: SelectionParams) -> dict[str, int]:
    """Candidates, selected samples and each drop reason's count for one class.

    Args:
        class_histogram: (2, 2, N_BINS) counts indexed [filtered, multi_label, bin] (one
            class of ``SimilarityHistograms.counts``).
        params: The selection.

    Returns:
        ``candidates``, ``selected``, ``dropped`` and the count of dropped samples having
        each reason (a sample can have several).
    """
    h = np.asarray(class_histogram, dtype=np.int64)
    above = np.zeros(h.shape[-1], dtype=bool)
    above[threshold_index(params.threshold) + 1 :] = True  # bin b > k: similarity > grid[k]
    filtered = np.array([False, params.drop_nsfw])[:, None, None]
    multi = np.array([False, params.drop_multi_label])[None, :, None]
    kept = above[None, None, :] & ~filtered & ~multi
    candidates, selected = int(h.sum()), int(h[np.broadcast_to(kept, h.shape)].sum())
    return {
        "candidates": candidates,
        "selected": selected,
        "dropped": candidates - selected,
        REASON_BELOW: int(h[..., ~above].sum()),
        REASON_MULTI_LABEL: int(h[:, 1, :].sum()) if params.drop_multi_label else 0,
        REASON_NSFW: int(h[1].sum()) if params.drop_nsfw else 0,
    }
