"""Text match (Section 4.3): the dedupe rule, streamed search and the command on a toy database.

Oracles: numpy argmax over the full query x candidate similarity matrix, and a loop over
queries for the dedupe rule.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import precompute.text_match.search as text_search
import precompute.text_match.search_streamed as streamed
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
from precompute.analyses.class_metrics import list_metric_selections
from precompute.cli import main as precompute_main
from precompute.text_match.search import (
    build_text_index,
    compute_recall_at_1,
    resolve_ivf_layout,
    search_text_index,
    select_unique_matches,
)
from precompute.text_match.search_streamed import (
    build_ivfpq_streamed,
    rescore_hits_streamed,
    search_exact_streamed,
    search_text_streamed,
)
from precompute.text_match.store import TextMatchConfig

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


def test_metric_selections_per_kind_and_their_thresholds() -> None:
    text = list_metric_selections("laionet", schema.KIND_TEXT_SELECTED, thresholds=[0.82, 0.75])
    assert [(t, p.threshold) for t, p in text] == [(0.82, 0.82), (0.75, 0.75)]
    matched = list_metric_selections(
        "text-matched", schema.KIND_TEXT_MATCHED, text_match_thresholds=[0.7, 0.8]
    )
    assert [(t, p.threshold) for t, p in matched] == [(0.7, 0.7), (0.8, 0.8)]
    assert all(p.drop_nsfw for _, p in matched)
    assert list_metric_selections("imagenet-val", schema.KIND_IMAGE_SELECTED) == [(None, None)]


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
    assert precompute_main(["text-match", "--db", str(db), "--recipe", "explorer"]) == 0
    con = queries.connect(db)
    info = queries.read_datasets(con).set_index("dataset").loc["text-matched"]
    assert info["parameters"]["text_match_label_applied"] == "nearest"
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
    encoders_doc = (Path(__file__).parents[2] / "docs" / "ENCODERS.md").read_text()
    undocumented = [k for k in info["parameters"] if f"`{k}`" not in encoders_doc]
    assert not undocumented, f"stored parameters missing from docs/ENCODERS.md: {undocumented}"
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


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(100, dim))
    return _unit(centres[rng.integers(0, 100, n)] + 0.35 * rng.normal(size=(n, dim)))


def test_ivf_training_rows_grow_with_nlist_and_bad_nlist_is_named(caplog) -> None:
    # 400M captions: nlist 4 sqrt(M) = 80,000 lists need 39 x 80,000 training rows
    assert resolve_ivf_layout(400_000_000) == (80_000, 3_120_000)
    assert resolve_ivf_layout(10_000_000) == (12_649, 493_311)
    assert resolve_ivf_layout(600_000) == (3_098, 200_000)  # train_size suffices
    with caplog.at_level("INFO", logger="precompute.text_match.search"):
        assert resolve_ivf_layout(12_000) == (307, 12_000)  # 4 sqrt(M) = 438 lowered
    assert "nlist 438 lowered to 307" in caplog.text
    assert resolve_ivf_layout(12_000, nlist=64) == (64, 12_000)
    for bad in (0, -3):
        with pytest.raises(ValueError, match=f"--nlist must be an integer >= 1, got {bad}"):
            resolve_ivf_layout(12_000, nlist=bad)
    with pytest.raises(ValueError, match="--nlist 5000: IVF-PQ needs at least 20000 candidates"):
        resolve_ivf_layout(12_000, nlist=5_000)


def test_streamed_ivfpq_trains_on_39_rows_per_list(monkeypatch) -> None:
    candidates = _clustered(12_000, 32, seed=6)
    sizes = []
    original = streamed._sample_training_rows

    def spy(chunks, n_total, size, seed):
        sizes.append(size)
        return original(chunks, n_total, size, seed)

    monkeypatch.setattr(streamed, "_sample_training_rows", spy)
    # train_size 100 alone would leave 64 lists (and PQ's 256 centroids) untrainable
    index = build_ivfpq_streamed(
        _chunks(candidates, [5_000, 7_000]), n_total=12_000, dim=32, nlist=64, train_size=100
    )
    assert sizes == [64 * 39] and index.is_trained and index.ntotal == 12_000
    in_memory = build_text_index(candidates, kind="ivfpq", nlist=64, train_size=100)
    assert in_memory.index.is_trained


def test_recall_uses_the_search_s_own_similarities_without_a_second_index(monkeypatch) -> None:
    rng = np.random.default_rng(7)
    candidates = _clustered(12_000, 32, seed=7)
    queries_ = _unit(candidates[rng.choice(12_000, 400)] + 0.3 * rng.normal(size=(400, 32)))
    index = build_text_index(candidates, kind="ivfpq", nlist=64, nprobe=1)
    exact = (queries_ @ candidates.T).max(axis=1)

    def no_flat_index(*args):
        raise AssertionError("a second (M, D) index was built for the recall check")

    monkeypatch.setattr(text_search.faiss, "IndexFlatIP", no_flat_index)
    recalls = []
    for rerank_k in (1, 64):
        _, sims = search_text_index(index, queries_, rerank_k=rerank_k)
        recall = compute_recall_at_1(index, queries_, sims, sample=400)
        assert recall == pytest.approx(np.mean(sims >= exact - 1e-6))  # all 400 sampled
        recalls.append(recall)
    assert recalls[0] < recalls[1]  # rerank_k reaches the measured recall
    with pytest.raises(ValueError, match="--recall-sample must be >= 1, got 0"):
        compute_recall_at_1(index, queries_, sims, sample=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recall-sample", "0"], "--recall-sample must be an integer >= 1, got 0"),
        (["--nlist", "0"], "--nlist must be an integer >= 1, got 0"),
        (["--nlist", "-5"], "--nlist must be an integer >= 1, got -5"),
        (["--nprobe", "-1"], "--nprobe must be an integer >= 1, got -1"),
        (["--encoder", "x"], "--encoder 'x' names the model of a --corpus's embeddings"),
        (["--candidates", "laionet", "--corpus", "."], "both name the captions to search"),
    ],
)
def test_text_match_options_are_checked_before_any_work(tmp_path, capsys, args, message) -> None:
    assert precompute_main(["text-match", "--db", str(tmp_path / "no.duckdb"), *args]) == 2
    assert message in capsys.readouterr().err
    assert TextMatchConfig(db=tmp_path).candidates == "laionet"
    assert TextMatchConfig(db=tmp_path, corpus=tmp_path).candidates is None


def test_partial_caption_embeddings_are_warned_about_and_recorded(tmp_path, caplog) -> None:
    from laionet_core.storage import open_database_for_update

    db = tmp_path / "toy.duckdb"
    _toy_database(db, np.random.default_rng(8))
    with open_database_for_update(db) as con:  # as --embedding-floor leaves it
        con.execute("DELETE FROM text_embeddings WHERE dataset = 'laionet' AND sample_id >= '3045'")
    with caplog.at_level("WARNING", logger="precompute.text_match.store"):
        assert precompute_main(["text-match", "--db", str(db)]) == 0
    assert "only 45 of 60 samples have caption embeddings" in caplog.text
    con = queries.connect(db)
    params = queries.read_dataset_info(con, "text-matched")["parameters"]
    samples = queries.read_samples(con, "text-matched")
    con.close()
    assert params["n_candidates_searched"] == 45 and params["candidate_samples"] == 60
    assert params["candidate_coverage"] == pytest.approx(0.75)
    assert samples["sample_id"].str.split("#").str[0].astype(int).max() < 3045  # every-class


def _write_corpus(root: Path, ids: list[str], text: np.ndarray, image: np.ndarray) -> Path:
    (root / "metadata").mkdir(parents=True)
    (root / "text_emb").mkdir()
    (root / "img_emb").mkdir()
    (root / "images" / "00000").mkdir(parents=True)
    pd.DataFrame(
        {
            "SAMPLE_ID": ids,
            "URL": [f"https://x.invalid/{i}" for i in range(len(ids))],
            "TEXT": [f"corpus caption {i}" for i in range(len(ids))],
            "NSFW": "UNLIKELY",
        }
    ).to_parquet(root / "metadata" / "metadata_0.parquet")
    np.save(root / "text_emb" / "text_emb_0.npy", text.astype(np.float16))
    np.save(root / "img_emb" / "img_emb_0.npy", image.astype(np.float16))
    for i, sample_id in enumerate(ids):
        path = root / "images" / "00000" / f"{sample_id}.jpg"
        if "/" not in sample_id and not path.exists():  # a repeated id has one file
            Image.new("RGB", (10 + i, 10)).save(path, format="JPEG")  # width tells rows apart
    return root


def test_repeated_and_unsafe_corpus_ids_become_rejected_rows(tmp_path) -> None:
    db = tmp_path / "toy.duckdb"
    toy = _toy_database(db, np.random.default_rng(9))
    rng = np.random.default_rng(10)
    text = np.concatenate([toy["query_text"][:4], _unit(rng.normal(size=(6, 8)))])
    image = _unit(rng.normal(size=(10, 8)))
    # rows 0 and 2 share an id; row 3's id would leave the thumbnail folder
    ids = ["a", "b", "a", "../c", "e", "f", "g", "h", "i", "j"]
    corpus = _write_corpus(tmp_path / "corpus", ids, text, image)
    args = ["text-match", "--db", str(db), "--corpus", str(corpus), "--encoder", ENCODER]
    assert precompute_main(args) == 0
    con = queries.connect(db)
    info = queries.read_dataset_info(con, "text-matched")
    samples = queries.read_samples(con, "text-matched").set_index("sample_id")
    image_ids, images = queries.read_embeddings(con, "text-matched")
    rejected = con.sql("SELECT * FROM rejected WHERE dataset = 'text-matched'").df()
    thumb = con.execute(
        "SELECT t.data FROM samples s JOIN thumbnails t USING (thumbnail_id) "
        "WHERE s.dataset = 'text-matched' AND s.sample_id = 'a'"
    ).fetchone()[0]
    con.close()
    assert {"a", "b"} <= set(samples.index) and "../c" not in samples.index
    # the kept "a" is corpus row 0 throughout: text, image embedding, thumbnail
    assert samples.loc["a", "text"] == "corpus caption 0"
    assert Image.open(io.BytesIO(bytes(thumb))).size == (10, 10)  # row 0's (re-encoded)
    row_a = image_ids["sample_id"].tolist().index("a")
    np.testing.assert_allclose(images[row_a], image[0], atol=2e-3)
    reasons = dict(zip(rejected["sample_id"], rejected["reason"], strict=True))
    assert reasons["a"] == "sample_id 'a' repeats corpus row 0 (row 2 is dropped)"
    assert "sample_id '../c' contains '/'" in reasons["../c"]
    assert set(rejected["source"]) == {str(corpus / "metadata" / "metadata_0.parquet")}
    assert info["parameters"]["candidates_rejected"] == 2 == len(rejected)


def test_every_class_rule_keeps_a_caption_in_each_class_that_chose_it(tmp_path: Path) -> None:
    """The paper recipes' rule against a loop: one row per (candidate, class) pair among
    the queries' best matches, with that class's most similar query's similarity."""
    db = tmp_path / "toy.duckdb"
    toy = _toy_database(db, np.random.default_rng(3))
    assert precompute_main(["text-match", "--db", str(db)]) == 0  # default: paper-tmlr
    con = queries.connect(db)
    info = queries.read_dataset_info(con, "text-matched")
    samples = queries.read_samples(con, "text-matched").set_index("sample_id")
    ids, images = queries.read_embeddings(con, "text-matched")
    con.close()
    full = toy["query_text"] @ toy["cand_text"].T
    best = full.argmax(axis=1)
    expected = {}  # (candidate, wnid) -> similarity of that class's closest query
    for q, candidate in enumerate(best):
        key = (int(candidate), WNIDS[toy["query_class"][q]])
        expected[key] = max(expected.get(key, -2.0), float(full[q, candidate]))
    nearest = {}
    for q, candidate in enumerate(best):
        if (
            int(candidate) not in nearest
            or full[q, candidate] > full[nearest[candidate], candidate]
        ):
            nearest[int(candidate)] = q
    assert info["parameters"]["text_match_label_applied"] == "every-class"
    further = len(expected) - len(nearest)
    assert further > 0  # this toy has captions chosen by texts of two classes
    assert info["parameters"]["rows_for_further_classes"] == further
    assert len(samples) == len(expected)
    for (candidate, wnid), similarity in expected.items():
        own = WNIDS[toy["query_class"][nearest[candidate]]] == wnid
        sample_id = str(3_000 + candidate) + ("" if own else f"#{wnid}")
        row = samples.loc[sample_id]
        assert row["wnid"] == wnid and row["matched_wnids"].tolist() == [wnid]
        assert row["text_similarity"] == pytest.approx(similarity, abs=1e-6)
    np.testing.assert_allclose(
        images,
        toy["cand_image"][[int(s.split("#")[0]) - 3_000 for s in ids["sample_id"]]],
        atol=1e-6,
    )


def test_class_matches_against_a_loop() -> None:
    rng = np.random.default_rng(9)
    best = rng.integers(-1, 6, 40)
    sims = rng.uniform(0, 1, 40).astype(np.float32)
    labels = rng.choice(["a", "b", "c"], 40)
    pairs = text_search.select_class_matches(best, sims, labels)
    unique = select_unique_matches(best, sims, labels).set_index("candidate")
    loop = {}
    for q in range(40):
        if best[q] < 0:
            continue
        key = (int(best[q]), labels[q])
        if key not in loop or sims[q] > sims[loop[key]]:
            loop[key] = q
    assert len(pairs) == len(loop)
    for row in pairs.itertuples():
        assert loop[(row.candidate, row.label)] == row.query
        assert row.nearest == (unique.loc[row.candidate, "query"] == row.query)
    assert pairs.groupby("candidate")["nearest"].sum().eq(1).all()
