"""Benchmark: closed-form intra-class similarity vs the naive per-class Gram matrix.

Prints, on synthetic clustered unit vectors (float16, D=512):
  1. both methods on the same smaller data (default 100k rows, 918 classes), with the
     ratio and the largest difference of the means;
  2. the fast method on the full size (default 880k rows, 918 classes), the paper's
     LAIONet scale, and the naive method's time extrapolated linearly in sum(n_c^2).

Run: .venv/bin/python benchmarks/bench_metrics.py [--rows 880000] [--small-rows 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from laionet_core.metrics import compute_intra_class_similarity  # noqa: E402

CLASSES = 918  # classes covered by LAIONet in the paper
DIM = 512  # CLIP ViT-B/32 image embeddings


def build_data(rows: int, classes: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors as float16 and wnid-like string labels."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, classes, rows)
    centres = rng.standard_normal((classes, dim)).astype(np.float32)
    x = np.empty((rows, dim), dtype=np.float16)
    for a in range(0, rows, 100_000):
        c = codes[a : a + 100_000]
        block = 0.5 * centres[c] + rng.standard_normal((c.size, dim), dtype=np.float32)
        x[a : a + c.size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    wnids = np.array([f"n{i:08d}" for i in range(classes)])
    return x, wnids[codes]


def naive_intra_class_means(x: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean off-diagonal entry of each class's full float64 Gram matrix."""
    out = {}
    for label in np.unique(labels):
        xc = x[labels == label].astype(np.float64)
        g = xc @ xc.T
        n = xc.shape[0]
        out[label] = (g.sum() - np.trace(g)) / (n * (n - 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=880_000)
    parser.add_argument("--small-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    x, labels = build_data(args.small_rows, CLASSES, DIM, seed=0)
    t0 = time.perf_counter()
    naive = naive_intra_class_means(x, labels)
    t_naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = compute_intra_class_similarity(x, labels)
    t_fast_small = time.perf_counter() - t0
    diff = max(abs(fast.loc[k, "mean"] - v) for k, v in naive.items())
    print(f"same data: {args.small_rows:,} rows x {DIM} float16, {CLASSES} classes")
    print(f"  naive Gram per class (means only): {t_naive:8.3f} s")
    print(f"  closed form (means + U-stat CIs):  {t_fast_small:8.3f} s")
    print(f"  ratio naive / fast: {t_naive / t_fast_small:6.1f}x; max |mean diff| {diff:.2e}")

    del x
    x, labels = build_data(args.rows, CLASSES, DIM, seed=1)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        compute_intra_class_similarity(x, labels)
        times.append(time.perf_counter() - t0)
    scale = (args.rows / args.small_rows) ** 2  # naive cost grows with sum(n_c^2)
    t_naive_full = t_naive * scale
    print(f"full size: {args.rows:,} rows x {DIM} float16, {CLASSES} classes")
    print(f"  closed form: best {min(times):.3f} s, median {np.median(times):.3f} s")
    print(f"  naive extrapolated (x{scale:.0f} in sum n_c^2): {t_naive_full:8.1f} s")
    print(f"  ratio naive / fast at full size: {t_naive_full / min(times):6.0f}x")


if __name__ == "__main__":
    main()
