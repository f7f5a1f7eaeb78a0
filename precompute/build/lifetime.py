"""Worker processes end with their parent, and one build at a time uses a work folder.

``die_with_parent`` runs in each pool process (from the pool's initializer). On Linux
it asks the kernel for SIGKILL when the parent ends (``prctl(PR_SET_PDEATHSIG)``);
elsewhere, or when that call fails, a daemon thread polls the parent's pid. Either way
a worker whose build was killed stops instead of writing shards for nobody.

``hold_work_folder_lock`` takes an exclusive ``flock`` on ``<work>/.build.lock`` for a
whole build; a second build on the same folder stops at once, naming the first one's
process id. The kernel drops the lock when its process ends, killed or not, so a
killed build never leaves a stale lock behind.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# How often a worker without prctl checks that its parent still runs.
PARENT_POLL_SECONDS = 1.0
# The lock file inside a work folder (a dot file: shard folders are part-NNNNN).
WORK_LOCK_FILE = ".build.lock"


class WorkFolderBusyError(ValueError):
    """Another build holds the work folder; the message names its process id."""


def _request_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends; False when unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(interval)
    os._exit(1)  # the parent is gone: stop at once, without cleanup handlers


def die_with_parent(parent_pid: int, *, poll_seconds: float = PARENT_POLL_SECONDS) -> None:
    """End this process when the process ``parent_pid`` ends.

    Call it first thing in a worker (a pool initializer), with the parent's pid taken
    in the parent.

    Args:
        parent_pid: The pid of the process that started this one.
        poll_seconds: Poll interval of the fallback thread.
    """
    if not _request_parent_death_signal():
        thread = threading.Thread(
            target=_watch_parent, args=(parent_pid, poll_seconds), daemon=True, name="parent"
        )
        thread.start()
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _read_holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"


@contextmanager
def hold_work_folder_lock(work_dir: Path) -> Iterator[None]:
    """Hold the exclusive lock of a build's work folder (created if missing).

    Raises:
        WorkFolderBusyError: Another build holds it (its process id and the folder named).
        OSError: The folder cannot be created or written (named).
    """
    work_dir = Path(work_dir)
    created = not work_dir.exists()
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(work_dir / WORK_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise OSError(
            error.errno, f"--work {work_dir}: cannot create its lock file ({error.strerror})"
        ) from error
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(work_dir / WORK_LOCK_FILE)
            raise WorkFolderBusyError(
                f"--work {work_dir} is in use by another build (process {holder}); wait for "
                "it to finish, or give this build another --work folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            if created and [p.name for p in work_dir.iterdir()] == [WORK_LOCK_FILE]:
                # A build that stopped before its first shard leaves no empty folder.
                (work_dir / WORK_LOCK_FILE).unlink()
                work_dir.rmdir()
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
