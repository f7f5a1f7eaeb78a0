"""DuckDB reads of the selection lab: the candidates it can measure, with their embeddings.

A mechanism's intra-class similarity and zero-shot recall need each kept sample's image
embedding, so the lab draws from the candidates that have one stored (a build with
``--embedding-floor`` stores them above the floor only). At LAIONet's scale (880k
embedded candidates, 1.7 GiB of float32) the lab measures a seeded uniform sample of them:
``hash(sample_id, seed)`` keeps each candidate with the same probability, so every class
keeps its share and every mechanism draws from the same rows. The page says so.

``precompute metrics`` stores that draw with each row's true-class rank
(``lab_candidates``, written by ``storage_selection.write_lab_candidates``);
``read_stored_lab_candidates`` reads it back, and ``read_lab_candidates`` draws live
(a join over every sample of the dataset) where it is missing or stale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow.compute as pc

from laionet_core import schema
from laionet_core.queries import fetch_one
from laionet_core.queries_stats import has_table, split_embeddings

logger = logging.getLogger(__name__)

# Candidates the lab measures at most: 100k rows of 512 float32 are 200 MiB, and the
# four mechanisms take about 0.3 s in all on 2 cores (1,000 classes, 100 rows each).
LAB_MAX_CANDIDATES = 100_000
# Resolution of the uniform draw: a candidate is kept when its hash falls below
# ``rate * HASH_BUCKETS``.
HASH_BUCKETS = 1_000_000

LAB_CANDIDATES_SQL = f"""
SELECT s.sample_id, s.wnid, s.text_similarity, s.image_similarity, s.nsfw, s.filtered,
       s.multi_label, e.embedding
FROM {schema.IMAGE_EMBEDDINGS} e JOIN {schema.SAMPLES} s USING (dataset, sample_id)
WHERE e.dataset = $dataset AND hash(e.sample_id, $seed) % {HASH_BUCKETS} < $cut
  -- the same draw on the samples side halves the time: fewer rows reach the join
  AND s.dataset = $dataset AND hash(s.sample_id, $seed) % {HASH_BUCKETS} < $cut
"""
# Columns of ``lab_candidates`` read back, in the live read's order (then the rank).
STORED_COLUMNS = (
    "sample_id",
    "wnid",
    "text_similarity",
    "image_similarity",
    "nsfw",
    "filtered",
    "multi_label",
    "embedding",
    "true_rank",
    "position",
)


@dataclass(frozen=True)
class LabCandidates:
    """The candidates the lab measures, row-aligned with their embeddings.

    Attributes:
        rows: sample_id, wnid, text_similarity, image_similarity, nsfw, filtered,
            multi_label.
        embeddings: (N, D) float32 image embeddings, row-aligned with ``rows``.
        samples: Samples of the dataset.
        embedded: Of them, those with a stored image embedding.
        true_ranks: (N,) each row's true-class rank among the class texts when stored
            (``lab_candidates``); None when read live.
    """

    rows: pd.DataFrame
    embeddings: np.ndarray
    samples: int
    embedded: int
    true_ranks: np.ndarray | None = None

    @property
    def sampled(self) -> bool:
        """True when the lab measures a sample of the embedded candidates, not all."""
        return len(self.rows) < self.embedded


def _count(con: duckdb.DuckDBPyConnection, dataset: str) -> tuple[int, int]:
    """(samples, embedded samples) of ``dataset``."""
    samples, embedded = fetch_one(
        con,
        f"SELECT (SELECT count(*) FROM {schema.SAMPLES} WHERE dataset = $dataset), "
        f"(SELECT count(*) FROM {schema.IMAGE_EMBEDDINGS} WHERE dataset = $dataset)",
        {"dataset": dataset},
    ) or (0, 0)
    return int(samples), int(embedded)


def compute_draw_cut(embedded: int, max_rows: int) -> int:
    """Hash bucket below which a candidate is drawn: all of them up to ``max_rows``.

    Raises:
        ValueError: ``max_rows`` is not positive.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be positive, got {max_rows}")
    rate = 1.0 if embedded <= max_rows else max_rows / embedded
    return int(np.ceil(rate * HASH_BUCKETS))


def read_lab_candidates(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    *,
    max_rows: int = LAB_MAX_CANDIDATES,
    seed: int = 0,
) -> LabCandidates:
    """The embedded candidates of ``dataset``; a seeded uniform sample of about
    ``max_rows`` of them when there are more. Read live, by a join over the samples.

    Raises:
        ValueError: ``max_rows`` is not positive.
    """
    samples, embedded = _count(con, dataset)
    cut = compute_draw_cut(embedded, max_rows)
    arrow = con.sql(
        LAB_CANDIDATES_SQL, params={"dataset": dataset, "seed": seed, "cut": cut}
    ).to_arrow_table()
    # A fixed order (the join's is not): by class, then sample id. The order is found on
    # the two id columns alone; moving the embeddings once in numpy is cheaper than
    # sorting the whole table in Arrow (0.6 s at 100k rows).
    order = pc.sort_indices(
        arrow.select(["wnid", "sample_id"]),
        sort_keys=[("wnid", "ascending"), ("sample_id", "ascending")],
    ).to_numpy()
    rows, values = split_embeddings(arrow)
    rows = rows.take(order).reset_index(drop=True)
    values = values[order] if len(order) else values
    return LabCandidates(rows, values, samples, embedded)


def read_stored_lab_candidates(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    *,
    max_rows: int = LAB_MAX_CANDIDATES,
    seed: int = 0,
) -> LabCandidates | None:
    """The candidates ``precompute metrics`` stored in ``lab_candidates``, with their
    true-class ranks: the rows ``read_lab_candidates`` reads, in its order.

    Returns:
        None when the database stores none for ``dataset``, or when the stored draw is
        not the one asked for (another size or seed, or embeddings added since): the
        caller reads live, and the log says why.
    """
    if not has_table(con, schema.LAB_CANDIDATES):
        return None
    samples, embedded = _count(con, dataset)
    cut = compute_draw_cut(embedded, max_rows)
    stored = fetch_one(
        con,
        f"SELECT count(*), min(draw_cut), max(draw_cut), min(draw_seed), max(draw_seed) "
        f"FROM {schema.LAB_CANDIDATES} WHERE dataset = $dataset",
        {"dataset": dataset},
    )
    if not stored or not stored[0]:
        return None
    if stored[1:] != (cut, cut, seed, seed):
        logger.warning(
            "%s: the stored lab candidates were drawn with cut %s and seed %s, not %s and %s; "
            "reading them live (run `python -m precompute metrics` to store them again)",
            dataset,
            stored[1],
            stored[3],
            cut,
            seed,
        )
        return None
    arrow = con.sql(
        f"SELECT {', '.join(STORED_COLUMNS)} FROM {schema.LAB_CANDIDATES} "
        "WHERE dataset = $dataset",  # in stored order as a rule; put right below if not
        params={"dataset": dataset},
    ).to_arrow_table()
    rows, values = split_embeddings(arrow)
    position = rows.pop("position").to_numpy()
    if (np.diff(position) < 0).any():  # ORDER BY in SQL costs more than this
        order = np.argsort(position, kind="stable")
        rows, values = rows.take(order).reset_index(drop=True), values[order]
    ranks = rows.pop("true_rank").to_numpy(np.int64)
    ranks.setflags(write=False)
    return LabCandidates(rows, values, samples, embedded, true_ranks=ranks)
