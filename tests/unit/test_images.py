"""Image decoding in workers, rejections, decompression bombs and thumbnails."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from precompute.encode.image_batches import encode_image_sources
from precompute.encode.models import load_image_encoder
from precompute.ingest.images import build_thumbnail, decode_image
from tests.tiny_clip import TINY_CLIP_NAME, build_tiny_clip_checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    checkpoint = build_tiny_clip_checkpoint(tmp_path_factory.mktemp("tiny"))
    return load_image_encoder(f"open_clip:{TINY_CLIP_NAME}:{checkpoint}", device="cpu")


def _jpeg(seed: int, size=(64, 48)) -> bytes:
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
    ImageDraw.Draw(im).rectangle(
        (5, 5, 30, 20), fill=tuple(int(c) for c in rng.integers(0, 256, 3))
    )
    buffer = io.BytesIO()
    im.save(buffer, format="JPEG")
    return buffer.getvalue()


def _png_declaring(width: int, height: int) -> bytes:
    """A ~60-byte PNG whose header declares width x height (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imgs")
    good = [_jpeg(i) for i in range(9)]
    paths = []
    for i, data in enumerate(good[:5]):
        path = folder / f"{i}.jpg"
        path.write_bytes(data)
        paths.append(str(path))
    (folder / "not_an_image.jpg").write_bytes(b"hello, I am text")
    (folder / "truncated.jpg").write_bytes(good[0][: len(good[0]) // 2])
    items = [
        paths[0],
        str(folder / "not_an_image.jpg"),
        paths[1],
        good[5],
        str(folder / "truncated.jpg"),
        paths[2],
        _png_declaring(40_000, 40_000),
        good[6],
        str(folder / "missing.jpg"),
        paths[3],
        good[7],
        paths[4],
        good[8],
    ]
    return items, {
        1: "not an image",
        4: "cannot decode",
        6: "decompression bomb",
        8: "missing file",
    }


def test_decode_rejections_name_the_reason(sources):
    items, bad = sources
    for index, reason in bad.items():
        with pytest.raises(ValueError, match=reason):
            decode_image(items[index])
    assert decode_image(items[0]).mode == "RGB"


def test_lowered_pixel_limit_rejects_as_bomb_and_restores_limit(sources):
    items, _ = sources
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ValueError, match="decompression bomb"):
        decode_image(items[0], max_pixels=64 * 48 // 2 - 1)  # > 2x: DecompressionBombError
    with pytest.raises(ValueError, match="decompression bomb"):
        decode_image(items[0], max_pixels=64 * 48 - 1)  # just over: the warning is a rejection
    assert decode_image(items[0], max_pixels=64 * 48).size == (64, 48)
    assert before == Image.MAX_IMAGE_PIXELS


def test_encode_sources_keeps_good_rejects_bad_and_matches_in_memory(tiny, sources):
    items, bad = sources
    result = encode_image_sources(tiny, items, batch_size=4, num_workers=0)
    good = [i for i in range(len(items)) if i not in bad]
    assert result.kept.tolist() == good
    assert sorted(i for i, _ in result.rejected) == sorted(bad)
    for index, reason in result.rejected:
        assert bad[index] in reason
    assert result.embeddings.shape == (len(good), 32)
    np.testing.assert_allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, atol=1e-5)
    oracle = tiny.encode_images([decode_image(items[i]) for i in good], batch_size=1)
    np.testing.assert_allclose(result.embeddings, oracle, atol=1e-5)
    assert len(result.thumbnails) == len(good)
    assert all(mime == "image/jpeg" and data[:2] == b"\xff\xd8" for mime, data in result.thumbnails)


def test_batch_size_and_workers_do_not_change_results(tiny, sources):
    items, _ = sources
    base = encode_image_sources(tiny, items, batch_size=4, num_workers=0, thumbnail_size=None)
    other = encode_image_sources(tiny, items, batch_size=3, num_workers=2, thumbnail_size=None)
    assert base.thumbnails is None
    np.testing.assert_array_equal(base.kept, other.kept)
    assert sorted(base.rejected) == sorted(other.rejected)
    np.testing.assert_allclose(base.embeddings, other.embeddings, atol=1e-5)
    again = encode_image_sources(tiny, items, batch_size=4, num_workers=0, thumbnail_size=None)
    np.testing.assert_array_equal(base.embeddings, again.embeddings)


def test_all_rejected_gives_empty_embeddings(tiny):
    result = encode_image_sources(tiny, [b"nope", b"still nope"], batch_size=8)
    assert result.embeddings.shape == (0, 32) and result.kept.size == 0
    assert len(result.rejected) == 2


@pytest.mark.parametrize(("fmt", "mime"), [("jpeg", "image/jpeg"), ("webp", "image/webp")])
def test_thumbnail_longest_side_and_format(fmt, mime):
    image = Image.new("RGB", (400, 100), (200, 30, 30))
    got_mime, data = build_thumbnail(image, size=128, fmt=fmt)
    assert got_mime == mime
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.size == (128, 32)
        assert thumb.format == fmt.upper()
    assert len(data) < 5_000


def test_thumbnail_does_not_upscale_and_rejects_unknown_format():
    _, data = build_thumbnail(Image.new("L", (20, 10)), size=128)
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.size == (20, 10) and thumb.mode == "RGB"
    with pytest.raises(ValueError, match="allowed: jpeg, webp"):
        build_thumbnail(Image.new("RGB", (20, 10)), fmt="gif")
