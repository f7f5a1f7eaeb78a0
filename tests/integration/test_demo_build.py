"""The simulated demo database, built once through the CLI: schema, counts, agreement."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from laionet_core import queries, schema
from laionet_core.selection import SelectionParams, select_mask, summarize_selection
from laionet_core.thresholds import CAPTION_THRESHOLD, TEXT_MATCH_THRESHOLD
from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.cli import main as precompute_main
from tests.conftest import TEST_CAPTIONS


@pytest.fixture(scope="module")
def con(demo_db: Path):
    connection = queries.connect(demo_db)
    yield connection
    connection.close()


def test_every_table_of_the_schema_exists(con) -> None:
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    for name in schema.TABLE_DOCS:
        assert name in tables


def test_meta_and_datasets_say_simulated(con) -> None:
    assert queries.read_meta(con)["simulated"] == "true"
    datasets = queries.read_datasets(con).set_index("dataset")
    assert datasets["simulated"].all()
    assert datasets.loc["laionet", "kind"] == schema.KIND_TEXT_SELECTED
    for name in ("imagenet-val", "imagenetv2-a", "imagenetv2-b", "imagenetv2-c"):
        assert datasets.loc[name, "kind"] == schema.KIND_IMAGE_SELECTED
        assert datasets.loc[name, "n_samples"] > 0
    assert (
        datasets.loc["laionet", "parameters"]["rows_in"] == str(TEST_CAPTIONS)
        or int(datasets.loc["laionet", "parameters"]["rows_in"]) == TEST_CAPTIONS
    )


def test_classes_hold_the_whole_vocabulary(con) -> None:
    classes = queries.read_classes(con)
    assert len(classes) == 1000
    assert classes["wnid"].tolist() == list(load_imagenet_vocabulary().wnids)
    cougar = classes.set_index("wnid").loc["n02125311"]
    assert cougar["synset_text"] == "cougar which is large American feline resembling a lion"


def test_laionet_covers_at_least_100_classes_with_scored_samples(con) -> None:
    samples = con.sql("SELECT * FROM samples WHERE dataset = 'laionet'").df()
    assert samples["wnid"].nunique() >= 100
    assert samples["text_similarity"].between(-1, 1).all()
    assert samples["multi_label"].any() and (~samples["multi_label"]).any()
    # multi_label is exactly "matched more than one class", and the label is among them.
    assert (samples["multi_label"] == samples["matched_wnids"].map(len).gt(1)).all()
    assert all(w in m for w, m in zip(samples["wnid"], samples["matched_wnids"], strict=True))
    n_thumbs = con.execute(
        "SELECT count(*) FROM samples WHERE dataset='laionet' AND thumbnail_id IS NOT NULL"
    ).fetchall()[0][0]
    assert n_thumbs == len(samples)


def test_no_class_dominates_the_paper_selection(con) -> None:
    # Figure 4: relative class frequencies decay smoothly, the top class a few percent.
    selected = queries.read_selected_samples(con, "laionet", SelectionParams())
    shares = selected["wnid"].value_counts(normalize=True)
    assert shares.iloc[0] <= 0.10 and shares.iloc[:10].sum() <= 0.5


def test_text_similarity_is_the_dot_product_of_the_shipped_embeddings(
    con, demo_corpus: Path
) -> None:
    meta = pd.read_parquet(demo_corpus / "metadata" / "metadata_0.parquet")
    text_emb = np.load(demo_corpus / "text_emb" / "text_emb_0.npy").astype(np.float32)
    wnids = (demo_corpus / "synsets" / "wnids.txt").read_text().split()
    synsets = np.load(demo_corpus / "synsets" / "name_def_emb.npy").astype(np.float32)
    samples = con.sql(
        "SELECT sample_id, wnid, text_similarity FROM samples WHERE dataset='laionet'"
    ).df()
    row_of = {str(s): i for i, s in enumerate(meta["SAMPLE_ID"])}
    checked = 0
    for sample_id, wnid, sim in samples.itertuples(index=False):
        if sample_id in row_of and checked < 200:
            expected = float(text_emb[row_of[sample_id]] @ synsets[wnids.index(wnid)])
            assert sim == pytest.approx(expected, abs=1e-4)
            checked += 1
    assert checked == 200


@pytest.mark.parametrize("threshold", [0.6, 0.75, 0.82, 0.9])
def test_histogram_curves_agree_with_sql_and_with_the_samples(con, threshold: float) -> None:
    params = SelectionParams(threshold=threshold)
    summary = summarize_selection(queries.load_similarity_histograms(con, "laionet").counts, params)
    samples = con.sql("SELECT * FROM samples WHERE dataset = 'laionet'").df()
    filtered = samples["filtered"].to_numpy()  # the oracle of the flag: test_content_rules
    tags = samples["nsfw"].fillna("").str.strip().str.upper()
    assert filtered[(tags != "UNLIKELY").to_numpy()].all()  # the demo recipe's NSFW rule
    keep = select_mask(
        samples["text_similarity"].to_numpy(), filtered, samples["multi_label"].to_numpy(), params
    )
    assert summary.size == queries.count_selected(con, "laionet", params)[0] == keep.sum()
    assert summary.covered == samples.loc[keep, "wnid"].nunique()


def test_export_command_writes_file_and_manifest(demo_db: Path, con, tmp_path: Path) -> None:
    out = tmp_path / "subset.parquet"
    assert (
        precompute_main(
            [
                "export",
                "--db",
                str(demo_db),
                "--threshold",
                "0.82",
                "--format",
                "parquet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_parquet(out)
    assert list(table.columns) == [
        "URL",
        "TEXT",
        "wnid",
        "class_name",
        "text_similarity",
        "NSFW",
        "SAMPLE_ID",
    ]
    assert len(table) == queries.count_selected(con, "laionet", SelectionParams(threshold=0.82))[0]
    assert (table["text_similarity"] > 0.82).all()
    assert (table["NSFW"] != "NSFW").all()
    manifest = json.loads((tmp_path / "subset.parquet.manifest.json").read_text())
    assert manifest["selection"]["threshold"] == 0.82 and manifest["rows"] == len(table)
    assert manifest["simulated"] is True

    csv_out = tmp_path / "subset.csv"
    assert (
        precompute_main(
            [
                "export",
                "--db",
                str(demo_db),
                "--threshold",
                "0.9",
                "--format",
                "csv",
                "--out",
                str(csv_out),
            ]
        )
        == 0
    )
    assert (
        len(pd.read_csv(csv_out))
        == queries.count_selected(con, "laionet", SelectionParams(threshold=0.9))[0]
    )


def test_export_defaults_to_the_threshold_of_the_dataset_kind(
    demo_db: Path, con, tmp_path: Path, capsys
) -> None:
    """One definition per kind: the export's default is the slider's (0.82 / 0.7)."""
    for dataset, spec in (("laionet", CAPTION_THRESHOLD), ("text-matched", TEXT_MATCH_THRESHOLD)):
        out = tmp_path / f"{dataset}.parquet"
        args = ["export", "--db", str(demo_db), "--dataset", dataset, "--out", str(out)]
        assert precompute_main(args) == 0
        manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
        assert manifest["selection"]["threshold"] == spec.default
        expected = queries.count_selected(con, dataset, SelectionParams(threshold=spec.default))
        assert len(pd.read_parquet(out)) == expected[0]
    whole = ["export", "--db", str(demo_db), "--dataset", "imagenet-val"]
    assert precompute_main([*whole, "--out", str(tmp_path / "v.csv")]) == 2
    assert "'image-selected', which no threshold selects" in capsys.readouterr().err
    assert (
        precompute_main([*whole[:-2], "--dataset", "nope", "--out", str(tmp_path / "n.csv")]) == 2
    )
    assert "--dataset 'nope': no such dataset" in capsys.readouterr().err


def test_export_rejects_a_bad_threshold(demo_db: Path, tmp_path: Path, capsys) -> None:
    assert (
        precompute_main(
            ["export", "--db", str(demo_db), "--threshold", "7", "--out", str(tmp_path / "x.csv")]
        )
        == 2
    )
    assert "threshold 7.0 is outside" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_failed_build_leaves_the_database_untouched(
    demo_corpus: Path, tmp_path: Path, capsys
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(demo_corpus, corpus)
    db = tmp_path / "db.duckdb"
    assert (
        precompute_main(["build", "--corpus", str(corpus), "--db", str(db), "--no-thumbnails"]) == 0
    )
    before = db.read_bytes()
    np.save(corpus / "text_emb" / "text_emb_1.npy", np.zeros((3, 4), dtype=np.float16))
    assert precompute_main(["build", "--corpus", str(corpus), "--db", str(db)]) == 2
    assert "text_emb_1.npy" in capsys.readouterr().err
    assert db.read_bytes() == before
