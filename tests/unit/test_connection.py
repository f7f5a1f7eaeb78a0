"""The app's connection picks up a database swapped in at the same path.

DuckDB hands later ``connect()`` calls for a path the instance already open for it, so a
plain reconnect after a swap keeps reading the old, deleted file; the app opens each file
in an instance of its own and closes the old one when its last lease ends.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from laionet_app import connection
from laionet_app.connection import (
    SESSION_DB_KEY,
    DatabaseChangedError,
    _Registry,
    close_replaced_databases,
    cursor,
    database_fragment,
    database_lease,
    open_database_keys,
    require_database,
)
from laionet_core import schema


def _write_db(path: Path, label: str) -> None:
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE {schema.META} (key VARCHAR, value VARCHAR)")
    con.execute(
        f"INSERT INTO {schema.META} VALUES ('schema_version', ?), ('label', ?)",
        [str(schema.SCHEMA_VERSION), label],
    )
    con.close()


def _swap_in(path: Path, label: str) -> None:
    """Write a database beside ``path`` and rename it over ``path``, as ``build`` does."""
    staged = path.with_suffix(".staged")
    _write_db(staged, label)
    os.replace(staged, path)


def _label(key: tuple) -> str:
    return cursor(key).execute(f"SELECT value FROM {schema.META} WHERE key = 'label'").fetchone()[0]


def _open_deleted_files(directory: Path) -> list[str]:
    """Files under ``directory`` this process holds open although they were deleted."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)) and target.endswith("(deleted)"):
            found.append(target)
    return found


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "laionet.duckdb"
    _write_db(path, "A")
    monkeypatch.setenv("LAIONET_DB", str(path))
    return path


def test_plain_duckdb_reconnect_keeps_reading_the_old_file(db_path: Path) -> None:
    """Why the app does not simply call ``duckdb.connect`` again (DuckDB's instance cache)."""
    old = duckdb.connect(str(db_path), read_only=True)
    _swap_in(db_path, "B")
    again = duckdb.connect(str(db_path), read_only=True)
    assert again.execute("SELECT value FROM meta WHERE key = 'label'").fetchone()[0] == "A"
    again.close()
    old.close()


def test_swapped_database_is_read_and_the_old_file_closed(db_path: Path) -> None:
    with database_lease() as first:
        assert _label(first) == "A"
        _swap_in(db_path, "B")
        # Mid-rerun: this session keeps its file, the page sees the same key.
        assert require_database() == first
        assert _label(first) == "A"
        seen: dict[str, object] = {}

        def other_session() -> None:
            with database_lease() as key:
                seen["key"], seen["label"] = key, _label(key)

        thread = threading.Thread(target=other_session)
        thread.start()
        thread.join()
        assert seen["label"] == "B" and seen["key"] != first
        assert first in open_database_keys()  # still leased by this rerun
        assert _open_deleted_files(db_path.parent)  # the old file, still open
    # The last lease on the old file ended: closed, and its deleted file released.
    assert first not in open_database_keys()
    assert _open_deleted_files(db_path.parent) == []
    with database_lease() as key:
        assert key != first and _label(key) == "B"
    with pytest.raises(DatabaseChangedError, match="changed"):
        cursor(first)  # a fragment holding the old key: the app reruns on the new file


def test_a_cursor_holds_the_old_file_until_it_is_dropped(db_path: Path) -> None:
    with database_lease() as first:
        held = cursor(first)
    _swap_in(db_path, "B")
    with database_lease() as second:
        assert _label(second) == "B"
    assert first in open_database_keys()
    assert held.execute("SELECT value FROM meta WHERE key = 'label'").fetchone()[0] == "A"
    del held
    assert first not in open_database_keys()
    assert _open_deleted_files(db_path.parent) == []


def test_a_non_database_swapped_in_is_a_named_error(db_path: Path) -> None:
    staged = db_path.with_suffix(".staged")
    staged.write_bytes(b"not a database\n" * 100)
    os.replace(staged, db_path)
    key = require_database()
    with pytest.raises(ValueError, match="laionet.duckdb is not a readable DuckDB database"):
        cursor(key)
    with pytest.raises(ValueError, match="not a readable DuckDB database"), database_lease():
        pass
    assert key not in open_database_keys()


def test_a_lease_ending_after_a_swap_closes_the_file_nobody_opened_anew(db_path: Path) -> None:
    """No rerun opens the new file (a fragment on cached values): the old one closes anyway."""
    with database_lease() as first:
        assert _label(first) == "A"
        _swap_in(db_path, "B")
        assert first in open_database_keys()  # this rerun finishes on its file
    assert first not in open_database_keys()
    assert _open_deleted_files(db_path.parent) == []


