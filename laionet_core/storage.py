"""DuckDB writes: create a database atomically and add datasets to it.

A build writes a fresh database into a temporary file next to the target and swaps it
into place only when everything succeeded, so a failed build leaves an existing
database untouched. Adding a dataset to an existing database runs in one transaction on
a copy that is then swapped in (``storage_update``), so it works while the app reads it.
Results computed from stored datasets (class metrics, caption diagnostics) are written
by ``storage_results``; the Arrow plumbing is in ``storage_arrow``, the classes, synset
embeddings, histograms and deletion in ``storage_rows``.
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
from laionet_core.content_rules import (
    ContentRules,
    OcrText,
    apply_content_rules,
    describe_content_rules,
    select_content_rules,
)
from laionet_core.recipes import read_recorded_recipe
from laionet_core.report_store import store_headline_report
from laionet_core.storage_arrow import (
    build_embedding_array,
    insert_arrow,
    insert_frame,
    write_thumbnails,
)
from laionet_core.storage_order import write_samples_in_class_order
from laionet_core.storage_rows import delete_dataset, write_meta
from laionet_core.storage_rows import write_classes as write_classes  # re-exported
from laionet_core.storage_rows import write_synset_embeddings as write_synset_embeddings
from laionet_core.storage_update import (
    open_database_for_update as open_database_for_update,  # re-exported: its old home
)
from laionet_core.storage_update import (
    remove_database_files,
    remove_orphaned_temporaries,
)
from laionet_core.validation import require_columns, require_unit_rows

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

    Yields a connection to a fresh database in a temporary sibling file
    (``.<name>.tmp-<pid>``) with the schema already created. When the block finishes,
    the samples are stored in class order (``storage_order``), the headline report is
    kept in ``meta`` (``report_store``) and the file replaces
    ``path``; when it raises, the temporary file is removed and
    ``path`` is left as it was. Temporary files of killed builds (their process is no
    longer running) are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphaned_temporaries(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    remove_database_files(tmp)
    con = duckdb.connect(str(tmp))
    try:
        con.execute(schema.DDL)
        write_meta(con, {"schema_version": str(schema.SCHEMA_VERSION)})
        yield con
        write_samples_in_class_order(con)
        store_headline_report(con)
        con.execute("CHECKPOINT")
        con.close()
        os.replace(tmp, path)
        logger.info("wrote %s", path)
    except BaseException:
        con.close()
        remove_database_files(tmp)
        raise


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
    ocr_text: OcrText | None = None,
) -> None:
    """Add one dataset held in memory (replacing any dataset of the same name).

    Args:
        con: An open, writable connection (see ``open_new_database`` and
            ``open_database_for_update``).
        info: The dataset's row in ``datasets``.
        samples: One row per sample with ``SAMPLE_COLUMNS``; the other arguments are
            as in ``DatasetWriter.append_batch``.
        ocr_text: As in ``DatasetWriter``.

    Raises:
        ValueError: A column is missing, lengths disagree, sample ids repeat, or an
            embedding is not unit-norm.
    """
    writer = DatasetWriter(con, info, ocr_text=ocr_text)
    writer.append_batch(
        samples,
        image_embeddings=image_embeddings,
        text_embeddings=text_embeddings,
        thumbnails=thumbnails,
        candidates=candidates,
        rejected=rejected,
    )
    writer.finish()


class DuplicateSampleError(ValueError):
    """A batch holds a sample id that an earlier batch of the dataset already wrote."""

    def __init__(self, message: str, sample_id: str) -> None:
        super().__init__(message)
        self.sample_id = sample_id


def _check_batch(
    samples: pd.DataFrame,
    arrays: dict[str, np.ndarray | None],
    thumbnails: Sequence[tuple[str, bytes] | None] | None,
    extras: dict[str, tuple[pd.DataFrame | None, tuple[str, ...]]],
    where: str,
) -> dict[str, np.ndarray]:
    """Validate one batch before anything is written; the embeddings as float32 rows.

    Raises:
        ValueError: A column is missing, lengths disagree, a sample id repeats within
            the batch, or an embedding is not unit-norm (each named with ``where``).
    """
    require_columns(samples, SAMPLE_COLUMNS, where=f"samples of {where}")
    n = len(samples)
    if samples["sample_id"].duplicated().any():
        dup = samples.loc[samples["sample_id"].duplicated(), "sample_id"].iloc[0]
        raise ValueError(f"{where}: sample_id {dup!r} appears more than once")
    for label, array in {**arrays, "thumbnails": thumbnails}.items():
        if array is not None and len(array) != n:
            raise ValueError(f"{where}: {len(array)} {label} for {n} samples")
    units = {
        table: require_unit_rows(array, name=f"{table} of {where}")
        for table, array in arrays.items()
        if array is not None
    }
    for table, (extra, columns) in extras.items():
        if extra is not None:
            require_columns(extra, columns, where=f"{table} of {where}")
    return units


class DatasetWriter:
    """Writes one dataset batch by batch, so memory is bounded by one batch.

    Creating it deletes any dataset of the same name; ``append_batch`` inserts rows
    straight into DuckDB; ``finish`` writes the ``datasets`` row, applies the dataset's
    content rules (``samples.filtered``, in bulk SQL) and counts the similarity
    histograms from the stored rows (``content_rules``). Sample ids must be unique
    across batches.

    Args:
        con: A writable connection.
        info: The dataset's row; the content rules follow the recipe recorded in its
            parameters and its kind (``content_rules.select_content_rules``).
        rules: Content rules to apply instead.
        ocr_text: Recognised image text (``content_rules.OcrText``), for a recipe's
            OCR rule; None: the rule is not applied, and the dataset's parameters say so.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        info: DatasetInfo,
        *,
        rules: ContentRules | None = None,
        ocr_text: OcrText | None = None,
    ) -> None:
        self._con = con
        self._info = info
        recipe = read_recorded_recipe(info.parameters)
        self.rules = rules if rules is not None else select_content_rules(recipe, info.kind)
        self._ocr_text = ocr_text
        self.n_samples = 0
        delete_dataset(con, info.dataset)

    def append_batch(
        self,
        samples: pd.DataFrame,
        *,
        image_embeddings: np.ndarray | None = None,
        text_embeddings: np.ndarray | None = None,
        thumbnails: Sequence[tuple[str, bytes] | None] | None = None,
        candidates: pd.DataFrame | None = None,
        rejected: pd.DataFrame | None = None,
        source: str | None = None,
    ) -> None:
        """Insert one batch of N samples and what is row-aligned with them.

        Args:
            samples: N rows with ``SAMPLE_COLUMNS``.
            image_embeddings: (N, D) L2-normalised.
            text_embeddings: (N, D) L2-normalised caption embeddings.
            thumbnails: N ``(mime, bytes)`` or None.
            candidates: Every (sample_id, wnid, text_similarity) pair that was scored.
            rejected: Rows (source, sample_id, reason) that could not be used.
            source: Where the batch came from (e.g. a shard), for error messages.

        Raises:
            ValueError: A column is missing, lengths disagree, an embedding is not
                unit-norm (nothing is written then), or a sample id repeats within the
                batch or with an earlier one (the id is named).
        """
        where = f"dataset {self._info.dataset!r}" + (f" ({source})" if source else "")
        arrays = {
            schema.IMAGE_EMBEDDINGS: image_embeddings,
            schema.TEXT_EMBEDDINGS: text_embeddings,
        }
        extras = {
            schema.CANDIDATES: (candidates, CANDIDATE_COLUMNS),
            schema.REJECTED: (rejected, REJECTED_COLUMNS),
        }
        units = _check_batch(samples, arrays, thumbnails, extras, where)
        frame = samples.loc[:, list(SAMPLE_COLUMNS)].copy()
        frame.insert(0, "dataset", self._info.dataset)
        frame["sample_id"] = frame["sample_id"].astype(str)
        n = len(frame)
        ids = write_thumbnails(self._con, thumbnails) if thumbnails is not None else [None] * n
        frame["thumbnail_id"] = pd.array(ids, dtype="Int64")
        self._insert_samples(frame, where)
        self._insert_rows(frame["sample_id"], units, extras)
        self.n_samples += n

    def _insert_rows(
        self,
        sample_ids: pd.Series,
        units: dict[str, np.ndarray],
        extras: dict[str, tuple[pd.DataFrame | None, tuple[str, ...]]],
    ) -> None:
        """Insert the embeddings and the candidate and rejected rows of one batch."""
        name = self._info.dataset
        ids = pa.array(sample_ids.tolist(), pa.string())
        names = pa.array([name] * len(ids), pa.string())
        for table, unit in units.items():
            embedding = build_embedding_array(unit)
            data = pa.table({"dataset": names, "sample_id": ids, "embedding": embedding})
            insert_arrow(self._con, table, data)
        for table, (extra, columns) in extras.items():
            if extra is not None and len(extra):
                rows = extra.loc[:, list(columns)].copy()
                rows.insert(0, "dataset", name)
                rows["sample_id"] = rows["sample_id"].astype("string")
                insert_frame(self._con, table, rows)

    def _insert_samples(self, frame: pd.DataFrame, where: str) -> None:
        try:
            insert_frame(self._con, schema.SAMPLES, frame)
        except duckdb.ConstraintException as error:
            try:  # name the repeated id (this query fails inside an aborted transaction)
                dup = self._con.execute(
                    f"SELECT sample_id FROM {schema.SAMPLES} WHERE dataset = ? "
                    "AND sample_id = ANY(?) LIMIT 1",
                    [self._info.dataset, frame["sample_id"].tolist()],
                ).fetchall()[0][0]
            except (duckdb.Error, IndexError):
                raise ValueError(f"{where}: {error}") from error
            message = f"{where}: sample_id {dup!r} is already in an earlier batch"
            raise DuplicateSampleError(message, dup) from error

    def finish(self, *, parameters: dict | None = None) -> dict[str, int]:
        """Write the ``datasets`` row, apply the content rules, count the histograms.

        Args:
            parameters: Merged into ``info.parameters`` (e.g. counts known at the end);
                ``content_rules`` (the rules and whether OCR text was read) is added.

        Returns:
            Samples the content rules drop (``content_rules.write_content_flags``).
        """
        info = self._info
        given = self._ocr_text is not None
        rules = {"content_rules": describe_content_rules(self.rules, ocr_text_given=given)}
        self._con.execute(
            f"INSERT INTO {schema.DATASETS} VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                info.dataset,
                info.kind,
                info.source,
                info.encoder,
                info.simulated,
                json.dumps(
                    {**info.parameters, **(parameters or {}), **rules}, sort_keys=True, default=str
                ),
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
        dropped = apply_content_rules(self._con, info.dataset, self.rules, ocr_text=self._ocr_text)
        logger.info("dataset %s: %d samples", info.dataset, self.n_samples)
        return dropped
