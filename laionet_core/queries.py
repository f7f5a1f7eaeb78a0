"""DuckDB reads: SQL constants plus typed functions over them.

Every value reaches SQL as a bound parameter; identifiers come only from ``schema``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from laionet_core import schema
from laionet_core.selection import N_BINS, THRESHOLD_STEP, SelectionParams

_SELECTION_WHERE = """
    s.dataset = $dataset
    AND s.text_similarity > $threshold
    AND NOT ($drop_nsfw AND s.filtered)
    AND NOT ($drop_multi_label AND s.multi_label)
"""

# The selection's WHERE clause (alias ``s``), for queries of other modules.
SELECTION_WHERE = _SELECTION_WHERE

SELECTED_SAMPLES_SQL = f"""
SELECT s.sample_id, s.url, s.text, s.wnid, c.name AS class_name, s.text_similarity,
       s.image_similarity, s.nsfw, s.filtered, s.multi_label, s.matched_wnids, s.thumbnail_id
FROM {schema.SAMPLES} s JOIN {schema.CLASSES} c USING (wnid)
WHERE {_SELECTION_WHERE}
ORDER BY s.wnid, s.text_similarity DESC, s.sample_id
"""

ALL_SAMPLES_SQL = f"""
SELECT s.sample_id, s.url, s.text, s.wnid, c.name AS class_name, s.text_similarity,
       s.image_similarity, s.nsfw, s.filtered, s.multi_label, s.matched_wnids, s.thumbnail_id
FROM {schema.SAMPLES} s JOIN {schema.CLASSES} c USING (wnid)
WHERE s.dataset = $dataset
ORDER BY s.wnid, s.sample_id
"""

COUNT_SELECTED_SQL = f"""
SELECT count(*) AS n, count(DISTINCT s.wnid) AS classes
FROM {schema.SAMPLES} s WHERE {_SELECTION_WHERE}
"""

HISTOGRAMS_SQL = f"""
SELECT h.wnid, h.filtered, h.multi_label, h.bin, h.n
FROM {schema.SIMILARITY_HISTOGRAMS} h WHERE h.dataset = $dataset
"""

SAMPLES_IN_BAND_SQL = f"""
SELECT s.sample_id, s.url, s.text, s.wnid, s.text_similarity, s.image_similarity,
       s.nsfw, s.filtered, s.multi_label, s.thumbnail_id
FROM {schema.SAMPLES} s
WHERE s.dataset = $dataset AND s.wnid = $wnid
  AND s.text_similarity > $low AND s.text_similarity <= $high
