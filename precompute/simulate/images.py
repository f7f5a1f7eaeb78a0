"""Thumbnails of the simulated corpus: a 64x64 JPEG as a function of an image embedding.

Each concept (world class or other sense) has a motif: a shape and a colour. An
image embedding is drawn as its nearest concept's motif, perturbed by the part of
the embedding that is not the prototype: position, size, rotation, hue, background
colour and clutter all grow with atypicality ``1 - cos(x, prototype)``. So pictures
of a class share a recognisable motif, and image-selected (stereotyped) sets look
visibly more uniform than text-selected ones. A "SIM" stamp marks every picture.
"""

from __future__ import annotations

import colorsys
import io
import logging
import math
import os
from collections.abc import Sequence
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

logger = logging.getLogger(__name__)

THUMB_SIZE = 64  # pixels per side, as the layout contract says
JPEG_QUALITY = 80  # small files; the pictures are flat shapes
N_SHAPES = 7  # triangle, square, pentagon, hexagon, circle, star, cross
N_FEATURES = 9  # dx, dy, size, rotation, hue shift, bg hue, bg value, clutter, clutter seed
# Atypicality scale: cosine to the prototype at which perturbations reach unit size.
ATYPICALITY_SCALE = 0.35
RENDER_CHUNK = 2_000  # thumbnails per task handed to a worker
# Two cores is what the demo machine has; more workers would only contend.
RENDER_WORKERS = max(1, min(2, os.cpu_count() or 1))


