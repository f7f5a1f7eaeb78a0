"""DuckDB reads of the selection lab: the candidates it can measure, with their embeddings.

A mechanism's intra-class similarity and zero-shot recall need each kept sample's image
embedding, so the lab draws from the candidates that have one stored (a build with
``--embedding-floor`` stores them above the floor only). At LAIONet's scale (880k
embedded candidates, 1.7 GiB of float32) the lab measures a seeded uniform sample of them:
``hash(sample_id, seed)`` keeps each candidate with the same probability, so every class
keeps its share and every mechanism draws from the same rows. The page says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from laionet_core import schema
from laionet_core.queries import fetch_one

# Candidates the lab measures at most: 100k rows of 512 float32 are 200 MiB, and the
# four mechanisms take about a second in all on 2 cores (1,000 classes, 100 rows each).
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


@dataclass(frozen=True)
class LabCandidates:
    """The candidates the lab measures, row-aligned with their embeddings.

    Attributes:
        rows: sample_id, wnid, text_similarity, image_similarity, nsfw, filtered,
            multi_label.
        embeddings: (N, D) float32 image embeddings, row-aligned with ``rows``.
        samples: Samples of the dataset.
        embedded: Of them, those with a stored image embedding.
    """

    rows: pd.DataFrame
    embeddings: np.ndarray
    samples: int
    embedded: int

    @property
    def sampled(self) -> bool:
        """True when the lab measures a sample of the embedded candidates, not all."""
        return len(self.rows) < self.embedded


def read_lab_candidates(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    *,
    max_rows: int = LAB_MAX_CANDIDATES,
    seed: int = 0,
) -> LabCandidates:
    """The embedded candidates of ``dataset``; a seeded uniform sample of about
    ``max_rows`` of them when there are more.

    Raises:
        ValueError: ``max_rows`` is not positive.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be positive, got {max_rows}")
    samples, embedded = fetch_one(
        con,
        f"SELECT (SELECT count(*) FROM {schema.SAMPLES} WHERE dataset = $dataset), "
        f"(SELECT count(*) FROM {schema.IMAGE_EMBEDDINGS} WHERE dataset = $dataset)",
        {"dataset": dataset},
    ) or (0, 0)
    rate = 1.0 if embedded <= max_rows else max_rows / embedded
    arrow = con.sql(
        LAB_CANDIDATES_SQL,
        params={"dataset": dataset, "seed": seed, "cut": int(np.ceil(rate * HASH_BUCKETS))},
    ).to_arrow_table()
    # A fixed order (the join's is not): by class, then sample id; sorted in Arrow.
    arrow = arrow.sort_by([("wnid", "ascending"), ("sample_id", "ascending")])
    rows = arrow.drop_columns(["embedding"]).to_pandas()
    column = arrow.column("embedding").combine_chunks()
    if len(column) == 0:
        return LabCandidates(rows, np.zeros((0, 0), np.float32), int(samples), int(embedded))
    values = column.flatten().to_numpy().astype(np.float32, copy=False)
    values = values.reshape(len(column), -1)
    return LabCandidates(rows, values, int(samples), int(embedded))
