"""Nearest-caption search with FAISS, for text-matched selection (paper Section 4.3).

For each query text (an ImageNet-Captions caption) find the most similar candidate
caption (LAION) by inner product of L2-normalised embeddings. Small candidate sets
use exact search (``IndexFlatIP``); large ones an IVF-PQ index whose top hits are
re-scored exactly, with recall@1 against exact search measured on a sample.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import faiss
import numpy as np
import pandas as pd

from laionet_core.selection import DEFAULT_TEXT_MATCH_THRESHOLD

logger = logging.getLogger(__name__)

INDEX_KINDS = ("auto", "exact", "ivfpq")
AUTO_EXACT_MAX = 500_000  # below this, brute force is fast enough and exact
RECALL_SAMPLE = 1_000  # queries used to measure IVF-PQ recall@1 against exact search
RECALL_TOLERANCE = 1e-6  # a found candidate as similar as the exact best counts as a hit
DEFAULT_NPROBE = 32  # IVF lists visited per query: recall ~0.95+ at nlist ~ 4 sqrt(N)
DEFAULT_RERANK_K = 16  # approximate hits re-scored exactly per query
SEARCH_CHUNK = 4_096  # queries per exact-rescoring chunk (bounds memory)


@dataclass(frozen=True)
class TextIndex:
    """A built index and how it was built.

    Attributes:
        index: The FAISS index (inner-product metric).
        kind: ``"exact"`` or ``"ivfpq"``.
        candidates: (M, D) float32 candidate embeddings, kept for exact re-scoring.
    """

    index: faiss.Index
    kind: str
    candidates: np.ndarray


@dataclass(frozen=True)
class TextMatchResult:
    """Result of ``select_text_matched``.

    Attributes:
        best_index: (Q,) int64 best candidate per query (-1 if none).
        similarity: (Q,) float32 exact cosine similarity to that candidate.
        kept: (Q,) bool, ``similarity > threshold``.
        labels: (Q,) the query labels (the label a kept candidate inherits).
        index_kind: ``"exact"`` or ``"ivfpq"``.
        recall_at_1: Measured recall@1 of the approximate index (1.0 for exact).
    """

    best_index: np.ndarray
    similarity: np.ndarray
    kept: np.ndarray
    labels: np.ndarray
    index_kind: str
    recall_at_1: float


def _as_float32_matrix(array: np.ndarray, what: str) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"{what} must be (N, D), got shape {array.shape}")
    return array


def _pq_subquantizers(dim: int) -> int:
    """Largest m dividing dim with at least 4 dims per sub-vector (at most 64)."""
    for m in (64, 48, 32, 24, 16, 12, 8, 4, 2, 1):
        if dim % m == 0 and dim // m >= 4:
            return m
    return 1


def build_text_index(
    candidates: np.ndarray,
    *,
    kind: str = "auto",
    nlist: int | None = None,
    pq_m: int | None = None,
    nprobe: int = DEFAULT_NPROBE,
    train_size: int = 200_000,
    seed: int = 0,
) -> TextIndex:
    """Build an inner-product index over candidate embeddings.

    Args:
        candidates: (M, D) L2-normalised embeddings.
        kind: ``"exact"``, ``"ivfpq"`` or ``"auto"`` (exact up to ``AUTO_EXACT_MAX``).
        nlist: IVF lists; ``4 * sqrt(M)`` if omitted.
        pq_m: PQ sub-quantizers (must divide D); chosen from D if omitted.
        nprobe: Lists visited per query.
        train_size: Candidates sampled to train IVF-PQ.
        seed: Seed for the training sample.

    Returns:
        The index with its kind.

    Raises:
        ValueError: Unknown kind, bad shapes, or too few candidates to train IVF-PQ.
    """
    if kind not in INDEX_KINDS:
        raise ValueError(f"index kind {kind!r}; allowed: {', '.join(INDEX_KINDS)}")
    candidates = _as_float32_matrix(candidates, "candidate embeddings")
    m, dim = candidates.shape
    if kind == "auto":
        kind = "exact" if m <= AUTO_EXACT_MAX else "ivfpq"
    if kind == "exact":
        index = faiss.IndexFlatIP(dim)
        index.add(candidates)
        return TextIndex(index, "exact", candidates)
    index = create_ivfpq_index(m, dim, nlist=nlist, pq_m=pq_m, nprobe=nprobe)
    rng = np.random.default_rng(seed)
    train = candidates[np.sort(rng.choice(m, size=min(m, train_size), replace=False))]
    index.train(train)
    index.add(candidates)
    return TextIndex(index, "ivfpq", candidates)


def create_ivfpq_index(
    n_candidates: int,
    dim: int,
    *,
    nlist: int | None = None,
    pq_m: int | None = None,
    nprobe: int = DEFAULT_NPROBE,
) -> faiss.Index:
    """An untrained ``IVF{nlist},PQ{pq_m}`` inner-product index sized for the candidates.

    Args:
        n_candidates: M, the candidates it will hold.
        dim: Embedding width D.
        nlist: IVF lists; ``4 * sqrt(M)`` if omitted.
        pq_m: PQ sub-quantizers (must divide D); chosen from D if omitted. Memory is
            M x (pq_m + 8) bytes (codes and ids).
        nprobe: Lists visited per query.

    Raises:
        ValueError: ``pq_m`` does not divide D, or too few candidates to train.
    """
    nlist = nlist or max(1, int(4 * math.sqrt(n_candidates)))
    pq_m = pq_m or _pq_subquantizers(dim)
    if dim % pq_m:
        raise ValueError(f"pq_m={pq_m} must divide the embedding width {dim}")
    if n_candidates < max(256, nlist) * 4:
        raise ValueError(
            f"IVF-PQ needs at least {max(256, nlist) * 4} candidates for nlist={nlist}, "
            f"got {n_candidates}; use kind='exact'"
        )
    index = faiss.index_factory(dim, f"IVF{nlist},PQ{pq_m}", faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
    ivf.nprobe = min(nprobe, nlist)
    # faiss's default polysemous code reordering costs ~60x the PQ training itself and
    # only helps Hamming pre-filtering, which this search never uses.
    ivf.do_polysemous_training = False
    logger.info("IVF%d,PQ%d for %d candidates", nlist, pq_m, n_candidates)
    return index


def search_text_index(
    index: TextIndex, queries: np.ndarray, *, rerank_k: int = DEFAULT_RERANK_K
) -> tuple[np.ndarray, np.ndarray]:
    """Best candidate per query, with its exact inner product.

    For IVF-PQ, the ``rerank_k`` approximate hits are re-scored with the stored
    full-precision candidates, so similarities are always exact.

    Args:
        index: From ``build_text_index``.
        queries: (Q, D) L2-normalised.
        rerank_k: Approximate hits re-scored per query (IVF-PQ only).

    Returns:
        ``(best_index (Q,) int64, similarity (Q,) float32)``; -1 and -inf when a
        query found nothing.
    """
    queries = _as_float32_matrix(queries, "query embeddings")
    if queries.shape[1] != index.candidates.shape[1]:
        raise ValueError(
            f"query width {queries.shape[1]} != candidate width {index.candidates.shape[1]}"
        )
    k = 1 if index.kind == "exact" else min(rerank_k, index.candidates.shape[0])
    best = np.full(len(queries), -1, dtype=np.int64)
    sims = np.full(len(queries), -np.inf, dtype=np.float32)
    for start in range(0, len(queries), SEARCH_CHUNK):
        q = queries[start : start + SEARCH_CHUNK]
        _, ids = index.index.search(q, k)
        valid = ids >= 0
        exact = np.einsum("qd,qkd->qk", q, index.candidates[np.where(valid, ids, 0)])
        exact = np.where(valid, exact, -np.inf)
        col = exact.argmax(axis=1)
        rows = np.arange(len(q))
        best[start : start + len(q)] = np.where(valid[rows, col], ids[rows, col], -1)
        sims[start : start + len(q)] = exact[rows, col]
    return best, sims


def compute_recall_at_1(
    index: TextIndex, queries: np.ndarray, *, sample: int = RECALL_SAMPLE, seed: int = 0
) -> float:
    """Fraction of sampled queries whose best candidate equals exact search's.

    Ties are counted as hits when the found candidate's similarity equals the exact
    maximum (within ``RECALL_TOLERANCE``).

    Returns:
        recall@1 in [0, 1] (1.0 for an exact index or no queries).
    """
    queries = _as_float32_matrix(queries, "query embeddings")
    if index.kind == "exact" or len(queries) == 0:
        return 1.0
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(queries), size=min(sample, len(queries)), replace=False)
    _, sims = search_text_index(index, queries[pick])
    exact = faiss.IndexFlatIP(index.candidates.shape[1])
    exact.add(index.candidates)
    true_sims, _ = exact.search(queries[pick], 1)
    return compute_recall(sims, true_sims[:, 0])


def compute_recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of queries whose found similarity reaches the exact best (ties are hits).

    Args:
        found: (Q,) similarity of the candidate a search returned.
        exact: (Q,) similarity of the exact best candidate.
    """
    return float(np.mean(np.asarray(found) >= np.asarray(exact) - RECALL_TOLERANCE))


