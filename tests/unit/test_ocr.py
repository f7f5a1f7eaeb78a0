"""``python -m precompute ocr``: real Tesseract on images with text drawn by Pillow."""

from __future__ import annotations

import io
import json
import tarfile

import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw, ImageFont

from precompute.cli import main


def _image_with_text(text: str) -> bytes:
    image = Image.new("RGB", (640, 160), "white")
    if text:
        font = ImageFont.load_default(size=64)
        ImageDraw.Draw(image).text((20, 40), text, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def shards(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    with tarfile.open(folder / "00000.tar", "w") as tar:
        for key, sample_id, payload in (
            ("000000000", 11, _image_with_text("PUMA SALE")),
            ("000000001", 12, _image_with_text("")),
            ("000000002", None, b"not an image at all"),
        ):
            _add(tar, f"{key}.png", payload)
            meta = {"key": key} | ({"SAMPLE_ID": sample_id} if sample_id else {})
            _add(tar, f"{key}.json", json.dumps(meta).encode())
    return folder


def test_ocr_reads_the_text_of_each_image(shards, tmp_path) -> None:
    out = tmp_path / "ocr.parquet"
    assert main(["ocr", "--images", str(shards), "--out", str(out), "--workers", "1"]) == 0
    rows = {r["SAMPLE_ID"]: r for r in pq.read_table(out).to_pylist()}
    assert set(rows) == {"11", "12", "000000002"}
    assert "PUMA" in rows["11"]["ocr_text"].upper() and rows["11"]["error"] is None
    assert rows["12"]["ocr_text"] == ""
    assert rows["000000002"]["ocr_text"] is None and "Unidentified" in rows["000000002"]["error"]


def test_ocr_errors_name_the_input(tmp_path, capsys) -> None:
    out = tmp_path / "ocr.parquet"
    assert main(["ocr", "--images", str(tmp_path), "--out", str(out)]) == 2
    assert "expected a .tar shard" in capsys.readouterr().err
    (tmp_path / "bad.tar").write_bytes(b"x" * 2000)
    assert main(["ocr", "--images", str(tmp_path), "--out", str(out)]) == 2
    assert "bad.tar: not a readable webdataset shard" in capsys.readouterr().err
    assert not out.exists()
