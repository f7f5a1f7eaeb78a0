"""Build memory is bounded by a chunk: chunked scoring and assembly give the same database.

The oracle is the same build with chunks larger than any part, and a naive per-pair loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import precompute.build.assemble as assemble
import precompute.build.scoring as scoring
from precompute.build.assemble import iter_thumbnail_chunks
from precompute.build.scoring import compute_pair_similarities, compute_row_similarities
from precompute.cli import main as precompute_main
from tests.db_content import assert_same_content
from tests.laion_corpus import write_laion_corpus


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_chunked_pair_scores_match_a_naive_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    synsets = _unit(rng.normal(size=(9, 16))).astype(np.float32)
    text = _unit(rng.normal(size=(23, 16))).astype(np.float16)
    counts = rng.integers(1, 4, size=23)
    classes = rng.integers(0, 9, size=int(counts.sum()))
    naive = []
    pair = 0
    for row, count in enumerate(counts):
        for _ in range(count):
            naive.append(float(text[row].astype(np.float32) @ synsets[classes[pair]]))
            pair += 1
    monkeypatch.setattr(scoring, "SCORE_CHUNK_ROWS", 4)
    got = compute_pair_similarities(text, counts, classes, synsets)
    np.testing.assert_allclose(got, naive, rtol=1e-6, atol=1e-6)
    rows = compute_row_similarities(text, classes[:23], synsets)
    expected = [float(text[i].astype(np.float32) @ synsets[classes[i]]) for i in range(23)]
    np.testing.assert_allclose(rows, expected, rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_laion_corpus(
        tmp_path_factory.mktemp("chunks") / "corpus", parts=3, rows_per_part=50
    )


@pytest.mark.parametrize("floor", [None, "0.2"])
def test_small_chunks_build_the_same_database(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, floor: str | None
) -> None:
    extra = ["--workers", "1"] + (["--embedding-floor", floor] if floor else [])
    whole = tmp_path / "whole.duckdb"
    build = ["build", "--corpus", str(corpus)]
    assert precompute_main([*build, "--db", str(whole), *extra]) == 0
    monkeypatch.setattr(scoring, "SCORE_CHUNK_ROWS", 3)
    monkeypatch.setattr(assemble, "ASSEMBLY_CHUNK_ROWS", 7)
    chunked = tmp_path / "chunked.duckdb"
    work = ["--work", str(tmp_path / "chunked.work")]
    assert precompute_main([*build, "--db", str(chunked), *work, *extra]) == 0
    assert_same_content(chunked, whole)


def test_thumbnail_chunks_follow_the_rows_across_row_groups(tmp_path: Path) -> None:
    rows = [("image/jpeg", bytes([i])) if i % 3 else None for i in range(17)]
    table = pa.table(
        {
            "mime": pa.array([r[0] if r else None for r in rows], pa.string()),
            "data": pa.array([r[1] if r else None for r in rows], pa.binary()),
        }
    )
    path = tmp_path / "thumbnails.parquet"
    pq.write_table(table, path, row_group_size=5)
    chunks = list(iter_thumbnail_chunks(path, 4))
    assert [len(c) for c in chunks] == [4, 4, 4, 4, 1]
    assert [t for c in chunks for t in c] == rows
