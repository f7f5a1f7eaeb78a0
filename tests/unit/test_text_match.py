"""Text match (Section 4.3): the dedupe rule, streamed search and the command on a toy database.

Oracles: numpy argmax over the full query x candidate similarity matrix, and a loop over
queries for the dedupe rule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from laionet_core import queries, schema
from laionet_core.comparison import METRIC_INTRA, compute_sample_metric_rows, text_match_selection
from laionet_core.storage import (
    DatasetInfo,
    open_new_database,
    write_classes,
    write_dataset,
    write_meta,
    write_synset_embeddings,
)
from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.class_metrics import list_metric_selections
from precompute.cli import main as precompute_main
from precompute.text_search import select_unique_matches
from precompute.text_search_streamed import (
    rescore_hits_streamed,
    search_exact_streamed,
    search_text_streamed,
)

WNIDS = load_imagenet_vocabulary().wnids
ENCODER = "toy-clip-d8"


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _chunks(array: np.ndarray, sizes: list[int]):
    def source():
        start = 0
        for size in sizes:
            yield start, array[start : start + size]
            start += size

    return source


def test_dedupe_keeps_one_row_per_candidate_with_its_most_similar_query() -> None:
    best = np.array([2, 2, 0, 2, -1, 0])
    sims = np.array([0.8, 0.9, 0.5, 0.9, -np.inf, 0.6])
    labels = np.array(["a", "b", "c", "d", "e", "f"])
    out = select_unique_matches(best, sims, labels)
    assert out["candidate"].tolist() == [0, 2]
    assert out["label"].tolist() == ["f", "b"]  # a tie (q1, q3 at 0.9) goes to the first query
    assert out["query"].tolist() == [5, 1]
    assert out["similarity"].tolist() == pytest.approx([0.6, 0.9])
    assert out["n_queries"].tolist() == [2, 3] and out["n_labels"].tolist() == [2, 3]


def test_dedupe_against_a_loop_over_queries() -> None:
    rng = np.random.default_rng(0)
    best = rng.integers(-1, 30, size=400)
    sims = rng.random(400).astype(np.float32)
    labels = rng.choice(list("abcde"), size=400)
    out = select_unique_matches(best, sims, labels).set_index("candidate")
    oracle: dict[int, tuple[float, int]] = {}
    for q in range(400):
        if best[q] >= 0 and (best[q] not in oracle or sims[q] > oracle[best[q]][0]):
            oracle[best[q]] = (sims[q], q)
    assert sorted(oracle) == out.index.tolist()
    for candidate, (sim, q) in oracle.items():
        assert out.loc[candidate, "query"] == q and out.loc[candidate, "label"] == labels[q]
        assert out.loc[candidate, "n_queries"] == int(np.sum(best == candidate))
        assert out.loc[candidate, "similarity"] == pytest.approx(sim)
    assert out["n_queries"].sum() == int(np.sum(best >= 0))


def test_metric_selections_per_kind_and_their_names() -> None:
    text = list_metric_selections("laionet", schema.KIND_TEXT_SELECTED, thresholds=[0.82, 0.75])
    assert [(n, p.threshold) for n, p in text] == [("laionet", 0.82), ("laionet@0.750", 0.75)]
    matched = list_metric_selections(
        "text-matched", schema.KIND_TEXT_MATCHED, text_match_thresholds=[0.7, 0.8]
    )
    assert [(n, p.threshold) for n, p in matched] == [
        ("text-matched", 0.7),
        ("text-matched@0.800", 0.8),
    ]
    assert all(p.drop_nsfw for _, p in matched)
    assert list_metric_selections("imagenet-val", schema.KIND_IMAGE_SELECTED) == [
        ("imagenet-val", None)
    ]


def test_streamed_exact_search_and_rescoring_equal_numpy() -> None:
    rng = np.random.default_rng(1)
    candidates = _unit(rng.normal(size=(700, 16)))
    queries_ = _unit(rng.normal(size=(50, 16)))
    chunks = _chunks(candidates, [300, 1, 250, 149])
    best, sims = search_exact_streamed(queries_, chunks)
    full = queries_ @ candidates.T
    np.testing.assert_array_equal(best, full.argmax(axis=1))
    np.testing.assert_allclose(sims, full.max(axis=1), atol=1e-6)
    hits = np.stack([rng.permutation(700)[:5] for _ in range(50)])
    hits[0] = -1  # a query with no hit
    best, sims = rescore_hits_streamed(queries_, hits, chunks)
    for q in range(1, 50):
        row = hits[q][np.argmax(full[q, hits[q]])]
        assert best[q] == row and sims[q] == pytest.approx(full[q, row], abs=1e-6)
    assert best[0] == -1 and sims[0] == -np.inf


def test_streamed_ivfpq_measures_recall_and_returns_exact_similarities() -> None:
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(100, 32))
    candidates = _unit(centres[rng.integers(0, 100, 12_000)] + 0.35 * rng.normal(size=(12_000, 32)))
    queries_ = _unit(candidates[rng.choice(12_000, 300)] + 0.2 * rng.normal(size=(300, 32)))
    result = search_text_streamed(
        queries_, _chunks(candidates, [5_000, 7_000]), n_total=12_000, kind="ivfpq", nlist=64
    )
    assert result.index_kind == "ivfpq" and result.recall_at_1 >= 0.9
    exact = np.einsum("qd,qd->q", queries_, candidates[result.best_index])
    np.testing.assert_allclose(result.similarity, exact, atol=1e-5)
    oracle = (queries_ @ candidates.T).argmax(axis=1)
    assert np.mean(result.best_index == oracle) == pytest.approx(result.recall_at_1, abs=0.05)


def _toy_database(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Synset embeddings of a toy encoder, a LAIONet with captions and images, queries."""
    synsets = _unit(rng.normal(size=(1000, 8)))
    classes = rng.choice(1000, size=5, replace=False)
    cand_class = classes[rng.integers(0, 5, 60)]
    cand_text = _unit(synsets[cand_class] + 0.6 * rng.normal(size=(60, 8)))
    cand_image = _unit(synsets[cand_class] + 0.8 * rng.normal(size=(60, 8)))
    query_class = classes[rng.integers(0, 5, 25)]
    query_text = _unit(synsets[query_class] + 0.6 * rng.normal(size=(25, 8)))

    def frame(ids, wnids, text_sim, nsfw):
        return pd.DataFrame(
            {
                "sample_id": ids,
                "url": [f"https://x.invalid/{i}" for i in ids],
                "text": [f"caption {i}" for i in ids],
                "wnid": wnids,
                "matched_wnids": [[w] for w in wnids],
                "multi_label": False,
                "text_similarity": text_sim,
                "image_similarity": np.nan,
                "nsfw": nsfw,
            }
        )

    with open_new_database(path) as con:
        write_meta(con, {"simulated": "true"})
        write_classes(con, load_imagenet_vocabulary())
        write_synset_embeddings(
            con, encoder=ENCODER, synset_format="name_def", wnids=WNIDS, embeddings=synsets
        )
        cand_wnids = [WNIDS[c] for c in cand_class]
        own = np.einsum("nd,nd->n", cand_text, synsets[cand_class])
        write_dataset(
            con,
            DatasetInfo("laionet", schema.KIND_TEXT_SELECTED, "toy", ENCODER, True),
            frame([str(3_000 + i) for i in range(60)], cand_wnids, own, "UNLIKELY"),
            image_embeddings=cand_image,
            text_embeddings=cand_text,
            thumbnails=[("image/jpeg", f"jpeg {i}".encode()) for i in range(60)],
        )
        write_dataset(
            con,
            DatasetInfo("imagenet-captions", schema.KIND_CAPTIONS, "toy", ENCODER, True),
            frame([f"q{i}" for i in range(25)], [WNIDS[c] for c in query_class], np.nan, None),
            text_embeddings=query_text,
        )
    return {
        "synsets": synsets,
        "cand_text": cand_text,
        "cand_image": cand_image,
        "query_text": query_text,
        "query_class": query_class,
    }


