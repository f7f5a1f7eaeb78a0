"""DuckDB reads of the class browser: band counts, the 2-D similarity grid, and bounded
searches of classes and captions.

Every value reaches SQL as a bound parameter; identifiers come only from ``schema``.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from laionet_core import schema
from laionet_core.queries import SELECTION_WHERE, selection_sql_params
from laionet_core.selection import SelectionParams

# Band b of (low, high] cut in n equal bands holds low + b*step < x <= low + (b+1)*step.
_BAND = (
    "least(greatest(ceil((s.{column} - ${prefix}low) / ${prefix}step)::INTEGER - 1, 0), "
    "${prefix}n - 1)"
)

BAND_COUNTS_SQL = f"""
SELECT {_BAND.format(column="text_similarity", prefix="")} AS band,
       count(*) AS candidates, count(*) FILTER (WHERE {SELECTION_WHERE}) AS selected
FROM {schema.SAMPLES} s
WHERE s.dataset = $dataset AND s.wnid = $wnid
  AND s.text_similarity > $low AND s.text_similarity <= $high
GROUP BY band ORDER BY band
"""

SIMILARITY_GRID_SQL = f"""
SELECT {_BAND.format(column="text_similarity", prefix="t_")} AS text_band,
       {_BAND.format(column="image_similarity", prefix="i_")} AS image_band,
       count(*) AS samples
FROM {schema.SAMPLES} s
WHERE s.dataset = $dataset AND s.wnid = $wnid
  AND s.text_similarity > $t_low AND s.text_similarity <= $t_high
  AND s.image_similarity > $i_low AND s.image_similarity <= $i_high
GROUP BY text_band, image_band
"""

SAMPLES_IN_CELL_SQL = f"""
SELECT s.sample_id, s.url, s.text, s.wnid, s.text_similarity, s.image_similarity,
       s.nsfw, s.filtered, s.multi_label, s.thumbnail_id
FROM {schema.SAMPLES} s
WHERE s.dataset = $dataset AND s.wnid = $wnid
  AND s.text_similarity > $t_low AND s.text_similarity <= $t_high
  AND s.image_similarity > $i_low AND s.image_similarity <= $i_high
ORDER BY hash(s.sample_id, $seed)
LIMIT $limit
"""

SEARCH_CLASSES_SQL = f"""
SELECT c.wnid, c.name, c.lemmas FROM {schema.CLASSES} c
WHERE contains(lower(c.wnid), $query) OR contains(lower(c.name), $query)
   OR len(list_filter(c.lemmas, lambda l: contains(lower(l), $query))) > 0
