"""Decode images in parallel workers, preprocess them for a model, encode, make thumbnails.

Decoding runs in ``torch.utils.data.DataLoader`` workers, each applying the model's
own ``preprocess`` so the accelerator is not starved. An image that cannot be used
(missing, truncated, not an image, more pixels than ``max_pixels``) becomes a
rejected item with a reason; it never stops the run. Thumbnails are small JPEG or
WebP bytes made from the decoded image (never a hot-linked URL).
"""

from __future__ import annotations

import io
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from laionet_core.encoders import DEFAULT_IMAGE_BATCH_SIZE, ImageEncoder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileSlice:
    """Bytes ``[offset, offset + size)`` of a file, e.g. one member of a tar shard.

    Cheap to pickle to a worker, unlike the bytes themselves.
    """

    path: str
    offset: int
    size: int

    def read(self) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(self.size)
        if len(data) != self.size:
            raise ValueError(
                f"{self.path}: expected {self.size} bytes at {self.offset}, got {len(data)}"
            )
        return data


ImageSource = str | Path | bytes | FileSlice  # a file path, image bytes, or a slice of a file

# Pillow's own default (~89 Mpx, a 0.25 GB RGB bitmap): larger files are bombs.
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
THUMBNAIL_SIZE = 128  # longest side in pixels: enough for a grid, ~4 kB per JPEG
THUMBNAIL_QUALITY = 80  # JPEG/WebP quality: artefacts invisible at thumbnail size
THUMBNAIL_FORMATS = {"jpeg": "image/jpeg", "webp": "image/webp"}  # format -> MIME type


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


def decode_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    """Open and fully decode one image as RGB.

    Args:
        source: A file path, the image's bytes, or a ``FileSlice``.
        max_pixels: Images with more pixels are refused (decompression bombs).

    Returns:
        The decoded RGB image.

    Raises:
        ValueError: The image is missing, unreadable, truncated or too large; the
            message is the rejection reason.
    """
    label = str(source) if not isinstance(source, bytes) else f"<{len(source)} bytes>"
    previous = Image.MAX_IMAGE_PIXELS
    try:
        if isinstance(source, FileSlice):
            source = source.read()
        Image.MAX_IMAGE_PIXELS = max_pixels
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
            with handle, Image.open(handle) as image:
                image.load()
                return image.convert("RGB")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise ValueError(f"decompression bomb: {label}: {e}") from e
    except FileNotFoundError as e:
        raise ValueError(f"missing file: {label}") from e
    except Image.UnidentifiedImageError as e:
        raise ValueError(f"not an image: {label}") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"cannot decode {label}: {e}") from e
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def build_thumbnail(
    image: Image.Image,
    *,
    size: int = THUMBNAIL_SIZE,
    fmt: str = "jpeg",
    quality: int = THUMBNAIL_QUALITY,
) -> tuple[str, bytes]:
    """Shrink an image so its longest side is at most ``size`` and encode it.

    Args:
        image: Any PIL image (converted to RGB).
        size: Longest side in pixels.
        fmt: ``"jpeg"`` or ``"webp"``.
        quality: Encoder quality, 1-100.

    Returns:
        ``(mime_type, bytes)``.

    Raises:
        ValueError: Unknown format.
    """
    if fmt not in THUMBNAIL_FORMATS:
        raise ValueError(f"thumbnail format {fmt!r}; allowed: {', '.join(THUMBNAIL_FORMATS)}")
    thumb = image.convert("RGB")
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format=fmt.upper(), quality=quality)
    return THUMBNAIL_FORMATS[fmt], buffer.getvalue()


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
    kept: list[int] = []
    chunks = [np.zeros((0, encoder.dim), np.float32)]
    thumbs: list[tuple[str, bytes]] = []
    rejected: list[tuple[int, str]] = []
    decode_s = encode_s = 0.0
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
    for index, reason in rejected:
        logger.debug("rejected image %d: %s", index, reason)
    if rejected:
        logger.info("%d of %d images rejected", len(rejected), len(sources))
    return ImageEncodingResult(
        embeddings=np.concatenate(chunks),
        kept=np.asarray(kept, dtype=np.int64),
        rejected=rejected,
        thumbnails=thumbs if thumbnail_size else None,
        decode_seconds=decode_s,
        encode_seconds=encode_s,
    )
