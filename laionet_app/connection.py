"""The app's database: a key that changes when the file is swapped, and its connection.

``build`` (and every writer) swaps a new file into place at ``$LAIONET_DB``. Each rerun
looks at the file's inode and modification time: a new file gets a new key, so cached
helpers (keyed by it) read the new file, and a new connection is opened for it.

Two details make this work:

- DuckDB hands later ``duckdb.connect(path)`` calls in a process the instance already
  open for that path, which would keep serving the old, deleted file. So each file is
  opened in a private in-memory instance (an unnamed ``:memory:`` connection is never
  shared) and ATTACHed read-only there.
- Sessions lease the file they started on: ``database_lease`` holds it for a whole rerun
  (``app.py`` wraps every page in it), ``database_fragment`` for a fragment rerun, and
  every cursor until it is garbage collected. A session in the middle of a rerun
  finishes on the old file; the old connection is closed when its last lease ends.
- A file counts as old once another file is at its path, whether or not anything opened
  the new one: a lease ending looks, and so does a watcher thread every
  ``WATCH_INTERVAL_S`` (an idle server runs nothing, so no rerun would open the new file
  and retire the old).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, ParamSpec

import duckdb
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from laionet_app.text import escape_markdown
from laionet_core import queries
from laionet_core.messages import MAX_MESSAGE_CHARS, bound_message
from laionet_core.settings import DB_ENV_VAR, DEFAULT_DB_PATH, resolve_db_path

logger = logging.getLogger(__name__)

# (path, inode, modification time in ns): a cache key that changes when the file does.
DbKey = tuple[str, int, int]
P = ParamSpec("P")
# The name the database file is attached under in its private in-memory instance.
CATALOG = "laionet"
# DuckDB's own memory per open file: its buffer pool otherwise keeps every block a query
# read, up to 80% of RAM (the selection lab's scan of 0.9M embeddings left 1.8 GB).
APP_MEMORY_LIMIT = "1GB"
# Files swapped in while a rerun opens the database: the newest is taken, this many times.
OPEN_ATTEMPTS = 3
# Session state: the key of the file this session's last full run read (its fragments').
SESSION_DB_KEY = "_laionet_database_key"
# How often the watcher looks for open files replaced on disk (a stat per open file).
WATCH_INTERVAL_S = 1.0


class DatabaseChangedError(RuntimeError):
    """The file a key names was swapped out and its connection is closed."""


@dataclass
class _Handle:
    """One open database file and the number of leases on it."""

    key: DbKey
    con: duckdb.DuckDBPyConnection
    users: int = 0
    current: bool = True


class _Registry:
    """Open databases by key; old ones are closed when their last lease ends."""

    def __init__(self, watch_interval_s: float = WATCH_INTERVAL_S) -> None:
        self._lock = threading.RLock()
        self._handles: dict[DbKey, _Handle] = {}
        self._watch_interval_s = watch_interval_s
        self._watcher: threading.Thread | None = None

    def acquire(self, key: DbKey) -> _Handle:
        """Lease ``key``'s connection, opening it if it is the file now at its path.

        Raises:
            DatabaseChangedError: ``key`` is closed and its path now holds another file.
            ValueError: The file is not a database this version reads.
        """
        with self._lock:
            handle = self._handles.get(key)
            if handle is None:
                if stat_database(Path(key[0])) != key:
                    raise DatabaseChangedError(f"{key[0]} changed; rerun to read the new file")
                handle = self._handles[key] = _Handle(key, open_database(key))
                for other in list(self._handles.values()):
                    if other.key[0] == key[0] and other.key != key:
                        other.current = False
                        self._close_if_unused(other)
                self._start_watcher()
            handle.users += 1
            return handle

    def release(self, key: DbKey) -> None:
        """End one lease on ``key``; close its connection if it was the last on an old file."""
        with self._lock:
            handle = self._handles.get(key)
            if handle is not None:
                handle.users -= 1
                self._close_if_unused(handle)

    def close_replaced(self) -> list[DbKey]:
        """Mark files that another file replaced on disk as old; close those unused.

        Returns:
            The keys closed.
        """
        closed = []
        with self._lock:
            for handle in list(self._handles.values()):
                if self._close_if_unused(handle):
                    closed.append(handle.key)
        return closed

    def _close_if_unused(self, handle: _Handle) -> bool:
        """Close ``handle`` if no lease holds it and its file is old; True when closed."""
        if handle.users > 0 or self._handles.get(handle.key) is not handle:
            return False  # in use, or already closed (a finalizer ran inside a loop)
        if handle.current and stat_database(Path(handle.key[0])) != handle.key:
            handle.current = False  # replaced (or removed) on disk, opened or not
        if handle.current:
            return False
        del self._handles[handle.key]
        handle.con.close()
        logger.info("closed %s (inode %d): a newer file replaced it", *handle.key[:2])
        return True

    def _start_watcher(self) -> None:
        """Start the thread that closes replaced files nobody uses (caller holds the lock)."""
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name="laionet-database-watcher", daemon=True
            )
            self._watcher.start()

    def _watch(self) -> None:
        """Every interval, close unused files replaced on disk; stop when none is open."""
        while True:
            time.sleep(self._watch_interval_s)
            with self._lock:
                if not self._handles:
                    self._watcher = None
                    return
                try:
                    self.close_replaced()
                except Exception:  # a stat or close that failed: say so, keep watching
                    logger.exception("checking the open databases for replaced files failed")

    def open_keys(self) -> list[DbKey]:
        """Keys whose connection is open (for tests and diagnostics)."""
        with self._lock:
            return list(self._handles)


_REGISTRY = _Registry()
_LEASED = threading.local()  # .key: the database leased by the rerun on this thread


def stat_database(path: Path) -> DbKey | None:
    """The key of the file now at ``path``, or None when there is none."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return str(path), info.st_ino, info.st_mtime_ns


