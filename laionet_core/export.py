"""Export a selected subset as parquet or CSV, with a JSON manifest of every parameter.

The app's download buttons and ``python -m precompute export`` share these functions,
so both write the same columns and the same manifest.
"""

from __future__ import annotations

import io
import json
import os
import shlex
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
# What img2dataset must keep for add-reference to join the images back and not re-select.
IMG2DATASET_ADDITIONAL_COLUMNS = ("wnid", "SAMPLE_ID", "NSFW", "text_similarity")
# A spreadsheet runs a cell that begins with one of these as a formula (CSV injection);
# a leading apostrophe makes it text. Tab and carriage return are OWASP's additions.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# The dataset parameter that marks a downloaded subset of an export: its class metrics
# cover every downloaded sample, never a selection made again.
SELECTION_SOURCE = "selection_source"
PLACEHOLDER_EXPORT_FILE = "EXPORT_FILE"  # in a manifest made before the file has a name


def build_export_table(
    con: duckdb.DuckDBPyConnection, dataset: str, params: SelectionParams
) -> pd.DataFrame:
    """The rows ``params`` keeps, in the export's columns and order."""
    selected = read_selected_samples(con, dataset, params)
    return selected.loc[:, list(EXPORT_COLUMNS)].rename(columns=EXPORT_COLUMNS)


def format_img2dataset_command(
    export_file: str, export_format: str, *, output_folder: str | None = None
) -> str:
    """The img2dataset command that downloads an export and keeps what add-reference needs.

    It names LAION's URL/TEXT columns and saves ``IMG2DATASET_ADDITIONAL_COLUMNS`` in each
    sample's json, as webdataset shards with img2dataset's per-shard parquet of every
    row (successes and failures), which ``add-reference --kind webdataset`` reads back.

    Args:
        export_file: The export's path as the user will pass it.
        export_format: ``parquet`` or ``csv``.
        output_folder: Where img2dataset writes; ``<export stem>_images`` by default.

    Returns:
        One shell command line, every argument quoted for a POSIX shell.
    """
    folder = output_folder or f"{Path(export_file).stem}_images"
    columns = json.dumps(list(IMG2DATASET_ADDITIONAL_COLUMNS), separators=(",", ":"))
    arguments = [
        "img2dataset",
        ("--url_list", export_file),
        ("--input_format", export_format),
        ("--url_col", EXPORT_COLUMNS["url"]),
        ("--caption_col", EXPORT_COLUMNS["text"]),
        ("--save_additional_columns", columns),
        ("--output_format", "webdataset"),
        ("--output_folder", folder),
        ("--image_size", "256"),
        ("--resize_mode", "border"),
        ("--processes_count", "4"),
        ("--thread_count", "64"),
        ("--enable_wandb", "False"),
    ]
    words = [a if isinstance(a, str) else f"{a[0]} {shlex.quote(a[1])}" for a in arguments]
    return " ".join(words)


def build_export_manifest(
    con: duckdb.DuckDBPyConnection,
    *,
    db_path: str | Path,
    dataset: str,
    params: SelectionParams,
    export_format: str,
    rows: int,
    classes: int,
    export_file: str | None = None,
) -> dict:
    """Every parameter that produced an export, for the JSON written next to it.

    ``img2dataset_command`` downloads it (``format_img2dataset_command``); without
    ``export_file`` it names the file ``EXPORT_FILE``.
    """
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
        "img2dataset_command": format_img2dataset_command(
            export_file or PLACEHOLDER_EXPORT_FILE, export_format
        ),
    }


def is_downloaded_selection(parameters: dict) -> bool:
    """True for a dataset downloaded from an export: a selection already made, used whole."""
    return bool(parameters.get(SELECTION_SOURCE))


def describe_download(parameters: dict) -> str | None:
    """The downloaded share of a dataset added back from img2dataset, in words, or None.

    Args:
        parameters: The dataset's ``datasets.parameters``.

    Returns:
        E.g. ``downloaded 1,032 of 1,475 exported rows (70.0%); 443 failed (link rot) ...``.
    """
    download = parameters.get("download")
    if not download:
        return None
    return (
        f"downloaded {download['downloaded']:,} of {download['rows']:,} exported rows "
        f"({100 * download['downloaded_share']:.1f}%); {download['failed']:,} failed (link "
        "rot), kept as rejected rows"
        + ("; used whole, not selected again" if is_downloaded_selection(parameters) else "")
    )


def escape_formula_cell(value: object) -> object:
    """``value`` with a leading apostrophe when a spreadsheet would run it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def unescape_formula_cell(value: object) -> object:
    """Undo ``escape_formula_cell`` (for reading an export back)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


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
        text_columns = [c for c in table.columns if table[c].dtype.kind not in "biufc"]
        safe = table.copy()
        for column in text_columns:
            safe[column] = safe[column].map(escape_formula_cell)
        return safe.to_csv(index=False).encode("utf-8")
    raise ValueError(
        f"unknown export format {export_format!r}; allowed: {', '.join(EXPORT_FORMATS)}"
    )


def manifest_path_for(out: Path) -> Path:
    """Where the manifest of an export file goes: ``<name>.manifest.json`` beside it."""
    return out.with_name(out.name + ".manifest.json")


def command_path_for(out: Path) -> Path:
    """Where the img2dataset command of an export goes: ``<name>.img2dataset.sh`` beside it."""
    return out.with_name(out.name + ".img2dataset.sh")


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
    """Write the export, its manifest and its img2dataset command, each atomically.

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
        export_file=str(out),
    ) | (manifest_extra or {})
    manifest_path = manifest_path_for(out)
    folder = f"{out.stem}_images"
    command = (
        f"#!/bin/sh\n# Download the {manifest['rows']} rows of {out.name} with img2dataset "
        "(pip install img2dataset), then add the images back:\n"
        f"#   python -m precompute add-reference --db {shlex.quote(str(db_path))} "
        f"--name {shlex.quote(dataset + '-downloaded')} --kind webdataset "
        f"--images {shlex.quote(folder)} --labels {shlex.quote(str(out))} "
        "--model ViT-B-32 --pretrained openai\n" + manifest["img2dataset_command"] + "\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, payload in (
        (out, data),
        (manifest_path, json.dumps(manifest, indent=2).encode("utf-8")),
        (command_path_for(out), command.encode("utf-8")),
    ):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_bytes(payload)
        os.replace(tmp, path)
    return manifest_path, manifest
