"""Benchmark of the simulated corpus: generation time and thumbnail rendering speed.

Prints the time to generate the default demo corpus (with and without thumbnails)
and the thumbnail rate over ``RENDER_WORKERS`` processes against a naive baseline
(one process, one PIL image per call, the same renderer). Run:
``.venv/bin/python -m benchmarks.bench_simulate`` (about 30 s on 2 cores).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.simulate.corpus import SimulationConfig, generate_corpus
from precompute.simulate.draws import (
    compute_images,
)
from precompute.simulate.images import (
    RENDER_WORKERS,
    compute_motifs,
    compute_render_params,
    write_thumbnails,
)
from precompute.simulate.world import (
    build_world,
)

N_THUMBS = 6_000  # enough for a stable rate, small enough for a shared machine


def main() -> None:
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
