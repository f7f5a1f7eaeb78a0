"""A real ``streamlit run`` of the app for browser tests and benchmarks, and the
database edits they swap in (as ``build`` does: write beside, then rename over).

Chromium is the system one (Debian's ``chromium``; never ``playwright install``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from laionet_core import queries
from laionet_core.selection import SelectionParams, summarize_selection

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
# Flags for a closed network: no background calls that the sandbox would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 90


def find_chromium() -> str | None:
    """The system Chromium, or None."""
    return os.environ.get("LAIONET_CHROMIUM") or next(
        (p for p in CHROMIUM_CANDIDATES if Path(p).exists()), shutil.which("chromium")
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ServedApp:
    url: str
    process: subprocess.Popen
    log: Path
    db: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def serve_app(db: Path, log: Path) -> Iterator[ServedApp]:
    """``streamlit run app.py`` on 127.0.0.1 reading ``db`` (the repository's config.toml)."""
    port = free_port()
    env = {**os.environ, "LAIONET_DB": str(db)}
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    served = ServedApp(f"http://127.0.0.1:{port}", process, log, db)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{served.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{served.log_text()}")
            time.sleep(0.3)
        yield served
    finally:
        process.terminate()
        process.wait(timeout=20)


def stage_variant(source: Path, staged: Path, edit: Callable[[duckdb.DuckDBPyConnection], None]):
    """Copy ``source`` to ``staged`` and apply ``edit`` to the copy."""
    shutil.copyfile(source, staged)
    con = duckdb.connect(str(staged))
    try:
        edit(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()


def double_laionet(con: duckdb.DuckDBPyConnection) -> None:
    """Database B: every LAIONet histogram count doubled, so its Dataset size doubles."""
    con.execute("UPDATE similarity_histograms SET n = 2 * n WHERE dataset = 'laionet'")


def keep_as_is(con: duckdb.DuckDBPyConnection) -> None:
    """A copy with the same content (a rebuild: a new file, new inode)."""


def rename_dataset(con: duckdb.DuckDBPyConnection, old: str, new: str) -> None:
    """Rename ``old`` to ``new`` in every table with a ``dataset`` column."""
    tables = con.execute(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'dataset'"
    ).fetchall()
    for (table,) in tables:
        con.execute(f'UPDATE "{table}" SET dataset = ? WHERE dataset = ?', [new, old])


def dataset_sizes(db: Path, thresholds: list[float]) -> dict[float, int]:
    """LAIONet's size at each threshold, as the Threshold explorer computes it."""
    con = queries.connect(db)
    try:
        counts = queries.load_similarity_histograms(con, "laionet").counts
    finally:
        con.close()
    return {t: summarize_selection(counts, SelectionParams(threshold=t)).size for t in thresholds}


def wait_until_closed(pid: int, directory: Path, limit_s: float = 10.0) -> list[str]:
    """The deleted files under ``directory`` that ``pid`` still holds after up to ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while (still := open_deleted_files(pid, directory)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return still


def open_deleted_files(pid: int, directory: Path) -> list[str]:
    """Files under ``directory`` that process ``pid`` holds open although they were deleted."""
    return [target for target in open_files(pid, directory) if target.endswith("(deleted)")]


def open_files(pid: int, directory: Path) -> list[str]:
    """Files under ``directory`` that process ``pid`` holds open (`` (deleted)`` marks those
    renamed over or removed)."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(str(directory)):
                found.append(target)
    return found