def select_text_matched(
    query_embeddings: np.ndarray,
    query_labels: np.ndarray,
    candidate_embeddings: np.ndarray,
    *,
    threshold: float = DEFAULT_TEXT_MATCH_THRESHOLD,
    index_kind: str = "auto",
    index: TextIndex | None = None,
) -> TextMatchResult:
    """For each query text, the most similar candidate, kept above ``threshold``.

    Args:
        query_embeddings: (Q, D) L2-normalised query captions (ImageNet-Captions).
        query_labels: (Q,) the queries' labels (wnids), passed through.
        candidate_embeddings: (M, D) L2-normalised candidate captions (LAION).
        threshold: Keep matches with cosine similarity strictly above this.
        index_kind: ``"auto"``, ``"exact"`` or ``"ivfpq"``.
        index: A prebuilt index over ``candidate_embeddings`` (then ``index_kind`` is ignored).

    Returns:
        Per-query best candidate, similarity, kept mask, labels and measured recall@1.

    Raises:
        ValueError: Lengths or widths disagree.
    """
    query_embeddings = _as_float32_matrix(query_embeddings, "query embeddings")
    labels = np.asarray(query_labels)
    if len(labels) != len(query_embeddings):
        raise ValueError(f"{len(labels)} query labels for {len(query_embeddings)} queries")
    index = index or build_text_index(candidate_embeddings, kind=index_kind)
    best, sims = search_text_index(index, query_embeddings)
    recall = compute_recall_at_1(index, query_embeddings)
    if index.kind != "exact":
        logger.info("IVF-PQ recall@1 on %d sampled queries: %.3f", RECALL_SAMPLE, recall)
    return TextMatchResult(
        best_index=best,
        similarity=sims,
        kept=(best >= 0) & (sims > threshold),
        labels=labels,
        index_kind=index.kind,
        recall_at_1=recall,
    )


