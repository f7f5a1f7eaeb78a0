"""Generated reference layouts (JPEG files, class folders, webdataset shards, captions JSON).

Other tests import it as ``from tests.reference_layouts import ...``.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def make_jpeg(seed: int) -> bytes:
    """A small JPEG (48 x 40): a coloured ellipse on a coloured ground, seeded."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (48, 40), tuple(int(c) for c in rng.integers(0, 256, 3)))
    ImageDraw.Draw(im).ellipse((4, 4, 30, 25), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    buffer = io.BytesIO()
    im.save(buffer, format="JPEG")
    return buffer.getvalue()


def write_class_tree(root: Path, names: list[str], per_class: int = 2, ext: str = "JPEG") -> Path:
    """``<root>/<name>/img_<j>.<ext>`` for every class folder name."""
    for c, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for j in range(per_class):
            (root / name / f"img_{j}.{ext}").write_bytes(make_jpeg(10 * c + j))
    return root


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_shard(path: Path, samples: list[tuple[str, dict, bytes]]) -> None:
    """An img2dataset-style tar: ``<key>.jpg``, ``<key>.txt`` (caption) and ``<key>.json``."""
    with tarfile.open(path, "w") as tar:
        for key, meta, image in samples:
            _add_member(tar, f"{key}.jpg", image)
            _add_member(tar, f"{key}.txt", meta.get("caption", "").encode())
            _add_member(tar, f"{key}.json", json.dumps(meta).encode())


def write_captions_json(path: Path) -> Path:
    """A two-entry ImageNet-Captions list (the second has no wnid field)."""
    entries = [
        {
            "filename": "n01440764_10026.JPEG",
            "title": "Big  tench",
            "description": "caught today",
            "tags": ["fish", "lake"],
            "wnid": "n01440764",
        },
        {"filename": "n01443537_7.JPEG", "title": "goldie", "description": "", "tags": []},
    ]
    path.write_text(json.dumps(entries))
    return path
