"""Database content as sorted frames, for tests that compare two builds table by table.

Other tests import it as ``from tests.db_content import ...``. Thumbnails are compared
through the sample they belong to, so their ids may differ; ``created`` is left out.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

# Table -> the SQL that reads it in a canonical order (no ids that depend on order).
CONTENT_QUERIES = {
    "classes": "SELECT * FROM classes ORDER BY wnid",
    "datasets": "SELECT dataset, kind, source, encoder, simulated FROM datasets ORDER BY 1",
    "samples": "SELECT * EXCLUDE (thumbnail_id) FROM samples ORDER BY dataset, sample_id",
    "candidates": "SELECT * FROM candidates ORDER BY dataset, sample_id, wnid",
    "thumbnails": "SELECT s.dataset, s.sample_id, t.mime, t.data FROM samples s "
    "JOIN thumbnails t USING (thumbnail_id) ORDER BY 1, 2",
    "image_embeddings": "SELECT * FROM image_embeddings ORDER BY dataset, sample_id",
    "text_embeddings": "SELECT * FROM text_embeddings ORDER BY dataset, sample_id",
    "synset_embeddings": "SELECT * FROM synset_embeddings ORDER BY encoder, wnid",
    "similarity_histograms": "SELECT * FROM similarity_histograms "
    "ORDER BY dataset, wnid, filtered, multi_label, bin",
    "rejected": "SELECT * FROM rejected ORDER BY dataset, source, sample_id",
}


def read_database_content(path: Path) -> dict[str, pd.DataFrame]:
    """Every content table of a database, sorted (see ``CONTENT_QUERIES``)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {name: con.sql(sql).df() for name, sql in CONTENT_QUERIES.items()}
    finally:
        con.close()


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = [
                tuple(np.asarray(v).tolist()) if isinstance(v, list | np.ndarray) else v
                for v in out[column]
            ]
    return out


def assert_same_content(a: Path, b: Path) -> None:
    """Assert that two databases hold the same rows in every content table."""
    left, right = read_database_content(a), read_database_content(b)
    for name in CONTENT_QUERIES:
        pd.testing.assert_frame_equal(
            _normalise(left[name]), _normalise(right[name]), obj=f"table {name}"
        )
