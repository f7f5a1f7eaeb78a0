"""Benchmark: the app at LAIONet's scale, page by page, against the plain alternatives.

Reuses a large database: ``--db``, else ``$LAIONET_BENCH_DB``, else the ``paper-scale``
preset at ``data/paper_scale.duckdb`` (``python -m precompute demo --preset paper-scale
--db data/paper_scale.duckdb`` builds it); with ``--build-samples N`` it writes the
quicker stand-in of ``benchmarks/scale_db.py`` there first.

Two parts, run in separate processes so each has its own peak RSS:

* ``app``: drives the real app with ``streamlit.testing.v1.AppTest`` (server side, in
  process): first load, page switches, threshold moves on Threshold explorer, Compare
  datasets, Model accuracy and the Selection lab, class switches on the Class browser;
  then four more
  sessions opened one after another in the same process (caches shared, as in one
  Streamlit server). Peak RSS is the process's ``ru_maxrss``.
* ``work``: the per-move work alone, three ways: the app's path (precomputed counts,
  selection statistics, outcomes), the plain DuckDB recount, and the naive in-memory
  computation (arrays already in memory), with the ratios.

Run: .venv/bin/python benchmarks/bench_app_scale.py --db /work/data/scale.duckdb
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DB = ROOT / "data" / "paper_scale.duckdb"
MOVES = (0.8, 0.85, 0.75, 0.9, 0.82, 0.78, 0.88, 0.7, 0.83, 0.86)
TIMEOUT = 900


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _timed(fn, *args, **kwargs) -> float:
    started = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - started


def _stats(times: list[float]) -> dict:
    return {"p50": float(np.median(times)), "p95": float(np.percentile(times, 95)), "n": len(times)}


def _check(at) -> None:
    if at.exception:
        raise RuntimeError(f"the app raised: {at.exception[0].message}")


def _move(at, key: str, value) -> float:
    started = time.perf_counter()
    widget = at.slider(key=key) if key.endswith("threshold") else at.selectbox(key=key)
    widget.set_value(value).run()
    _check(at)
    return time.perf_counter() - started


def _busiest_classes(db: Path, n: int) -> list[str]:
    from laionet_core import queries
    from laionet_core.settings import LAIONET_DATASET

    con = queries.connect(db)
    try:
        rows = con.execute(
            "SELECT wnid FROM samples WHERE dataset = ? GROUP BY wnid ORDER BY count(*) DESC "
            "LIMIT ?",
            [LAIONET_DATASET, n],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def run_app_part(db: Path, moves: int) -> dict:
    """Drive every page through AppTest; times in seconds, RSS in GiB."""
    from streamlit.testing.v1 import AppTest

    os.environ["LAIONET_DB"] = str(db)
    out: dict = {}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    out["first load: Start here"] = _timed(at.run)
    _check(at)
    out["first load: Threshold explorer"] = _timed(
        lambda: at.switch_page("pages/threshold_explorer.py").run()
    )
    _check(at)
    values = [MOVES[i % len(MOVES)] for i in range(moves)]
    out["Threshold explorer: slider move"] = _stats([_move(at, "threshold", v) for v in values])
    pages = {
        "Class browser": "pages/class_browser.py",
        "Compare datasets": "pages/compare_datasets.py",
        "Model accuracy": "pages/model_accuracy.py",
        "Diagnose ImageNet": "pages/diagnose_imagenet.py",
        "Selection lab": "pages/selection_lab.py",
    }
    for name, page in pages.items():
        out[f"first load: {name}"] = _timed(lambda p=page: at.switch_page(p).run())
        _check(at)
        if name == "Class browser":
            wnids = _busiest_classes(db, moves)
            out["Class browser: class switch"] = _stats([_move(at, "wnid", w) for w in wnids])
        if name in ("Compare datasets", "Model accuracy", "Selection lab"):
            out[f"{name}: threshold move"] = _stats([_move(at, "threshold", v) for v in values])
    switches = []
    for page in [*pages.values(), "pages/home.py", "pages/threshold_explorer.py"]:
        switches.append(_timed(lambda p=page: at.switch_page(p).run()))
        _check(at)
    out["page switch (after first load)"] = _stats(switches)
    out["peak RSS, one session (GiB)"] = _peak_rss_gib()
    for _ in range(4):  # four more sessions, one after another, caches shared
        other = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
        for page in pages.values():
            other.switch_page(page).run()
            _check(other)
    out["peak RSS, five sessions (GiB)"] = _peak_rss_gib()
    return out


def _best(fn, repeats: int = 5) -> float:
    return min(_timed(fn) for _ in range(repeats))


def _counting(con, dataset: str) -> dict:
    """Threshold explorer's counting work: per-class counts at one threshold."""
    from laionet_core import queries
    from laionet_core.selection import (
        SelectionParams,
        SelectionSummary,
        compute_counts_above,
        compute_selection_curves,
        select_histograms,
        summarize_selection,
        threshold_grid,
        threshold_index,
    )

    params = SelectionParams(threshold=0.85)
    histograms = queries.load_similarity_histograms(con, dataset).counts
    kept = select_histograms(histograms, params)
    covered, size = compute_selection_curves(kept)
    above = np.ascontiguousarray(compute_counts_above(kept).T)

    def fast() -> None:  # what a move costs in the app (laionet_app.tables)
        index = threshold_index(params.threshold)
        summary = SelectionSummary(threshold_grid(), covered, size, above[index], kept[0], index)
        int((summary.class_counts > 0).sum())

    rows = con.execute(
        "SELECT wnid, text_similarity, filtered, multi_label FROM samples WHERE dataset = ?",
        [dataset],
    ).fetchnumpy()
    codes = np.unique(rows["wnid"], return_inverse=True)[1]
    sims = np.asarray(rows["text_similarity"], dtype=np.float64)
    filtered, multi = np.asarray(rows["filtered"], bool), np.asarray(rows["multi_label"], bool)

    def naive() -> None:
        keep = (sims > params.threshold) & ~filtered & ~multi
        np.bincount(codes[keep])

    recount_sql = (
        "SELECT wnid, count(*) FROM samples WHERE dataset = ? AND text_similarity > ? "
        "AND NOT filtered AND NOT multi_label GROUP BY wnid"
    )
    return {
        "app": _best(fast),
        "duckdb": _best(lambda: con.execute(recount_sql, [dataset, params.threshold]).fetchall()),
        "naive": _best(naive),
        "histogram path (before)": _best(lambda: summarize_selection(histograms, params)),
    }


