"""Recognised image text per sample (``SAMPLE_ID, ocr_text``) for a recipe's OCR rule."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

OCR_COLUMNS = ("SAMPLE_ID", "ocr_text")


def read_ocr_text(paths: Sequence[Path]) -> pd.Series:
    """OCR text by sample id (str), from parquet files with ``SAMPLE_ID`` and ``ocr_text``.

    Raises:
        ValueError: A file is unreadable or lacks a column (file and columns named), or
            a sample id appears twice with different texts.
    """
    frames = []
    for path in paths:
        try:
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowException) as error:
            raise ValueError(f"--ocr {path}: not a readable parquet file: {error}") from error
        missing = [c for c in OCR_COLUMNS if c not in schema.names]
        if missing:
            raise ValueError(
                f"--ocr {path}: no column {', '.join(missing)}; columns found: "
                f"{', '.join(schema.names)} (needed: {', '.join(OCR_COLUMNS)})"
            )
        frames.append(pq.read_table(path, columns=list(OCR_COLUMNS)).to_pandas())
    table = pd.concat(frames, ignore_index=True)
    table["SAMPLE_ID"] = table["SAMPLE_ID"].astype(str)
    table = table.drop_duplicates()
    repeated = table["SAMPLE_ID"].duplicated(keep=False)
    if repeated.any():
        raise ValueError(
            f"--ocr: SAMPLE_ID {table.loc[repeated, 'SAMPLE_ID'].iloc[0]!r} has two "
            "different ocr_text values"
        )
    return table.set_index("SAMPLE_ID")["ocr_text"]
