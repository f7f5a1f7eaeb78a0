"""Sections 4.2 and 4.3 in the simulated demo database: caption diagnostics, text-matched set."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from laionet_core import queries, schema
from laionet_core.comparison import METRIC_INTRA, build_metric_table, text_match_selection
from laionet_core.selection import DEFAULT_TEXT_MATCH_THRESHOLD, SelectionParams
from precompute.cli import main as precompute_main
from precompute.ingest.laion import list_laion_parts, read_part_metadata


@pytest.fixture(scope="module")
def con(demo_db: Path):
    connection = queries.connect(demo_db)
    yield connection
    connection.close()


def test_caption_diagnostics_of_imagenet_captions_equal_a_loop(con) -> None:
    diag = queries.read_caption_diagnostics(con, "imagenet-captions").set_index("sample_id")
    ids, text = queries.read_embeddings(con, "imagenet-captions", table=schema.TEXT_EMBEDDINGS)
    encoder = queries.read_datasets(con).set_index("dataset").loc["imagenet-captions", "encoder"]
    wnids, synsets = queries.read_synset_embeddings(con, encoder, "name_def")
    assert len(diag) == len(ids) == len(queries.read_samples(con, "imagenet-captions"))
    row_of = {w: i for i, w in enumerate(wnids)}
    text = text / np.linalg.norm(text, axis=1, keepdims=True)  # stored as float16: re-normalise
    synsets = synsets / np.linalg.norm(synsets, axis=1, keepdims=True)
    for i in range(0, len(ids), 37):  # a loop over captions, every class for each
        own_row = row_of[ids["wnid"].iloc[i]]
        scores = [float(text[i] @ synsets[c]) for c in range(len(wnids))]
        above = sum(s > scores[own_row] for c, s in enumerate(scores) if c != own_row)
        stored = diag.loc[ids["sample_id"].iloc[i]]
        assert stored["own_similarity"] == pytest.approx(scores[own_row], abs=1e-5)
        assert stored["false_classes_more_similar"] == pytest.approx(above / (len(wnids) - 1))
    # Figure 9b: captions far from their synset have many more similar classes
    low = diag["own_similarity"] < 0.4
    assert diag.loc[low, "false_classes_more_similar"].mean() > 0.02
    assert diag.loc[~low, "false_classes_more_similar"].mean() < 0.01


def test_text_matched_dataset_covers_laionet_classes(con) -> None:
    info = queries.read_datasets(con).set_index("dataset").loc["text-matched"]
    assert info["kind"] == schema.KIND_TEXT_MATCHED and info["simulated"]
    params = info["parameters"]
    assert params["queries"] == "imagenet-captions" and params["candidates"] == "laionet"
    laionet_classes = set(queries.read_samples(con, "laionet")["wnid"])
    n, covered = queries.count_selected(con, "text-matched", text_match_selection())
    assert covered >= 0.8 * len(laionet_classes) and n > 0
    # every best match is stored, below the threshold too, so the slider can move
    samples = queries.read_samples(con, "text-matched")
    assert (samples["text_similarity"] <= DEFAULT_TEXT_MATCH_THRESHOLD).any()
    assert samples["sample_id"].is_unique
    fewer = queries.count_selected(con, "text-matched", SelectionParams(threshold=0.9))[1]
    assert fewer < covered  # coverage falls as the text-to-text threshold rises (Figure 16a)


def test_text_matched_images_are_more_diverse_than_imagenet(con) -> None:
    rows = queries.read_class_metrics(con)
    matched = build_metric_table(rows, "text-matched", METRIC_INTRA)
    imagenet = build_metric_table(rows, "imagenet-val", METRIC_INTRA)
    both = matched.join(imagenet, how="inner", lsuffix="_m", rsuffix="_i").dropna()
    assert len(both) >= 50
    assert np.mean(both["value_m"] < both["value_i"]) > 0.5
    # the stored rows are the selection above 0.7
    n_selected = len(queries.read_selected_samples(con, "text-matched", text_match_selection()))
    assert matched["n"].sum() <= n_selected


def test_corpus_path_with_ivfpq_records_recall(
    demo_db: Path, demo_corpus: Path, tmp_path: Path
) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)
    args = ["text-match", "--db", str(db), "--corpus", str(demo_corpus), "--name", "tm-corpus"]
    assert precompute_main([*args, "--index", "ivfpq", "--nlist", "32"]) == 0
    con = queries.connect(db)
    info = queries.read_datasets(con).set_index("dataset").loc["tm-corpus"]
    samples = queries.read_samples(con, "tm-corpus").set_index("sample_id")
    ids, images = queries.read_embeddings(con, "tm-corpus")
    qids, qemb = queries.read_embeddings(con, "imagenet-captions", table=schema.TEXT_EMBEDDINGS)
    con.close()
    params = info["parameters"]
    assert params["index"] == "ivfpq" and 0.5 <= params["recall_at_1"] <= 1.0
    assert params["n_candidates_searched"] == 8_000 and params["candidates"] == "corpus"
    # every stored similarity is the exact cosine to a query of its label
    parts = list_laion_parts(demo_corpus)
    meta = pd.concat([read_part_metadata(p) for p in parts], ignore_index=True)
    text = np.concatenate([np.load(p.text_emb) for p in parts]).astype(np.float32)
    image = np.concatenate([np.load(p.img_emb) for p in parts]).astype(np.float32)
    row_of = pd.Series(np.arange(len(meta)), index=meta["sample_id"])
    # every-class (the default recipe's): a further class's row is "<id>#<wnid>"
    assert params["text_match_label_applied"] == "every-class"
    for sample_id, row in samples.head(200).iterrows():
        r = row_of[sample_id.split("#")[0]]
        assert row["text"] == meta.loc[r, "text"]
        sims = qemb[(qids["wnid"] == row["wnid"]).to_numpy()] @ text[r]
        assert np.min(np.abs(sims - row["text_similarity"])) < 1e-4
    rows = row_of[ids["sample_id"].str.split("#").str[0]].to_numpy()
    np.testing.assert_allclose(images, image[rows], atol=1e-3)