def select_unique_matches(
    best_index: np.ndarray, similarity: np.ndarray, labels: np.ndarray
) -> pd.DataFrame:
    """One row per candidate that is some query's best match (the text-matched samples).

    A candidate chosen by several queries is kept once, labelled with the query whose
    text is most similar to it (ties: the first such query); every query's choice still
    counts in ``n_queries``. Queries without a match (``best_index`` -1) are left out.
    No threshold is applied: the similarity is kept so a selection can slide over it.

    Args:
        best_index: (Q,) best candidate row per query, -1 for none.
        similarity: (Q,) cosine similarity of that candidate to the query.
        labels: (Q,) the queries' labels (wnids).

    Returns:
        Rows sorted by candidate: ``candidate`` (row), ``query`` (row of the chosen
        query), ``label``, ``similarity`` (to that query), ``n_queries`` (queries that
        chose the candidate) and ``n_labels`` (distinct labels among them).
    """
    best_index = np.asarray(best_index)
    frame = pd.DataFrame(
        {
            "candidate": best_index,
            "query": np.arange(best_index.size),
            "label": np.asarray(labels),
            "similarity": np.asarray(similarity, dtype=np.float32),
        }
    )
    frame = frame[frame["candidate"] >= 0]
    counts = frame.groupby("candidate").agg(
        n_queries=("query", "size"), n_labels=("label", "nunique")
    )
    ordered = frame.sort_values(
        ["candidate", "similarity", "query"], ascending=[True, False, True], kind="stable"
    )
    chosen = ordered.drop_duplicates("candidate").set_index("candidate")
    return chosen.join(counts).reset_index()
