"""``readers.read_thumbnail_file`` refuses sample ids that would leave the thumbnail folder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from precompute.ingest.laion import read_thumbnail_file


def test_safe_ids_read_their_file_and_unsafe_ones_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "images" / "00000"
    folder.mkdir(parents=True)
    Image.new("RGB", (40, 30), "red").save(folder / "123.jpg")
    (tmp_path / "images" / "secret.jpg").write_bytes(b"outside")
    mime, data = read_thumbnail_file(folder, "123")
    assert mime == "image/jpeg" and Image.open(io.BytesIO(data)).size == (40, 30)
    assert read_thumbnail_file(folder, "124") is None
    assert read_thumbnail_file(None, "../secret") is None  # no folder, no path is built
    for bad, part in (("../secret", "/"), ("..", ".."), ("a\0b", "\0"), ("..\\secret", "\\")):
        with pytest.raises(ValueError, match="cannot name a thumbnail file") as error:
            read_thumbnail_file(folder, bad)
        assert str(folder) in str(error.value) and f"contains {part!r}" in str(error.value)
