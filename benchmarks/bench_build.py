"""Benchmark: the sharded build with 1 and 2 workers, and a resume where every shard verifies.

Generates a simulated corpus in LAION's embeddings-release layout with LAION-like
proportions (about 5% of captions name a class, 3% of those name two, 1M-row parts,
512-dimensional float16 embeddings; ``--matched 1`` makes every caption name a class, the
worst case for memory),
then runs ``python -m precompute build`` in a fresh process per run (full builds: the
best of ``REPEATS``) and prints wall time, captions/s, the ratio 2 workers / 1 worker,
the peak RSS of the driver and of the processes that built shards, the sizes of the
database and of the shards per matched sample, and what that means for LAION-400M (407M
captions, 21M matched).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_build.py [--captions N] [--parts P]
        [--matched F] [--repeats R]

The shard phase (match, score, write) and the assembly (database) are reported apart;
memory is the peak RSS of the driver and of each shard process, and their sum for 2
workers (an upper bound of what the build holds at once).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAION_CAPTIONS = 407_000_000  # LAION-400M after the release's own filtering
LAION_MATCHED = 21_000_000  # captions the paper's lemma matching keeps
LAION_PARTS = 410  # parts of about 1M rows
FLOOR = 0.82  # the paper's threshold, as an embedding floor
REPEATS = 1  # full builds per worker count; the fastest is reported
MATCHED = 0.05  # LAION-400M: about 5% of captions name a class (21M of 407M)
MULTI_SHARE = 0.03  # of the matched captions, the share naming two classes
# Generates the corpus in its own process, so this one stays small: a child's peak RSS
# counts the parent's memory it was forked from.
GENERATE = """
import sys, time
from pathlib import Path
from precompute.simulate.corpus import SimulationConfig, generate_corpus
started = time.perf_counter()
config = SimulationConfig(n_captions=int(sys.argv[2]), n_parts=int(sys.argv[3]),
    dim=int(sys.argv[4]), images=False, reference_per_class=2,
    unmatched_fraction=float(sys.argv[5]), multi_label_fraction=float(sys.argv[6]),
    shared_lemma_fraction=float(sys.argv[7]))
generate_corpus(config, Path(sys.argv[1]), progress=False)
print("RESULT", time.perf_counter() - started)
"""
# Runs `precompute build` and prints its exit status and seconds. Peak memory comes from
# the build's own log (Linux VmHWM of the driver and of the processes that built shards;
# getrusage would count the parent's memory that a child was forked from).
BUILD = """
import sys, time
from precompute.cli import main
started = time.perf_counter()
status = main(sys.argv[1:])
print("RESULT", status, time.perf_counter() - started)
"""
# Peak RSS (MiB) of the command line alone, after importing every command.
BASELINE = """
from precompute.cli import build_parser
from precompute.build.shards import read_peak_rss_mib
build_parser()
print("RESULT", read_peak_rss_mib())
"""
PHASES = re.compile(r"\(shards ([\d.]+) s, database ([\d.]+) s\).*peak RSS (\d+) MiB")
WORKER_PEAK = re.compile(r"peak RSS of a process that built shards: (\d+) MiB")


def run_python(script: str, *args: str) -> tuple[list[str], str]:
    """Run ``script`` in a fresh interpreter; its RESULT line's fields and its stderr."""
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT")), None)
    if line is None:
        raise SystemExit(f"failed:\n{result.stderr[-3000:]}")
    return line.split()[1:], result.stderr


def run_build(corpus: Path, db: Path, *extra: str) -> tuple[float, float, float, float, float]:
    """Seconds (total, shards, database), driver and worker peak RSS (MiB) of one build."""
    args = ("build", "--corpus", str(corpus), "--db", str(db), "--no-references", *extra)
    (status, seconds), log = run_python(BUILD, *args)
    phases = PHASES.search(log)
    if status != "0" or phases is None:
        raise SystemExit(f"build failed:\n{log[-3000:]}")
    shards, database, driver = (float(x) for x in phases.groups())
    worker = WORKER_PEAK.search(log)
    return float(seconds), shards, database, driver, float(worker.group(1)) if worker else 0.0


