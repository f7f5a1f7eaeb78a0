"""Low-level DuckDB inserts from Arrow and pandas, shared by the writers in ``storage``.

Rows travel as Arrow tables registered as a view and inserted with one
``INSERT ... SELECT``, so no row goes through Python. Embeddings become Arrow list
arrays of float32 (DuckDB ``FLOAT[]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from laionet_core import schema
from laionet_core.queries import fetch_one


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    """Insert ``data``'s columns into ``table`` (a name from ``schema``)."""
    view = f"_incoming_{table}"
    con.register(view, data)
    try:
        names = ", ".join(data.column_names)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {view}")
    finally:
        con.unregister(view)


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Insert a pandas frame's columns into ``table`` (the index is dropped)."""
    insert_arrow(con, table, pa.Table.from_pandas(frame, preserve_index=False))


def build_embedding_array(embeddings: np.ndarray) -> pa.Array:
    """(N, D) embeddings as an Arrow list array of N float32 lists of length D."""
    flat = np.ascontiguousarray(embeddings, dtype=np.float32)
    values = pa.array(flat.reshape(-1))
    return pa.ListArray.from_arrays(
        pa.array(np.arange(0, flat.size + 1, max(flat.shape[1], 1), dtype=np.int32)), values
    )


def write_thumbnails(
    con: duckdb.DuckDBPyConnection, thumbnails: Sequence[tuple[str, bytes] | None]
) -> list[int | None]:
    """Insert thumbnails after the highest id in use.

    Args:
        thumbnails: N ``(mime, bytes)`` or None.

    Returns:
        N thumbnail ids (None where there is no thumbnail).
    """
    query = f"SELECT COALESCE(MAX(thumbnail_id), -1) + 1 FROM {schema.THUMBNAILS}"
    start = fetch_one(con, query)[0]
    ids: list[int | None] = []
    rows_id, rows_mime, rows_data = [], [], []
    for item in thumbnails:
        if item is None:
            ids.append(None)
            continue
        mime, data = item
        ids.append(start + len(rows_id))
        rows_id.append(ids[-1])
        rows_mime.append(mime)
        rows_data.append(data)
    if rows_id:
        table = pa.table(
            {
                "thumbnail_id": pa.array(rows_id, pa.int64()),
                "mime": pa.array(rows_mime),
                "data": pa.array(rows_data, pa.binary()),
            }
        )
        insert_arrow(con, schema.THUMBNAILS, table)
    return ids
