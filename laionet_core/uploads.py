"""Prediction tables uploaded through the app: read, checked, and refused in one line.

An upload is untrusted bytes with an untrusted name. ``parse_prediction_upload`` is
the error boundary around reading and checking it: every failure becomes an
``UploadError`` whose message is one bounded line naming the file, column or value (no
traceback, no server path). Before anything is loaded, a file with more than
``MAX_UPLOAD_COLUMNS`` columns is refused from its parquet footer or its CSV header, and
only the columns a prediction table uses are read.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import PurePath

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from laionet_core.accuracy import PREDICTION_COLUMN
from laionet_core.messages import bound_message, quote_list, quote_value
from laionet_core.prediction_tables import (
    PRED_COLUMNS,
    TOP5_COLUMN,
    UNKNOWN_PREDICTION,
    parse_prediction_table,
)

logger = logging.getLogger(__name__)

# Most columns an upload may have: a prediction table needs sample_id, dataset and five
# predictions (or two boolean columns per model); 10,000 columns took 3 GB to load.
MAX_UPLOAD_COLUMNS = 64
# Longest CSV header line read to count the columns.
MAX_HEADER_BYTES = 64 * 1024
# Bytes looked at to tell a text file from a binary one.
SNIFF_BYTES = 8192
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SEPARATORS = {".csv": ",", ".tsv": "\t"}
# Columns kept as text whatever they look like (sample ids such as 007 stay 007).
TEXT_COLUMNS = ("sample_id", "dataset")


class UploadError(ValueError):
    """An upload that cannot be used; the message is one line fit to show a visitor."""


def is_prediction_column(name: str) -> bool:
    """True for the columns a prediction table uses (the others are never read)."""
    return (
        name in TEXT_COLUMNS
        or name == TOP5_COLUMN
        or name in PRED_COLUMNS
        or PREDICTION_COLUMN.match(name) is not None
    )


def read_prediction_upload(data: bytes, name: str) -> pd.DataFrame:
    """The prediction columns of an uploaded parquet, CSV or TSV file.

    Args:
        data: The file's bytes.
        name: The file's name as uploaded (only its suffix is used, and it is quoted).

    Returns:
        The columns ``is_prediction_column`` accepts, ``sample_id`` and ``dataset`` as text.

    Raises:
        UploadError: An empty, binary or unknown file, or one with too many columns.
    """
    shown = quote_value(name)
    if not data:
        raise UploadError(f"{shown} is empty")
    suffix = PurePath(name).suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(data, shown)
    if suffix in CSV_SEPARATORS:
        return _read_csv(data, shown, CSV_SEPARATORS[suffix])
    raise UploadError(f"{shown} must be .parquet, .csv or .tsv, not {quote_value(suffix)}")


def _check_columns(columns: list[str], shown: str) -> list[str]:
    if len(columns) > MAX_UPLOAD_COLUMNS:
        raise UploadError(
            f"{shown} has {len(columns):,} columns; a prediction table has at most "
            f"{MAX_UPLOAD_COLUMNS} (sample_id, dataset, top5 or pred_1..pred_5)"
        )
    wanted = [c for c in columns if is_prediction_column(c)]
    if "sample_id" not in wanted:
        raise UploadError(f"{shown} has no 'sample_id' column; has {quote_list(columns)}")
    return wanted


def _read_parquet(data: bytes, shown: str) -> pd.DataFrame:
    try:
        source = pq.ParquetFile(io.BytesIO(data))
    except (pa.ArrowException, OSError) as error:
        raise UploadError(f"{shown} is not a parquet file ({bound_message(str(error))})") from error
    if source.metadata.num_columns > MAX_UPLOAD_COLUMNS:  # leaf columns, read from the footer
        raise UploadError(
            f"{shown} has {source.metadata.num_columns:,} columns; a prediction table has at "
            f"most {MAX_UPLOAD_COLUMNS} (sample_id, dataset, top5 or pred_1..pred_5)"
        )
    wanted = _check_columns([str(c) for c in source.schema_arrow.names], shown)
    table = source.read(columns=wanted).to_pandas()
    for column in TEXT_COLUMNS:
        if column in table.columns:
            table[column] = table[column].astype(str)
    return table


def _read_csv(data: bytes, shown: str, separator: str) -> pd.DataFrame:
    if b"\x00" in data[:SNIFF_BYTES]:
        raise UploadError(f"{shown} is not a text file (it holds NUL bytes)")
    end = data.find(b"\n", 0, MAX_HEADER_BYTES)
    if end < 0 and len(data) > MAX_HEADER_BYTES:
        raise UploadError(f"{shown}'s header line is longer than {MAX_HEADER_BYTES:,} bytes")
    try:
        header_line = data[: end if end >= 0 else len(data)].decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UploadError(f"{shown} is not UTF-8 text (header byte {error.start})") from error
    header = next(csv.reader([header_line.rstrip("\r")], delimiter=separator), [])
    wanted = _check_columns(header, shown)
    return pd.read_csv(
        io.BytesIO(data),
        sep=separator,
        usecols=wanted,
        dtype={c: str for c in TEXT_COLUMNS if c in wanted},
        encoding="utf-8-sig",
    )


def validate_prediction_upload(
    table: pd.DataFrame,
    *,
    datasets: Collection[str],
    read_truth: Callable[[str], pd.Series],
    classes: Collection[str],
    default_dataset: str,
) -> pd.DataFrame:
    """An uploaded table as stored predictions, checked as ``add-predictions`` checks files.

    Args:
        table: As ``read_prediction_upload`` returns it.
        datasets: Datasets of the database.
        read_truth: Dataset -> Series of true wnids indexed by sample_id.
        classes: wnids of the database's classes.
        default_dataset: The dataset of a table without a ``dataset`` column.

    Returns:
        Columns dataset, sample_id, top5_wnids (list of 5 str), wnid (the true class).

    Raises:
        ValueError: An unknown dataset or sample, a malformed column, or predicted wnids
            that are not classes of the database (reported with their counts).
    """
    if "dataset" not in table.columns:
        table = table.assign(dataset=default_dataset)
    unknown = sorted(set(table["dataset"].astype(str)) - set(datasets))
    if unknown:
        raise ValueError(
            f"dataset {quote_list(unknown)} not in the database; has {quote_list(sorted(datasets))}"
        )
    frames = []
    for dataset, group in table.groupby(table["dataset"].astype(str), sort=True):
        truth = read_truth(dataset)
        parsed = parse_prediction_table(group, true_wnids=truth)
        parsed["dataset"] = dataset
        parsed["wnid"] = truth.reindex(parsed["sample_id"]).to_numpy()
        if parsed["wnid"].isna().any():
            missing = parsed["sample_id"][parsed["wnid"].isna()].iloc[0]
            raise ValueError(f"sample_id {quote_value(missing)} is not in dataset {dataset!r}")
        frames.append(parsed)
    predictions = pd.concat(frames, ignore_index=True)
    _check_predicted_wnids(predictions, set(classes))
    return predictions


def _check_predicted_wnids(predictions: pd.DataFrame, classes: set[str]) -> None:
    counts = Counter(w for items in predictions["top5_wnids"] for w in items)
    unknown = {w: n for w, n in counts.items() if w not in classes and w != UNKNOWN_PREDICTION}
    if unknown:
        ranked = sorted(unknown.items(), key=lambda item: (-item[1], item[0]))
        listed = ", ".join(f"{quote_value(w)} ×{n:,}" for w, n in ranked[:8])
        more = f", … {len(ranked) - 8:,} more" if len(ranked) > 8 else ""
        raise ValueError(
            f"{len(ranked):,} predicted wnid(s) are not classes of the database, "
            f"in {sum(unknown.values()):,} predictions: {listed}{more}"
        )


def parse_prediction_upload(
    data: bytes,
    name: str,
    *,
    datasets: Collection[str],
    read_truth: Callable[[str], pd.Series],
    classes: Collection[str],
    default_dataset: str,
) -> pd.DataFrame:
    """Read and check an upload inside the error boundary (see the module docstring).

    Returns:
        As ``validate_prediction_upload``.

    Raises:
        UploadError: Whatever went wrong, as one bounded line that starts with the file's
            name; an unexpected error is logged with its traceback and named by type only.
    """
    try:
        table = read_prediction_upload(data, name)
        return validate_prediction_upload(
            table,
            datasets=datasets,
            read_truth=read_truth,
            classes=classes,
            default_dataset=default_dataset,
        )
    except UploadError as error:
        raise UploadError(bound_message(str(error))) from error
    except (ValueError, TypeError, KeyError, pa.ArrowException) as error:
        message = bound_message(f"{quote_value(name)}: {error}")
        raise UploadError(message) from error
    except Exception as error:  # never a traceback or a server path in the page
        logger.exception("upload %s could not be read", quote_value(name))
        raise UploadError(
            f"{quote_value(name)} could not be read ({type(error).__name__})"
        ) from error