def corpus_shares(matched: float) -> tuple[str, str, str]:
    """Simulator fractions (unmatched, multi-label, shared lemma) for a matched share.

    Shared-lemma captions are dropped by the paper's matcher, so they stay a small part
    of the matched ones; multi-label captions are ``MULTI_SHARE`` of the matched.
    """
    shared = 0.005 * matched
    multi = MULTI_SHARE * matched
    return str(max(0.0, 1.0 - matched - shared)), str(multi), str(shared)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=4_000_000)
    parser.add_argument("--parts", type=int, default=4, help="parts (default: 1M rows each)")
    parser.add_argument("--matched", type=float, default=MATCHED, help="share naming a class")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="full builds per run")
    parser.add_argument("--dim", type=int, default=512, help="embedding width (CLIP B/32: 512)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus"
        sizes = (str(args.captions), str(args.parts), str(args.dim))
        shares = corpus_shares(args.matched)
        generated = float(run_python(GENERATE, str(corpus), *sizes, *shares)[0][0])
        inputs = folder_bytes(corpus / "metadata") + folder_bytes(corpus / "text_emb")
        inputs += folder_bytes(corpus / "img_emb")
        print(
            f"corpus: {args.captions:,} captions in {args.parts} parts, dim {args.dim}, "
            f"{inputs / 2**20:,.0f} MiB, generated in {generated:.1f} s"
        )
        os.sync()  # let the generator's writes reach the disk before timing anything
        runs = {}
        for workers in (1, 2):
            db = root / f"w{workers}.duckdb"
            timings = []
            for _ in range(args.repeats):
                db.unlink(missing_ok=True)
                shutil.rmtree(db.with_suffix(".shards"), ignore_errors=True)
                timings.append(run_build(corpus, db, "--workers", str(workers)))
            runs[f"{workers} worker(s)"] = min(timings)
        runs["resume, all verified"] = run_build(corpus, root / "w2.duckdb", "--workers", "2")
        runs["resume + --verify-inputs"] = run_build(
            corpus, root / "w2.duckdb", "--workers", "2", "--verify-inputs"
        )
        floor_db = root / "floor.duckdb"
        work = ("--work", str(root / "w2.shards"))
        runs["resume + --embedding-floor"] = run_build(
            corpus, floor_db, *work, "--embedding-floor", str(FLOOR)
        )
        header = ("run", "seconds", "shards s", "database s", "captions/s", "driver MiB")
        print("{:<28} {:>8} {:>9} {:>10} {:>11} {:>11} shard-process MiB".format(*header))
        for name, (seconds, shards, database, driver, worker) in runs.items():
            rate = f"{args.captions / seconds:11,.0f}" if "resume" not in name else f"{'-':>11}"
            shard_mib = f"{worker:17,.0f}" if worker else f"{'-':>17}"
            print(
                f"{name:<28} {seconds:8.1f} {shards:9.1f} {database:10.1f} {rate} "
                f"{driver:11,.0f} {shard_mib}"
            )
        one, two = runs["1 worker(s)"][0], runs["2 worker(s)"][0]
        print(f"ratio 2 workers / 1 worker (captions/s): {one / two:.2f}")
        for name in ("1 worker(s)", "2 worker(s)"):
            _, shard_s, database_s, driver, worker = runs[name]
            workers = 1 if name.startswith("1") else 2
            print(
                f"{name}: shard phase {shard_s:.1f} s ({args.captions / shard_s:,.0f} captions/s),"
                f" assembly {database_s:.1f} s; peak RSS driver {driver:,.0f} MiB + "
                f"{workers} x shard process {worker:,.0f} MiB = "
                f"{driver + workers * worker:,.0f} MiB"
            )
        baseline = float(run_python(BASELINE)[0][0])
        print(f"peak RSS of the command line before any work: {baseline:,.0f} MiB")
        shard_one, shard_two = runs["1 worker(s)"][1], runs["2 worker(s)"][1]
        print(
            f"shard phase alone: {args.captions / shard_one:,.0f} and "
            f"{args.captions / shard_two:,.0f} captions/s, ratio {shard_one / shard_two:.2f}"
        )

        db, shards = root / "w2.duckdb", root / "w2.shards"
        manifests = [json.loads(p.read_text()) for p in shards.glob("*/manifest.json")]
        matched = sum(m["rows"]["matched"] for m in manifests)
        db_per, shard_per = db.stat().st_size / matched, folder_bytes(shards) / matched
        floor_per = floor_db.stat().st_size / matched
        print(
            f"matched {matched:,} ({100 * matched / args.captions:.1f}%); per matched sample: "
            f"database {db_per:,.0f} B ({floor_per:,.0f} B with --embedding-floor {FLOOR}), "
            f"shards {shard_per:,.0f} B"
        )
        rate = args.captions / two
        gib = LAION_MATCHED / 2**30
        print(
            f"LAION-400M at this rate: {LAION_CAPTIONS / rate / 3600:.1f} h for "
            f"{LAION_PARTS} parts; database {db_per * gib:,.0f} GiB "
            f"({floor_per * gib:,.0f} GiB with the floor), shards {shard_per * gib:,.0f} GiB"
        )


if __name__ == "__main__":
    main()
