"""The selection lab's read: every embedded candidate, or a seeded uniform sample of them."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from laionet_core import schema
from laionet_core.queries_lab import read_lab_candidates


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(schema.DDL)
    rng = np.random.default_rng(0)
    for i in range(400):
        wnid = f"n{(i // 2) % 4:02d}"
        con.execute(
            f"INSERT INTO {schema.SAMPLES} (dataset, sample_id, wnid, matched_wnids, "
            "multi_label, text_similarity, image_similarity, nsfw) VALUES "
            "('d', ?, ?, [?], false, ?, ?, 'UNLIKELY')",
            [f"s{i}", wnid, wnid, float(rng.random()), float(rng.random())],
        )
        if i % 2 == 0:  # half the samples have an image embedding
            con.execute(
                f"INSERT INTO {schema.IMAGE_EMBEDDINGS} VALUES ('d', ?, ?)",
                [f"s{i}", [float(i), 1.0, -float(i)]],
            )
    return con


def test_every_embedded_candidate_row_aligned(con) -> None:
    pool = read_lab_candidates(con, "d")
    assert (pool.samples, pool.embedded, len(pool.rows)) == (400, 200, 200)
    assert not pool.sampled
    ids = pool.rows["sample_id"].str.removeprefix("s").astype(int).to_numpy()
    assert sorted(ids) == list(range(0, 400, 2))
    np.testing.assert_array_equal(pool.embeddings[:, 0], ids)  # embedding i belongs to s<i>
    assert pool.rows["wnid"].is_monotonic_increasing


def test_a_seeded_uniform_sample_beyond_the_cap(con) -> None:
    pool = read_lab_candidates(con, "d", max_rows=50, seed=1)
    again = read_lab_candidates(con, "d", max_rows=50, seed=1)
    other = read_lab_candidates(con, "d", max_rows=50, seed=2)
    assert pool.sampled and 25 <= len(pool.rows) <= 80
    assert pool.rows["sample_id"].tolist() == again.rows["sample_id"].tolist()
    assert set(pool.rows["sample_id"]) != set(other.rows["sample_id"])
    ids = pool.rows["sample_id"].str.removeprefix("s").astype(int).to_numpy()
    np.testing.assert_array_equal(pool.embeddings[:, 0], ids)
    assert set(pool.rows["wnid"]) == {"n00", "n01", "n02", "n03"}
    with pytest.raises(ValueError, match="max_rows must be positive, got 0"):
        read_lab_candidates(con, "d", max_rows=0)


def test_a_dataset_without_embeddings_gives_an_empty_pool(con) -> None:
    pool = read_lab_candidates(con, "no-such-dataset")
    assert (pool.samples, pool.embedded, len(pool.rows)) == (0, 0, 0)
    assert pool.embeddings.shape == (0, 0) and not pool.sampled
