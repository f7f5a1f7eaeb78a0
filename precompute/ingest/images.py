"""Decode one image safely and make its thumbnail (Pillow only, no torch).

An image that cannot be used (missing, truncated, not an image, more pixels than
``max_pixels``) raises ``ValueError`` whose message is the rejection reason. Thumbnails
are small JPEG or WebP bytes made from the decoded image (never a hot-linked URL).
Batched decoding in worker processes and encoding live in ``precompute.encode.image_batches``.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


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
# A corpus thumbnail file larger than this is refused unread: thumbnails are kilobytes.
MAX_THUMBNAIL_FILE_BYTES = 16 << 20


def decode_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    draft: int | None = None,
) -> Image.Image:
    """Open and fully decode one image as RGB.

    Args:
        source: A file path, the image's bytes, or a ``FileSlice``.
        max_pixels: Images with more pixels are refused (decompression bombs), before
            any pixel is decoded.
        draft: Let JPEG decode at a reduced scale whose sides stay >= this (thumbnails).

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
                if draft is not None:
                    image.draft("RGB", (draft, draft))
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


class ThumbnailError(ValueError):
    """A thumbnail file that is not stored; the message is the reason."""


def read_checked_thumbnail(
    path: Path, *, root: Path, size: int = THUMBNAIL_SIZE, fmt: str = "jpeg"
) -> tuple[str, bytes]:
    """A corpus thumbnail file, checked and re-encoded.

    The file must stay inside ``root`` once symlinks are followed, be at most
    ``MAX_THUMBNAIL_FILE_BYTES``, have at most Pillow's decompression-bomb limit of
    pixels and decode completely; it is stored re-encoded (longest side <= ``size``), so
    nothing of the original bytes (metadata, trailing data) reaches the database.

    Args:
        path: The thumbnail file.
        root: The folder it must stay inside.
        size: Longest side of the stored thumbnail, in pixels.
        fmt: ``"jpeg"`` or ``"webp"``.

    Returns:
        ``(mime_type, bytes)`` of the re-encoded thumbnail.

    Raises:
        ThumbnailError: The reason the file is not stored (the path named).
    """
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as error:  # dangling link, loop
        raise ThumbnailError(f"{path}: unreadable link or file ({error})") from error
    if not real.is_relative_to(root.resolve()):
        raise ThumbnailError(f"{path}: a link to {real}, outside {root}")
    if not real.is_file():
        raise ThumbnailError(f"{path}: not a regular file")
    if real.stat().st_size > MAX_THUMBNAIL_FILE_BYTES:
        raise ThumbnailError(
            f"{path}: {real.stat().st_size} bytes; thumbnails hold at most "
            f"{MAX_THUMBNAIL_FILE_BYTES}"
        )
    try:
        image = decode_image(real, draft=size)
    except ValueError as error:
        raise ThumbnailError(str(error).replace(str(real), str(path))) from error
    return build_thumbnail(image, size=size, fmt=fmt)
