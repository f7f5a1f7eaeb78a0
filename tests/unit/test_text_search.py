"""FAISS nearest-caption search against a numpy brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest

from precompute.text_match.search import (
    build_text_index,
    compute_recall_at_1,
    search_text_index,
)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _clustered(n: int, dim: int, clusters: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return _unit(centres[rng.integers(0, clusters, n)] + noise * rng.normal(size=(n, dim)))


def test_exact_search_equals_numpy_argmax():
    rng = np.random.default_rng(0)
    candidates = _unit(rng.normal(size=(500, 16)))
    queries = _unit(rng.normal(size=(60, 16)))
    best, sims = search_text_index(build_text_index(candidates, kind="exact"), queries)
    oracle = queries @ candidates.T
    np.testing.assert_array_equal(best, oracle.argmax(axis=1))
    np.testing.assert_allclose(sims, oracle.max(axis=1), atol=1e-6)


def test_unknown_index_kind_is_refused():
    with pytest.raises(ValueError, match="allowed: auto, exact, ivfpq"):
        build_text_index(_unit(np.ones((3, 4))), kind="hnsw")


def test_ivfpq_recall_on_clustered_set_and_exact_similarities():
    candidates = _clustered(20_000, 32, clusters=200, noise=0.35, seed=1)
    rng = np.random.default_rng(2)
    queries = _unit(candidates[rng.choice(len(candidates), 500)] + 0.2 * rng.normal(size=(500, 32)))
    index = build_text_index(candidates, kind="ivfpq", nlist=128, nprobe=16)
    assert index.kind == "ivfpq"
    best, sims = search_text_index(index, queries)
    recall = compute_recall_at_1(index, queries, sims, sample=500)
    print(f"IVF-PQ recall@1 = {recall:.3f}")
    assert recall >= 0.9
    np.testing.assert_allclose(sims, np.einsum("qd,qd->q", queries, candidates[best]), atol=1e-5)
    oracle = queries @ candidates.T
    assert np.mean(best == oracle.argmax(axis=1)) == pytest.approx(recall, abs=0.05)


def test_ivfpq_refuses_too_few_candidates():
    with pytest.raises(ValueError, match="lower --nlist or use --index exact"):
        build_text_index(_clustered(300, 16, 4, 0.1, 0), kind="ivfpq")
