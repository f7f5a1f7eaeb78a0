"""Model accuracy from stored outcomes (true-class position in the top 5), vectorised.

``accuracy.compute_model_accuracy`` takes prediction lists; at 1.17M predictions,
turning lists into arrays on every threshold move costs seconds. The position of the
true class in the top 5 is computed once in SQL; a selection is then a boolean mask
over bins and flags, and top-k correctness is ``1 <= position <= k``. Results equal
``comparison.compute_accuracy_by_dataset`` on the same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laionet_core.accuracy import ModelAccuracy, compute_model_accuracy
from laionet_core.selection import SelectionParams, compute_similarity_bins, threshold_index

# The paper's top-k values.
TOP_K = (1, 5)


def prepare_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Add ``bin`` (int16) and make ``dataset`` and ``wnid`` categorical (sorted), so
    selections and per-class counts work on integers."""
    out = outcomes.drop(columns=["text_similarity"]).assign(
        bin=compute_similarity_bins(outcomes["text_similarity"].to_numpy(np.float64)),
        filtered=outcomes["filtered"].fillna(False).astype(bool),
        multi_label=outcomes["multi_label"].astype(bool),
    )
    for column in ("dataset", "wnid"):
        out[column] = pd.Categorical(out[column], categories=sorted(out[column].unique()))
    return out


def select_outcomes(outcomes: pd.DataFrame, params: SelectionParams) -> np.ndarray:
    """(N,) bool: rows ``params`` keeps (``selection.select_mask`` on bins)."""
    keep = outcomes["bin"].to_numpy() > threshold_index(params.threshold)
    if params.drop_nsfw:
        keep &= ~outcomes["filtered"].to_numpy()
    if params.drop_multi_label:
        keep &= ~outcomes["multi_label"].to_numpy()
    return keep


def compute_outcome_accuracy(
    outcomes: pd.DataFrame, *, class_weights: pd.Series
) -> dict[str, ModelAccuracy]:
    """Top-1/top-5 accuracy per dataset over the classes with a weight (Figures 1, 5).

    Args:
        outcomes: ``prepare_outcomes`` rows (already restricted to a selection).
        class_weights: wnid -> weight; only samples of these classes count.

    Returns:
        Dataset -> ModelAccuracy, per-class tables indexed by wnid.
    """
    out = {}
    wnids = outcomes["wnid"].cat.categories  # sorted, as compute_label_codes sorts
    codes = outcomes["wnid"].cat.codes.to_numpy()
    weighted = np.asarray(wnids.isin(class_weights.index))
    in_weights = weighted[codes]
    # Integer labels (codes keep the wnids' sorted order): no string hashing per move.
    weights_by_code = pd.Series(
        class_weights.to_numpy(np.float64), index=wnids.get_indexer(class_weights.index)
    )
    weights_by_code = weights_by_code[weights_by_code.index >= 0]
    position = outcomes["position"].to_numpy()
    datasets = outcomes["dataset"].cat.codes.to_numpy()
    for code, name in enumerate(outcomes["dataset"].cat.categories):
        rows = in_weights & (datasets == code)
        if not rows.any():
            continue
        pos = position[rows]
        correct = pd.DataFrame({f"top_{k}_is_correct_m": (pos >= 1) & (pos <= k) for k in TOP_K})
        result = compute_model_accuracy(
            correct, codes[rows], model="m", class_weights=weights_by_code, k=TOP_K
        )
        per_class = {
            k: table.set_axis(pd.Index(wnids[table.index], name=table.index.name))
            for k, table in result.per_class.items()
        }
        out[str(name)] = ModelAccuracy(summary=result.summary, per_class=per_class)
    return out
