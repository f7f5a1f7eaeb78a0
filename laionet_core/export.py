"""Export a selected subset as parquet or CSV, with a JSON manifest of every parameter.

The app's download buttons and ``python -m precompute export`` share these functions,
so both write the same columns and the same manifest.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from laionet_core.queries import read_datasets, read_meta, read_selected_samples
from laionet_core.recipes import read_recipe_name
from laionet_core.selection import SelectionParams

EXPORT_FORMATS = ("parquet", "csv")
# LAION's own column names where LAION has one, so exports feed img2dataset directly.
EXPORT_COLUMNS = {
    "url": "URL",
    "text": "TEXT",
    "wnid": "wnid",
    "class_name": "class_name",
    "text_similarity": "text_similarity",
    "nsfw": "NSFW",
    "sample_id": "SAMPLE_ID",
}


def build_export_table(
    con: duckdb.DuckDBPyConnection, dataset: str, params: SelectionParams
) -> pd.DataFrame:
    """The rows ``params`` keeps, in the export's columns and order."""
    selected = read_selected_samples(con, dataset, params)
    return selected.loc[:, list(EXPORT_COLUMNS)].rename(columns=EXPORT_COLUMNS)


def build_export_manifest(
    con: duckdb.DuckDBPyConnection,
    *,
    db_path: str | Path,
    dataset: str,
    params: SelectionParams,
    export_format: str,
    rows: int,
    classes: int,
) -> dict:
    """Every parameter that produced an export, for the JSON written next to it."""
    datasets = read_datasets(con).set_index("dataset")
    if dataset not in datasets.index:
        raise ValueError(f"dataset {dataset!r} is not in {db_path}")
    row = datasets.loc[dataset]
    meta = read_meta(con)
    return {
        "database": str(db_path),
        "dataset": dataset,
        "simulated": bool(row["simulated"]),
        "encoder": row["encoder"],
        "selection": asdict(params),
        "selection_rule": "text_similarity > threshold",
        "format": export_format,
        "columns": list(EXPORT_COLUMNS.values()),
        "rows": rows,
        "classes": classes,
        "synset_format": meta.get("synset_format"),
        "schema_version": meta.get("schema_version"),
        "dataset_parameters": row["parameters"],
        "recipe": read_recipe_name(row["parameters"]),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def encode_export(table: pd.DataFrame, export_format: str) -> bytes:
    """The export file's bytes in ``export_format``.

    Raises:
        ValueError: ``export_format`` is not one of ``EXPORT_FORMATS``.
    """
    if export_format == "parquet":
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        return buffer.getvalue()
    if export_format == "csv":
        return table.to_csv(index=False).encode("utf-8")
    raise ValueError(
        f"unknown export format {export_format!r}; allowed: {', '.join(EXPORT_FORMATS)}"
    )


def manifest_path_for(out: Path) -> Path:
    """Where the manifest of an export file goes: ``<name>.manifest.json`` beside it."""
    return out.with_name(out.name + ".manifest.json")


def write_export(
    con: duckdb.DuckDBPyConnection,
    *,
    db_path: str | Path,
    dataset: str,
    params: SelectionParams,
    export_format: str,
    out: str | Path,
    keep: Callable[[pd.DataFrame], np.ndarray] | None = None,
    manifest_extra: dict | None = None,
) -> tuple[Path, dict]:
    """Write the export and its manifest, each through a temporary file and a rename.

    Args:
        keep: Further filter on the export table (a recipe's NSFW and OCR rules):
            table -> (N,) bool mask of the rows kept.
        manifest_extra: Entries added to the manifest (the recipe in force).

    Returns:
        ``(manifest path, manifest)``.
    """
    out = Path(out)
    table = build_export_table(con, dataset, params)
    if keep is not None:
        table = table[keep(table)].reset_index(drop=True)
    data = encode_export(table, export_format)
    manifest = build_export_manifest(
        con,
        db_path=db_path,
        dataset=dataset,
        params=params,
        export_format=export_format,
        rows=len(table),
        classes=int(table["wnid"].nunique()),
    ) | (manifest_extra or {})
    manifest_path = manifest_path_for(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, payload in (
        (out, data),
        (manifest_path, json.dumps(manifest, indent=2).encode("utf-8")),
    ):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_bytes(payload)
        os.replace(tmp, path)
    return manifest_path, manifest
