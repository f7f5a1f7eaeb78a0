"""Decode images in parallel workers, preprocess them for a model, encode them.

Decoding runs in ``torch.utils.data.DataLoader`` workers, each applying the model's
own ``preprocess`` so the accelerator is not starved. An image that cannot be used
becomes a rejected item with a reason (``precompute.ingest.images.decode_image``); it never
stops the run. Thumbnails are made from the decoded image in the same worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from laionet_core.encoders import DEFAULT_IMAGE_BATCH_SIZE, ImageEncoder
from precompute.ingest.images import (
    DEFAULT_MAX_IMAGE_PIXELS,
    THUMBNAIL_SIZE,
    ImageSource,
    build_thumbnail,
    decode_image,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageEncodingResult:
    """What ``encode_image_sources`` returns.

    Attributes:
        embeddings: (K, D) float32, L2-normalised, one row per kept source.
        kept: (K,) int64 indices into the sources, ascending.
        rejected: ``(index, reason)`` for each source that could not be used.
        thumbnails: ``(mime, bytes)`` per kept source (aligned with ``kept``), or None.
        decode_seconds: Wall time spent waiting for decoded batches.
        encode_seconds: Wall time spent in the model.
    """

    embeddings: np.ndarray
    kept: np.ndarray
    rejected: list[tuple[int, str]]
    thumbnails: list[tuple[str, bytes]] | None
    decode_seconds: float
    encode_seconds: float


class _DecodeDataset(torch.utils.data.Dataset):
    """Decode + preprocess one source per item; failures come back as reasons."""

    def __init__(
        self,
        sources: Sequence[ImageSource],
        preprocess: Callable[[Image.Image], torch.Tensor],
        *,
        max_pixels: int,
        thumbnail_size: int | None,
        thumbnail_format: str,
    ) -> None:
        self.sources = sources
        self.preprocess = preprocess
        self.max_pixels = max_pixels
        self.thumbnail_size = thumbnail_size
        self.thumbnail_format = thumbnail_format

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[int, Any, Any, str | None]:
        try:
            image = decode_image(self.sources[index], max_pixels=self.max_pixels)
            pixels = self.preprocess(image)
            thumb = None
            if self.thumbnail_size:
                thumb = build_thumbnail(image, size=self.thumbnail_size, fmt=self.thumbnail_format)
        except Exception as e:  # noqa: BLE001 - any failure of one image is a rejection
            reason = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
            return index, None, None, reason
        return index, pixels, thumb, None


def _collate(items: list[tuple[int, Any, Any, str | None]]) -> tuple:
    good = [item for item in items if item[3] is None]
    bad = [(item[0], item[3]) for item in items if item[3] is not None]
    pixels = torch.stack([item[1] for item in good]) if good else None
    return [item[0] for item in good], pixels, [item[2] for item in good], bad


def iter_decoded_batches(
    sources: Sequence[ImageSource],
    preprocess: Callable[[Image.Image], torch.Tensor],
    *,
    batch_size: int = DEFAULT_IMAGE_BATCH_SIZE,
    num_workers: int = 0,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    thumbnail_size: int | None = THUMBNAIL_SIZE,
    thumbnail_format: str = "jpeg",
):
    """Yield decoded batches ``(indices, pixels | None, thumbnails, rejected)`` in order.

    ``pixels`` is a (B, 3, H, W) tensor for the ``indices`` that decoded; ``rejected``
    holds ``(index, reason)`` for the rest of the batch.
    """
    dataset = _DecodeDataset(
        sources,
        preprocess,
        max_pixels=max_pixels,
        thumbnail_size=thumbnail_size,
        thumbnail_format=thumbnail_format,
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
    yield from loader


def encode_image_sources(
    encoder: ImageEncoder,
    sources: Sequence[ImageSource],
    *,
    batch_size: int = DEFAULT_IMAGE_BATCH_SIZE,
    num_workers: int = 0,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    thumbnail_size: int | None = THUMBNAIL_SIZE,
    thumbnail_format: str = "jpeg",
    progress: bool = False,
) -> ImageEncodingResult:
    """Decode, preprocess (in ``num_workers`` processes) and encode images.

    Args:
        encoder: Supplies ``preprocess`` and ``encode_pixels``.
        sources: N file paths or byte strings.
        batch_size: Images per forward pass.
        num_workers: DataLoader worker processes for decoding (0 = in this process).
        max_pixels: Larger images are rejected as decompression bombs.
        thumbnail_size: Longest side of thumbnails; None for no thumbnails.
        thumbnail_format: ``"jpeg"`` or ``"webp"``.
        progress: Show a tqdm bar.

    Returns:
        Embeddings of the kept images, their indices, the rejections and thumbnails.
    """
    batches = iter_decoded_batches(
        sources,
        encoder.preprocess,
        batch_size=batch_size,
        num_workers=num_workers,
        max_pixels=max_pixels,
        thumbnail_size=thumbnail_size,
        thumbnail_format=thumbnail_format,
    )
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, total=-(-len(sources) // batch_size), desc="images", unit="batch")
    result = encode_decoded_batches(encoder, batches, thumbnails=bool(thumbnail_size))
    rejected = result.rejected
    for index, reason in rejected:
        logger.debug("rejected image %d: %s", index, reason)
    if rejected:
        logger.info("%d of %d images rejected", len(rejected), len(sources))
    return result


def encode_decoded_batches(
    encoder: ImageEncoder, batches: Iterable[tuple], *, thumbnails: bool
) -> ImageEncodingResult:
    """Encode the batches of ``iter_decoded_batches`` and gather what they hold.

    Args:
        encoder: Supplies ``encode_pixels``.
        batches: ``(indices, pixels | None, thumbnails, rejected)`` per batch, in order.
        thumbnails: Keep the batches' thumbnails (else the result holds None).

    Returns:
        Embeddings of the kept images, their indices, the rejections and thumbnails,
        with the time spent waiting for batches and in the model.
    """
    kept: list[int] = []
    chunks = [np.zeros((0, encoder.dim), np.float32)]
    thumbs: list[tuple[str, bytes]] = []
    rejected: list[tuple[int, str]] = []
    decode_s = encode_s = 0.0
    start = time.perf_counter()
    for indices, pixels, batch_thumbs, bad in batches:
        decode_s += time.perf_counter() - start
        rejected.extend(bad)
        if pixels is not None:
            t0 = time.perf_counter()
            chunks.append(encoder.encode_pixels(pixels))
            encode_s += time.perf_counter() - t0
            kept.extend(indices)
            thumbs.extend(batch_thumbs)
        start = time.perf_counter()
    return ImageEncodingResult(
        embeddings=np.concatenate(chunks),
        kept=np.asarray(kept, dtype=np.int64),
        rejected=rejected,
        thumbnails=thumbs if thumbnails else None,
        decode_seconds=decode_s,
        encode_seconds=encode_s,
    )
