"""Workers end with their parent; one build at a time holds a work folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from precompute.build.lifetime import WORK_LOCK_FILE, WorkFolderBusyError, hold_work_folder_lock

REPO = Path(__file__).resolve().parents[2]
MAX_SURVIVAL_S = 5.0

# A parent that starts a child calling die_with_parent, prints the child's pid, sleeps.
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print(child.pid, flush=True)
time.sleep(60)
"""
CHILD = """
import os, time
import precompute.build.lifetime as lifetime
if {poll}:
    lifetime._request_parent_death_signal = lambda: False
lifetime.die_with_parent(os.getppid(), poll_seconds=0.1)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("poll", [False, True], ids=["prctl", "polling"])
def test_a_worker_dies_when_its_parent_is_killed(poll: bool) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD.format(poll=poll)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    child = int(parent.stdout.readline())
    time.sleep(1.0)  # the child has imported and asked to die with its parent
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    killed = time.monotonic()
    while _alive(child) and time.monotonic() - killed < 10:
        time.sleep(0.05)
    survival = time.monotonic() - killed
    if _alive(child):
        os.kill(child, signal.SIGKILL)
    assert survival <= MAX_SURVIVAL_S


def test_a_second_build_on_a_work_folder_names_the_first(tmp_path: Path) -> None:
    work = tmp_path / "db.shards"
    with hold_work_folder_lock(work):
        (work / "part-00000").mkdir()
        busy = pytest.raises(WorkFolderBusyError, match=f"process {os.getpid()}")
        with busy as error, hold_work_folder_lock(work):
            pass
        assert str(work) in str(error.value)
    with hold_work_folder_lock(work):  # released
        pass
    assert sorted(p.name for p in work.iterdir()) == [WORK_LOCK_FILE, "part-00000"]


def test_a_build_that_wrote_nothing_leaves_no_work_folder(tmp_path: Path) -> None:
    work = tmp_path / "db.shards"
    with pytest.raises(ValueError, match="bad"), hold_work_folder_lock(work):
        raise ValueError("bad")
    assert not work.exists()
