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

logger = logging.getLogger(__name__)

INDEX_KINDS = ("auto", "exact", "ivfpq")
AUTO_EXACT_MAX = 500_000  # below this, brute force is fast enough and exact
RECALL_SAMPLE = 1_000  # queries used to measure IVF-PQ recall@1 against exact search
RECALL_TOLERANCE = 1e-6  # a found candidate as similar as the exact best counts as a hit
DEFAULT_NPROBE = 32  # IVF lists visited per query: recall ~0.95+ at nlist ~ 4 sqrt(N)
DEFAULT_RERANK_K = 16  # approximate hits re-scored exactly per query
SEARCH_CHUNK = 4_096  # queries per exact-rescoring chunk (bounds memory)
EXACT_CHUNK = 16_384  # candidates per block of the recall check: 1,000 queries x 64 MiB
DEFAULT_TRAIN_SIZE = 200_000  # rows sampled to train IVF-PQ, at least 39 per list
MIN_TRAIN_PER_LIST = 39  # faiss's k-means warns below 39 training rows per centroid
MIN_PER_LIST = 4  # fewer candidates per IVF list than this: use exact search
PQ_CENTROIDS = 256  # PQ8 trains 256 centroids per sub-quantizer on the same rows


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
    train_size: int = DEFAULT_TRAIN_SIZE,
    seed: int = 0,
) -> TextIndex:
    """Build an inner-product index over candidate embeddings.

    Args:
        candidates: (M, D) L2-normalised embeddings.
        kind: ``"exact"``, ``"ivfpq"`` or ``"auto"`` (exact up to ``AUTO_EXACT_MAX``).
        nlist: IVF lists; ``4 * sqrt(M)`` if omitted (``resolve_ivf_layout``).
        pq_m: PQ sub-quantizers (must divide D); chosen from D if omitted.
        nprobe: Lists visited per query.
        train_size: Candidates sampled to train IVF-PQ, raised to 39 per list.
        seed: Seed for the training sample.

    Returns:
        The index with its kind.

    Raises:
        ValueError: Unknown kind, bad shapes, or too few candidates for ``nlist``.
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
    nlist, train_rows = resolve_ivf_layout(m, nlist=nlist, train_size=train_size)
    index = create_ivfpq_index(m, dim, nlist=nlist, pq_m=pq_m, nprobe=nprobe)
    rng = np.random.default_rng(seed)
    index.train(candidates[np.sort(rng.choice(m, size=train_rows, replace=False))])
    index.add(candidates)
    return TextIndex(index, "ivfpq", candidates)


def resolve_ivf_layout(
    n_candidates: int, *, nlist: int | None = None, train_size: int = DEFAULT_TRAIN_SIZE
) -> tuple[int, int]:
    """The IVF list count and how many rows train it.

    k-means wants ``MIN_TRAIN_PER_LIST`` rows per list, so the training sample is
    ``min(M, max(train_size, 39 * nlist))`` rows: the default nlist of 400M captions
    (80,000) trains on 3.12M rows (6.4 GB as float32 at D=512), not 200,000. A default
    nlist that M cannot train is lowered to ``M // 39`` (logged).

    Args:
        n_candidates: M.
        nlist: IVF lists (the CLI's ``--nlist``); ``4 * sqrt(M)`` if None.
        train_size: Rows sampled at least.

    Returns:
        ``(nlist, training rows)``.

    Raises:
        ValueError: ``nlist`` < 1, or fewer candidates than ``MIN_PER_LIST`` per list
            (or than PQ's 256 centroids need); the message names ``--nlist``.
    """
    if nlist is not None and (isinstance(nlist, bool) or not isinstance(nlist, int) or nlist < 1):
        raise ValueError(f"--nlist must be an integer >= 1, got {nlist!r}")
    if nlist is None:
        nlist = max(1, int(4 * math.sqrt(n_candidates)))
        trainable = max(1, n_candidates // MIN_TRAIN_PER_LIST)
        if nlist > trainable:
            logger.info(
                "nlist %d lowered to %d: %d candidates train at most %d lists with %d rows each",
                nlist,
                trainable,
                n_candidates,
                trainable,
                MIN_TRAIN_PER_LIST,
            )
            nlist = trainable
    needed = max(PQ_CENTROIDS, nlist) * MIN_PER_LIST
    if n_candidates < needed:
        raise ValueError(
            f"--nlist {nlist}: IVF-PQ needs at least {needed} candidates, got {n_candidates}; "
            "lower --nlist or use --index exact"
        )
    train_rows = min(n_candidates, max(train_size, MIN_TRAIN_PER_LIST * nlist))
    if train_rows < MIN_TRAIN_PER_LIST * nlist:
        logger.warning(
            "--nlist %d: %d training rows, fewer than %d per list; lists may be poorly placed",
            nlist,
            train_rows,
            MIN_TRAIN_PER_LIST,
        )
    return nlist, train_rows


def create_ivfpq_index(
    n_candidates: int,
    dim: int,
    *,
    nlist: int,
    pq_m: int | None = None,
    nprobe: int = DEFAULT_NPROBE,
) -> faiss.Index:
    """An untrained ``IVF{nlist},PQ{pq_m}`` inner-product index sized for the candidates.

    Args:
        n_candidates: M, the candidates it will hold (for the log).
        dim: Embedding width D.
        nlist: IVF lists, from ``resolve_ivf_layout``.
        pq_m: PQ sub-quantizers (must divide D); chosen from D if omitted. Memory is
            M x (pq_m + 8) bytes (codes and ids).
        nprobe: Lists visited per query.

    Raises:
        ValueError: ``pq_m`` does not divide D, or ``nprobe`` < 1.
    """
    pq_m = pq_m or _pq_subquantizers(dim)
    if dim % pq_m:
        raise ValueError(f"pq_m={pq_m} must divide the embedding width {dim}")
    if nprobe < 1:
        raise ValueError(f"--nprobe must be >= 1, got {nprobe}")
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
    index: TextIndex,
    queries: np.ndarray,
    found: np.ndarray,
    *,
    sample: int = RECALL_SAMPLE,
    seed: int = 0,
) -> float:
    """Share of sampled queries whose found candidate is as similar as exact search's best.

    ``found`` is what the search already returned (with its own ``rerank_k``), so the
    search is not run again; the exact best is computed over ``index.candidates`` in
    blocks of ``EXACT_CHUNK`` rows, with no second index (no copy of the candidates).
    Ties count as hits (``compute_recall``).

    Args:
        index: The searched index.
        queries: (Q, D) the searched queries.
        found: (Q,) similarity of each query's returned candidate (``search_text_index``).
        sample: Queries checked (all when fewer).
        seed: Seed of the sample.

    Returns:
        recall@1 in [0, 1] (1.0 for an exact index or no queries).

    Raises:
        ValueError: ``found`` is not (Q,), or ``sample`` < 1.
    """
    queries = _as_float32_matrix(queries, "query embeddings")
    found = np.asarray(found, dtype=np.float32)
    if found.shape != (len(queries),):
        raise ValueError(f"found similarities have shape {found.shape}, queries {len(queries)}")
    if sample < 1:
        raise ValueError(f"--recall-sample must be >= 1, got {sample}")
    if index.kind == "exact" or len(queries) == 0:
        return 1.0
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(queries), size=min(sample, len(queries)), replace=False))
    return compute_recall(found[pick], compute_exact_best(queries[pick], index.candidates))


def compute_exact_best(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(Q,) float32 highest inner product of each query over all candidates, blockwise.

    Args:
        queries: (Q, D) float32.
        candidates: (M, D) float32; read ``EXACT_CHUNK`` rows at a time, never copied whole.
    """
    best = np.full(len(queries), -np.inf, dtype=np.float32)
    for start in range(0, len(candidates), EXACT_CHUNK):
        block = queries @ candidates[start : start + EXACT_CHUNK].T
        np.maximum(best, block.max(axis=1), out=best)
    return best


def compute_recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of queries whose found similarity reaches the exact best (ties are hits).

    Args:
        found: (Q,) similarity of the candidate a search returned.
        exact: (Q,) similarity of the exact best candidate.
    """
    return float(np.mean(np.asarray(found) >= np.asarray(exact) - RECALL_TOLERANCE))


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


def select_class_matches(
    best_index: np.ndarray, similarity: np.ndarray, labels: np.ndarray
) -> pd.DataFrame:
    """One row per (candidate, class) pair that some query of that class chose: the
    paper's ``every-class`` rule (a caption chosen by texts of several classes stays in
    each of those classes).

    Each pair is labelled with the class's query most similar to the candidate (ties:
    the first). ``nearest`` marks the pair ``select_unique_matches`` keeps, so the
    ``nearest`` rule's rows are exactly the rows with ``nearest`` set.

    Returns:
        Rows sorted by candidate, the nearest pair first, then by similarity:
        ``select_unique_matches``' columns plus ``nearest`` (bool).
    """
    unique = select_unique_matches(best_index, similarity, labels)
    frame = pd.DataFrame(
        {
            "candidate": np.asarray(best_index),
            "query": np.arange(np.asarray(best_index).size),
            "label": np.asarray(labels),
            "similarity": np.asarray(similarity, dtype=np.float32),
        }
    )
    frame = frame[frame["candidate"] >= 0].sort_values(
        ["candidate", "similarity", "query"], ascending=[True, False, True], kind="stable"
    )
    pairs = frame.drop_duplicates(["candidate", "label"])
    pairs = pairs.merge(unique[["candidate", "n_queries", "n_labels"]], on="candidate")
    nearest = unique.set_index("candidate")["query"]
    pairs["nearest"] = pairs["query"].to_numpy() == nearest.loc[pairs["candidate"]].to_numpy()
    order = np.lexsort((-pairs["similarity"].to_numpy(), ~pairs["nearest"], pairs["candidate"]))
    return pairs.iloc[order].reset_index(drop=True)
