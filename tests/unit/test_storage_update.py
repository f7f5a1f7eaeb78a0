"""Updates run on a copy that is swapped in, so they work while another process reads."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from laionet_core.storage import open_new_database, write_meta
from laionet_core.storage_update import hold_update_lock, open_database_for_update

REPO = Path(__file__).resolve().parents[2]


def _database(path: Path) -> Path:
    with open_new_database(path) as con:
        write_meta(con, {"x": "0"})
    return path


def _meta(path: Path, key: str) -> str | None:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    finally:
        con.close()
    return None if row is None else row[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hold(path: Path, *, read_only: bool) -> subprocess.Popen:
    """A child process holding ``path`` open; on each input line it prints meta x."""
    code = (
        "import duckdb, sys\n"
        f"c = duckdb.connect(sys.argv[1], read_only={read_only})\n"
        "print('held', flush=True)\n"
        "for _ in sys.stdin:\n"
        "    v = c.execute(\"SELECT value FROM meta WHERE key = 'x'\").fetchone()[0]\n"
        "    print(v, flush=True)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "held"
    return child


def _ask(child: subprocess.Popen) -> str:
    child.stdin.write("x\n")
    child.stdin.flush()
    return child.stdout.readline().strip()


def test_an_update_works_while_another_process_reads(tmp_path: Path) -> None:
    path = _database(tmp_path / "db.duckdb")
    reader = _hold(path, read_only=True)
    try:
        inode = path.stat().st_ino
        with open_database_for_update(path) as con:  # a direct write would hit the lock
            write_meta(con, {"x": "1"})
        assert path.stat().st_ino != inode  # swapped in: readers notice a new file
        assert _meta(path, "x") == "1"
        assert _ask(reader) == "0"  # the reader keeps reading the file it opened
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".db.duckdb.lock", "db.duckdb"]


def test_a_failed_update_leaves_the_database_byte_identical(tmp_path: Path) -> None:
    path = _database(tmp_path / "db.duckdb")
    before = _digest(path)
    with pytest.raises(ValueError, match="stop"), open_database_for_update(path) as con:
        write_meta(con, {"x": "1"})
        raise ValueError("stop")
    assert _digest(path) == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_a_database_open_for_writing_elsewhere_is_named(tmp_path: Path) -> None:
    path = _database(tmp_path / "db.duckdb")
    writer = _hold(path, read_only=False)
    try:
        before = _digest(path)
        match = f"open for writing by process {writer.pid}"
        with pytest.raises(ValueError, match=match), open_database_for_update(path):
            pass
        assert _digest(path) == before
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)


def test_updates_take_turns_and_a_long_wait_names_the_holder(tmp_path, caplog) -> None:
    path = _database(tmp_path / "db.duckdb")
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from laionet_core.storage_update import hold_update_lock\n"
        "with hold_update_lock(Path(sys.argv[1])):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(1.5)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = pytest.raises(TimeoutError, match=f"process {holder.pid}")
        with busy, hold_update_lock(path, wait_seconds=0.2):
            pass
        started = time.monotonic()
        with caplog.at_level(logging.WARNING), open_database_for_update(path) as con:
            write_meta(con, {"x": "2"})
        assert time.monotonic() - started > 0.5  # it waited for the other update
        assert f"waiting for the update by process {holder.pid}" in caplog.text
        assert _meta(path, "x") == "2"
    finally:
        holder.wait(timeout=30)
