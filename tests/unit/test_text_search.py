"""FAISS nearest-caption search against a numpy brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest

from precompute.text_search import (
    build_text_index,
    compute_recall_at_1,
    search_text_index,
    select_text_matched,
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


def test_select_text_matched_threshold_and_labels_hand_checkable():
    candidates = _unit(np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], float))
    queries = _unit(np.array([[1, 0.1, 0, 0], [0, 0, 0, 1], [0.5, 1, 1, 0]], float))
    result = select_text_matched(queries, ["n1", "n2", "n3"], candidates, threshold=0.7)
    assert result.best_index[0] == 0 and result.best_index[2] in (1, 2)
    assert result.kept.tolist() == [True, False, False]  # 0.995 kept; 0.0 and 0.667 not
    assert result.labels.tolist() == ["n1", "n2", "n3"]
    assert result.index_kind == "exact" and result.recall_at_1 == 1.0
    strict = select_text_matched(queries, ["n1", "n2", "n3"], candidates, threshold=0.999)
    assert not strict.kept.any()


def test_select_text_matched_validates_lengths():
    x = _unit(np.ones((3, 4)))
    with pytest.raises(ValueError, match="2 query labels for 3 queries"):
        select_text_matched(x, ["a", "b"], x)
    with pytest.raises(ValueError, match="allowed: auto, exact, ivfpq"):
        build_text_index(x, kind="hnsw")


def test_ivfpq_recall_on_clustered_set_and_exact_similarities():
    candidates = _clustered(20_000, 32, clusters=200, noise=0.35, seed=1)
    rng = np.random.default_rng(2)
    queries = _unit(candidates[rng.choice(len(candidates), 500)] + 0.2 * rng.normal(size=(500, 32)))
    index = build_text_index(candidates, kind="ivfpq", nlist=128, nprobe=16)
    assert index.kind == "ivfpq"
    recall = compute_recall_at_1(index, queries, sample=500)
    print(f"IVF-PQ recall@1 = {recall:.3f}")
    assert recall >= 0.9
    best, sims = search_text_index(index, queries)
    np.testing.assert_allclose(sims, np.einsum("qd,qd->q", queries, candidates[best]), atol=1e-5)
    oracle = queries @ candidates.T
    assert np.mean(best == oracle.argmax(axis=1)) == pytest.approx(recall, abs=0.05)
    result = select_text_matched(queries, np.arange(500), candidates, index=index)
    assert result.index_kind == "ivfpq" and result.recall_at_1 == pytest.approx(recall)


def test_ivfpq_refuses_too_few_candidates():
    with pytest.raises(ValueError, match="use kind='exact'"):
        build_text_index(_clustered(300, 16, 4, 0.1, 0), kind="ivfpq")
