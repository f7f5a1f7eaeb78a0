"""Images per second for the image encoder: decoding and inference timed separately.

Compares the batched pipeline (DataLoader workers + batched forward passes) with a
naive baseline (decode, preprocess and encode one image at a time) in the same run.
Models have random weights (no download): the tiny test model and, with
``--vit-b-32``, the real-size ViT-B-32 architecture. Uses CUDA when available.

    python -m benchmarks.bench_encoders [--images 64] [--workers 2] [--vit-b-32]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from precompute.encode.image_batches import encode_image_sources, iter_decoded_batches
from precompute.encode.models import load_image_encoder
from precompute.ingest.images import decode_image
from tests.tiny_clip import TINY_CLIP_NAME, build_tiny_clip_checkpoint


def _jpegs(n: int, size: int = 320) -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        pixels = rng.integers(0, 256, (size, size * 4 // 3, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


def _bench(label: str, encoder, sources: list[bytes], batch_size: int, workers: int) -> None:
    n = len(sources)
    t0 = time.perf_counter()
    for _ in iter_decoded_batches(
        sources, encoder.preprocess, batch_size=batch_size, num_workers=workers, thumbnail_size=None
    ):
        pass
    decode_s = time.perf_counter() - t0
    pixels = torch.stack([encoder.preprocess(decode_image(s)) for s in sources[:batch_size]])
    encoder.encode_pixels(pixels)  # warm-up
    t0 = time.perf_counter()
    for _ in range(max(1, n // batch_size)):
        encoder.encode_pixels(pixels)
    infer_s = (time.perf_counter() - t0) / (max(1, n // batch_size) * batch_size) * n
    t0 = time.perf_counter()
    encode_image_sources(encoder, sources, batch_size=batch_size, num_workers=workers)
    pipeline_s = time.perf_counter() - t0
    naive_n = min(n, 16)
    t0 = time.perf_counter()
    for s in sources[:naive_n]:
        encoder.encode_pixels(encoder.preprocess(decode_image(s))[None])
    naive_s = (time.perf_counter() - t0) / naive_n * n
    print(
        f"{label:28s} decode+preprocess {n / decode_s:8.1f} img/s | inference {n / infer_s:8.1f} "
        f"img/s | pipeline (+thumbnails) {n / pipeline_s:8.1f} img/s | naive one-by-one "
        f"{n / naive_s:8.1f} img/s | speed-up x{naive_s / pipeline_s:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--vit-b-32", action="store_true", help="also the real-size ViT-B-32")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sources = _jpegs(args.images)
    print(
        f"device={device} images={args.images} (320x426 JPEG) batch={args.batch_size} "
        f"workers={args.workers} torch threads={torch.get_num_threads()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = build_tiny_clip_checkpoint(tmp)
        tiny = load_image_encoder(f"open_clip:{TINY_CLIP_NAME}:{checkpoint}", device=device)
        _bench(f"tiny ({device})", tiny, sources, args.batch_size, args.workers)
    if args.vit_b_32:
        vit = load_image_encoder("open_clip:ViT-B-32", device=device)
        _bench(
            f"ViT-B-32 random ({device}, {vit.precision})",
            vit,
            sources,
            args.batch_size,
            args.workers,
        )


if __name__ == "__main__":
    main()
