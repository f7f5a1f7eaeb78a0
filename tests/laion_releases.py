"""Small corpora in the exact on-disk forms of LAION's public releases.

Other tests import it as ``from tests.laion_releases import ...``. Each writer copies a
release's folder names, file names, zero padding, column names and dtypes, with few rows:

* ``write_laion400m_embeddings``: the-eye's ``laion400m-embeddings`` (``images/img_emb_N.npy``,
  ``texts/text_emb_N.npy``, ``metadata/metadata_N.parquet``, N unpadded, 512-d float16),
  metadata in clip-retrieval/img2dataset's columns (``RELEASE_COLUMNS``);
* ``write_laion5b_embeddings``: ``img_emb/img_emb_0000.npy``, ``text_emb/``, ``metadata/``
  with 4-digit padding, 768-d float16; ``sibling=True`` puts the metadata in the sibling
  ``<name>-metadata/`` folder as on the-eye;
* ``write_deploy_layout``: ``img_emb/ text_emb/ metadata/`` unpadded;
* ``write_laion400m_parts``: ``part-000NN-5b54c5d5-bbcf-484d-a2ce-0d6f73df1a36-c000.snappy.parquet``
  with ``SAMPLE_ID, URL, TEXT, HEIGHT, WIDTH, LICENSE, NSFW, similarity``.

Synset-text embeddings are written apart from the corpus (the releases ship none), with a
``wnids.txt`` beside them, by ``write_synset_embeddings``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from laionet_core.vocabulary import load_imagenet_vocabulary
from tests.laion_corpus import CAPTIONS

# The embeddings releases' metadata: clip-retrieval / img2dataset output, in this order.
RELEASE_COLUMNS = [
    "image_path",
    "caption",
    "NSFW",
    "similarity",
    "LICENSE",
    "url",
    "key",
    "status",
    "error_message",
    "width",
    "height",
    "original_width",
    "original_height",
    "exif",
    "md5",
]
ORIGINAL_PART_NAME = "part-{:05d}-5b54c5d5-bbcf-484d-a2ce-0d6f73df1a36-c000.snappy.parquet"
ORIGINAL_COLUMNS = ("SAMPLE_ID", "URL", "TEXT", "HEIGHT", "WIDTH", "LICENSE", "NSFW", "similarity")


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.normal(size=(n, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float16)


def _captions(part: int, rows: int) -> list[str | None]:
    return [CAPTIONS[(part * rows + i) % len(CAPTIONS)] for i in range(rows)]


def release_metadata(part: int, rows: int) -> pa.Table:
    """One metadata part of an embeddings release, in ``RELEASE_COLUMNS``."""
    keys = [f"{part:05d}{i:04d}" for i in range(rows)]
    return pa.table(
        {
            "image_path": [f"{part:05d}/{k}.jpg" for k in keys],
            "caption": pa.array(_captions(part, rows), pa.string()),
            "NSFW": ["NSFW" if i % 5 == 0 else "UNLIKELY" for i in range(rows)],
            "similarity": pa.array(np.linspace(0.28, 0.4, rows), pa.float64()),
            "LICENSE": ["?"] * rows,
            "url": [f"https://example.invalid/{k}.jpg" for k in keys],
            "key": keys,
            "status": ["success"] * rows,
            "error_message": pa.array([None] * rows, pa.string()),
            "width": pa.array([256] * rows, pa.int64()),
            "height": pa.array([256] * rows, pa.int64()),
            "original_width": pa.array([640] * rows, pa.int64()),
            "original_height": pa.array([480] * rows, pa.int64()),
            "exif": ["{}"] * rows,
            "md5": [f"{i:032x}" for i in range(rows)],
        }
    )


def _write_release(
    root: Path,
    *,
    img_dir: str,
    text_dir: str,
    metadata_dir: Path,
    parts: int,
    rows: int,
    dim: int,
    padding: int,
    seed: int,
) -> Path:
    rng = np.random.default_rng(seed)
    for folder in (root / img_dir, root / text_dir, metadata_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for part in range(parts):
        number = f"{part:0{padding}d}"
        pq.write_table(release_metadata(part, rows), metadata_dir / f"metadata_{number}.parquet")
        np.save(root / img_dir / f"img_emb_{number}.npy", _unit_rows(rng, rows, dim))
        np.save(root / text_dir / f"text_emb_{number}.npy", _unit_rows(rng, rows, dim))
    return root


def write_laion400m_embeddings(root: Path, *, parts: int = 3, rows: int = 12) -> Path:
    """the-eye's ``laion400m-embeddings``: images/, texts/, metadata/, unpadded, 512-d."""
    return _write_release(
        root,
        img_dir="images",
        text_dir="texts",
        metadata_dir=root / "metadata",
        parts=parts,
        rows=rows,
        dim=512,
        padding=0,
        seed=1,
    )


def write_laion5b_embeddings(
    root: Path, *, parts: int = 2, rows: int = 12, sibling: bool = False
) -> Path:
    """LAION-5B: img_emb/, text_emb/, 4-digit padding, 768-d; metadata/ or ``<root>-metadata/``."""
    metadata_dir = root.parent / f"{root.name}-metadata" if sibling else root / "metadata"
    return _write_release(
        root,
        img_dir="img_emb",
        text_dir="text_emb",
        metadata_dir=metadata_dir,
        parts=parts,
        rows=rows,
        dim=768,
        padding=4,
        seed=2,
    )


def write_deploy_layout(root: Path, *, parts: int = 3, rows: int = 12, dim: int = 512) -> Path:
    """The deploy layout: img_emb/, text_emb/, metadata/, unpadded."""
    return _write_release(
        root,
        img_dir="img_emb",
        text_dir="text_emb",
        metadata_dir=root / "metadata",
        parts=parts,
        rows=rows,
        dim=dim,
        padding=0,
        seed=3,
    )


def write_laion400m_parts(
    root: Path, *, parts: int = 2, rows: int = 12, float_ids: bool = False
) -> Path:
    """The original LAION-400M metadata parts (SAMPLE_ID int64, or float64 as in some)."""
    root.mkdir(parents=True, exist_ok=True)
    for part in range(parts):
        ids = np.arange(rows) + 10_000 * (part + 1)
        sample_ids = pa.array(ids.astype(np.float64) if float_ids else ids)
        table = pa.table(
            {
                "SAMPLE_ID": sample_ids,
                "URL": [f"https://example.invalid/{i}.jpg" for i in ids.tolist()],
                "TEXT": pa.array(_captions(part, rows), pa.string()),
                "HEIGHT": pa.array([480] * rows, pa.int32()),
                "WIDTH": pa.array([640] * rows, pa.int32()),
                "LICENSE": ["?"] * rows,
                "NSFW": ["UNLIKELY"] * rows,
                "similarity": pa.array(np.linspace(0.3, 0.4, rows), pa.float64()),
            }
        )
        pq.write_table(table, root / ORIGINAL_PART_NAME.format(part))
    return root


def write_synset_embeddings(folder: Path, *, dim: int, seed: int = 7) -> Path:
    """``name_def_emb.npy`` (1000 x dim, float32, unit rows) and ``wnids.txt`` beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    wnids = load_imagenet_vocabulary().wnids
    (folder / "wnids.txt").write_text("\n".join(wnids) + "\n", encoding="utf-8")
    rows = _unit_rows(np.random.default_rng(seed), len(wnids), dim).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    np.save(folder / "name_def_emb.npy", rows)
    return folder / "name_def_emb.npy"
