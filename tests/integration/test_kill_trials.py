"""Kill -9 trials of a 2-worker build: resume to the same content; no worker outlives it.

Each trial starts ``python -m precompute build --workers 2`` in its own process group,
waits until a first shard is complete while others are running, and kills with
SIGKILL either the whole group or the main process only. The pool workers must then
be gone within ``MAX_WORKER_SURVIVAL_S`` (they die with their parent), the existing
database must be untouched, and a resumed build must hold the same content as an
uninterrupted one. ``make test`` runs ``DEFAULT_TRIALS`` trials (both ways); set
``LAIONET_KILL_TRIALS=20`` for the full series.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from precompute.build.manifests import MANIFEST_FILE
from precompute.build.shards import PAUSE_ENV
from precompute.cli import main as precompute_main
from tests.db_content import assert_same_content
from tests.laion_corpus import write_laion_corpus

REPO = Path(__file__).resolve().parents[2]
PARTS = 4
ROWS = 30
PAUSE_S = 1.5  # each shard sleeps this long before its manifest: the kill window
MAX_WORKER_SURVIVAL_S = 5.0  # the bound on a worker outliving its parent
DEFAULT_TRIALS = 2  # one of each kind in CI; LAIONET_KILL_TRIALS=20 for the series
TRIALS = int(os.environ.get("LAIONET_KILL_TRIALS", DEFAULT_TRIALS))
KINDS = ("group", "main")


def _children(pid: int) -> set[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; it only waits to be reaped


def _manifests(work: Path) -> int:
    return len(list(work.glob(f"*/{MANIFEST_FILE}")))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_laion_corpus(
        tmp_path_factory.mktemp("kill") / "corpus", parts=PARTS, rows_per_part=ROWS
    )


@pytest.fixture(scope="module")
def reference_db(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("kill-reference") / "db.duckdb"
    assert (
        precompute_main(["build", "--corpus", str(corpus), "--db", str(db), "--workers", "1"]) == 0
    )
    return db


def _kill_build(corpus: Path, db: Path, kind: str, log: Path) -> tuple[set[int], float]:
    """Start a 2-worker build, kill it (``kind``); returns its workers and their survival."""
    command = [sys.executable, "-m", "precompute", "build", "--corpus", str(corpus)]
    command += ["--db", str(db), "--workers", "2"]
    env = {**os.environ, PAUSE_ENV: str(PAUSE_S), "PYTHONPATH": str(REPO)}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stderr=stderr, start_new_session=True
        )
    work = db.with_name(db.stem + ".shards")
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while process.poll() is None and time.monotonic() < deadline:
        workers |= {p for p in _children(process.pid) if _alive(p)}
        if _manifests(work) >= 1 and len(workers) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, f"the build ended before the kill:\n{log.read_text()}"
    if kind == "group":
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    process.wait()
    while any(_alive(p) for p in workers) and time.monotonic() - killed < 30:
        time.sleep(0.05)
    survival = time.monotonic() - killed
    for pid in workers:  # a failed trial leaves no orphan behind
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    return workers, survival


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(TRIALS))
def test_killed_build_resumes_and_leaves_no_worker(corpus, reference_db, tmp_path, trial) -> None:
    kind = KINDS[trial % len(KINDS)]
    db = tmp_path / "db.duckdb"
    db.write_bytes(reference_db.read_bytes())  # an existing database the killed build replaces
    before = _digest(db)
    workers, survival = _kill_build(corpus, db, kind, tmp_path / "killed.log")
    assert len(workers) >= 2, "the pool's workers were not seen"
    assert survival <= MAX_WORKER_SURVIVAL_S, (
        f"workers outlived the {kind} kill by {survival:.1f} s"
    )
    assert _digest(db) == before  # the killed build never touched the existing database
    work = db.with_name("db.shards")
    done = _manifests(work)
    assert 1 <= done < PARTS
    assert (
        precompute_main(["build", "--corpus", str(corpus), "--db", str(db), "--workers", "1"]) == 0
    )
    assert _manifests(work) == PARTS
    assert_same_content(db, reference_db)
    print(f"trial {trial} ({kind}): {done} shards kept, workers gone {survival:.2f} s after")
