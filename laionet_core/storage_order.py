"""The samples table stored in class order, so one class's rows share their row groups.

The class browser reads one class at a time (its counts, bands, similarity grid and
samples), filtering on ``(dataset, wnid)``. DuckDB keeps min/max statistics per row group
of ~122k rows and skips the groups they exclude, but only when a class's rows sit
together: a build appends its shards in corpus order, so every row group holds every
class. Rewriting the table ordered by ``(dataset, wnid, sample_id)`` once, when a new
database is written, makes a class read touch its own row groups only. At the
paper-scale preset (20.5M samples) one class's count went from 0.14 s to 0.002 s, and its
per-bin sample draw from 1.05 s to 0.09 s (2.8 s to 1.0 s for the largest class).
"""

from __future__ import annotations

import logging

import duckdb

from laionet_core import schema
from laionet_core.queries import fetch_one

logger = logging.getLogger(__name__)

# Physical order of the samples: every per-class read filters on these two first.
CLASS_ORDER = ("dataset", "wnid", "sample_id")


def write_samples_in_class_order(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite the samples table ordered by ``CLASS_ORDER``, constraints and all.

    The rows go to a temporary table (temporary storage, not the database file), the
    table is dropped and checkpointed, so its blocks are free, and then re-created from
    its own ``CREATE TABLE`` statement (its primary key and NOT NULL constraints stay
    whatever the schema says) and refilled in order into those blocks: the file does
    not grow. Rewriting in place instead left the old table's blocks free inside the
    file and grew it by the table's size (226 -> 442 MiB on 3M rows).

    Run it outside a transaction (it checkpoints), on a file not yet in place.

    Raises:
        ValueError: The connection's catalog has no samples table.
    """
    row = fetch_one(
        con,
        "SELECT sql FROM duckdb_tables() WHERE table_name = ? "
        "AND database_name = current_database() AND schema_name = current_schema()",
        [schema.SAMPLES],
    )
    if row is None:
        raise ValueError(f"no table {schema.SAMPLES!r} to order in this database")
    ordered = f"{schema.SAMPLES}_in_class_order"
    con.execute(
        f"CREATE TEMP TABLE {ordered} AS SELECT * FROM {schema.SAMPLES} "
        f"ORDER BY {', '.join(CLASS_ORDER)}"
    )
    con.execute(f"DROP TABLE {schema.SAMPLES}")
    con.execute("CHECKPOINT")
    con.execute(row[0])
    con.execute(f"INSERT INTO {schema.SAMPLES} SELECT * FROM {ordered}")
    con.execute(f"DROP TABLE {ordered}")
    logger.info("stored %s in class order", schema.SAMPLES)
