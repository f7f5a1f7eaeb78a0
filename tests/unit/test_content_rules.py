"""The recipes' content rules as the stored flag ``samples.filtered``, against a
per-sample oracle (``select_by_nsfw_rule`` and ``select_by_ocr_text``), with the
histograms, the selection counts and statistics keyed on it, and the upgrade of a
version-2 database."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_core import queries, schema
from laionet_core.content_rules import (
    OcrFile,
    _ocr_form_sql,
    select_content_rules,
    write_ocr_table,
)
from laionet_core.queries_lab import read_lab_candidates, read_stored_lab_candidates
from laionet_core.queries_stats import read_selection_subsets
from laionet_core.recipes import OCR_NOT_APPLIED, RECIPES, describe_recipe
from laionet_core.selection import (
    N_BINS,
    SelectionParams,
    _ocr_form,
    compute_similarity_bins,
    select_by_nsfw_rule,
    select_by_ocr_text,
    select_mask,
    summarize_selection,
)
from laionet_core.storage import DatasetInfo, write_dataset
from laionet_core.storage_arrow import insert_frame
from laionet_core.storage_rows import write_meta
from precompute.analyses.selection_stats import write_dataset_selection_stats
from precompute.cli import main

LEMMAS = {
    "n1": ["cougar", "puma", "Felis concolor"],
    "n2": ["tench", "Tinca tinca"],
    "n3": ["Great_Dane"],
}
TAGS = ["UNLIKELY", "UNSURE", "NSFW", None, " nsfw ", "unlikely ", " UNLIKELY", ""]
OCR_POOL = [
    None,
    "",
    "PUMA!",
    "pumas for sale",
    "Tinca-tinca",
    "great dane",
    "GREAT_DANE 50%",
    "cougar\tcats",
    "xcougar",
    "tench\x0bfish",
    "felis  CONCOLOR.",
]
D = 8


def _classes(con: duckdb.DuckDBPyConnection) -> None:
    frame = pd.DataFrame(
        {
            "wnid": list(LEMMAS),
            "class_index": range(len(LEMMAS)),
            "name": [v[0] for v in LEMMAS.values()],
            "lemmas": list(LEMMAS.values()),
            "definition": "d",
            "synset_text": "t",
        }
    )
    insert_frame(con, schema.CLASSES, frame)
    synsets = np.eye(len(LEMMAS), D, dtype=np.float32)
    for wnid, row in zip(LEMMAS, synsets, strict=True):
        con.execute(
            f"INSERT INTO {schema.SYNSET_EMBEDDINGS} VALUES ('enc', 'name_def', ?, ?)",
            [wnid, row.tolist()],
        )


def _samples(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    rng = np.random.default_rng(seed)
    sims = rng.uniform(0.5, 1.0, n).astype(np.float32)
    sims[rng.random(n) < 0.05] = np.nan
    samples = pd.DataFrame(
        {
            "sample_id": [f"s{i:04d}" for i in range(n)],
            "url": None,
            "text": "a caption",
            "wnid": rng.choice(list(LEMMAS), n),
            "matched_wnids": [["n1"]] * n,
            "multi_label": rng.random(n) < 0.2,
            "text_similarity": sims,
            "image_similarity": rng.uniform(0.1, 0.4, n).astype(np.float32),
            "nsfw": [TAGS[i] for i in rng.integers(0, len(TAGS), n)],
        }
    )
    with_text = rng.random(n) < 0.7  # the other samples have no OCR row at all
    texts = [OCR_POOL[i] for i in rng.integers(0, len(OCR_POOL), n)]
    ocr = pd.Series(texts, index=samples["sample_id"])[with_text]
    x = rng.normal(size=(n, D))
    return samples, ocr, (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _oracle(samples: pd.DataFrame, ocr: pd.Series | None, recipe: str | None, kind: str):
    """Per-sample application of the rules, in Python."""
    rules = select_content_rules(RECIPES[recipe] if recipe else None, kind)
    keep = select_by_nsfw_rule(samples["nsfw"].to_numpy(object), rules.nsfw_rule)
    if rules.ocr_rule != "none" and ocr is not None:
        texts = ocr.reindex(samples["sample_id"]).to_numpy(object)
        lemmas = {w: tuple(v) for w, v in LEMMAS.items()}
        keep &= select_by_ocr_text(texts, samples["wnid"].to_numpy(object), lemmas)
    return ~keep


def _write(con, samples, emb, *, recipe, kind, ocr, name="d") -> None:
    parameters = describe_recipe(RECIPES[recipe]) if recipe else {}
    info = DatasetInfo(name, kind, "test", "enc", True, parameters)
    write_dataset(con, info, samples, image_embeddings=emb, ocr_text=ocr)


def _stored_flags(con, name="d") -> np.ndarray:
    rows = con.execute(
        "SELECT filtered FROM samples WHERE dataset = ? ORDER BY sample_id", [name]
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=bool)


def _oracle_histograms(samples: pd.DataFrame, filtered: np.ndarray) -> np.ndarray:
    counts = np.zeros((len(LEMMAS), 2, 2, N_BINS), dtype=np.int64)
    classes = samples["wnid"].map({w: i for i, w in enumerate(LEMMAS)}).to_numpy()
    bins = compute_similarity_bins(samples["text_similarity"].to_numpy(np.float64))
    flags = (filtered.astype(int), samples["multi_label"].to_numpy().astype(int))
    np.add.at(counts, (classes, *flags, bins), 1)
    return counts


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(schema.DDL)
    _classes(con)
    return con


@pytest.mark.parametrize("recipe", [*RECIPES, None])
@pytest.mark.parametrize(
    "kind", [schema.KIND_TEXT_SELECTED, schema.KIND_TEXT_MATCHED, schema.KIND_IMAGE_SELECTED]
)
def test_stored_flag_histograms_and_counts_match_the_oracle(con, recipe, kind) -> None:
    samples, ocr, emb = _samples()
    _write(con, samples, emb, recipe=recipe, kind=kind, ocr=ocr)
    filtered = _oracle(samples, ocr, recipe, kind)
    assert (_stored_flags(con) == filtered).all()
    if kind == schema.KIND_IMAGE_SELECTED:
        assert not filtered.any()  # reference datasets are never filtered
    histograms = queries.load_similarity_histograms(con, "d").counts
    np.testing.assert_array_equal(histograms, _oracle_histograms(samples, filtered))
    for params in (
        SelectionParams(threshold=0.82),
        SelectionParams(threshold=0.6, drop_multi_label=False),
        SelectionParams(threshold=0.7, drop_nsfw=False),
    ):
        sims, multi = samples["text_similarity"], samples["multi_label"]
        keep = select_mask(sims, filtered, multi, params)
        n, classes = queries.count_selected(con, "d", params)
        assert n == summarize_selection(histograms, params).size == int(keep.sum())
        assert classes == samples.loc[keep, "wnid"].nunique()


def test_the_tmlr_rule_differs_from_the_arxiv_rule_on_these_tags(con) -> None:
    samples, ocr, emb = _samples()
    _write(con, samples, emb, recipe="paper-tmlr", kind=schema.KIND_TEXT_SELECTED, ocr=ocr)
    _write(
        con, samples, emb, recipe="paper-arxiv", kind=schema.KIND_TEXT_SELECTED, ocr=ocr, name="a"
    )
    tmlr, arxiv = _stored_flags(con, "d"), _stored_flags(con, "a")
    assert tmlr.sum() > arxiv.sum() and not (arxiv & ~tmlr).any()
    tags = samples["nsfw"].fillna("").str.strip().str.upper()
    assert tmlr[(tags == "UNSURE").to_numpy()].all() and tmlr[(tags == "").to_numpy()].all()


def test_ocr_files_read_by_duckdb_give_the_same_flags(con, tmp_path: Path) -> None:
    samples, ocr, emb = _samples(seed=2)
    half = len(ocr) // 2
    files = []
    for i, part in enumerate((ocr.iloc[:half], ocr.iloc[half:])):
        path = tmp_path / f"ocr{i}.parquet"
        ids = pa.array(part.index.tolist())
        pq.write_table(
            pa.table(
                {
                    "SAMPLE_ID": ids,
                    "ocr_text": pa.array(part.tolist(), pa.string(), from_pandas=True),
                }
            ),
            path,
        )
        files.append(OcrFile(path))
    _write(con, samples, emb, recipe="paper-tmlr", kind=schema.KIND_TEXT_SELECTED, ocr=files)
    assert (_stored_flags(con) == _oracle(samples, ocr, "paper-tmlr", "text-selected")).all()


def test_without_ocr_text_the_rule_says_it_was_not_applied(con, caplog) -> None:
    samples, _, emb = _samples(seed=3)
    _write(con, samples, emb, recipe="paper-tmlr", kind=schema.KIND_TEXT_SELECTED, ocr=None)
    assert (_stored_flags(con) == _oracle(samples, None, "paper-tmlr", "text-selected")).all()
    recorded = queries.read_dataset_info(con, "d")["parameters"]["content_rules"]
    assert recorded["ocr_filter"] == OCR_NOT_APPLIED and recorded["ocr_applied"] is False
    assert recorded["nsfw_rule"] == "unlikely-only" and recorded["recipe"] == "paper-tmlr"
    assert OCR_NOT_APPLIED in caplog.text


def test_two_texts_for_one_sample_are_refused(con, tmp_path: Path) -> None:
    paths = []
    for i, text in enumerate(("puma", "tench")):
        paths.append(tmp_path / f"o{i}.parquet")
        pq.write_table(pa.table({"SAMPLE_ID": ["s1"], "ocr_text": [text]}), paths[-1])
    with pytest.raises(ValueError, match="SAMPLE_ID 's1' has two different ocr_text"):
        write_ocr_table(con, [OcrFile(p) for p in paths])


ALPHABET = "aAzZéÉ puma!._-'\"%\t\n\x0b\x0c\r_,;"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=24))
def test_the_sql_text_form_equals_the_python_one(text: str) -> None:
    found = duckdb.connect().execute(f"SELECT {_ocr_form_sql('$t')}", {"t": text}).fetchone()[0]
    assert found == _ocr_form(text)


def test_selection_statistics_are_keyed_on_the_flag(con) -> None:
    samples, ocr, emb = _samples(n=240, seed=4)  # < 128 rows a class: subsets hold them all
    _write(con, samples, emb, recipe="paper-tmlr", kind=schema.KIND_TEXT_SELECTED, ocr=ocr)
    write_dataset_selection_stats(con, "d")
    filtered = pd.Series(_oracle(samples, ocr, "paper-tmlr", "text-selected"), samples.index)
    subsets = read_selection_subsets(con, "d")
    stats = con.execute("SELECT wnid, combo, max(n) AS n FROM selection_stats GROUP BY ALL").df()
    for wnid, rows in samples.groupby("wnid"):
        flags = filtered[rows.sort_values("sample_id").index].to_numpy()
        np.testing.assert_array_equal(subsets[wnid]["filtered"], flags)
        drop_filtered = stats[(stats["wnid"] == wnid) & (stats["combo"] == 2)]["n"]
        assert int(drop_filtered.iloc[0]) == int((~flags).sum())  # combo 2: drop filtered


def _version_2_database(path: Path, samples: pd.DataFrame, emb: np.ndarray) -> None:
    """A database as schema 2 wrote it: no samples.filtered, histogram and subset flags
    named nsfw (LAION's NSFW tag), stale histograms and selection statistics."""
    # Schema 2 had no lab candidates (the table is the last of the DDL).
    ddl, lab = schema.DDL.split(f"CREATE TABLE IF NOT EXISTS {schema.LAB_CANDIDATES}")
    assert "CREATE TABLE" not in lab
    ddl = ddl.replace("    filtered BOOLEAN NOT NULL DEFAULT false,\n", "")
    ddl = ddl.replace("filtered BOOLEAN", "nsfw BOOLEAN")
    assert "filtered" not in ddl
    con = duckdb.connect(str(path))
    con.execute(ddl)
    write_meta(con, {"schema_version": "2"})
    _classes(con)
    con.execute(
        f"INSERT INTO {schema.DATASETS} VALUES ('laionet', 'text-selected', 's', 'enc', true, "
        "'{}', now()), ('imagenet-val', 'image-selected', 's', 'enc', true, '{}', now())"
    )
    for name in ("laionet", "imagenet-val"):
        insert_frame(con, schema.SAMPLES, samples.assign(dataset=name))
        ids = samples["sample_id"].tolist()
        frame = pd.DataFrame({"dataset": name, "sample_id": ids, "embedding": list(emb)})
        insert_frame(con, schema.IMAGE_EMBEDDINGS, frame)
        con.execute(
            f"INSERT INTO {schema.SIMILARITY_HISTOGRAMS} VALUES (?, 'n1', true, false, 3, 99)",
            [name],
        )
    con.execute(
        f"INSERT INTO {schema.SELECTION_STATS} SELECT 'laionet', 'n1', 0, 0, "
        + ", ".join(["1"] * 14)
    )
    con.close()


def test_upgrade_turns_a_version_2_database_into_this_one(tmp_path: Path) -> None:
    samples, ocr, emb = _samples(n=200, seed=5)
    db = tmp_path / "old.duckdb"
    _version_2_database(db, samples, emb)
    with pytest.raises(ValueError, match="python -m precompute upgrade --db"):
        queries.connect(db)
    ocr_file = tmp_path / "ocr.parquet"
    ids = pa.array(ocr.index.tolist())
    texts = pa.array(ocr.tolist(), pa.string(), from_pandas=True)
    pq.write_table(pa.table({"SAMPLE_ID": ids, "ocr_text": texts}), ocr_file)
    assert main(["upgrade", "--db", str(db), "--ocr", str(ocr_file)]) == 0
    con = queries.connect(db)  # this schema version now
    filtered = _oracle(samples, ocr, "paper-tmlr", "text-selected")  # no recipe: the default
    assert (_stored_flags(con, "laionet") == filtered).all()
    assert not _stored_flags(con, "imagenet-val").any()
    histograms = queries.load_similarity_histograms(con, "laionet").counts
    np.testing.assert_array_equal(histograms, _oracle_histograms(samples, filtered))
    recorded = queries.read_dataset_info(con, "laionet")["parameters"]["content_rules"]
    assert recorded["recipe"] == "paper-tmlr" and recorded["ocr_applied"] is True
    subsets = read_selection_subsets(con, "laionet")  # refreshed: it had statistics
    assert set(subsets) == set(LEMMAS)
    assert read_selection_subsets(con, "imagenet-val") == {}  # it had none: none made
    con.close()
    again = ["upgrade", "--db", str(db), "--recipe", "paper-arxiv", "--class-order"]
    assert main(again) == 0  # another recipe's rules, and the samples in class order
    con = queries.connect(db)
    arxiv = _oracle(samples, None, "paper-arxiv", "text-selected")
    assert (_stored_flags(con, "laionet") == arxiv).all()
    stored = con.execute("SELECT dataset, wnid, sample_id FROM samples").fetchall()
    assert stored == sorted(stored) and len(stored) == 2 * len(samples)
    lab = read_stored_lab_candidates(con, "laionet")  # refreshed with the statistics
    assert lab is not None and len(lab.rows) == len(samples)
    live = read_lab_candidates(con, "laionet").rows
    assert lab.rows["filtered"].tolist() == live["filtered"].tolist()
    assert lab.rows["filtered"].sum() == arxiv.sum()
    con.close()
