"""A model's top-5 predictions into the database (``python -m precompute add-predictions``).

A file (parquet or CSV) with ``sample_id`` and either predicted wnids (``top5`` list, or
``pred_1`` .. ``pred_5``) or the paper's released boolean columns
``top_1_is_correct_<model>`` / ``top_5_is_correct_<model>`` (stored as the synthetic
lists described in ``laionet_core.comparison``). ``write_predictions`` is shared with the
simulated model of ``precompute.simulate.predictions``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from laionet_core import queries, schema
from laionet_core.prediction_tables import UNKNOWN_PREDICTION, parse_prediction_table
from laionet_core.storage import open_database_for_update

logger = logging.getLogger(__name__)


def read_prediction_file(path: Path) -> pd.DataFrame:
    """A parquet or CSV file as a DataFrame (sample ids kept as text)."""
    if not path.is_file():
        raise FileNotFoundError(f"prediction file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".tsv"):
        raise ValueError(f"prediction file {path} must be .parquet, .csv or .tsv, not {suffix!r}")
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            sep = "\t" if suffix == ".tsv" else ","
            frame = pd.read_csv(path, sep=sep, dtype={"sample_id": str})
    except (ValueError, OSError, pa.ArrowException, pd.errors.ParserError) as error:
        # Readers' messages name no file; a UnicodeDecodeError is a ValueError too.
        raise ValueError(f"prediction file {path}: not readable ({error})") from error
    if frame.empty:
        raise ValueError(f"prediction file {path} has no rows")
    return frame


def add_prediction_file(db: Path, model: str, path: Path, *, dataset: str) -> str:
    """Parse ``path`` and store it as ``model``'s predictions; returns the model name."""
    raw = read_prediction_file(path)
    with open_database_for_update(db) as con:
        names = set(queries.read_datasets(con)["dataset"])
        if "dataset" not in raw.columns:
            raw = raw.assign(dataset=dataset)
        unknown = sorted(set(raw["dataset"].astype(str)) - names)
        if unknown:
            raise ValueError(
                f"{path}: dataset(s) {unknown} not in the database; has {sorted(names)}"
            )
        classes = set(queries.read_classes(con)["wnid"]) | {UNKNOWN_PREDICTION}
        parts = []
        for name, group in raw.groupby(raw["dataset"].astype(str), sort=True):
            truth = queries.read_samples(con, name).set_index("sample_id")["wnid"]
            try:
                parsed = parse_prediction_table(group, model=None, true_wnids=truth)
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from e
            missing = ~parsed["sample_id"].isin(truth.index)
            if missing.any():
                raise ValueError(
                    f"{path}: sample_id {parsed['sample_id'][missing].iloc[0]!r} "
                    f"is not in dataset {name!r}"
                )
            flat = {w for items in parsed["top5_wnids"] for w in items}
            bad = sorted(flat - classes)
            if bad:
                raise ValueError(
                    f"{path}: predicted wnid {bad[0]!r} is not a class of the database"
                )
            parts.append(parsed.assign(dataset=name))
        write_predictions(con, model, pd.concat(parts, ignore_index=True))
    return model


def write_predictions(con: duckdb.DuckDBPyConnection, model: str, frame: pd.DataFrame) -> None:
    """Replace ``model``'s predictions for the datasets in ``frame``.

    Args:
        frame: Columns dataset, sample_id, top5_wnids (list of str).
    """
    for dataset in frame["dataset"].unique():
        con.execute(
            f"DELETE FROM {schema.PREDICTIONS} WHERE model = ? AND dataset = ?", [model, dataset]
        )
    data = pa.table(
        {
            "dataset": pa.array(frame["dataset"].astype(str).tolist(), pa.string()),
            "model": pa.array([model] * len(frame), pa.string()),
            "sample_id": pa.array(frame["sample_id"].astype(str).tolist(), pa.string()),
            "top5_wnids": pa.array(
                [list(map(str, v)) for v in frame["top5_wnids"]], pa.list_(pa.string())
            ),
        }
    )
    con.register("_new_predictions", data)
    try:
        con.execute(
            f"INSERT INTO {schema.PREDICTIONS} (dataset, model, sample_id, top5_wnids) "
            "SELECT dataset, model, sample_id, top5_wnids FROM _new_predictions"
        )
    finally:
        con.unregister("_new_predictions")
