"""The OCR text a build reads for its recipe's OCR rule: ``--ocr`` files or the corpus's
own ``ocr_text`` metadata column.

Nothing is loaded here: the files are checked and handed to
``laionet_core.content_rules``, which DuckDB reads in bulk when the rule is applied.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from laionet_core.content_rules import OcrFile
from precompute.ingest.laion import METADATA_ALIASES
from precompute.ingest.ocr_text import OCR_COLUMNS

logger = logging.getLogger(__name__)

OCR_COLUMN = OCR_COLUMNS[1]  # "ocr_text"


def _schema_names(path: Path, option: str) -> list[str]:
    try:
        return list(pq.read_schema(path).names)
    except (OSError, pa.ArrowException) as error:
        raise ValueError(f"{option} {path}: not a readable parquet file: {error}") from error


def check_ocr_files(paths: Sequence[Path]) -> list[OcrFile]:
    """``--ocr`` files, each checked for ``SAMPLE_ID`` and ``ocr_text``.

    Raises:
        ValueError: A file is unreadable or lacks a column (file and columns named).
    """
    files = []
    for path in paths:
        names = _schema_names(path, "--ocr")
        missing = [c for c in OCR_COLUMNS if c not in names]
        if missing:
            raise ValueError(
                f"--ocr {path}: no column {', '.join(missing)}; columns found: "
                f"{', '.join(names)} (needed: {', '.join(OCR_COLUMNS)})"
            )
        files.append(OcrFile(Path(path), OCR_COLUMNS[0]))
    return files


def find_metadata_ocr_files(metadata: Sequence[Path]) -> list[OcrFile]:
    """Metadata parts that carry an ``ocr_text`` column, with their sample-id column.

    Raises:
        ValueError: A part has ``ocr_text`` but no sample-id column (part named).
    """
    files = []
    for path in metadata:
        names = _schema_names(path, "metadata part")
        if OCR_COLUMN not in names:
            continue
        ids = [a for a in METADATA_ALIASES["sample_id"] if a in names]
        if not ids:
            raise ValueError(
                f"{path}: has an {OCR_COLUMN} column but no sample id "
                f"({' or '.join(METADATA_ALIASES['sample_id'])}) to join it on"
            )
        files.append(OcrFile(Path(path), ids[0]))
    if files and len(files) < len(metadata):
        logger.warning(
            "%d of %d metadata parts have an %s column; samples of the others are not "
            "checked by the OCR rule",
            len(files),
            len(metadata),
            OCR_COLUMN,
        )
    return files


def select_build_ocr_files(
    ocr: Sequence[Path] | None, metadata: Sequence[Path], *, ocr_rule: str
) -> list[OcrFile] | None:
    """The OCR text a build applies: ``--ocr`` files, else the metadata's ``ocr_text``
    column, else None (the recipe's OCR rule is then not applied, and says so).

    A recipe without an OCR rule reads none (a warning says when some was given).
    """
    files = check_ocr_files(ocr) if ocr else find_metadata_ocr_files(metadata)
    if not files:
        return None
    if ocr_rule == "none":
        logger.warning("the recipe has no OCR rule: the OCR text given is not used")
        return None
    logger.info("OCR text for the OCR rule: %s", ", ".join(str(f.path) for f in files[:3]))
    return files
