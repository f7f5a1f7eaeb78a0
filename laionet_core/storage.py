"""DuckDB writes: create a database atomically and add datasets to it.

A build writes a fresh database into a temporary file next to the target and swaps it
into place only when everything succeeded, so a failed build leaves an existing
database untouched. Adding a dataset to an existing database runs in one transaction.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from laionet_core import schema
from laionet_core.queries import check_schema_version, fetch_one
from laionet_core.selection import N_BINS, compute_similarity_bins, is_nsfw
from laionet_core.validation import require_columns, require_unit_rows
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT, Vocabulary, format_synset_text

logger = logging.getLogger(__name__)

# Columns a samples frame must have; dataset and thumbnail_id are filled in here.
SAMPLE_COLUMNS = (
    "sample_id",
    "url",
    "text",
    "wnid",
    "matched_wnids",
    "multi_label",
    "text_similarity",
    "image_similarity",
    "nsfw",
)
CANDIDATE_COLUMNS = ("sample_id", "wnid", "text_similarity")
REJECTED_COLUMNS = ("source", "sample_id", "reason")


@dataclass(frozen=True)
class DatasetInfo:
    """One row of the ``datasets`` table.

    Attributes:
        dataset: Unique name, e.g. ``"laionet"`` or ``"imagenet-val"``.
        kind: How it was selected: one of the ``schema.KIND_*`` values.
        source: Where the data came from (a path or a description).
        encoder: The model whose embeddings and similarities the rows hold.
        simulated: True for data drawn from the simulated world.
        parameters: Everything needed to reproduce it (JSON-serialisable).
    """

    dataset: str
    kind: str
    source: str
    encoder: str
    simulated: bool
    parameters: dict = field(default_factory=dict)


@contextmanager
def open_new_database(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Create a database at ``path`` atomically.

    Yields a connection to a fresh database in a temporary sibling file with the schema
    already created. When the block finishes, the file replaces ``path``; when it
    raises, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _remove_database_files(tmp)
    con = duckdb.connect(str(tmp))
    try:
        con.execute(schema.DDL)
        write_meta(con, {"schema_version": str(schema.SCHEMA_VERSION)})
        yield con
        con.execute("CHECKPOINT")
        con.close()
        os.replace(tmp, path)
        logger.info("wrote %s", path)
    except BaseException:
        con.close()
        _remove_database_files(tmp)
        raise


def _remove_database_files(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


@contextmanager
def open_database_for_update(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open an existing database and run the block in one transaction.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: The file is not a database of this schema version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"database {path} does not exist; build it first")
    con = duckdb.connect(str(path))
    try:
        check_schema_version(con, path)
        con.execute("BEGIN TRANSACTION")
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def write_meta(con: duckdb.DuckDBPyConnection, values: dict[str, str]) -> None:
    """Insert or replace key/value facts in the ``meta`` table."""
    for key, value in values.items():
        con.execute(
            f"INSERT OR REPLACE INTO {schema.META} (key, value) VALUES (?, ?)", [key, str(value)]
        )


def write_classes(
    con: duckdb.DuckDBPyConnection,
    vocabulary: Vocabulary,
    *,
    synset_format: str = DEFAULT_SYNSET_TEXT_FORMAT,
) -> None:
    """Write every class of ``vocabulary`` (matched by the data or not)."""
    frame = pd.DataFrame(
        {
            "wnid": [s.wnid for s in vocabulary.synsets],
            "class_index": [s.class_index for s in vocabulary.synsets],
            "name": [s.name for s in vocabulary.synsets],
            "lemmas": [list(s.lemmas) for s in vocabulary.synsets],
            "definition": [s.definition for s in vocabulary.synsets],
            "synset_text": [format_synset_text(s, synset_format) for s in vocabulary.synsets],
        }
    )
    _insert_frame(con, schema.CLASSES, frame)
    write_meta(con, {"synset_format": synset_format, "vocabulary": vocabulary.source})


def write_synset_embeddings(
    con: duckdb.DuckDBPyConnection,
    *,
    encoder: str,
    synset_format: str,
    wnids: Sequence[str],
    embeddings: np.ndarray,
) -> None:
    """Store synset-text embeddings of one encoder.

    Args:
        encoder: Encoder name, as recorded in ``datasets.encoder``.
        synset_format: The synset-text format that was encoded.
        wnids: (C,) wnids, row-aligned with ``embeddings``.
        embeddings: (C, D) float, L2-normalised.
    """
    embeddings = require_unit_rows(embeddings, name=f"synset embeddings of {encoder}")
    if len(wnids) != len(embeddings):
        raise ValueError(f"{len(wnids)} wnids but {len(embeddings)} synset embeddings")
    table = pa.table(
        {
            "encoder": pa.array([encoder] * len(wnids)),
            "synset_format": pa.array([synset_format] * len(wnids)),
            "wnid": pa.array(list(wnids)),
            "embedding": _embedding_array(embeddings),
        }
    )
    _insert_arrow(con, schema.SYNSET_EMBEDDINGS, table)


def write_dataset(
    con: duckdb.DuckDBPyConnection,
    info: DatasetInfo,
    samples: pd.DataFrame,
    *,
    image_embeddings: np.ndarray | None = None,
    text_embeddings: np.ndarray | None = None,
    thumbnails: Sequence[tuple[str, bytes] | None] | None = None,
    candidates: pd.DataFrame | None = None,
    rejected: pd.DataFrame | None = None,
) -> None:
    """Add one dataset (replacing any dataset of the same name).

    Args:
        con: An open, writable connection (see ``open_new_database`` and
            ``open_database_for_update``).
        info: The dataset's row in ``datasets``.
        samples: One row per sample with ``SAMPLE_COLUMNS``.
        image_embeddings: (N, D) L2-normalised, row-aligned with ``samples``.
        text_embeddings: (N, D) L2-normalised caption embeddings, row-aligned.
        thumbnails: Per sample ``(mime, bytes)`` or None, row-aligned.
        candidates: Every (sample_id, wnid, text_similarity) pair that was scored.
        rejected: Rows (source, sample_id, reason) that could not be used.

    Raises:
        ValueError: A column is missing, lengths disagree, sample ids repeat, or an
            embedding is not unit-norm.
    """
    require_columns(samples, SAMPLE_COLUMNS, where=f"samples of dataset {info.dataset!r}")
    n = len(samples)
    if samples["sample_id"].duplicated().any():
        dup = samples.loc[samples["sample_id"].duplicated(), "sample_id"].iloc[0]
        raise ValueError(f"dataset {info.dataset!r}: sample_id {dup!r} appears more than once")
    for name, array in (
        ("image_embeddings", image_embeddings),
        ("text_embeddings", text_embeddings),
        ("thumbnails", thumbnails),
    ):
        if array is not None and len(array) != n:
            raise ValueError(f"dataset {info.dataset!r}: {len(array)} {name} for {n} samples")

    _delete_dataset(con, info.dataset)
    con.execute(
        f"INSERT INTO {schema.DATASETS} VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            info.dataset,
            info.kind,
            info.source,
            info.encoder,
            info.simulated,
            json.dumps(info.parameters, sort_keys=True, default=str),
            datetime.now(UTC).replace(tzinfo=None),
        ],
    )
    frame = samples.loc[:, list(SAMPLE_COLUMNS)].copy()
    frame.insert(0, "dataset", info.dataset)
    frame["sample_id"] = frame["sample_id"].astype(str)
    frame["thumbnail_id"] = _write_thumbnails(con, thumbnails) if thumbnails is not None else None
    frame["thumbnail_id"] = frame["thumbnail_id"].astype("Int64")
    _insert_frame(con, schema.SAMPLES, frame)

    ids = pa.array(frame["sample_id"].tolist())
    for table_name, array in (
        (schema.IMAGE_EMBEDDINGS, image_embeddings),
        (schema.TEXT_EMBEDDINGS, text_embeddings),
    ):
        if array is not None:
            unit = require_unit_rows(array, name=f"{table_name} of {info.dataset!r}")
            table = pa.table(
                {
                    "dataset": pa.array([info.dataset] * n),
                    "sample_id": ids,
                    "embedding": _embedding_array(unit),
                }
            )
            _insert_arrow(con, table_name, table)
    if candidates is not None and len(candidates):
        require_columns(candidates, CANDIDATE_COLUMNS, where=f"candidates of {info.dataset!r}")
        cand = candidates.loc[:, list(CANDIDATE_COLUMNS)].copy()
        cand.insert(0, "dataset", info.dataset)
        cand["sample_id"] = cand["sample_id"].astype(str)
        _insert_frame(con, schema.CANDIDATES, cand)
    if rejected is not None and len(rejected):
        require_columns(rejected, REJECTED_COLUMNS, where=f"rejected rows of {info.dataset!r}")
        rej = rejected.loc[:, list(REJECTED_COLUMNS)].copy()
        rej.insert(0, "dataset", info.dataset)
        _insert_frame(con, schema.REJECTED, rej)
    if samples["text_similarity"].notna().any():
        _insert_frame(con, schema.SIMILARITY_HISTOGRAMS, build_similarity_histograms(frame))
    logger.info("dataset %s: %d samples", info.dataset, n)


def build_similarity_histograms(samples: pd.DataFrame) -> pd.DataFrame:
    """Per-class counts per similarity bin, split by the NSFW and multi-label flags.

    Args:
        samples: Rows with ``dataset``, ``wnid``, ``nsfw`` (LAION tag), ``multi_label``
            and ``text_similarity``.

    Returns:
        Rows of the ``similarity_histograms`` table (only non-zero counts).
    """
    nsfw = np.fromiter((is_nsfw(tag) for tag in samples["nsfw"]), bool, len(samples))
    frame = pd.DataFrame(
        {
            "dataset": samples["dataset"].to_numpy(),
            "wnid": samples["wnid"].to_numpy(),
            "nsfw": nsfw,
            "multi_label": samples["multi_label"].to_numpy(dtype=bool),
            "bin": compute_similarity_bins(samples["text_similarity"].to_numpy(dtype=float)),
        }
    )
    counts = frame.groupby(list(frame.columns), sort=True).size().rename("n").reset_index()
    assert counts["bin"].between(0, N_BINS - 1).all()
    return counts


def write_class_metrics(con: duckdb.DuckDBPyConnection, metrics: pd.DataFrame) -> None:
    """Replace per-class metrics rows for the (dataset, metric) pairs in ``metrics``.

    Args:
        metrics: Columns dataset, wnid, metric, n, value, ci_low, ci_high.
    """
    columns = ("dataset", "wnid", "metric", "n", "value", "ci_low", "ci_high")
    require_columns(metrics, columns, where="class metrics")
    for dataset, metric in metrics[["dataset", "metric"]].drop_duplicates().itertuples(False):
        con.execute(
            f"DELETE FROM {schema.CLASS_METRICS} WHERE dataset = ? AND metric = ?",
            [dataset, metric],
        )
    _insert_frame(con, schema.CLASS_METRICS, metrics.loc[:, list(columns)])


def _delete_dataset(con: duckdb.DuckDBPyConnection, dataset: str) -> None:
    con.execute(
        f"DELETE FROM {schema.THUMBNAILS} WHERE thumbnail_id IN "
        f"(SELECT thumbnail_id FROM {schema.SAMPLES} WHERE dataset = ?)",
        [dataset],
    )
    for table in (
        schema.SAMPLES,
        schema.CANDIDATES,
        schema.IMAGE_EMBEDDINGS,
        schema.TEXT_EMBEDDINGS,
        schema.SIMILARITY_HISTOGRAMS,
        schema.CLASS_METRICS,
        schema.REJECTED,
        schema.PREDICTIONS,
        schema.CAPTION_DIAGNOSTICS,
        schema.DATASETS,
    ):
        con.execute(f"DELETE FROM {table} WHERE dataset = ?", [dataset])


def _write_thumbnails(
    con: duckdb.DuckDBPyConnection, thumbnails: Sequence[tuple[str, bytes] | None]
) -> list[int | None]:
    """Insert thumbnails; returns the id of each (None where there is none)."""
    start = fetch_one(con, f"SELECT COALESCE(MAX(thumbnail_id), -1) + 1 FROM {schema.THUMBNAILS}")[
        0
    ]
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
        _insert_arrow(con, schema.THUMBNAILS, table)
    return ids


def _embedding_array(embeddings: np.ndarray) -> pa.Array:
    flat = np.ascontiguousarray(embeddings, dtype=np.float32)
    values = pa.array(flat.reshape(-1))
    return pa.ListArray.from_arrays(
        pa.array(np.arange(0, flat.size + 1, max(flat.shape[1], 1), dtype=np.int32)), values
    )


def _insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    _insert_arrow(con, table, pa.Table.from_pandas(frame, preserve_index=False))


def _insert_arrow(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    view = f"_incoming_{table}"
    con.register(view, data)
    try:
        names = ", ".join(data.column_names)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {view}")
    finally:
        con.unregister(view)
