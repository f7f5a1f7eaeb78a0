"""``readers.read_thumbnail_file`` refuses sample ids that would leave the thumbnail folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from precompute.ingest.laion import read_thumbnail_file


def test_safe_ids_read_their_file_and_unsafe_ones_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "images" / "00000"
    folder.mkdir(parents=True)
    (folder / "123.jpg").write_bytes(b"jpeg")
    (tmp_path / "images" / "secret.jpg").write_bytes(b"outside")
    assert read_thumbnail_file(folder, "123") == ("image/jpeg", b"jpeg")
    assert read_thumbnail_file(folder, "124") is None
    assert read_thumbnail_file(None, "../secret") is None  # no folder, no path is built
    for bad, part in (("../secret", "/"), ("..", ".."), ("a\0b", "\0"), ("..\\secret", "\\")):
        with pytest.raises(ValueError, match="cannot name a thumbnail file") as error:
            read_thumbnail_file(folder, bad)
        assert str(folder) in str(error.value) and f"contains {part!r}" in str(error.value)
