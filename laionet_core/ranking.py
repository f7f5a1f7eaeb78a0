"""Cosine similarity of each row to its own class text, and its rank among all classes.

Shared by CLIP zero-shot accuracy (``accuracy``: the true class is in the top k exactly
when fewer than k classes score higher) and the caption diagnostics of Section 4.2
(``metrics``: the share of false classes more similar than the true one). numpy and
pandas only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laionet_core.validation import check_embeddings, check_length

# Queries scored against all class texts at once: 8,192 x 1,000 x 8 bytes = 64 MiB.
BATCH_ROWS = 8_192


def _normalise_rows(x: np.ndarray, dtype: type) -> np.ndarray:
    x = x.astype(dtype, copy=False)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise ValueError("an embedding row is zero or not finite; cosine is undefined")
    return x / norms


def compute_true_class_ranks(
    queries: object,
    labels: object,
    class_embeddings: object,
    class_labels: object,
    *,
    query_name: str = "embeddings",
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity to the own class text, and how many classes score strictly higher.

    ``rank == 0`` means the own class has the top score, so the true class is in the
    top k exactly when ``rank < k`` (ties count in the true class's favour). Scored in
    batches of ``BATCH_ROWS`` rows, so no N x C matrix is held. float64 inputs are
    scored in float64, others in float32.

    Args:
        queries: (N, D) image or caption embeddings.
        labels: (N,) true class of each row; each must be in ``class_labels``.
        class_embeddings: (C, D) class text embeddings.
        class_labels: (C,) distinct labels of those rows.
        query_name: Name used in error messages.

    Returns:
        ``(own_similarity, rank)``: (N,) float64 and (N,) int64.

    Raises:
        ValueError: shapes disagree, class labels repeat, or a label is not a class.
    """
    q = check_embeddings(queries, name=query_name)
    t = check_embeddings(class_embeddings, name="class_text_embeddings")
    lab = np.asarray(labels)
    cl = np.asarray(class_labels)
    check_length(lab.reshape(-1), q.shape[0], name="labels", other=query_name)
    check_length(cl.reshape(-1), t.shape[0], name="class_labels", other="class_text_embeddings")
    if q.shape[1] != t.shape[1]:
        raise ValueError(f"{query_name} has D={q.shape[1]} but class embeddings D={t.shape[1]}")
    if pd.Index(cl).has_duplicates:
        raise ValueError("class_labels must be distinct")
    pos = pd.Index(cl).get_indexer(lab)
    if (pos < 0).any():
        unknown = sorted({str(v) for v in lab[pos < 0]})
        raise ValueError(f"labels not among class_labels: {unknown[:10]} ({len(unknown)} in all)")
    dtype = np.float64 if (q.dtype == np.float64 or t.dtype == np.float64) else np.float32
    tn = _normalise_rows(t, dtype)
    own = np.empty(q.shape[0])
    rank = np.empty(q.shape[0], dtype=np.int64)
    for a in range(0, q.shape[0], BATCH_ROWS):
        scores = _normalise_rows(q[a : a + BATCH_ROWS], dtype) @ tn.T
        mine = scores[np.arange(scores.shape[0]), pos[a : a + BATCH_ROWS]]
        own[a : a + scores.shape[0]] = mine
        rank[a : a + scores.shape[0]] = (scores > mine[:, None]).sum(axis=1)
    return own, rank