def _compare(con, dataset: str) -> dict:
    """Compare datasets' per-move work: every metric with intervals at one threshold."""
    from laionet_core import queries
    from laionet_core.comparison import METRICS, compute_sample_metric_rows
    from laionet_core.queries_stats import read_selection_stats
    from laionet_core.selection import SelectionParams
    from laionet_core.selection_stats import build_selection_stats, evaluate_metric_rows

    params = SelectionParams(threshold=0.85)
    stats = build_selection_stats(read_selection_stats(con, dataset))
    info = queries.read_dataset_info(con, dataset)
    fmt = queries.read_meta(con).get("synset_format")
    synsets = queries.read_synset_embeddings(con, info["encoder"], fmt)
    started = time.perf_counter()
    embedded = queries.read_embeddings(con, dataset)
    load = time.perf_counter() - started
    selected = queries.read_selected_samples(con, dataset, params)
    out = {
        "app": _best(lambda: evaluate_metric_rows(stats, params, dataset, metrics=METRICS[:4])),
        "duckdb": _best(lambda: queries.read_selected_samples(con, dataset, params), 2),
        "naive": _timed(compute_sample_metric_rows, dataset, embedded, selected, synsets),
        "embeddings read once (before)": load,
        "selection stats in memory (MiB)": stats.nbytes / 2**20,
    }
    del embedded
    return out


