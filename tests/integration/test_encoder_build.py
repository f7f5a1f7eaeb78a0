"""Builds that encode captions: the tiny open_clip model (oracle) and real MiniLM senses."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from laionet_core.vocabulary import format_synset_text, load_imagenet_vocabulary
from precompute.cli import main as precompute_main
from precompute.encode.models import load_text_encoder
from tests.db_content import read_database_content
from tests.laion_corpus import write_laion_corpus
from tests.sense_captions import HAND_WRITTEN_RIGHT, SENSES
from tests.tiny_clip import build_tiny_clip_local_dir

WEB_CAPTIONS = Path("/work/shared/data/web_captions_1000.parquet")
MINILM = "sentence-transformers:all-MiniLM-L6-v2"


def _build(corpus: Path, db: Path, *extra: str) -> None:
    # The captions and name_def synset texts here are written for normalised matching.
    argv = ["build", "--corpus", str(corpus), "--db", str(db), "--no-references"]
    argv += ["--recipe", "explorer", *extra]
    assert precompute_main(argv) == 0


def _synset_texts() -> dict[str, str]:
    return {s.wnid: format_synset_text(s, "name_def") for s in load_imagenet_vocabulary().synsets}


def test_tiny_clip_scores_equal_a_direct_encoding(tmp_path: Path) -> None:
    corpus = write_laion_corpus(tmp_path / "corpus", parts=2, text_emb=False)
    spec = f"open_clip:local-dir:{build_tiny_clip_local_dir(tmp_path / 'model')}"
    db = tmp_path / "db.duckdb"
    _build(corpus, db, "--encoder", spec, "--workers", "2")  # match in 2 processes
    content = read_database_content(db)
    encoder = load_text_encoder(spec, device="cpu")
    assert content["datasets"].set_index("dataset").loc["laionet", "encoder"] == encoder.name
    assert set(content["synset_embeddings"]["encoder"]) == {encoder.name}

    texts = _synset_texts()
    synsets = content["synset_embeddings"].set_index("wnid")["embedding"]
    direct = encoder.encode_texts([texts[w] for w in synsets.index])
    np.testing.assert_allclose(np.stack(synsets.to_numpy()), direct, atol=1e-5)
    pairs = content["candidates"].merge(content["samples"][["sample_id", "text"]], on="sample_id")
    assert len(pairs) > 10
    captions = encoder.encode_texts(pairs["text"].tolist())
    wnid_texts = encoder.encode_texts([texts[w] for w in pairs["wnid"]])
    oracle = np.einsum("nd,nd->n", captions, wnid_texts)
    np.testing.assert_allclose(pairs["text_similarity"].to_numpy(), oracle, atol=1e-5)
    # The corpus's 8-dimensional image embeddings are not in this 32-dimensional space.
    assert content["samples"]["image_similarity"].isna().all()
    assert content["image_embeddings"].empty
    assert len(content["text_embeddings"]) == len(content["samples"])


def _write_web_corpus(root: Path) -> Path:
    """The 1,000 real captions in two original-layout parts, plus right-sense captions."""
    web = pd.read_parquet(WEB_CAPTIONS)
    right = [c for captions in HAND_WRITTEN_RIGHT.values() for c in captions]
    web = pd.concat([web, pd.DataFrame({"URL": None, "TEXT": right})], ignore_index=True)
    root.mkdir(parents=True)
    for part, rows in enumerate(np.array_split(np.arange(len(web)), 2)):
        frame = web.iloc[rows]
        table = pa.table({"URL": frame["URL"].tolist(), "TEXT": frame["TEXT"].tolist()})
        pq.write_table(table, root / f"part-{part:05d}.parquet")
    return root


@pytest.mark.slow
def test_minilm_scores_wrong_senses_below_right_ones(tmp_path: Path) -> None:
    corpus = _write_web_corpus(tmp_path / "web")
    db = tmp_path / "db.duckdb"
    _build(corpus, db, "--encoder", MINILM, "--workers", "1", "--no-thumbnails")
    content = read_database_content(db)
    assert content["datasets"].set_index("dataset").loc["laionet", "encoder"] == MINILM
    pairs = content["candidates"].merge(content["samples"][["sample_id", "text"]], on="sample_id")
    for wnid, (right, wrong) in SENSES.items():
        scores = pairs[pairs["wnid"] == wnid].set_index("text")["text_similarity"]
        right = right + HAND_WRITTEN_RIGHT[wnid]
        assert set(right + wrong) <= set(scores.index), wnid  # every one was matched
        assert scores[right].mean() > scores[wrong].mean() + 0.05, (wnid, scores)
