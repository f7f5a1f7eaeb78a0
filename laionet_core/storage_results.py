"""DuckDB writes of results computed from datasets already stored.

Per-class metrics (``class_metrics``) and per-caption diagnostics of Section 4.2
(``caption_diagnostics``); each call replaces the rows it covers, inside the caller's
transaction (``storage.open_database_for_update``).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from laionet_core import schema
from laionet_core.storage_arrow import insert_frame
from laionet_core.validation import require_columns


def write_class_metrics(con: duckdb.DuckDBPyConnection, metrics: pd.DataFrame) -> None:
    """Replace per-class metrics rows for the (dataset, threshold, metric) in ``metrics``.

    Args:
        metrics: Columns dataset, threshold (NaN for a dataset used whole), wnid, metric,
            n, value, ci_low, ci_high.
    """
    columns = ("dataset", "threshold", "wnid", "metric", "n", "value", "ci_low", "ci_high")
    require_columns(metrics, columns, where="class metrics")
    keys = metrics[["dataset", "threshold", "metric"]].drop_duplicates()
    for dataset, threshold, metric in keys.itertuples(index=False):
        con.execute(
            f"DELETE FROM {schema.CLASS_METRICS} WHERE dataset = ? AND metric = ? "
            "AND threshold IS NOT DISTINCT FROM ?",
            [dataset, metric, None if pd.isna(threshold) else float(threshold)],
        )
    insert_frame(con, schema.CLASS_METRICS, metrics.loc[:, list(columns)])


def write_caption_diagnostics(
    con: duckdb.DuckDBPyConnection, dataset: str, diagnostics: pd.DataFrame
) -> None:
    """Replace the caption diagnostics (Section 4.2, Figure 9) of one dataset.

    Args:
        dataset: A dataset already in ``samples``.
        diagnostics: One row per caption: ``sample_id``, ``own_similarity`` (cosine to
            its own synset text) and ``false_classes_more_similar`` (share in [0, 1] of
            the other classes whose synset text is strictly more similar).

    Raises:
        ValueError: A column is missing, a share is outside [0, 1], or a sample id
            repeats or is not a sample of ``dataset`` (the id is named).
    """
    columns = ("sample_id", "own_similarity", "false_classes_more_similar")
    require_columns(diagnostics, columns, where=f"caption diagnostics of {dataset!r}")
    rows = diagnostics.loc[:, list(columns)].copy()
    rows["sample_id"] = rows["sample_id"].astype(str)
    share = rows["false_classes_more_similar"].to_numpy(np.float64)
    bad = rows["sample_id"].duplicated() | ~((share >= 0) & (share <= 1))
    if bad.any():
        raise ValueError(
            f"caption diagnostics of {dataset!r}: sample_id {rows.loc[bad, 'sample_id'].iloc[0]!r}"
            " repeats or has a share outside [0, 1]"
        )
    sql = f"SELECT sample_id FROM {schema.SAMPLES} WHERE dataset = ?"
    known = {r[0] for r in con.execute(sql, [dataset]).fetchall()}
    unknown = rows.loc[~rows["sample_id"].isin(known), "sample_id"]
    if len(unknown):
        raise ValueError(f"caption diagnostics: {unknown.iloc[0]!r} is not a sample of {dataset!r}")
    con.execute(f"DELETE FROM {schema.CAPTION_DIAGNOSTICS} WHERE dataset = ?", [dataset])
    rows.insert(0, "dataset", dataset)
    insert_frame(con, schema.CAPTION_DIAGNOSTICS, rows)