def test_an_idle_replaced_file_is_closed_on_the_next_look(db_path: Path) -> None:
    with database_lease() as first:
        assert _label(first) == "A"
    _swap_in(db_path, "B")  # after the last lease: only a look at the disk can tell
    assert first in open_database_keys()
    assert _open_deleted_files(db_path.parent)
    assert first in close_replaced_databases()
    assert first not in open_database_keys()
    assert _open_deleted_files(db_path.parent) == []
    with database_lease() as key:
        assert _label(key) == "B"
    assert key not in close_replaced_databases()  # the file at the path stays open
    assert key in open_database_keys()


def test_a_replaced_file_in_use_stays_open_until_its_lease_ends(db_path: Path) -> None:
    with database_lease() as first:
        held = cursor(first)
    _swap_in(db_path, "B")
    assert first not in close_replaced_databases()  # the cursor still reads it
    assert held.execute("SELECT value FROM meta WHERE key = 'label'").fetchone()[0] == "A"
    del held
    assert first not in open_database_keys()
    assert _open_deleted_files(db_path.parent) == []


def test_the_watcher_closes_an_idle_replaced_file_and_stops_with_the_last(db_path: Path) -> None:
    registry = _Registry(watch_interval_s=0.01)
    first = require_database()
    registry.acquire(first)
    registry.release(first)
    _swap_in(db_path, "B")
    _wait_for(lambda: first not in registry.open_keys())
    assert _open_deleted_files(db_path.parent) == []
    second = require_database()
    registry.acquire(second)
    registry.release(second)
    db_path.unlink()  # removed, not replaced: nothing to read, closed as well
    _wait_for(lambda: registry.open_keys() == [])
    _wait_for(lambda: registry._watcher is None)  # no file open: the thread ended
    with pytest.raises(DatabaseChangedError, match="changed"):
        registry.acquire(second)


def _wait_for(condition: Callable[[], bool], limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "the watcher did not act"
        time.sleep(0.01)


class _Rerun(Exception):
    """Stands for Streamlit's RerunException."""


def _fake_streamlit(monkeypatch: pytest.MonkeyPatch, *, fragment_rerun: bool) -> dict:
    """A session (its state, a run context) in place of Streamlit's, for the fragment."""
    state: dict = {}

    def rerun() -> None:
        raise _Rerun

    fake = SimpleNamespace(session_state=state, rerun=rerun, fragment=lambda func: func)
    monkeypatch.setattr(connection, "st", fake)
    ctx = SimpleNamespace(fragment_ids_this_run=["selection"] if fragment_rerun else [])
    monkeypatch.setattr(connection, "get_script_run_ctx", lambda: ctx)
    return state


def test_a_fragment_rerun_leases_its_page_file_or_reruns_the_app_on_a_new_one(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []

    def render(n: int) -> None:
        key = require_database()
        leases = connection._REGISTRY._handles[key].users  # this rerun's (no cursor left)
        seen.append((n, key, _label(key), leases))

    state = _fake_streamlit(monkeypatch, fragment_rerun=False)
    fragment = database_fragment(render)
    with database_lease() as first:  # the full run: the fragment runs inside app.py's lease
        fragment(0)
    assert state[SESSION_DB_KEY] == first and seen == [(0, first, "A", 1)]
    _fake_streamlit(monkeypatch, fragment_rerun=True)
    monkeypatch.setattr(connection.st, "session_state", state)
    fragment(1)  # a slider move: on the page's file, leased for the rerun, then released
    assert seen[-1] == (1, first, "A", 1)
    assert connection._REGISTRY._handles[first].users == 0
    with database_lease():
        _swap_in(db_path, "B")
        fragment(2)  # inside a lease (nested): no check, the frame holds its file
    assert seen[-1] == (2, first, "A", 1)  # the frame's lease only
    assert first not in open_database_keys()
    with pytest.raises(_Rerun):
        fragment(3)  # after the swap: the whole app reruns, on B
    assert len(seen) == 3


def test_a_fragment_of_a_page_run_without_app_py_runs_then_reruns_the_app(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_streamlit(monkeypatch, fragment_rerun=False)
    ran = []
    fragment = database_fragment(lambda: ran.append(require_database()))
    fragment()  # a page run without app.py (a cold server's legacy first run)
    assert ran == [require_database()]
    _fake_streamlit(monkeypatch, fragment_rerun=True)
    with pytest.raises(_Rerun):
        fragment()  # its fragment rerun: no file to hold, so the app reruns (framed)
    assert len(ran) == 1
