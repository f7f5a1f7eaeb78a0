"""Tiny LAION-layout corpora, written by hand for build tests.

Other tests import it as ``from tests.laion_corpus import ...``. A corpus here is the
embeddings-release layout: ``metadata/metadata_N.parquet`` (SAMPLE_ID, URL, TEXT,
NSFW) row-aligned with ``text_emb/text_emb_N.npy`` and ``img_emb/img_emb_N.npy``
(float16, unit rows), plus ``synsets/name_def_emb.npy`` and ``wnids.txt`` for the 1,000
ImageNet classes, and a ``corpus.json`` naming the ``explorer`` recipe. Embeddings are
random but seeded, so the same call gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from laionet_core.vocabulary import load_imagenet_vocabulary

DIM = 8  # small enough to check by hand, wide enough for distinct similarities
# Captions cycled through every part: lemmas of one class, of two classes (multi-label),
# other senses, none, and the unusable (null, empty, blank) that go to `rejected`.
CAPTIONS = (
    "a puma resting on a rock",
    "PUMA sneakers for sale",
    "fresh orange juice and an orange",
    "tench and goldfish in a pond",
    "nothing to match here",
    None,
    "",
    "   ",
    "a great white shark near the boat",
    "wireless optical mouse",
)
UNUSABLE = 3  # captions of CAPTIONS that cannot be used (None, "", "   ")


def _unit_rows(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    rows = rng.normal(size=(n, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float16)


def write_laion_corpus(
    root: Path,
    *,
    parts: int = 4,
    rows_per_part: int = 30,
    seed: int = 0,
    text_emb: bool = True,
    first_id: int = 1000,
) -> Path:
    """Write a corpus of ``parts`` parts of ``rows_per_part`` captions each.

    Args:
        root: Folder to create.
        parts: Number of parts.
        rows_per_part: Captions per part, cycling through ``CAPTIONS``.
        seed: Seed of the embeddings.
        text_emb: Also write caption embeddings.
        first_id: SAMPLE_ID of the first row; ids count up across parts.

    Returns:
        ``root``.
    """
    rng = np.random.default_rng(seed)
    for folder in ("metadata", "img_emb", "synsets") + (("text_emb",) if text_emb else ()):
        (root / folder).mkdir(parents=True, exist_ok=True)
    wnids = load_imagenet_vocabulary().wnids
    (root / "synsets" / "wnids.txt").write_text("\n".join(wnids) + "\n", encoding="utf-8")
    np.save(root / "synsets" / "name_def_emb.npy", _unit_rows(rng, len(wnids)))
    # The captions are written for normalised matching and name_def synset texts: the
    # corpus names the project's own recipe (the build's default is the paper's).
    (root / "corpus.json").write_text('{"recipe": "explorer"}\n', encoding="utf-8")
    for part in range(parts):
        ids = first_id + part * rows_per_part + np.arange(rows_per_part)
        texts = [CAPTIONS[i % len(CAPTIONS)] for i in range(rows_per_part)]
        table = pa.table(
            {
                "SAMPLE_ID": pa.array(ids, pa.int64()),
                "URL": [f"https://example.invalid/{i}.jpg" for i in ids.tolist()],
                "TEXT": pa.array(texts, pa.string()),
                "NSFW": ["NSFW" if i % 7 == 0 else "UNLIKELY" for i in ids.tolist()],
            }
        )
        pq.write_table(table, root / "metadata" / f"metadata_{part}.parquet")
        np.save(root / "img_emb" / f"img_emb_{part}.npy", _unit_rows(rng, rows_per_part))
        if text_emb:
            np.save(root / "text_emb" / f"text_emb_{part}.npy", _unit_rows(rng, rows_per_part))
    return root
