"""Coverage of the two intra-class intervals, by simulation from a known population.

Prints, for classes of n images drawn from one population of unit vectors (its mean
pair similarity known from a large sample), the share of 95% intervals that contain
the truth: this project's U-statistic interval and the paper's pairs-as-independent
interval (``estimator="paper"``), and their mean widths (the ratio is paper / U).
Also the false "significantly different" rate of two classes from the same population
(should be 5% at most), for both.

Run: .venv/bin/python benchmarks/bench_intra_coverage.py [--reps 2000] [--dim 16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from laionet_core.metrics import compute_intra_class_similarity  # noqa: E402
from laionet_core.stats import compare_class_means, compute_significance_shares  # noqa: E402


def unit_rows(rng: np.random.Generator, n: int, dim: int, centre: float) -> np.ndarray:
    """Unit vectors scattered around a common direction."""
    x = rng.standard_normal((n, dim)) + centre * np.ones(dim)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def population_mean(rng: np.random.Generator, dim: int, centre: float, n: int = 200_000) -> float:
    """The population's mean pair similarity, from one very large sample."""
    x = unit_rows(rng, n, dim, centre)
    s = x.sum(axis=0)
    return float((s @ s - n) / (n * (n - 1)))


def measure(n: int, reps: int, dim: int, centre: float, truth: float, seed: int) -> dict:
    """Coverage, mean width and false-difference rate of both estimators at size n."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(reps), n)
    x, y = (unit_rows(rng, n * reps, dim, centre) for _ in range(2))
    out = {}
    for estimator in ("u-statistic", "paper"):
        kw = {"estimator": estimator, "max_per_class": None}
        a = compute_intra_class_similarity(x, labels, **kw)
        b = compute_intra_class_similarity(y, labels, **kw)
        ok = a["ci_low"].notna()
        covered = ((a["ci_low"] <= truth) & (truth <= a["ci_high"]))[ok].mean()
        width = (a["ci_high"] - a["ci_low"])[ok].mean()
        shares = compute_significance_shares(compare_class_means(a, b, value_column="mean"))
        out[estimator] = (covered, width, shares["lower"] + shares["higher"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000, help="classes per size")
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--centre", type=float, default=0.4, help="pull towards one direction")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 40, 100])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    truth = population_mean(np.random.default_rng(args.seed), args.dim, args.centre)
    print(f"population mean pair similarity {truth:.4f} (dim {args.dim}, {args.reps} classes)")
    print("n     estimator    coverage  mean width  false 'different'  width ratio paper/U")
    for n in args.sizes:
        res = measure(n, args.reps, args.dim, args.centre, truth, args.seed + n)
        ratio = res["paper"][1] / res["u-statistic"][1]
        for name, (cov, width, false) in res.items():
            tail = f"{ratio:.3f}" if name == "paper" else ""
            print(f"{n:<5} {name:<12} {cov:8.3f}  {width:10.4f}  {false:17.3f}  {tail}")


if __name__ == "__main__":
    main()
