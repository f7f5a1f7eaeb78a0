"""The app's DuckDB instance per file has a bounded buffer pool (not 80% of the RAM)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from laionet_app.connection import APP_MEMORY_LIMIT, open_database, stat_database
from laionet_core import schema


def test_each_open_file_has_the_app_memory_limit(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE {schema.META} (key VARCHAR, value VARCHAR)")
    con.execute(f"INSERT INTO {schema.META} VALUES ('schema_version', ?)", [schema.SCHEMA_VERSION])
    con.close()
    opened = open_database(stat_database(path))
    try:
        limit = opened.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        opened.close()
    assert APP_MEMORY_LIMIT == "1GB"
    assert limit in ("953.6 MiB", "1000.0 MB", "1.0 GB")  # DuckDB prints 1GB as 953.6 MiB