def test_text_match_command_against_the_argmax_oracle(tmp_path: Path) -> None:
    db = tmp_path / "toy.duckdb"
    toy = _toy_database(db, np.random.default_rng(3))
    assert precompute_main(["text-match", "--db", str(db)]) == 0
    con = queries.connect(db)
    info = queries.read_datasets(con).set_index("dataset").loc["text-matched"]
    samples = queries.read_samples(con, "text-matched").set_index("sample_id")
    ids, images = queries.read_embeddings(con, "text-matched")
    thumbs = con.sql(
        "SELECT s.sample_id, t.data FROM samples s JOIN thumbnails t USING (thumbnail_id) "
        "WHERE s.dataset = 'text-matched'"
    ).df()
    laionet = queries.read_samples(con, "laionet").set_index("sample_id")
    rows = queries.read_class_metrics(con, dataset="text-matched")
    embedded = queries.read_embeddings(con, "text-matched")
    selected = queries.read_selected_samples(con, "text-matched", text_match_selection())
    con.close()
    # oracle: argmax over the whole similarity matrix, then one row per candidate
    full = toy["query_text"] @ toy["cand_text"].T
    best = full.argmax(axis=1)
    assert info["kind"] == schema.KIND_TEXT_MATCHED and info["encoder"] == ENCODER
    assert len(samples) == len(set(best)) and info["parameters"]["index"] == "exact"
    assert sum(n * k for k, n in info["parameters"]["queries_per_candidate"]) == 25
    for candidate in set(best):
        chooser = np.flatnonzero(best == candidate)
        q = chooser[np.argmax(full[chooser, candidate])]
        row = samples.loc[str(3_000 + candidate)]
        assert row["wnid"] == WNIDS[toy["query_class"][q]]
        # text_similarity is text-to-text, not the candidate's caption-to-synset score
        assert row["text_similarity"] == pytest.approx(full[q, candidate], abs=1e-6)
        expected_image = toy["cand_image"][candidate] @ toy["synsets"][toy["query_class"][q]]
        assert row["image_similarity"] == pytest.approx(expected_image, abs=1e-5)
        assert row["text"] == laionet.loc[str(3_000 + candidate), "text"]
    np.testing.assert_allclose(
        images, toy["cand_image"][[int(s) - 3_000 for s in ids["sample_id"]]], atol=1e-6
    )
    assert sorted(thumbs["data"].map(bytes)) == sorted(
        f"jpeg {int(s) - 3_000}".encode() for s in samples.index
    )
    # class metrics: the selection above 0.7, under the dataset's own name
    synsets = (list(WNIDS), toy["synsets"])
    oracle = compute_sample_metric_rows("text-matched", embedded, selected, synsets)
    got = rows[rows["metric"] == METRIC_INTRA].set_index("wnid")["value"]
    want = oracle[oracle["metric"] == METRIC_INTRA].set_index("wnid")["value"]
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)


