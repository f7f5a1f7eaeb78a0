"""Update an existing database while other processes read it: copy, write, swap.

DuckDB locks its file: a process holding it read-only (the app serving it) blocks every
writer in other processes, and a writer blocks every reader. So an update never writes
the served file in place. It copies the file to a temporary sibling
(``.<name>.tmp-<pid>``, the name ``storage.open_new_database`` uses) while holding it
read-only itself (readers may stay, no writer can start), runs the block in one
transaction on the copy, and renames the copy over the original. Readers keep the old
file until they reopen (the app notices the new inode); a failure removes the copy and
leaves the original byte for byte as it was.

Writers that use this module take turns through an advisory lock on ``.<name>.lock``
beside the database, so two updates cannot both copy the same original and lose one's
changes; a writer that finds the lock held waits (saying which process holds it) up to
``UPDATE_LOCK_WAIT_SECONDS``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from laionet_core import schema
from laionet_core.queries import check_schema_version
from laionet_core.report_store import store_headline_report

logger = logging.getLogger(__name__)

# How long an update waits for another update of the same database before giving up.
UPDATE_LOCK_WAIT_SECONDS = 600.0
# Poll interval while waiting: short next to any update, long next to a system call.
UPDATE_LOCK_POLL_SECONDS = 0.2


def describe_lock_holder(error: BaseException) -> str:
    """``process N`` from DuckDB's lock error, or ``another process`` when it names none."""
    found = re.search(r"PID (\d+)", str(error))
    return f"process {found.group(1)}" if found else "another process"


def remove_database_files(path: Path) -> None:
    """Remove a database file and its write-ahead log, if present."""
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def remove_orphaned_temporaries(path: Path) -> None:
    """Remove ``.<name>.tmp-<pid>`` (and its ``.wal``) left by processes no longer running."""
    prefix = f".{path.name}.tmp-"
    for tmp in path.parent.glob(f"{prefix}*"):
        pid = tmp.name.removeprefix(prefix).removesuffix(".wal")
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            logger.info("%s: removed, left by a killed build (process %s)", tmp, pid)
            tmp.unlink(missing_ok=True)
        except PermissionError:
            pass  # running, as another user


@contextmanager
def hold_update_lock(
    path: Path, *, wait_seconds: float = UPDATE_LOCK_WAIT_SECONDS
) -> Iterator[None]:
    """Hold the exclusive update lock of the database at ``path`` (``.<name>.lock``).

    Raises:
        PermissionError: The database's folder is not writable (folder named).
        TimeoutError: Another update held the lock for longer than ``wait_seconds``
            (its process id named).
    """
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole update
    except OSError as error:
        raise PermissionError(
            f"{path}: cannot update it, its folder {path.parent} is not writable ({error.strerror})"
        ) from error
    with handle:
        deadline = time.monotonic() + wait_seconds
        waiting = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{path}: another update (process {holder}) still holds {lock_path} "
                        f"after {wait_seconds:.0f} s; try again when it has finished"
                    ) from None
                if not waiting:
                    logger.warning("%s: waiting for the update by process %s", path, holder)
                    waiting = True
                time.sleep(UPDATE_LOCK_POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def copy_for_update(
    path: Path, tmp: Path, *, schema_versions: tuple[int, ...] = (schema.SCHEMA_VERSION,)
) -> None:
    """Copy the database at ``path`` to ``tmp`` while holding it read-only.

    The read-only connection keeps writers out during the copy; readers may stay.
    ``schema_versions``: the versions accepted (an upgrade accepts the older one).

    Raises:
        ValueError: ``path`` is not a DuckDB database, or another process has it open
            for writing (its process id named).
        OSError: The copy failed (no space left, ...); ``tmp`` is removed.
    """
    try:
        reader = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            raise ValueError(
                f"{path} is open for writing by {describe_lock_holder(error)}; "
                "try again when it has finished"
            ) from error
        raise ValueError(f"{path} is not a readable DuckDB database: {error}") from error
    except duckdb.Error as error:
        raise ValueError(f"{path} is not a readable DuckDB database: {error}") from error
    try:
        check_schema_version(reader, path, allowed=schema_versions)
        remove_database_files(tmp)
        shutil.copyfile(path, tmp)
        shutil.copymode(path, tmp)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():  # left by a writer that stopped before its checkpoint: replayed
            shutil.copyfile(wal, tmp.with_name(tmp.name + ".wal"))
    except BaseException:
        remove_database_files(tmp)
        raise
    finally:
        reader.close()


@contextmanager
def open_database_for_update(
    path: str | Path, *, schema_versions: tuple[int, ...] = (schema.SCHEMA_VERSION,)
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the block in one transaction on a copy of an existing database, then swap it in.

    Works while other processes (the app) hold the database open read-only: they keep
    reading the old file until they reopen it. When the block raises, the database is
    left byte for byte as it was and the copy is removed. ``schema_versions``: the
    versions accepted (``python -m precompute upgrade`` accepts the older one).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: The file is not a database of this schema version, or another
            process has it open for writing.
        PermissionError: Its folder is not writable.
        TimeoutError: Another update kept it for longer than ``UPDATE_LOCK_WAIT_SECONDS``.
        OSError: No room for the copy (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"database {path} does not exist; build it first")
    with hold_update_lock(path):
        remove_orphaned_temporaries(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            copy_for_update(path, tmp, schema_versions=schema_versions)
        except OSError as error:
            raise OSError(
                error.errno, f"{path}: cannot copy it for the update ({error.strerror})"
            ) from error
        try:
            con = duckdb.connect(str(tmp))
            try:
                con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                    store_headline_report(con)  # of what the block wrote
                    con.execute("COMMIT")
                except BaseException:
                    with suppress(duckdb.Error):
                        con.execute("ROLLBACK")
                    raise
                con.execute("CHECKPOINT")
            finally:
                con.close()
            os.replace(tmp, path)
            path.with_name(path.name + ".wal").unlink(missing_ok=True)  # already in the copy
            logger.info("updated %s", path)
        finally:
            remove_database_files(tmp)