ORDER BY hash(s.sample_id, $seed)
LIMIT $limit
"""


@dataclass(frozen=True)
class SimilarityHistograms:
    """Per-class similarity histograms of one dataset, split by flags.

    Attributes:
        wnids: (C,) class wnids in class-index order (every class of the database).
        counts: (C, 2, 2, N_BINS) int64 indexed [class, filtered, multi_label, bin].
    """

    wnids: tuple[str, ...]
    counts: np.ndarray


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple | None:
    """The first row of a query, or None; reads the whole result so the connection is free.

    DuckDB 2 refuses new work on a connection while a result is only partly fetched.
    """
    rows = con.execute(sql, params).fetchall()
    return rows[0] if rows else None


def connect(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open a database read-only after checking it is one of ours.

    Raises:
        FileNotFoundError: No file at ``path``.
        ValueError: The file is not a LAIONet Explorer database of this schema version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"database {path} does not exist")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise ValueError(f"{path} is not a readable DuckDB database: {error}") from error
    check_schema_version(con, path)
    return con


def check_schema_version(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    allowed: tuple[int, ...] = (schema.SCHEMA_VERSION,),
) -> int:
    """The schema version ``con`` holds; ValueError unless it is one of ``allowed``
    (by default this package's)."""
    try:
        row = fetch_one(con, f"SELECT value FROM {schema.META} WHERE key = 'schema_version'")
    except duckdb.CatalogException as error:
        raise ValueError(f"{path} is not a LAIONet Explorer database (no meta table)") from error
    found = None if row is None else row[0]
    if found not in {str(v) for v in allowed}:
        upgrade = ""
        if found == str(schema.UPGRADABLE_SCHEMA_VERSION):
            upgrade = f", or upgrade it in place with python -m precompute upgrade --db {path}"
        raise ValueError(
            f"{path} has schema version {found}; this version reads {schema.SCHEMA_VERSION}. "
            f"Rebuild it with python -m precompute{upgrade}."
        )
    return int(found)


def read_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """All key/value facts of the build."""
    return dict(con.execute(f"SELECT key, value FROM {schema.META}").fetchall())


def read_classes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every class, in class-index order."""
    return con.sql(f"SELECT * FROM {schema.CLASSES} ORDER BY class_index").df()


def read_datasets(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per dataset with its sample count; ``parameters`` decoded from JSON."""
    frame = con.sql(
        f"""SELECT d.*, (SELECT count(*) FROM {schema.SAMPLES} s
                         WHERE s.dataset = d.dataset) AS n_samples
            FROM {schema.DATASETS} d ORDER BY d.created, d.dataset"""
    ).df()
    frame["parameters"] = frame["parameters"].map(json.loads)
    return frame


def load_similarity_histograms(
    con: duckdb.DuckDBPyConnection, dataset: str
) -> SimilarityHistograms:
    """The precomputed histograms of ``dataset`` as one dense array."""
    wnids = tuple(
        r[0]
        for r in con.execute(f"SELECT wnid FROM {schema.CLASSES} ORDER BY class_index").fetchall()
    )
    rows = con.execute(HISTOGRAMS_SQL, {"dataset": dataset}).fetchnumpy()
    counts = np.zeros((len(wnids), 2, 2, N_BINS), dtype=np.int64)
    if len(rows["wnid"]):
        index = {w: i for i, w in enumerate(wnids)}
        classes = np.fromiter((index[w] for w in rows["wnid"]), np.int64, len(rows["wnid"]))
        np.add.at(
            counts,
            (classes, rows["filtered"].astype(int), rows["multi_label"].astype(int), rows["bin"]),
            rows["n"],
        )
    return SimilarityHistograms(wnids, counts)


def _selection_params(dataset: str, params: SelectionParams) -> dict:
    return selection_sql_params(dataset, params)


def selection_sql_params(dataset: str, params: SelectionParams) -> dict:
    """The bound values of ``SELECTION_WHERE`` for one dataset and selection."""
    return {
        "dataset": dataset,
        "threshold": params.threshold,
        "drop_nsfw": params.drop_nsfw,
        "drop_multi_label": params.drop_multi_label,
    }


def read_selected_samples(
    con: duckdb.DuckDBPyConnection, dataset: str, params: SelectionParams
) -> pd.DataFrame:
    """Samples of ``dataset`` kept by ``params``, sorted by class then similarity."""
    return con.execute(SELECTED_SAMPLES_SQL, _selection_params(dataset, params)).df()


def read_samples(con: duckdb.DuckDBPyConnection, dataset: str) -> pd.DataFrame:
    """Every sample of ``dataset`` (scored or not), sorted by class then sample id."""
    return con.execute(ALL_SAMPLES_SQL, {"dataset": dataset}).df()


def count_selected(
    con: duckdb.DuckDBPyConnection, dataset: str, params: SelectionParams
) -> tuple[int, int]:
    """``(samples, classes)`` kept by ``params``, counted by a scan (for checks)."""
    n, classes = fetch_one(con, COUNT_SELECTED_SQL, _selection_params(dataset, params))
    return int(n), int(classes)


def read_samples_in_band(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    wnid: str,
    *,
    low: float,
    high: float,
    limit: int = 12,
    seed: int = 0,
) -> pd.DataFrame:
    """A reproducible random sample of one class with ``low < text_similarity <= high``."""
    return con.execute(
        SAMPLES_IN_BAND_SQL,
        {"dataset": dataset, "wnid": wnid, "low": low, "high": high, "limit": limit, "seed": seed},
    ).df()


def read_thumbnail(con: duckdb.DuckDBPyConnection, thumbnail_id: int) -> tuple[str, bytes] | None:
    """``(mime, bytes)`` of a thumbnail, or None."""
    row = fetch_one(
        con,
        f"SELECT mime, data FROM {schema.THUMBNAILS} WHERE thumbnail_id = ?",
        [int(thumbnail_id)],
    )
    return None if row is None else (row[0], bytes(row[1]))


def read_embeddings(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    *,
    table: str = schema.IMAGE_EMBEDDINGS,
    above: float | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Embeddings of one dataset with their labels.

    Args:
        con, dataset: The connection and the dataset.
        table: ``image_embeddings`` or ``text_embeddings``.
        above: Only samples whose ``text_similarity`` is above this (the lowest
            threshold a caller selects at): without ``--embedding-floor``, LAION-400M
            stores 21M embeddings (40 GiB as float32), its selection at 0.82 about 1M.

    Returns:
        ``(rows, embeddings)``: rows has sample_id and wnid; embeddings is (N, D)
        float32, row-aligned.
    """
    if table not in (schema.IMAGE_EMBEDDINGS, schema.TEXT_EMBEDDINGS):
        raise ValueError(f"table must be an embeddings table, got {table!r}")
    arrow = con.sql(
        f"""SELECT e.sample_id, s.wnid, e.embedding FROM {table} e
            JOIN {schema.SAMPLES} s USING (dataset, sample_id)
            WHERE e.dataset = $dataset AND ($above IS NULL OR s.text_similarity > $above)
            ORDER BY s.wnid, e.sample_id""",
        params={"dataset": dataset, "above": above},
    ).to_arrow_table()
    rows = arrow.select(["sample_id", "wnid"]).to_pandas()
    column = arrow.column("embedding").combine_chunks()
    if len(column) == 0:
        return rows, np.zeros((0, 0), dtype=np.float32)
    values = np.asarray(column.flatten(), dtype=np.float32)
    return rows, values.reshape(len(column), -1)


def read_synset_embeddings(
    con: duckdb.DuckDBPyConnection, encoder: str, synset_format: str
) -> tuple[list[str], np.ndarray]:
    """Synset-text embeddings of one encoder, in class-index order."""
    arrow = con.sql(
        f"""SELECT e.wnid, e.embedding FROM {schema.SYNSET_EMBEDDINGS} e
            JOIN {schema.CLASSES} c USING (wnid)
            WHERE e.encoder = $encoder AND e.synset_format = $fmt ORDER BY c.class_index""",
        params={"encoder": encoder, "fmt": synset_format},
    ).to_arrow_table()
    column = arrow.column("embedding").combine_chunks()
    if len(column) == 0:  # no embeddings for this encoder and format
        return [], np.zeros((0, 0), dtype=np.float32)
    values = np.asarray(column.flatten(), dtype=np.float32).reshape(len(column), -1)
    return arrow.column("wnid").to_pylist(), values


def read_class_metrics(
    con: duckdb.DuckDBPyConnection,
    *,
    dataset: str | None = None,
    metric: str | None = None,
    threshold: float | None = None,
) -> pd.DataFrame:
    """Per-class metrics, optionally for one dataset, metric and/or selection threshold.

    Args:
        threshold: Only rows of the selection at this threshold (compared on the grid,
            ``selection.snap_threshold``); None keeps every threshold, and the rows of
            datasets used whole, whose threshold is NULL.
    """
    return con.execute(
        f"""SELECT * FROM {schema.CLASS_METRICS}
            WHERE ($dataset IS NULL OR dataset = $dataset)
              AND ($metric IS NULL OR metric = $metric)
              AND ($threshold IS NULL OR abs(threshold - $threshold) < $tolerance)
            ORDER BY dataset, threshold, metric, wnid""",
        {
            "dataset": dataset,
            "metric": metric,
            "threshold": threshold,
            "tolerance": THRESHOLD_STEP / 2,
        },
    ).df()


CLASS_COUNTS_SQL = f"""
SELECT d.dataset, d.kind, count(s.sample_id) AS samples,
       avg(s.text_similarity) AS mean_text_similarity,
       avg(s.image_similarity) AS mean_image_similarity
FROM {schema.DATASETS} d
LEFT JOIN {schema.SAMPLES} s ON s.dataset = d.dataset AND s.wnid = $wnid
GROUP BY d.dataset, d.kind ORDER BY d.dataset
"""

RANDOM_CLASS_SAMPLES_SQL = f"""
SELECT s.sample_id, s.url, s.text, s.wnid, s.text_similarity, s.image_similarity,
       s.nsfw, s.filtered, s.multi_label, s.thumbnail_id
FROM {schema.SAMPLES} s
WHERE s.dataset = $dataset AND s.wnid = $wnid
ORDER BY hash(s.sample_id, $seed)
LIMIT $limit
"""


def read_class_counts(con: duckdb.DuckDBPyConnection, wnid: str) -> pd.DataFrame:
    """Per dataset: samples of class ``wnid`` and their mean similarities."""
    return con.execute(CLASS_COUNTS_SQL, {"wnid": wnid}).df()


def read_class_samples(
    con: duckdb.DuckDBPyConnection, dataset: str, wnid: str, *, limit: int = 12, seed: int = 0
) -> pd.DataFrame:
    """A reproducible random sample of one class of one dataset."""
    return con.execute(
        RANDOM_CLASS_SAMPLES_SQL, {"dataset": dataset, "wnid": wnid, "limit": limit, "seed": seed}
    ).df()


def list_prediction_models(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Models with stored predictions, sorted."""
    rows = con.execute(f"SELECT DISTINCT model FROM {schema.PREDICTIONS} ORDER BY model").fetchall()
    return [r[0] for r in rows]


def read_predictions(con: duckdb.DuckDBPyConnection, model: str) -> pd.DataFrame:
    """Stored predictions of ``model`` with each sample's true class.

    Returns:
        Columns dataset, sample_id, wnid (true class), top5_wnids (list of str).
    """
    return con.execute(
        f"""SELECT p.dataset, p.sample_id, s.wnid, p.top5_wnids
            FROM {schema.PREDICTIONS} p JOIN {schema.SAMPLES} s USING (dataset, sample_id)
            WHERE p.model = $model ORDER BY p.dataset, s.wnid, p.sample_id""",
        {"model": model},
    ).df()


def read_caption_diagnostics(con: duckdb.DuckDBPyConnection, dataset: str) -> pd.DataFrame:
    """Per caption of ``dataset``: its class and the Section 4.2 diagnostics.

    Returns:
        Columns sample_id, wnid, own_similarity (cosine to its own synset text),
        false_classes_more_similar (share of other classes more similar), sorted by
        class then sample id; empty when none are stored.
    """
    return con.execute(
        f"""SELECT d.sample_id, s.wnid, d.own_similarity, d.false_classes_more_similar
            FROM {schema.CAPTION_DIAGNOSTICS} d JOIN {schema.SAMPLES} s USING (dataset, sample_id)
            WHERE d.dataset = $dataset ORDER BY s.wnid, d.sample_id""",
        {"dataset": dataset},
    ).df()


def read_dataset_info(con: duckdb.DuckDBPyConnection, dataset: str) -> dict | None:
    """One ``datasets`` row as a dict (``parameters`` decoded from JSON), or None."""
    frame = con.execute(f"SELECT * FROM {schema.DATASETS} WHERE dataset = ?", [dataset]).df()
    if frame.empty:
        return None
    row = frame.iloc[0].to_dict()
    row["parameters"] = json.loads(row["parameters"])
    row["simulated"] = bool(row["simulated"])
    return row


def read_embedding_floor(parameters: dict) -> float | None:
    """The ``--embedding-floor`` a dataset was built with (``datasets.parameters``, where a
    build records its options as text: ``"0.82"`` or ``"None"``), or None without one."""
    floor = parameters.get("embedding_floor")
    return None if floor in (None, "None") else float(floor)