def open_database(key: DbKey) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the file ``key`` names, in an instance of its own.

    Raises:
        DatabaseChangedError: Another file was swapped in while it was opened.
        ValueError: The file is not a database this version reads.
    """
    path = key[0]
    literal = "'" + path.replace("'", "''") + "'"
    con = duckdb.connect(":memory:", config={"memory_limit": APP_MEMORY_LIMIT})
    try:
        con.execute(f"ATTACH {literal} AS {CATALOG} (READ_ONLY)")
        con.execute(f"USE {CATALOG}")
        queries.check_schema_version(con, path)
    except duckdb.Error as error:
        con.close()
        raise ValueError(f"{path} is not a readable DuckDB database: {error}") from error
    except ValueError:
        con.close()
        raise
    if stat_database(Path(path)) != key:  # the attached file may be the newer one
        con.close()
        raise DatabaseChangedError(f"{path} changed while it was opened")
    return con


def require_database() -> DbKey:
    """The key of the database this rerun reads, or a page explaining how to build one.

    Inside ``database_lease`` it is the leased key, so a page sees the same file as the
    frame around it even if a new one is swapped in meanwhile.
    """
    leased = getattr(_LEASED, "key", None)
    if leased is not None:
        return leased
    path = resolve_db_path()
    key = stat_database(path)
    if key is None or not path.is_file():
        st.error(f"No database at {escape_markdown(path)}.")
        st.markdown(
            f"Build the simulated demo database with `python -m precompute demo --db` "
            f"{escape_markdown(path)}, or point `{DB_ENV_VAR}` at a database "
            f"(default: `{DEFAULT_DB_PATH}`)."
        )
        st.stop()
    return key


@contextlib.contextmanager
def database_lease() -> Iterator[DbKey]:
    """Hold the database now at ``$LAIONET_DB`` for one rerun (stops with a page if none).

    Yields:
        Its key; ``require_database`` returns it until the block ends.
    """
    key = require_database()
    if getattr(_LEASED, "key", None) is not None:  # nested: the outer lease holds it
        yield key
        return
    for attempt in range(OPEN_ATTEMPTS):
        try:
            _REGISTRY.acquire(key)
            break
        except DatabaseChangedError as error:  # swapped meanwhile: take the newer file
            if attempt == OPEN_ATTEMPTS - 1:
                _stop_with(error)
            key = require_database()
        except ValueError as error:
            _stop_with(error)
    if get_script_run_ctx() is not None:  # what this session's fragments rerun on
        st.session_state[SESSION_DB_KEY] = key
    with _held(key):
        yield key


@contextlib.contextmanager
def _held(key: DbKey) -> Iterator[None]:
    """Mark ``key`` (already acquired) as this thread's rerun's file; release it at the end."""
    _LEASED.key = key
    try:
        yield
    finally:
        _LEASED.key = None
        _REGISTRY.release(key)


def holds_database_lease() -> bool:
    """True inside ``app.py``'s lease (or a fragment's): this run is framed by the app."""
    return getattr(_LEASED, "key", None) is not None


def database_fragment(func: Callable[P, None]) -> Callable[P, None]:
    """``st.fragment`` whose reruns hold the page's file, or rerun the app on a new one.

    In a full run ``func`` runs inside ``app.py``'s lease. A fragment rerun (one of its
    widgets changed) runs without it: it leases the file its page was built on, unless
    another file is at the path by then; then the whole app reruns, on the new file.
    """

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        ctx = get_script_run_ctx()
        if ctx is None or not ctx.fragment_ids_this_run or getattr(_LEASED, "key", None):
            func(*args, **kwargs)  # a full run (app.py holds the file), or no Streamlit
            return
        key = st.session_state.get(SESSION_DB_KEY)
        # None: the page ran without app.py (a cold server's legacy first run, see
        # laionet_app.frame), so nothing holds its file: frame it now.
        if key is None or stat_database(Path(key[0])) != key:
            st.rerun()  # the whole app, on the file now at the path
        try:
            _REGISTRY.acquire(key)
        except DatabaseChangedError:  # replaced since the look above
            st.rerun()
        with _held(key):
            func(*args, **kwargs)

    return st.fragment(run)


def _stop_with(error: Exception) -> NoReturn:
    """One bounded line on the page, then stop the rerun (raise ``error`` outside a run)."""
    st.error(escape_markdown(bound_message(str(error)), limit=MAX_MESSAGE_CHARS))
    st.stop()
    raise error


def cursor(db: DbKey) -> duckdb.DuckDBPyConnection:
    """A cursor on ``db``'s connection; it holds the file until it is garbage collected.

    Raises:
        DatabaseChangedError: ``db``'s file was replaced and no session uses it any more
            (a fragment rerun after a swap); inside a Streamlit run the app reruns instead.
    """
    try:
        handle = _REGISTRY.acquire(db)
    except DatabaseChangedError:
        if get_script_run_ctx() is not None:
            st.rerun()  # the whole app, on the new file
        raise
    try:
        cur = handle.con.cursor()
        cur.execute(f"USE {CATALOG}")  # the catalog is chosen per connection
    except BaseException:
        _REGISTRY.release(db)
        raise
    weakref.finalize(cur, _REGISTRY.release, db)
    return cur


def open_database_keys() -> list[DbKey]:
    """Keys of the files this process holds open."""
    return _REGISTRY.open_keys()


def close_replaced_databases() -> list[DbKey]:
    """Close now the unused files another file replaced (the watcher does it each interval).

    Returns:
        The keys closed.
    """
    return _REGISTRY.close_replaced()
