"""Caption diagnostics (Section 4.2, Figure 9): captions against their own synset text.

Moved out of ``laionet_core.metrics`` (which re-exports both functions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laionet_core.ranking import compute_true_class_ranks
from laionet_core.stats import DEFAULT_CONFIDENCE, compute_class_means

# Figure 9b bins text-to-synset similarity; 0.05 wide bins over [0, 1].
DEFAULT_CAPTION_BINS = np.round(np.linspace(0.0, 1.0, 21), 2)


def compute_caption_diagnostics(
    text_embeddings: object,
    labels: object,
    class_text_embeddings: object,
    class_labels: object,
) -> pd.DataFrame:
    """Per caption: similarity to its own synset text and the share of others above it.

    Section 4.2, Figure 9: ``proportion_more_similar`` is the number of OTHER classes
    whose synset text is strictly more similar to the caption, divided by ``C - 1``.

    Args:
        text_embeddings: (N, D) caption embeddings.
        labels: (N,) the caption's class.
        class_text_embeddings: (C, D) synset text embeddings, C >= 2.
        class_labels: (C,) their labels.

    Returns:
        DataFrame with ``label``, ``similarity``, ``n_more_similar``,
        ``proportion_more_similar``, one row per caption in input order.
    """
    own, rank = compute_true_class_ranks(
        text_embeddings, labels, class_text_embeddings, class_labels, query_name="text_embeddings"
    )
    c = np.asarray(class_labels).size
    if c < 2:
        raise ValueError(f"class_text_embeddings needs at least 2 classes, got {c}")
    return pd.DataFrame(
        {
            "label": np.asarray(labels),
            "similarity": own,
            "n_more_similar": rank,
            "proportion_more_similar": rank / (c - 1),
        }
    )


def bin_caption_diagnostics(
    diagnostics: pd.DataFrame,
    *,
    bins: object = DEFAULT_CAPTION_BINS,
    confidence: float = DEFAULT_CONFIDENCE,
) -> pd.DataFrame:
    """Mean proportion of more-similar false classes per similarity bin (Figure 9b).

    Bins are left-closed ``[low, high)``, the last one closed; captions outside are
    dropped. The interval is the t interval of the mean proportion in the bin.

    Args:
        diagnostics: Output of ``compute_caption_diagnostics``.
        bins: Increasing bin edges.
        confidence: Two-sided level.

    Returns:
        DataFrame, one row per bin: ``bin_low``, ``bin_high``, ``n``, ``mean``, ``se``,
        ``ci_low``, ``ci_high`` (NaN statistics for empty bins).
    """
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("bins must be at least two strictly increasing edges")
    for col in ("similarity", "proportion_more_similar"):
        if col not in diagnostics.columns:
            raise ValueError(f"diagnostics has no column {col!r}")
    sim = diagnostics["similarity"].to_numpy(np.float64)
    b = np.searchsorted(edges, sim, side="right") - 1
    b[sim == edges[-1]] = edges.size - 2
    keep = (b >= 0) & (b < edges.size - 1)
    nbins = edges.size - 1
    values = np.concatenate(
        [diagnostics["proportion_more_similar"].to_numpy(np.float64)[keep], np.full(nbins, np.nan)]
    )
    codes = np.concatenate([b[keep], np.arange(nbins)])  # NaN rows keep empty bins listed
    means = compute_class_means(values, codes, confidence=confidence)
    out = means.reset_index(drop=True)
    out.insert(0, "bin_high", edges[1:])
    out.insert(0, "bin_low", edges[:-1])
    return out
