"""Scoring of a matched shard: caption-to-synset similarities, labels, candidates.

Every (caption, matched class) pair is scored against the synset-text embedding and
each caption is labelled with its most similar matched class. Embeddings are read
``SCORE_CHUNK_ROWS`` captions at a time, so memory is bounded by that chunk and not by
the part: no whole-shard float32 copy and no (pairs x D) gather is ever made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from precompute.build.manifests import ShardContext
    from precompute.build.shards import MatchedShard

# Captions scored at once: bounds the float32 copies of a shard's embeddings.
SCORE_CHUNK_ROWS = 65_536


def argmax_per_group(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Index of the first maximum within each consecutive group of ``counts`` values."""
    if len(counts) == 0:
        return np.zeros(0, dtype=np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    is_max = values == np.maximum.reduceat(values, starts)[group]
    hits = np.flatnonzero(is_max)
    return hits[np.unique(group[hits], return_index=True)[1]]


def compute_pair_similarities(
    text_emb: np.ndarray, counts: np.ndarray, pair_classes: np.ndarray, synsets: np.ndarray
) -> np.ndarray:
    """Cosine of each caption with each of its matched synsets, ``SCORE_CHUNK_ROWS`` at a time.

    Args:
        text_emb: (M, D) caption embeddings (float16 or float32, may be memory-mapped).
        counts: (M,) matched classes per caption.
        pair_classes: (sum(counts),) synset row of each pair, caption by caption.
        synsets: (C, D) float32 synset embeddings.

    Returns:
        (sum(counts),) float32; only one chunk is ever converted to float32.
    """
    sims = np.empty(len(pair_classes), dtype=np.float32)
    ends = np.cumsum(counts)
    for lo in range(0, len(counts), SCORE_CHUNK_ROWS):
        hi = min(lo + SCORE_CHUNK_ROWS, len(counts))
        first, last = (int(ends[lo - 1]) if lo else 0), int(ends[hi - 1]) if hi else 0
        rows = np.repeat(np.arange(hi - lo), counts[lo:hi])
        text = np.asarray(text_emb[lo:hi], dtype=np.float32)
        sims[first:last] = np.einsum("nd,nd->n", text[rows], synsets[pair_classes[first:last]])
    return sims


def compute_row_similarities(
    emb: np.ndarray, classes: np.ndarray, synsets: np.ndarray
) -> np.ndarray:
    """(M,) float32 cosine of each row of ``emb`` with synset ``classes[i]``, chunk by chunk."""
    sims = np.empty(len(classes), dtype=np.float32)
    for lo in range(0, len(classes), SCORE_CHUNK_ROWS):
        hi = lo + SCORE_CHUNK_ROWS
        block = np.asarray(emb[lo:hi], dtype=np.float32)
        sims[lo:hi] = np.einsum("nd,nd->n", block, synsets[classes[lo:hi]])
    return sims


def score_matches(
    matched: MatchedShard, text_emb: np.ndarray, context: ShardContext
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every (caption, matched class) pair and label each caption.

    Memory is bounded by ``SCORE_CHUNK_ROWS`` captions beyond the shard's own arrays:
    no whole-shard float32 copy or pair-by-dimension gather is made.

    Args:
        matched: The shard's matched rows.
        text_emb: (M, D) L2-normalised caption embeddings, row-aligned with them.
        context: Holds the (C, D) synset embeddings in vocabulary order.

    Returns:
        (samples, candidates): one sample per caption, labelled with its most similar
        matched class, and one candidate per (caption, matched class) pair.
    """
    synsets = np.asarray(context.synset_embeddings, dtype=np.float32)
    wnid_rows = {w: i for i, w in enumerate(context.wnids)}
    counts = np.fromiter((len(w) for w in matched.wnids), np.int64, len(matched.wnids))
    pair_wnids = [w for wnids in matched.wnids for w in wnids]
    pair_classes = np.fromiter((wnid_rows[w] for w in pair_wnids), np.int64, len(pair_wnids))
    pair_sims = compute_pair_similarities(text_emb, counts, pair_classes, synsets)
    best = argmax_per_group(pair_sims, counts)  # a multi-label caption's label
    image_sims = np.full(len(counts), np.nan, dtype=np.float32)
    if matched.img_emb is not None:
        image_sims = compute_row_similarities(matched.img_emb, pair_classes[best], synsets)
    sample_ids = matched.matched["sample_id"].to_numpy()
    samples = pd.DataFrame(
        {
            "sample_id": sample_ids,
            "url": matched.matched["url"].to_numpy(),
            "text": matched.matched["text"].to_numpy(),
            "wnid": pd.Series([pair_wnids[i] for i in best], dtype=object),
            "matched_wnids": pd.Series([list(w) for w in matched.wnids], dtype=object),
            "multi_label": counts > 1,
            "text_similarity": pair_sims[best],
            "image_similarity": image_sims,
            "nsfw": matched.matched["nsfw"].to_numpy(),
        }
    )
    candidates = pd.DataFrame(
        {
            "sample_id": np.repeat(sample_ids, counts),
            "wnid": pd.Series(pair_wnids, dtype=object),  # object even when empty
            "text_similarity": pair_sims,
        }
    )
    return samples, candidates