def test_text_match_copies_thumbnails_so_laionet_keeps_its_own(tmp_path: Path) -> None:
    db = tmp_path / "toy.duckdb"
    _toy_database(db, np.random.default_rng(4))
    assert precompute_main(["text-match", "--db", str(db)]) == 0
    assert precompute_main(["text-match", "--db", str(db), "--index", "exact"]) == 0  # replaces
    con = queries.connect(db)
    n = con.sql(
        "SELECT count(*) AS n FROM samples s JOIN thumbnails t USING (thumbnail_id) "
        "WHERE s.dataset = 'laionet'"
    ).df()["n"][0]
    names = queries.read_datasets(con)["dataset"].tolist()
    con.close()
    assert n == 60 and names.count("text-matched") == 1


def test_text_match_errors_are_named(tmp_path: Path, capsys) -> None:
    db = tmp_path / "toy.duckdb"
    _toy_database(db, np.random.default_rng(5))
    assert precompute_main(["text-match", "--db", str(db), "--queries", "nope"]) == 2
    assert "no caption embeddings of dataset 'nope'" in capsys.readouterr().err
    assert precompute_main(["text-match", "--db", str(db), "--name", "laionet"]) == 2
    assert "would replace an input dataset" in capsys.readouterr().err
    assert precompute_main(["text-match", "--db", str(tmp_path / "no.duckdb")]) == 2
    assert "does not exist" in capsys.readouterr().err
