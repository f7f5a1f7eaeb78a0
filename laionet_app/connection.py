"""The app's database: its path and modification time as a cache key, and one connection.

Cached helpers take the key ``(path, mtime)``, so a rebuilt database is picked up
without restarting the app.
"""

from __future__ import annotations

import duckdb
import streamlit as st

from laionet_core import queries
from laionet_core.settings import DB_ENV_VAR, DEFAULT_DB_PATH, resolve_db_path

DbKey = tuple[str, float]  # (path, modification time): a cache key that changes on rebuild


def require_database() -> DbKey:
    """The database key, or a page explaining how to build the database (then stop)."""
    path = resolve_db_path()
    if not path.is_file():
        st.error(f"No database at `{path}`.")
        st.markdown(
            f"Build the simulated demo database with `python -m precompute demo --db {path}`, "
            f"or point `{DB_ENV_VAR}` at a database (default: `{DEFAULT_DB_PATH}`)."
        )
        st.stop()
    return str(path), path.stat().st_mtime


@st.cache_resource(show_spinner=False)
def _connection(path: str, mtime: float) -> duckdb.DuckDBPyConnection:
    return queries.connect(path)


def cursor(db: DbKey) -> duckdb.DuckDBPyConnection:
    """A cursor of the shared read-only connection (one per call: cursors are cheap)."""
    return _connection(*db).cursor()