def _accuracy(con, dataset: str) -> dict:
    """Model accuracy's per-move work: one model's top-1/top-5 accuracy of a selection."""
    from laionet_core import queries
    from laionet_core.comparison import compute_accuracy_by_dataset
    from laionet_core.prediction_outcomes import (
        compute_outcome_accuracy,
        prepare_outcomes,
        select_outcomes,
    )
    from laionet_core.queries_stats import read_prediction_outcomes
    from laionet_core.selection import SelectionParams

    params = SelectionParams(threshold=0.85)
    model = queries.list_prediction_models(con)[0]
    outcomes = prepare_outcomes(read_prediction_outcomes(con, [model])[model])
    lists = queries.read_predictions(con, model)
    selected = queries.read_selected_samples(con, dataset, params)
    weights = selected["wnid"].value_counts().sort_index()

    def fast() -> None:
        keep = (outcomes["dataset"] != dataset).to_numpy() | select_outcomes(outcomes, params)
        compute_outcome_accuracy(outcomes[keep], class_weights=weights)

    def naive() -> None:
        keep = (lists["dataset"] != dataset) | lists["sample_id"].isin(selected["sample_id"])
        compute_accuracy_by_dataset(lists[keep], class_weights=weights)

    sql = (
        "SELECT p.dataset, s.wnid, avg((list_position(p.top5_wnids, s.wnid) = 1)::INT), "
        "avg((coalesce(list_position(p.top5_wnids, s.wnid), 0) > 0)::INT) "
        "FROM predictions p JOIN samples s USING (dataset, sample_id) WHERE p.model = ? "
        "AND (p.dataset <> ? OR (s.text_similarity > ? AND NOT s.multi_label "
        "AND NOT s.filtered)) GROUP BY ALL"
    )
    return {
        "app": _best(fast, 3),
        "duckdb": _best(lambda: con.execute(sql, [model, dataset, params.threshold]).fetchall(), 2),
        "naive": _timed(naive),
    }


def _lab(con, dataset: str) -> dict:
    """The selection lab's per-move work: four mechanisms selected and measured."""
    from laionet_app.definitions import METRIC_LABELS
    from laionet_core import queries
    from laionet_core.comparison import compute_class_metric_rows, compute_sample_metric_rows
    from laionet_core.queries_lab import read_lab_candidates, read_stored_lab_candidates
    from laionet_core.selection import SelectionParams
    from laionet_core.selection_lab import LabParams, compute_lab_selections

    params = LabParams(SelectionParams(threshold=0.85))
    info = queries.read_dataset_info(con, dataset)
    fmt = queries.read_meta(con).get("synset_format")
    wnids, synsets = queries.read_synset_embeddings(con, info["encoder"], fmt)
    started = time.perf_counter()
    pool = read_stored_lab_candidates(con, dataset)
    stored = time.perf_counter() - started
    if pool is None:
        raise SystemExit(f"{dataset}: no stored lab candidates; run `precompute metrics`")
    rows, image = pool.rows, pool.rows["image_similarity"].to_numpy(np.float64)
    labels = rows["wnid"].to_numpy()

    def move() -> None:  # what laionet_app.lab.load_lab does on a move
        for mask in compute_lab_selections(rows, params).values():
            compute_class_metric_rows(
                "m",
                labels[mask],
                pool.embeddings,
                image[mask],
                synsets,
                wnids,
                true_class_ranks=pool.true_ranks[mask],
                metrics=tuple(METRIC_LABELS),
                rows=np.flatnonzero(mask),
            )

    def recount() -> None:  # the candidates read again by a join over the samples
        read_lab_candidates(con, dataset)
        move()

    def naive() -> None:  # each selection joined back by string id and ranked again
        for mask in compute_lab_selections(rows, params).values():
            embedded = (rows[["sample_id", "wnid"]], pool.embeddings)
            compute_sample_metric_rows("m", embedded, rows[mask], (wnids, synsets))

    return {
        "app": _best(move, 3),
        "duckdb": _timed(recount),
        "naive": _timed(naive),
        "stored candidates read once (first load)": stored,
    }


def run_work_part(db: Path) -> dict:
    """The per-move work three ways; seconds."""
    from laionet_core import queries
    from laionet_core.settings import LAIONET_DATASET

    con = queries.connect(db)
    out = {
        "Threshold explorer: counting work": _counting(con, LAIONET_DATASET),
        "Compare datasets: metrics of a selection": _compare(con, LAIONET_DATASET),
        "Model accuracy: accuracy of a selection": _accuracy(con, LAIONET_DATASET),
        "Selection lab: four mechanisms measured": _lab(con, LAIONET_DATASET),
    }
    out["peak RSS of this part (GiB)"] = _peak_rss_gib()
    return out


TARGETS = {
    "first load: Start here": 3.0,
    "first load: Threshold explorer": 3.0,
    "first load: Class browser": 3.0,
    "first load: Compare datasets": 3.0,
    "first load: Model accuracy": 3.0,
    "first load: Diagnose ImageNet": 3.0,
    "first load: Selection lab": 3.0,
    "page switch (after first load)": 1.0,
    "Threshold explorer: slider move": 0.1,
    "Compare datasets: threshold move": 1.0,
    "Model accuracy: threshold move": 1.0,
    "Selection lab: threshold move": 1.0,
    "Class browser: class switch": 0.3,
}


