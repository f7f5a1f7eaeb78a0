"""Benchmark of the simulated corpus: generation time and thumbnail rendering speed.

Prints the time to generate the default demo corpus (with and without thumbnails)
and the thumbnail rate over ``RENDER_WORKERS`` processes against a naive baseline
(one process, one PIL image per call, the same renderer). Run:
``.venv/bin/python -m benchmarks.bench_simulate`` (about 30 s on 2 cores).

``--preset [--fraction F] [--db PATH]`` builds the paper-scale preset (``demo --preset
paper-scale``; ``F`` scales its 20.5M captions and 880k selected) in a child process
and prints its wall and CPU time, peak RSS and database size; then the cost per caption
of the image similarity drawn without the image (``compute_image_similarity``) against
drawing the 512-wide image (``compute_images``), the baseline it replaced.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.simulate.corpus import SimulationConfig, generate_corpus
from precompute.simulate.draws import compute_image_similarity, compute_images
from precompute.simulate.images import (
    RENDER_WORKERS,
    compute_motifs,
    compute_render_params,
    write_thumbnails,
)
from precompute.simulate.world import build_world

N_THUMBS = 6_000  # enough for a stable rate, small enough for a shared machine
REPO = Path(__file__).resolve().parents[1]
# Builds the preset, scaled by argv[2], into argv[1].
PRESET = """
import sys
from dataclasses import replace
from pathlib import Path
from precompute.simulate.paper_scale import PaperScaleConfig, build_paper_scale_database
f = float(sys.argv[2])
c = PaperScaleConfig()
c = replace(c, n_samples=int(c.n_samples * f), n_selected=int(c.n_selected * f))
build_paper_scale_database(c, Path(sys.argv[1]))
"""


def bench_preset(db: Path, fraction: float) -> None:
    """Build the preset in a child process; print time, CPU, peak RSS and size."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", PRESET, str(db), str(fraction)], cwd=REPO, check=True)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20
    size = db.stat().st_size / 2**30
    print(
        f"paper-scale preset x{fraction}: {wall:.0f} s wall, {cpu:.0f} s CPU, "
        f"peak RSS {rss:.2f} GiB, database {size:.2f} GiB"
    )
    config = SimulationConfig(n_captions=1, n_parts=1, n_classes=994, dim=512)
    world = build_world(config, load_imagenet_vocabulary())
    rng = np.random.default_rng(0)
    rows = rng.integers(0, world.n_classes, 100_000)
    spec = rng.standard_normal(rows.size).astype(np.float32)
    start = time.perf_counter()
    compute_images(world, rows, rng, specificity=spec)
    full = time.perf_counter() - start
    start = time.perf_counter()
    compute_image_similarity(world, rows, rng, specificity=spec)
    fast = time.perf_counter() - start
    print(
        f"image similarity per caption: {1e6 * fast / rows.size:.2f} us without the image, "
        f"{1e6 * full / rows.size:.2f} us with it (baseline), ratio {full / fast:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="store_true", help="build the paper-scale preset")
    parser.add_argument("--fraction", type=float, default=1.0, help="scale of the preset")
    parser.add_argument("--db", type=Path, default=None, help="where (default: a temp folder)")
    args = parser.parse_args()
    if args.preset:
        if args.db is not None:
            bench_preset(args.db, args.fraction)
            return
        with tempfile.TemporaryDirectory() as tmp:
            bench_preset(Path(tmp) / "paper_scale.duckdb", args.fraction)
        return
    bench_corpus()


def bench_corpus() -> None:
    """Demo corpus generation and thumbnail rendering (the default benchmark)."""
    with tempfile.TemporaryDirectory() as tmp:
        for images in (False, True):
            start = time.perf_counter()
            generate_corpus(SimulationConfig(images=images), Path(tmp) / "c", progress=False)
            print(f"default config, images={images}: {time.perf_counter() - start:.1f} s")
        config = SimulationConfig()
        world = build_world(config, load_imagenet_vocabulary())
        rng = np.random.default_rng(0)
        emb, _ = compute_images(world, rng.integers(0, world.n_classes, N_THUMBS), rng)
        motifs = compute_motifs(world.image_proto.shape[0], 0)
        params = compute_render_params(emb, world.image_proto, motifs, 0)
        folder = Path(tmp) / "thumbs"
        folder.mkdir()
        paths = [folder / f"{i}.jpg" for i in range(N_THUMBS)]
        rates = {}
        for workers in (1, RENDER_WORKERS):
            start = time.perf_counter()
            write_thumbnails(paths, params, workers=workers)
            rates[workers] = N_THUMBS / (time.perf_counter() - start)
            print(f"thumbnails, {workers} worker(s): {rates[workers]:,.0f} per s")
        print(f"speed-up over the one-process baseline: {rates[RENDER_WORKERS] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
