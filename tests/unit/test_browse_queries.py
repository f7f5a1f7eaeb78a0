"""Class-browser reads on a tiny in-memory database: band counts and the 2-D grid
against a brute-force count, class search by lemma, bounded caption search."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from laionet_core import browse_queries, schema
from laionet_core.selection import SelectionParams


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(schema.DDL)
    con.execute(
        "INSERT INTO classes VALUES ('n1', 0, 'cougar', ['cougar', 'puma'], 'a cat', 'cougar'),"
        "('n2', 1, 'tench', ['tench', 'Tinca tinca'], 'a fish', 'tench')"
    )
    rng = np.random.default_rng(0)
    n = 300
    samples = pd.DataFrame(
        {
            "dataset": "d",
            "sample_id": [f"s{i:03d}" for i in range(n)],
            "url": None,
            "text": [
                f"caption {i} 50%_off Puma" if i % 7 == 0 else f"caption {i}" for i in range(n)
            ],
            "wnid": rng.choice(["n1", "n2"], size=n),
            "matched_wnids": [["n1"]] * n,
            "multi_label": rng.random(n) < 0.2,
            "text_similarity": np.round(rng.uniform(0.4, 1.0, n), 3).astype(np.float32),
            "image_similarity": np.round(rng.uniform(0.0, 1.0, n), 3).astype(np.float32),
            "nsfw": rng.choice(["UNLIKELY", "NSFW"], size=n, p=[0.9, 0.1]),
            "thumbnail_id": None,
        }
    )
    samples["filtered"] = samples["nsfw"] == "NSFW"  # the content rules' verdict
    con.register("new_samples", samples)
    con.execute("INSERT INTO samples BY NAME SELECT * FROM new_samples")
    return con


def _samples(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.sql("SELECT * FROM samples WHERE wnid = 'n1'").df()


def _band(values: pd.Series, low: float, high: float, n: int) -> pd.Series:
    """Brute-force band of each value: the b with low + b*step < x <= low + (b+1)*step."""
    step = (high - low) / n
    return pd.Series(
        [next(b for b in range(n) if x <= low + (b + 1) * step) for x in values], index=values.index
    )


def test_band_counts_match_a_brute_force_count(con: duckdb.DuckDBPyConnection) -> None:
    params = SelectionParams(threshold=0.7)
    counts = browse_queries.read_band_counts(con, "d", "n1", params, low=0.5, high=1.0, n=4)
    s = _samples(con)
    s = s[(s["text_similarity"] > 0.5) & (s["text_similarity"] <= 1.0)]
    band = _band(s["text_similarity"].astype(float), 0.5, 1.0, 4)
    kept = (s["text_similarity"] > 0.7) & ~s["filtered"] & ~s["multi_label"]
    assert counts["band"].tolist() == [0, 1, 2, 3]
    assert counts["candidates"].tolist() == [int((band == b).sum()) for b in range(4)]
    assert counts["selected"].tolist() == [int((kept & (band == b)).sum()) for b in range(4)]


def test_grid_counts_match_a_brute_force_count(con: duckdb.DuckDBPyConnection) -> None:
    grid = browse_queries.read_similarity_grid(
        con, "d", "n1", text_bands=(0.4, 1.0, 3), image_bands=(0.0, 1.0, 4)
    )
    assert len(grid) == 12  # every cell, empty ones as 0
    s = _samples(con)
    s = s[(s["text_similarity"] > 0.4) & (s["image_similarity"] > 0.0)]
    t = _band(s["text_similarity"].astype(float), 0.4, 1.0, 3)
    i = _band(s["image_similarity"].astype(float), 0.0, 1.0, 4)
    for cell in grid.itertuples():
        assert cell.samples == int(((t == cell.text_band) & (i == cell.image_band)).sum())
        shown = browse_queries.read_samples_in_cell(
            con,
            "d",
            "n1",
            text_range=(cell.text_low, cell.text_high),
            image_range=(cell.image_low, cell.image_high),
            limit=1000,
        )
        assert len(shown) == cell.samples


def test_class_search_finds_names_lemmas_and_wnids(con: duckdb.DuckDBPyConnection) -> None:
    assert browse_queries.search_classes(con, "PUMA")["wnid"].tolist() == ["n1"]
    assert browse_queries.search_classes(con, "tinca")["wnid"].tolist() == ["n2"]
    assert browse_queries.search_classes(con, "n2")["wnid"].tolist() == ["n2"]
    assert browse_queries.search_classes(con, "zebra").empty


def test_caption_search_is_bounded_and_literal(con: duckdb.DuckDBPyConnection) -> None:
    every = con.sql("SELECT text, wnid FROM samples ORDER BY sample_id").df()
    expected = every[every["text"].str.lower().str.contains("50%_off", regex=False)]
    found = browse_queries.search_captions(con, "d", "50%_OFF puma", limit=1000)
    assert len(found) == len(expected) > 0  # % and _ are plain characters, words ANDed
    assert browse_queries.search_captions(con, "d", "50%_off", limit=3).shape[0] == 3
    in_class = browse_queries.search_captions(con, "d", "puma", wnid="n2", limit=1000)
    assert (in_class["wnid"] == "n2").all() and len(in_class) < len(found)
    # Only the first `scan` rows are read, whatever they hold.
    assert len(browse_queries.search_captions(con, "d", "puma", scan=1, limit=1000)) <= 1


@pytest.mark.parametrize(
    ("query", "message"),
    [("   ", "no word"), ("a " * 9, "at most 8"), ("x" * 65, "over 64 characters")],
)
def test_caption_search_names_a_bad_query(
    con: duckdb.DuckDBPyConnection, query: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        browse_queries.search_captions(con, "d", query)
