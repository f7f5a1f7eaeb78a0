"""Nearest-caption search over candidates streamed in chunks (corpora too big for memory).

LAION-400M's caption embeddings do not fit in memory as float32 (400M x 512 x 4 bytes =
800 GB), so this path never holds them all. Up to ``AUTO_EXACT_MAX`` candidates are
searched exactly, chunk by chunk. Above that an IVF-PQ index is trained on a sample (at
least 39 rows per IVF list) and filled chunk by chunk (only its codes stay: M x (pq_m +
8) bytes), each query takes ``rerank_k`` approximate hits, and a second pass over the
chunks re-scores the hits exactly, so every returned similarity is exact. Recall@1 of
the approximate search is measured on a sample of queries against a streamed exact
search.

Chunks come from a ``ChunkSource``: a callable that starts a new pass and yields
``(first row, (n, D) embeddings)`` in row order, so the source can be read several times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import faiss
import numpy as np

from precompute.text_match.search import (
    AUTO_EXACT_MAX,
    DEFAULT_NPROBE,
    DEFAULT_RERANK_K,
    DEFAULT_TRAIN_SIZE,
    INDEX_KINDS,
    RECALL_SAMPLE,
    compute_recall,
    create_ivfpq_index,
    resolve_ivf_layout,
)

logger = logging.getLogger(__name__)

ChunkSource = Callable[[], Iterator[tuple[int, np.ndarray]]]


@dataclass(frozen=True)
class StreamedSearchResult:
    """Best candidate of every query over all chunks.

    Attributes:
        best_index: (Q,) int64 global candidate row, -1 when nothing was found.
        similarity: (Q,) float32 exact cosine similarity to it (-inf when none).
        index_kind: ``"exact"`` or ``"ivfpq"``.
        recall_at_1: Measured recall@1 of the approximate search (1.0 when exact).
        n_candidates: Candidates searched.
    """

    best_index: np.ndarray
    similarity: np.ndarray
    index_kind: str
    recall_at_1: float
    n_candidates: int


def _float32(chunk: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(chunk, dtype=np.float32)


def search_exact_streamed(
    queries: np.ndarray, chunks: ChunkSource
) -> tuple[np.ndarray, np.ndarray]:
    """Exact best candidate per query, one chunk in memory at a time.

    Args:
        queries: (Q, D) L2-normalised.
        chunks: The candidates (see the module docstring).

    Returns:
        ``(best_index (Q,) int64 global rows, similarity (Q,) float32)``.
    """
    queries = _float32(queries)
    best = np.full(len(queries), -1, dtype=np.int64)
    sims = np.full(len(queries), -np.inf, dtype=np.float32)
    for offset, chunk in chunks():
        index = faiss.IndexFlatIP(queries.shape[1])
        index.add(_float32(chunk))
        found, rows = index.search(queries, 1)
        better = (rows[:, 0] >= 0) & (found[:, 0] > sims)
        best[better] = offset + rows[better, 0]
        sims[better] = found[better, 0]
    return best, sims


def _sample_training_rows(chunks: ChunkSource, n_total: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n_total, size=min(size, n_total), replace=False))
    parts = []
    for offset, chunk in chunks():
        inside = pick[(pick >= offset) & (pick < offset + len(chunk))] - offset
        if inside.size:
            parts.append(_float32(chunk[inside]))
    return np.concatenate(parts)


def build_ivfpq_streamed(
    chunks: ChunkSource,
    *,
    n_total: int,
    dim: int,
    nlist: int | None = None,
    pq_m: int | None = None,
    nprobe: int = DEFAULT_NPROBE,
    train_size: int = DEFAULT_TRAIN_SIZE,
    seed: int = 0,
) -> faiss.Index:
    """Train IVF-PQ on a random sample of rows, then add every chunk (ids = global rows).

    Two passes over ``chunks``. The sample has ``min(n_total, max(train_size, 39 *
    nlist))`` rows (``text_search.resolve_ivf_layout``, which also says when ``nlist``
    is refused); see ``text_search.create_ivfpq_index`` for the other options.
    """
    nlist, train_rows = resolve_ivf_layout(n_total, nlist=nlist, train_size=train_size)
    index = create_ivfpq_index(n_total, dim, nlist=nlist, pq_m=pq_m, nprobe=nprobe)
    index.train(_sample_training_rows(chunks, n_total, train_rows, seed))
    for offset, chunk in chunks():
        index.add_with_ids(_float32(chunk), np.arange(offset, offset + len(chunk), dtype=np.int64))
    return index


def rescore_hits_streamed(
    queries: np.ndarray, hits: np.ndarray, chunks: ChunkSource
) -> tuple[np.ndarray, np.ndarray]:
    """The exactly best of each query's approximate hits, in one pass over the chunks.

    Args:
        queries: (Q, D) L2-normalised.
        hits: (Q, k) global candidate rows, -1 for none.
        chunks: The candidates.

    Returns:
        ``(best_index (Q,) int64, similarity (Q,) float32)``; -1 and -inf when a query
        had no hit.
    """
    queries = _float32(queries)
    best = np.full(len(queries), -1, dtype=np.int64)
    sims = np.full(len(queries), -np.inf, dtype=np.float32)
    for offset, chunk in chunks():
        q, k = np.nonzero((hits >= offset) & (hits < offset + len(chunk)))
        if q.size == 0:
            continue
        rows = hits[q, k]
        exact = np.einsum("nd,nd->n", queries[q], _float32(chunk[rows - offset]))
        order = np.lexsort((-exact, q))  # per query, most similar first
        q, rows, exact = q[order], rows[order], exact[order]
        first = np.r_[True, q[1:] != q[:-1]]
        q, rows, exact = q[first], rows[first], exact[first]
        better = exact > sims[q]
        best[q[better]] = rows[better]
        sims[q[better]] = exact[better]
    return best, sims


def _search_ivfpq(
    queries: np.ndarray,
    chunks: ChunkSource,
    index: object,
    n_total: int,
    rerank_k: int,
    recall_sample: int,
    seed: int,
) -> StreamedSearchResult:
    """Search ``index``, re-score its hits exactly, and measure recall@1 on a sample."""
    _, hits = index.search(queries, min(rerank_k, n_total))
    best, sims = rescore_hits_streamed(queries, hits, chunks)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(queries), size=min(recall_sample, len(queries)), replace=False)
    _, exact = search_exact_streamed(queries[pick], chunks)
    recall = compute_recall(sims[pick], exact)
    logger.info("IVF-PQ recall@1 on %d sampled queries: %.3f", pick.size, recall)
    return StreamedSearchResult(best, sims, "ivfpq", recall, n_total)


def search_text_streamed(
    queries: np.ndarray,
    chunks: ChunkSource,
    *,
    n_total: int,
    kind: str = "auto",
    nlist: int | None = None,
    pq_m: int | None = None,
    nprobe: int = DEFAULT_NPROBE,
    rerank_k: int = DEFAULT_RERANK_K,
    recall_sample: int = RECALL_SAMPLE,
    seed: int = 0,
) -> StreamedSearchResult:
    """Best candidate of every query over streamed candidates, exact similarities.

    Args:
        queries: (Q, D) L2-normalised query captions.
        chunks: The M candidates (``n_total``), in row order.
        n_total: M.
        kind: ``"auto"`` (exact up to ``AUTO_EXACT_MAX``), ``"exact"`` or ``"ivfpq"``.
        nlist, pq_m, nprobe: IVF-PQ options (``text_search.create_ivfpq_index``).
        rerank_k: Approximate hits re-scored exactly per query.
        recall_sample: Queries whose IVF-PQ result is checked against exact search.
        seed: Seed of the training and recall samples.

    Returns:
        The best candidates with their exact similarities and the measured recall@1.

    Raises:
        ValueError: Unknown kind, ``recall_sample`` or ``rerank_k`` < 1, or too few
            candidates for IVF-PQ's ``nlist``.
    """
    if kind not in INDEX_KINDS:
        raise ValueError(f"index kind {kind!r}; allowed: {', '.join(INDEX_KINDS)}")
    if recall_sample < 1 or rerank_k < 1:
        raise ValueError(
            f"--recall-sample and rerank_k must be >= 1, got {recall_sample}, {rerank_k}"
        )
    queries = _float32(queries)
    if kind == "auto":
        kind = "exact" if n_total <= AUTO_EXACT_MAX else "ivfpq"
    if kind == "exact":
        best, sims = search_exact_streamed(queries, chunks)
        return StreamedSearchResult(best, sims, "exact", 1.0, n_total)
    index = build_ivfpq_streamed(
        chunks,
        n_total=n_total,
        dim=queries.shape[1],
        nlist=nlist,
        pq_m=pq_m,
        nprobe=nprobe,
        seed=seed,
    )
    return _search_ivfpq(queries, chunks, index, n_total, rerank_k, recall_sample, seed)