def compute_motifs(n_concepts: int, seed: int) -> np.ndarray:
    """Motif of each concept, (n_concepts, 3) float32: shape id, hue, saturation."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    shapes = rng.integers(0, N_SHAPES, size=n_concepts)
    hues = (np.arange(n_concepts) * 0.618034 + rng.random()) % 1.0
    sats = rng.uniform(0.55, 0.95, size=n_concepts)
    return np.stack([shapes, hues, sats], axis=1).astype(np.float32)


def compute_render_params(
    embeddings: np.ndarray, prototypes: np.ndarray, motifs: np.ndarray, seed: int
) -> np.ndarray:
    """Drawing parameters of each embedding, vectorised.

    Args:
        embeddings: (N, D) image embeddings, L2-normalised.
        prototypes: (K, D) image prototypes of every concept.
        motifs: (K, 3) from ``compute_motifs``.
        seed: Seed of the fixed projection that turns residuals into features.

    Returns:
        (N, 3 + N_FEATURES) float32: the nearest concept's motif then the features.
    """
    x = embeddings.astype(np.float32)
    scores = x @ prototypes.T
    k = np.argmax(scores, axis=1)
    q = scores[np.arange(len(x)), k]
    residual = x - q[:, None] * prototypes[k]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 8]))
    projection = rng.standard_normal((x.shape[1], N_FEATURES)).astype(np.float32)
    norm = np.sqrt(np.maximum(1.0 - q * q, 1e-6))[:, None]
    features = (residual @ projection) / norm * ((1.0 - q) / ATYPICALITY_SCALE)[:, None]
    return np.concatenate([motifs[k], features], axis=1).astype(np.float32)


def _shape_points(shape: int, cx: float, cy: float, radius: float, angle: float) -> list:
    if shape == 4:  # circle
        n, radii = 20, [radius]
    elif shape == 5:  # star
        n, radii = 10, [radius, radius * 0.45]
    elif shape == 6:  # cross, as a 12-gon
        r = radius
        w = radius * 0.35
        base = [
            (w, r),
            (w, w),
            (r, w),
            (r, -w),
            (w, -w),
            (w, -r),
            (-w, -r),
            (-w, -w),
            (-r, -w),
            (-r, w),
            (-w, w),
            (-w, r),
        ]
        c, s = math.cos(angle), math.sin(angle)
        return [(cx + px * c - py * s, cy + px * s + py * c) for px, py in base]
    else:
        n, radii = shape + 3, [radius]
    points = []
    for i in range(n):
        theta = angle + 2 * math.pi * i / n
        rad = radii[i % len(radii)]
        points.append((cx + rad * math.cos(theta), cy + rad * math.sin(theta)))
    return points


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def _sim_stamp() -> tuple[Image.Image, Image.Image]:
    patch = Image.new("RGB", (20, 10), (0, 0, 0))
    mask = Image.new("L", (20, 10), 170)
    ImageDraw.Draw(patch).text((1, -1), "SIM", fill=(255, 255, 0))
    return patch, mask


def render_thumbnail(params: np.ndarray, stamp: tuple[Image.Image, Image.Image]) -> bytes:
    """Draw one thumbnail.

    Args:
        params: (3 + N_FEATURES,) one row of ``compute_render_params``.
        stamp: The "SIM" patch and its mask (``_sim_stamp()``).

    Returns:
        The JPEG bytes of a 64x64 RGB picture.
    """
    shape, hue, sat = int(params[0]), float(params[1]), float(params[2])
    dx, dy, size, rot, dhue, bg_h, bg_v, clutter, cseed = (float(v) for v in params[3:])
    atyp = min(abs(bg_v) + abs(clutter), 3.0)
    background = _rgb(hue + 0.5 + 0.3 * bg_h, 0.08 + 0.12 * atyp, 0.93 - 0.12 * atyp)
    image = Image.new("RGB", (THUMB_SIZE, THUMB_SIZE), background)
    draw = ImageDraw.Draw(image)
    n_clutter = min(int(abs(clutter) * 3), 6)
    state = int(abs(cseed) * 1e6) + 1
    for _ in range(n_clutter):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        x0, y0 = state % 56, (state >> 8) % 56
        draw.rectangle(
            (x0, y0, x0 + 4 + state % 9, y0 + 3 + (state >> 4) % 9),
            fill=_rgb(bg_h + (state % 97) / 97, 0.5, 0.6),
        )
    half = THUMB_SIZE / 2
    cx = half + max(min(12.0 * dx, 20.0), -20.0)
    cy = half + max(min(12.0 * dy, 20.0), -20.0)
    radius = max(min(17.0 * (1.0 + 0.35 * size), 28.0), 6.0)
    colour = _rgb(hue + 0.12 * dhue, sat, 0.85)
    draw.polygon(_shape_points(shape, cx, cy, radius, 0.6 * rot), fill=colour, outline=(30, 30, 30))
    patch, mask = stamp
    image.paste(patch, (THUMB_SIZE - patch.width, THUMB_SIZE - patch.height), mask)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def render_thumbnails(params: np.ndarray) -> list[bytes]:
    """JPEG bytes of one thumbnail per row of ``compute_render_params``, in this process."""
    stamp = _sim_stamp()
    return [render_thumbnail(row, stamp) for row in params]


def _write_chunk(task: tuple[Sequence[str], np.ndarray]) -> int:
    paths, params = task
    stamp = _sim_stamp()
    for path, row in zip(paths, params, strict=True):
        Path(path).write_bytes(render_thumbnail(row, stamp))
    return len(paths)


def write_thumbnails(
    paths: Sequence[Path], params: np.ndarray, *, workers: int = RENDER_WORKERS, progress=None
) -> None:
    """Render and write thumbnails, over ``workers`` processes when it pays off.

    Args:
        paths: N output files; their folders must exist.
        params: (N, 3 + N_FEATURES) rows of ``compute_render_params``.
        workers: Worker processes (1 renders in this process).
        progress: Optional tqdm bar, advanced by the number written.

    Raises:
        ValueError: ``paths`` and ``params`` differ in length.
    """
    if len(paths) != len(params):
        raise ValueError(f"{len(paths)} thumbnail paths but {len(params)} parameter rows")
    tasks = [
        ([str(p) for p in paths[i : i + RENDER_CHUNK]], params[i : i + RENDER_CHUNK])
        for i in range(0, len(paths), RENDER_CHUNK)
    ]
    if workers <= 1 or len(tasks) <= 1:
        done = map(_write_chunk, tasks)
        for n in done:
            if progress is not None:
                progress.update(n)
        return
    with get_context("fork").Pool(workers) as pool:
        for n in pool.imap_unordered(_write_chunk, tasks):
            if progress is not None:
                progress.update(n)
