"""Samples are stored in class order, with the table's constraints kept."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from laionet_core import schema
from laionet_core.storage import open_new_database
from laionet_core.storage_order import write_samples_in_class_order

ROWS = [("d", f"s{i}", f"n{(7 * i) % 5}", float(i % 3)) for i in range(40)]


def _insert(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    con.executemany(
        f"INSERT INTO {schema.SAMPLES} (dataset, sample_id, wnid, matched_wnids, multi_label, "
        "text_similarity) VALUES (?, ?, ?, [], false, ?)",
        rows,
    )


def test_new_database_stores_samples_in_class_order(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    with open_new_database(path) as con:
        _insert(con, [*ROWS, ("a", "s99", "n9", 0.5)])
    con = duckdb.connect(str(path), read_only=True)
    stored = con.execute(f"SELECT dataset, sample_id, wnid FROM {schema.SAMPLES}").fetchall()
    oracle = sorted(
        [(d, s, w) for d, s, w, _ in [*ROWS, ("a", "s99", "n9", 0.5)]],
        key=lambda r: (r[0], r[2], r[1]),
    )
    assert stored == oracle  # the physical (scan) order is the class order
    constraints = con.execute(
        "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
        "WHERE table_name = ?",
        [schema.SAMPLES],
    ).fetchall()
    con.close()
    assert ("PRIMARY KEY", ["dataset", "sample_id"]) in constraints
    assert ("NOT NULL", ["wnid"]) in constraints


def test_ordering_keeps_the_primary_key_and_refuses_a_missing_table() -> None:
    con = duckdb.connect(":memory:")
    con.execute(schema.DDL)
    _insert(con, ROWS)
    write_samples_in_class_order(con)
    with pytest.raises(duckdb.ConstraintException):
        _insert(con, [ROWS[0]])
    assert con.execute(f"SELECT count(*) FROM {schema.SAMPLES}").fetchone()[0] == len(ROWS)
    empty = duckdb.connect(":memory:")
    with pytest.raises(ValueError, match="no table 'samples' to order"):
        write_samples_in_class_order(empty)


def test_ordering_does_not_grow_the_file(tmp_path: Path) -> None:
    """The rewritten table reuses the old one's blocks (in place, it doubled the size)."""
    path = tmp_path / "big.duckdb"
    con = duckdb.connect(str(path))
    con.execute(schema.DDL)
    con.execute(
        f"INSERT INTO {schema.SAMPLES} (dataset, sample_id, wnid, matched_wnids, multi_label, "
        "text) SELECT 'd', 's' || i, 'n' || (hash(i) % 100), [], false, repeat('word ', 8) || i "
        "FROM range(300000) t(i)"
    )
    con.execute("CHECKPOINT")
    before = path.stat().st_size
    write_samples_in_class_order(con)
    con.execute("CHECKPOINT")
    con.close()
    assert path.stat().st_size <= 1.1 * before
