"""The selection lab's read: every embedded candidate, or a seeded uniform sample of them;
live, or as ``precompute metrics`` stored it."""

from __future__ import annotations

import logging

import duckdb
import numpy as np
import pandas as pd
import pytest

from laionet_core import queries, schema
from laionet_core.queries_lab import (
    LAB_MAX_CANDIDATES,
    compute_draw_cut,
    read_lab_candidates,
    read_stored_lab_candidates,
)
from laionet_core.ranking import compute_true_class_ranks
from laionet_core.settings import LAIONET_DATASET
from laionet_core.storage_selection import write_lab_candidates
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT


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


def test_the_live_order_is_by_class_then_sample_id(con) -> None:
    rows = read_lab_candidates(con, "d").rows
    keys = list(zip(rows["wnid"], rows["sample_id"], strict=True))
    assert keys == sorted(keys)


def _store(con, pool, seed: int = 0, cut: int | None = None) -> np.ndarray:
    ranks = np.arange(len(pool.rows)) % 7
    cut = compute_draw_cut(pool.embedded, LAB_MAX_CANDIDATES) if cut is None else cut
    write_lab_candidates(con, "d", pool, ranks, draw_cut=cut, draw_seed=seed)
    return ranks


def test_stored_candidates_are_the_live_rows_with_their_ranks(con) -> None:
    assert read_stored_lab_candidates(con, "d") is None  # no table yet
    live = read_lab_candidates(con, "d")
    ranks = _store(con, live)
    stored = read_stored_lab_candidates(con, "d")
    assert stored is not None
    pd.testing.assert_frame_equal(stored.rows, live.rows)
    np.testing.assert_array_equal(stored.embeddings, live.embeddings)
    np.testing.assert_array_equal(stored.true_ranks, ranks)
    assert (stored.samples, stored.embedded) == (live.samples, live.embedded)
    assert read_stored_lab_candidates(con, "other") is None  # nothing stored for it


def test_a_stored_draw_of_another_size_or_seed_is_not_used(con, caplog) -> None:
    _store(con, read_lab_candidates(con, "d"), cut=123)
    with caplog.at_level(logging.WARNING):
        assert read_stored_lab_candidates(con, "d") is None
    assert "drawn with cut 123 and seed 0" in caplog.text
    _store(con, read_lab_candidates(con, "d", seed=3), seed=3)  # replaces the rows
    assert read_stored_lab_candidates(con, "d") is None
    assert read_stored_lab_candidates(con, "d", seed=3) is not None


def test_ranks_must_be_one_per_row(con) -> None:
    pool = read_lab_candidates(con, "d")
    with pytest.raises(ValueError, match="3 true-class ranks for 200 lab candidates"):
        write_lab_candidates(con, "d", pool, np.zeros(3), draw_cut=1, draw_seed=0)


def test_metrics_store_the_demo_lab_candidates_with_true_ranks(demo_db) -> None:
    con = queries.connect(demo_db)
    stored = read_stored_lab_candidates(con, LAIONET_DATASET)
    assert stored is not None and len(stored.rows) > 0
    live = read_lab_candidates(con, LAIONET_DATASET)
    pd.testing.assert_frame_equal(stored.rows, live.rows)
    np.testing.assert_array_equal(stored.embeddings, live.embeddings)
    encoder = queries.read_dataset_info(con, LAIONET_DATASET)["encoder"]
    fmt = queries.read_meta(con).get("synset_format", DEFAULT_SYNSET_TEXT_FORMAT)
    wnids, synsets = queries.read_synset_embeddings(con, encoder, fmt)
    _, ranks = compute_true_class_ranks(live.embeddings, live.rows["wnid"], synsets, wnids)
    np.testing.assert_array_equal(stored.true_ranks, ranks)
    # Only text-selected datasets have lab candidates.
    assert read_stored_lab_candidates(con, "imagenet-val") is None


def test_stored_rows_come_back_in_stored_order_however_they_lie(con) -> None:
    live = read_lab_candidates(con, "d")
    ranks = _store(con, live)
    # Rewrite the table in reverse physical order: the read must still follow position.
    con.execute(
        f"CREATE TABLE shuffled AS SELECT * FROM {schema.LAB_CANDIDATES} ORDER BY position DESC"
    )
    con.execute(f"DELETE FROM {schema.LAB_CANDIDATES}")
    con.execute(f"INSERT INTO {schema.LAB_CANDIDATES} SELECT * FROM shuffled")
    lying = con.execute(f"SELECT position FROM {schema.LAB_CANDIDATES}").fetchall()
    assert lying[0][0] == len(live.rows) - 1  # the table really lies reversed
    stored = read_stored_lab_candidates(con, "d")
    pd.testing.assert_frame_equal(stored.rows, live.rows)
    np.testing.assert_array_equal(stored.embeddings, live.embeddings)
    np.testing.assert_array_equal(stored.true_ranks, ranks)


@pytest.mark.parametrize(
    ("recorded", "floor"),
    [
        ({"embedding_floor": "0.82"}, 0.82),
        ({"embedding_floor": "None"}, None),
        ({"embedding_floor": 0.8}, 0.8),
        ({}, None),
    ],
)
def test_the_recorded_embedding_floor(recorded, floor) -> None:
    assert queries.read_embedding_floor(recorded) == floor
