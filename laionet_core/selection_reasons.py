"""Why a sample was kept or dropped by a selection, per sample and counted per class.

The reasons follow ``SelectionParams``: below (or at) the threshold, multi-label, NSFW.
A sample can have several. OCR is not a reason here: the database records no OCR flag.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laionet_core.selection import NSFW_TAG, SelectionParams, threshold_index

REASON_BELOW = "below threshold"
REASON_MULTI_LABEL = "multi-label"
REASON_NSFW = "NSFW"


def list_drop_reasons(samples: pd.DataFrame, params: SelectionParams) -> pd.Series:
    """Each sample's reasons to be dropped, joined by ", " (empty when kept).

    Args:
        samples: Rows with ``text_similarity``, ``nsfw`` and ``multi_label``.
        params: The selection.

    Returns:
        Series of strings aligned with ``samples``.
    """
    below = ~(samples["text_similarity"].astype("float64") > params.threshold)
    nsfw = samples["nsfw"].fillna("").astype(str).str.strip().str.upper() == NSFW_TAG
    multi = samples["multi_label"].fillna(False).astype(bool)
    flags = {
        REASON_BELOW: below,
        REASON_MULTI_LABEL: multi & params.drop_multi_label,
        REASON_NSFW: nsfw & params.drop_nsfw,
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
        class_histogram: (2, 2, N_BINS) counts indexed [nsfw, multi_label, bin] (one
            class of ``SimilarityHistograms.counts``).
        params: The selection.

    Returns:
        ``candidates``, ``selected``, ``dropped`` and the count of dropped samples having
        each reason (a sample can have several).
    """
    h = np.asarray(class_histogram, dtype=np.int64)
    above = np.zeros(h.shape[-1], dtype=bool)
    above[threshold_index(params.threshold) + 1 :] = True  # bin b > k: similarity > grid[k]
    nsfw = np.array([False, params.drop_nsfw])[:, None, None]
    multi = np.array([False, params.drop_multi_label])[None, :, None]
    kept = above[None, None, :] & ~nsfw & ~multi
    candidates, selected = int(h.sum()), int(h[np.broadcast_to(kept, h.shape)].sum())
    return {
        "candidates": candidates,
        "selected": selected,
        "dropped": candidates - selected,
        REASON_BELOW: int(h[..., ~above].sum()),
        REASON_MULTI_LABEL: int(h[:, 1, :].sum()) if params.drop_multi_label else 0,
        REASON_NSFW: int(h[1].sum()) if params.drop_nsfw else 0,
    }
