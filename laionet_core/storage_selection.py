"""Writes of the precomputed selection statistics (``laionet_core.selection_stats``) and of
the selection lab's candidates (``laionet_core.queries_lab``).

The tables are created when missing, so ``precompute metrics`` adds them to a
database built before they existed; a dataset's rows are replaced as a whole.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from laionet_core import schema
from laionet_core.queries_lab import LabCandidates
from laionet_core.selection_stats import STAT_COLUMNS
from laionet_core.storage_arrow import build_embedding_array, insert_arrow, insert_frame


def _list_array(arrays: list[np.ndarray], value_type: pa.DataType) -> pa.Array:
    """Arrow list array of 1-D numpy arrays, built from one flat buffer."""
    lengths = np.fromiter((a.size for a in arrays), np.int64, len(arrays))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    flat = np.concatenate(arrays) if arrays else np.zeros(0)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=value_type))


def write_selection_stats(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    stats: pd.DataFrame,
    subsets: dict[str, dict[str, np.ndarray]],
) -> None:
    """Replace one dataset's selection statistics and class subsets.

    Args:
        con: A writable connection.
        dataset: The dataset.
        stats: Rows with ``wnid``, ``combo``, ``min_bin`` and ``STAT_COLUMNS``.
        subsets: wnid -> ``compute_class_stats``' subset arrays (bins, filtered,
            multi_label, gram).
    """
    con.execute(schema.SELECTION_DDL)
    for table in (schema.SELECTION_STATS, schema.SELECTION_SUBSETS):
        con.execute(f"DELETE FROM {table} WHERE dataset = ?", [dataset])
    if not stats.empty:
        rows = stats.loc[:, ["wnid", "combo", "min_bin", *STAT_COLUMNS]].copy()
        rows.insert(0, "dataset", dataset)
        insert_frame(con, schema.SELECTION_STATS, rows)
    if subsets:
        wnids = list(subsets)
        table = pa.table(
            {
                "dataset": pa.array([dataset] * len(wnids), pa.string()),
                "wnid": pa.array(wnids, pa.string()),
                "bins": _list_array([subsets[w]["bins"] for w in wnids], pa.int16()),
                "filtered": _list_array([subsets[w]["filtered"] for w in wnids], pa.bool_()),
                "multi_label": _list_array([subsets[w]["multi_label"] for w in wnids], pa.bool_()),
                "gram": _list_array([subsets[w]["gram"] for w in wnids], pa.float32()),
            }
        )
        insert_arrow(con, schema.SELECTION_SUBSETS, table)


def write_lab_candidates(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    pool: LabCandidates,
    true_ranks: np.ndarray,
    *,
    draw_cut: int,
    draw_seed: int,
) -> None:
    """Replace one dataset's stored lab candidates (``queries_lab.read_lab_candidates``'
    rows, in their order, with each row's true-class rank).

    Raises:
        ValueError: ``true_ranks`` is not one rank per row.
    """
    if len(true_ranks) != len(pool.rows):
        raise ValueError(f"{len(true_ranks)} true-class ranks for {len(pool.rows)} lab candidates")
    con.execute(schema.SELECTION_DDL)
    con.execute(f"DELETE FROM {schema.LAB_CANDIDATES} WHERE dataset = ?", [dataset])
    if pool.rows.empty:
        return
    n = len(pool.rows)
    table = (
        pa.Table.from_pandas(pool.rows, preserve_index=False)
        .append_column("true_rank", pa.array(np.asarray(true_ranks, np.int32)))
        .append_column("embedding", build_embedding_array(pool.embeddings))
        .append_column("position", pa.array(np.arange(n, dtype=np.int32)))
        .append_column("draw_cut", pa.array(np.full(n, draw_cut, np.int32)))
        .append_column("draw_seed", pa.array(np.full(n, draw_seed, np.int32)))
        .append_column("dataset", pa.array(np.full(n, dataset, object), pa.string()))
    )
    insert_arrow(con, schema.LAB_CANDIDATES, table)
