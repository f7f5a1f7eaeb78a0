"""Benchmark: slider updates with ten browser sessions across two database swaps.

Serves the simulated demo database with a real ``streamlit run`` and drives headless
Chromium (the system one) through Playwright:
  1. baseline: one session, no swap, ``--presses`` threshold moves;
  2. ``--sessions`` sessions at once (default 10), each making ``--presses`` moves,
     while a database B (LAIONet's counts doubled) and then a rebuilt A are renamed over
     the served file.
Prints, for each: updates, failed requests, exceptions, p50 and p95 of the update time
(key press to the new numbers on the page), and the ratio of the p95s; then whether the
server still holds a replaced database open.

Run: .venv/bin/python benchmarks/bench_concurrent_sessions.py [--db DEMO.duckdb]
(without --db, a demo database of 8,000 captions is built in a temporary folder).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.concurrent_sessions import drive_sessions, stage_two_swaps  # noqa: E402
from tests.e2e.serving import (  # noqa: E402
    double_laionet,
    find_chromium,
    serve_app,
    stage_variant,
    wait_until_closed,
)


def build_demo(folder: Path) -> Path:
    db = folder / "demo.duckdb"
    command = [sys.executable, "-m", "precompute", "demo", "--corpus", str(folder / "corpus")]
    command += ["--db", str(db), "--captions", "8000", "--parts", "2"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="a demo database (default: build one)")
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--presses", type=int, default=4)
    args = parser.parse_args()
    chromium = find_chromium()
    if not chromium:
        sys.exit("no Chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="bench_sessions_") as tmp:
        folder = Path(tmp)
        a = args.db or build_demo(folder)
        b = folder / "b.duckdb"
        stage_variant(a, b, double_laionet)
        live = folder / "live" / "laionet.duckdb"
        live.parent.mkdir()
        shutil.copyfile(a, live)
        plan = stage_two_swaps(a, b, live, sessions=args.sessions, presses=args.presses)
        with serve_app(live, folder / "streamlit.log") as app:
            one = drive_sessions(
                app.url, chromium, sessions=1, presses=args.presses, sizes=plan.sizes
            )
            print(f"baseline (1 session, no swap): {one.summary()}")
            start = time.perf_counter()
            many = drive_sessions(
                app.url,
                chromium,
                sessions=args.sessions,
                presses=args.presses,
                sizes=plan.sizes,
                swaps=plan.swaps,
            )
            wall = time.perf_counter() - start
            print(f"{args.sessions} sessions, 2 swaps: {many.summary()} wall={wall:.1f}s")
            ratio = many.percentile(95) / one.percentile(95)
            print(f"p95 ratio ({args.sessions} sessions / 1): {ratio:.2f}x")
            for line in (many.failed_requests + many.exceptions)[:10]:
                print("  ", line)
            still = wait_until_closed(app.process.pid, live.parent)
            print(f"replaced databases still open (after up to 10 s): {len(still)}")
            print(f"tracebacks in the server log: {app.log_text().count('Traceback')}")


if __name__ == "__main__":
    main()
