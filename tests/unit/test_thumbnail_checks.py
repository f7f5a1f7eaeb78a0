"""Thumbnails are checked and re-encoded at build time; refused files become rejected rows."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import duckdb
import pytest
from PIL import Image

from precompute.cli import main as precompute_main
from precompute.ingest import images
from precompute.ingest.images import THUMBNAIL_SIZE, ThumbnailError, read_checked_thumbnail
from tests.laion_corpus import write_laion_corpus


def write_png_bomb(path: Path, side: int = 20_000) -> Path:
    """A tiny PNG whose header claims ``side`` x ``side`` pixels (400 Mpx by default)."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    header = struct.pack(">II", side, side) + bytes(data[24:29])  # IHDR: size, then flags
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    path.write_bytes(bytes(data))
    return path


def _jpeg(path: Path, size: tuple[int, int], color: str = "red") -> Path:
    Image.new("RGB", size, color).save(path, format="JPEG")
    return path


def _size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_a_large_image_is_re_encoded_to_a_bounded_size(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "big.jpg", (3000, 2000))
    path.write_bytes(path.read_bytes() + b"<script>trailing bytes</script>")
    mime, data = read_checked_thumbnail(path, root=tmp_path)
    assert mime == "image/jpeg" and max(_size(data)) == THUMBNAIL_SIZE
    assert b"<script>" not in data and len(data) < 20_000


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(_jpeg(p, (64, 64)).read_bytes()[:300]), "cannot decode"),
        (lambda p: p.write_bytes(b"<html>not an image</html>"), "not an image"),
        (lambda p: p.write_bytes(b""), "not an image"),
        (write_png_bomb, "decompression bomb"),
    ],
    ids=["truncated", "html", "empty", "bomb"],
)
def test_unusable_files_are_refused_with_the_reason(tmp_path: Path, make, reason) -> None:
    path = tmp_path / "x.jpg"
    make(path)
    started = time.perf_counter()
    with pytest.raises(ThumbnailError, match=reason) as error:
        read_checked_thumbnail(path, root=tmp_path)
    assert str(path) in str(error.value)
    assert time.perf_counter() - started < 2.0  # a bomb is refused from its header


def test_links_may_not_leave_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    outside = _jpeg(tmp_path / "outside.jpg", (8, 8))
    inside = _jpeg(folder / "inside.jpg", (8, 8))
    (folder / "to-outside.jpg").symlink_to(outside)
    (folder / "to-passwd.jpg").symlink_to("/etc/passwd")
    (folder / "to-inside.jpg").symlink_to(inside)
    (folder / "dangling.jpg").symlink_to(folder / "nothing.jpg")
    assert _size(read_checked_thumbnail(folder / "to-inside.jpg", root=folder)[1]) == (8, 8)
    for name, reason in [
        ("to-outside", "outside"),
        ("to-passwd", "/etc/passwd"),
        ("dangling", "unreadable link"),
    ]:
        with pytest.raises(ThumbnailError, match=reason):
            read_checked_thumbnail(folder / f"{name}.jpg", root=folder)


def test_an_oversized_file_is_refused_unread(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(images, "MAX_THUMBNAIL_FILE_BYTES", 100)
    path = _jpeg(tmp_path / "x.jpg", (64, 64))
    with pytest.raises(ThumbnailError, match="at most 100"):
        read_checked_thumbnail(path, root=tmp_path)


def test_a_build_stores_good_thumbnails_and_rejects_bad_ones(tmp_path: Path) -> None:
    corpus = write_laion_corpus(tmp_path / "corpus", parts=1, rows_per_part=10)
    folder = corpus / "images" / "00000"
    folder.mkdir(parents=True)
    # Sample ids 1000.. in caption order; these rows' captions name a class.
    _jpeg(folder / "1000.jpg", (40, 30))
    (folder / "1001.jpg").write_bytes(_jpeg(tmp_path / "t.jpg", (64, 64)).read_bytes()[:300])
    (folder / "1002.jpg").write_bytes(b"<svg onload=alert(1)>")
    write_png_bomb(folder / "1003.png")
    (folder / "1008.jpg").symlink_to("/etc/passwd")
    _jpeg(folder / "1009.jpg", (2000, 1500), "blue")
    db = tmp_path / "db.duckdb"
    argv = ["build", "--corpus", str(corpus), "--db", str(db), "--workers", "1"]
    assert precompute_main(argv) == 0
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute(
        "SELECT s.sample_id, t.mime, t.data FROM samples s JOIN thumbnails t USING (thumbnail_id)"
    ).fetchall()
    rejected = dict(
        con.execute(
            "SELECT sample_id, reason FROM rejected WHERE reason LIKE 'thumbnail%'"
        ).fetchall()
    )
    samples = {row[0] for row in con.execute("SELECT sample_id FROM samples").fetchall()}
    con.close()
    assert {s: _size(d) for s, _, d in stored} == {"1000": (40, 30), "1009": (128, 96)}
    assert {m for _, m, _ in stored} == {"image/jpeg"}
    assert set(rejected) == {"1001", "1002", "1003", "1008"}
    assert "cannot decode" in rejected["1001"] and "not an image" in rejected["1002"]
    assert "decompression bomb" in rejected["1003"] and "/etc/passwd" in rejected["1008"]
    assert set(rejected) <= samples  # the samples stay, without a thumbnail