ORDER BY (lower(c.name) = $query) DESC, c.class_index
LIMIT $limit
"""

# The scan bound applies before the words are matched, so a query never reads more rows.
SEARCH_CAPTIONS_SQL = f"""
WITH scanned AS (
    SELECT s.sample_id, s.text, s.wnid, s.text_similarity, s.image_similarity, s.nsfw,
           s.filtered, s.multi_label
    FROM {schema.SAMPLES} s
    WHERE s.dataset = $dataset AND ($wnid IS NULL OR s.wnid = $wnid) AND s.text IS NOT NULL
    LIMIT $scan
)
SELECT * FROM scanned
WHERE len(list_filter($words, lambda w: NOT contains(lower(text), w))) = 0
ORDER BY sample_id
LIMIT $limit
"""
# Bounds of a caption search: words per query, characters per word.
MAX_SEARCH_WORDS = 8
MAX_SEARCH_WORD_CHARS = 64


def _band_params(prefix: str, low: float, high: float, n: int) -> dict:
    if not (high > low and n >= 1):
        raise ValueError(f"bands need high > low and n >= 1, got ({low}, {high}] in {n}")
    return {
        f"{prefix}low": low,
        f"{prefix}high": high,
        f"{prefix}n": n,
        f"{prefix}step": (high - low) / n,
    }


def read_band_counts(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    wnid: str,
    params: SelectionParams,
    *,
    low: float,
    high: float,
    n: int,
) -> pd.DataFrame:
    """Candidates and selected samples of one class in each of ``n`` equal bands of
    ``(low, high]`` of text similarity.

    Returns:
        One row per band 0..n-1 (lowest first): ``band``, ``candidates``, ``selected``.
    """
    found = con.execute(
        BAND_COUNTS_SQL,
        {**selection_sql_params(dataset, params), "wnid": wnid, **_band_params("", low, high, n)},
    ).df()
    bands = pd.DataFrame({"band": np.arange(n)})
    return bands.merge(found, on="band", how="left").fillna(0).astype("int64")


def read_similarity_grid(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    wnid: str,
    *,
    text_bands: tuple[float, float, int],
    image_bands: tuple[float, float, int],
) -> pd.DataFrame:
    """Samples of one class per (caption-to-synset, image-to-synset) similarity band.

    Args:
        con: Connection.
        dataset: Dataset name.
        wnid: Class.
        text_bands: ``(low, high, n)``: n equal bands of ``(low, high]``.
        image_bands: The same for image-to-synset similarity.

    Returns:
        Every cell: ``text_band``, ``image_band``, ``text_low``, ``text_high``,
        ``image_low``, ``image_high``, ``samples`` (0 for empty cells).
    """
    values = {
        "dataset": dataset,
        "wnid": wnid,
        **_band_params("t_", *text_bands),
        **_band_params("i_", *image_bands),
    }
    found = con.execute(SIMILARITY_GRID_SQL, values).df()
    cells = pd.MultiIndex.from_product(
        [range(text_bands[2]), range(image_bands[2])], names=["text_band", "image_band"]
    ).to_frame(index=False)
    grid = cells.merge(found, on=["text_band", "image_band"], how="left").fillna(0)
    for axis, (low, high, n) in (("text", text_bands), ("image", image_bands)):
        step = (high - low) / n
        grid[f"{axis}_low"] = low + grid[f"{axis}_band"] * step
        grid[f"{axis}_high"] = low + (grid[f"{axis}_band"] + 1) * step
    return grid.astype({"samples": "int64", "text_band": "int64", "image_band": "int64"})


def read_samples_in_cell(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    wnid: str,
    *,
    text_range: tuple[float, float],
    image_range: tuple[float, float],
    limit: int = 12,
    seed: int = 0,
) -> pd.DataFrame:
    """A reproducible random sample of one class in one cell of the similarity grid."""
    return con.execute(
        SAMPLES_IN_CELL_SQL,
        {
            "dataset": dataset,
            "wnid": wnid,
            "t_low": text_range[0],
            "t_high": text_range[1],
            "i_low": image_range[0],
            "i_high": image_range[1],
            "limit": limit,
            "seed": seed,
        },
    ).df()


def search_classes(con: duckdb.DuckDBPyConnection, query: str, *, limit: int = 50) -> pd.DataFrame:
    """Classes whose wnid, name or a lemma contains ``query`` (case-insensitive).

    Returns:
        ``wnid``, ``name``, ``lemmas``; an exact name first, then in class order.
    """
    return con.execute(
        SEARCH_CLASSES_SQL, {"query": query.strip().lower(), "limit": int(limit)}
    ).df()


def split_search_words(query: str) -> list[str]:
    """The lower-cased words of a caption search.

    Raises:
        ValueError: no word, more than ``MAX_SEARCH_WORDS`` words, or a word longer
            than ``MAX_SEARCH_WORD_CHARS`` characters.
    """
    words = query.lower().split()
    if not words:
        raise ValueError("the caption search has no word")
    if len(words) > MAX_SEARCH_WORDS:
        raise ValueError(f"the caption search has {len(words)} words; at most {MAX_SEARCH_WORDS}")
    long = [w for w in words if len(w) > MAX_SEARCH_WORD_CHARS]
    if long:
        raise ValueError(f"the word {long[0][:20]!r}... is over {MAX_SEARCH_WORD_CHARS} characters")
    return words


def search_captions(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    query: str,
    *,
    wnid: str | None = None,
    scan: int = 200_000,
    limit: int = 50,
) -> pd.DataFrame:
    """Captions of ``dataset`` (or of one class) that contain every word of ``query``.

    Args:
        con: Connection.
        dataset: Dataset searched.
        query: Words, matched as case-insensitive substrings (no pattern syntax).
        wnid: Search one class only, or None for the whole dataset.
        scan: Rows read at most, before matching.
        limit: Rows returned at most.

    Raises:
        ValueError: see ``split_search_words``.
    """
    values = {
        "dataset": dataset,
        "wnid": wnid,
        "words": split_search_words(query),
        "scan": int(scan),
        "limit": int(limit),
    }
    return con.execute(SEARCH_CAPTIONS_SQL, values).df()
