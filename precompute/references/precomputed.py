"""Reference datasets shipped with precomputed embeddings under ``<corpus>/references``.

The simulated corpus carries ImageNet-like sets selected by image (``imagenet-val``,
``imagenetv2-a/b/c``) and one with captions (``imagenet-captions``); each folder holds
``index.parquet`` (sample_id, wnid, path[, text]) row-aligned with ``img_emb.npy`` (and
``text_emb.npy``). Real reference data is read by ``precompute.ingest.reference_layouts`` instead.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from laionet_core import schema
from laionet_core.settings import IMAGENET_CAPTIONS_DATASET, IMAGENET_DATASET, IMAGENETV2_DATASETS
from laionet_core.storage import DatasetInfo, write_dataset
from laionet_core.validation import require_columns
from precompute.ingest.laion import load_part_embeddings, read_thumbnail_file

REFERENCES_DIR = "references"
# Reference sets selected by looking at the image, and the one that carries captions.
IMAGE_SELECTED_REFERENCES = (IMAGENET_DATASET, *IMAGENETV2_DATASETS)
CAPTIONED_REFERENCE = IMAGENET_CAPTIONS_DATASET


def read_precomputed_references(
    corpus: Path, synset_embeddings: np.ndarray, wnid_rows: dict[str, int]
) -> list[tuple[str, pd.DataFrame, np.ndarray, np.ndarray | None, list]]:
    """Reference datasets stored with their embeddings under ``<corpus>/references``.

    Each folder holds ``index.parquet`` (sample_id, wnid, path[, text]) row-aligned with
    ``img_emb.npy`` (and ``text_emb.npy`` for the captioned set).

    Returns:
        ``(name, samples, image_embeddings, text_embeddings, thumbnails)`` per dataset.
    """
    found = []
    root = corpus / REFERENCES_DIR
    for name in (*IMAGE_SELECTED_REFERENCES, CAPTIONED_REFERENCE):
        folder = root / name
        if not (folder / "index.parquet").is_file():
            continue
        index = pd.read_parquet(folder / "index.parquet")
        require_columns(index, ("sample_id", "wnid", "path"), where=str(folder / "index.parquet"))
        unknown = sorted(set(index["wnid"]) - set(wnid_rows))
        if unknown:
            raise ValueError(f"{folder / 'index.parquet'}: wnid {unknown[0]} is not a class")
        img = load_part_embeddings(
            folder / "img_emb.npy", rows=len(index), dim=synset_embeddings.shape[1]
        )
        img = np.asarray(img, dtype=np.float32)
        classes = index["wnid"].map(wnid_rows).to_numpy()
        text = None
        text_sims = np.full(len(index), np.nan, dtype=np.float32)
        if (folder / "text_emb.npy").is_file():
            text = np.asarray(
                load_part_embeddings(folder / "text_emb.npy", rows=len(index)), dtype=np.float32
            )
            text_sims = np.einsum("nd,nd->n", text, synset_embeddings[classes]).astype(np.float32)
        samples = pd.DataFrame(
            {
                "sample_id": index["sample_id"].astype(str),
                "url": None,
                "text": index.get("text"),
                "wnid": index["wnid"],
                "matched_wnids": [[w] for w in index["wnid"]],
                "multi_label": False,
                "text_similarity": text_sims,
                "image_similarity": np.einsum("nd,nd->n", img, synset_embeddings[classes]),
                "nsfw": None,
            }
        )
        thumbs = [_read_file_thumbnail(folder / p) for p in index["path"]]
        found.append((name, samples, img, text, thumbs))
    return found


def _read_file_thumbnail(path: Path) -> tuple[str, bytes] | None:
    return read_thumbnail_file(path.parent, path.stem) if path.is_file() else None


def write_precomputed_references(
    con: duckdb.DuckDBPyConnection,
    corpus: Path,
    references: list[tuple[str, pd.DataFrame, np.ndarray, np.ndarray | None, list]],
    *,
    encoder: str,
    simulated: bool,
    thumbnails: bool = True,
) -> None:
    """Write what ``read_precomputed_references`` returned, one dataset per set."""
    for name, samples, img, text, thumbs in references:
        kind = schema.KIND_CAPTIONS if name == CAPTIONED_REFERENCE else schema.KIND_IMAGE_SELECTED
        source = str(corpus / REFERENCES_DIR / name)
        write_dataset(
            con,
            DatasetInfo(name, kind, source, encoder, simulated, {"reference": name}),
            samples,
            image_embeddings=img,
            text_embeddings=text,
            thumbnails=thumbs if thumbnails else None,
        )