def _describe(db: Path) -> str:
    from laionet_core import queries

    con = queries.connect(db)
    rows = con.execute(
        "SELECT (SELECT count(*) FROM samples), (SELECT count(*) FROM image_embeddings), "
        "(SELECT count(*) FROM predictions), (SELECT count(DISTINCT wnid) FROM samples)"
    ).fetchone()
    size = db.stat().st_size / 2**30
    return (
        f"{db}: {rows[0]:,} samples, {rows[1]:,} image embeddings, {rows[2]:,} predictions, "
        f"{rows[3]:,} classes, {size:.2f} GiB"
    )


def print_report(db: Path, app: dict, work: dict) -> None:
    """One table: app timings against targets, then the per-move work three ways."""
    print(_describe(db))
    print(f"\n{'page / action (AppTest, server side)':48} {'p50 s':>8} {'p95 s':>8} {'target':>8}")
    for name, value in app.items():
        if "RSS" in name:
            continue
        p50, p95 = (value["p50"], value["p95"]) if isinstance(value, dict) else (value, value)
        target = TARGETS.get(name, float("nan"))
        flag = "ok" if p95 <= target else "MISSED"
        print(f"{name:48} {p50:8.3f} {p95:8.3f} {target:8.2f}  {flag}")
    for name in ("peak RSS, one session (GiB)", "peak RSS, five sessions (GiB)"):
        print(f"{name:48} {app[name]:8.2f}   target {3.0 if 'one' in name else 4.0:.0f} GiB")
    print(
        f"\n{'per-move work':42} {'app ms':>9} {'DuckDB ms':>10} {'naive ms':>10} "
        f"{'x DuckDB':>9} {'x naive':>8}"
    )
    for name, row in work.items():
        if not isinstance(row, dict):
            continue
        app_ms, duck_ms, naive_ms = (1e3 * row[k] for k in ("app", "duckdb", "naive"))
        print(
            f"{name:42} {app_ms:9.3f} {duck_ms:10.1f} {naive_ms:10.1f} "
            f"{duck_ms / app_ms:9.0f} {naive_ms / app_ms:8.0f}"
        )
        for extra, value in row.items():
            if extra not in ("app", "duckdb", "naive"):
                shown = f"{value:.2f}" if "MiB" in extra else f"{1e3 * value:.1f} ms"
                print(f"    {extra}: {shown}")
    print(f"peak RSS of the work part (GiB): {work['peak RSS of this part (GiB)']:.2f}")


def add_statistics(db: Path) -> None:
    """Write every dataset's selection statistics (what ``precompute metrics`` adds)."""
    from laionet_core import queries
    from laionet_core.storage import open_database_for_update
    from precompute.analyses.selection_stats import write_dataset_selection_stats

    with open_database_for_update(db) as con:
        for dataset in queries.read_datasets(con)["dataset"]:
            seconds = _timed(write_dataset_selection_stats, con, dataset)
            print(f"selection statistics of {dataset}: {seconds:.1f} s", flush=True)
    print(f"peak RSS while writing them: {_peak_rss_gib():.2f} GiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--moves", type=int, default=10, help="moves per action")
    parser.add_argument("--build-samples", type=int, default=0, help="write scale_db first")
    parser.add_argument(
        "--add-statistics",
        action="store_true",
        help="first write the selection statistics into DB (a database built before them)",
    )
    parser.add_argument("--part", choices=("app", "work"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    db = args.db or Path(os.environ.get("LAIONET_BENCH_DB") or DEFAULT_DB)
    if args.part:
        result = run_app_part(db, args.moves) if args.part == "app" else run_work_part(db)
        print("RESULT " + json.dumps(result))
        return
    if args.build_samples:
        from benchmarks.scale_db import build_scale_database

        build_scale_database(db, samples=args.build_samples, embedding_floor=0.8, seed=0)
    if not db.is_file():
        raise SystemExit(f"no database at {db}; build it (see this script's docstring)")
    if args.add_statistics:
        add_statistics(db)
    results = {}
    for part in ("app", "work"):
        command = [sys.executable, __file__, "--db", str(db), "--part", part]
        done = subprocess.run(
            [*command, "--moves", str(args.moves)], capture_output=True, text=True, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            raise SystemExit(f"part {part} failed:\n{done.stderr[-3000:]}")
        results[part] = json.loads(lines[-1].removeprefix("RESULT "))
    print_report(db, results["app"], results["work"])


if __name__ == "__main__":
    main()
