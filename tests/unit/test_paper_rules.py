"""The paper's filters and reference facts: NSFW and OCR rules, ImageNet-Captions text,
ImageNetV2 a/b/c names, and the recipe recorded in exports and datasets."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from laionet_core.recipes import OCR_NOT_APPLIED
from laionet_core.selection import select_by_nsfw_rule, select_by_ocr_text
from precompute.cli import main
from precompute.ingest.imagenetv2_names import name_imagenetv2_release, resolve_imagenetv2_name
from precompute.ingest.ocr_text import read_ocr_text
from precompute.ingest.reference_layouts import read_imagenet_captions

TAGS = ["UNLIKELY", "UNSURE", "NSFW", None, " nsfw ", "unlikely", ""]


def test_nsfw_rules() -> None:
    assert select_by_nsfw_rule(TAGS, "keep-all").all()
    assert select_by_nsfw_rule(TAGS, "drop-nsfw").tolist() == [1, 1, 0, 1, 0, 1, 1]
    assert select_by_nsfw_rule(TAGS, "unlikely-only").tolist() == [1, 0, 0, 0, 0, 1, 0]
    with pytest.raises(ValueError, match="unknown NSFW rule 'maybe'"):
        select_by_nsfw_rule(TAGS, "maybe")


def test_ocr_rule_drops_images_whose_text_names_their_class() -> None:
    lemmas = {"n02125311": ("cougar", "puma"), "n01440764": ("tench", "Tinca tinca")}
    texts = ["PUMA! sale", "pumas", "tinca-tinca!", "a puma", None, "", "tench"]
    wnids = ["n02125311", "n02125311", "n01440764", "n01440764", "n02125311", "n01440764", "x"]
    keep = select_by_ocr_text(texts, wnids, lemmas)
    # Whole words only ("pumas" is not "puma"); another class's lemma does not count.
    assert keep.tolist() == [False, True, False, True, True, True, True]


def test_read_ocr_text_names_bad_files(tmp_path) -> None:
    good = tmp_path / "ocr.parquet"
    pq.write_table(pa.table({"SAMPLE_ID": [1, 2], "ocr_text": ["a", None]}), good)
    texts = read_ocr_text([good])
    assert texts["1"] == "a" and not isinstance(texts["2"], str)  # missing: no text
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"SAMPLE_ID": [1], "text": ["a"]}), bad)
    with pytest.raises(ValueError, match=r"bad\.parquet: no column ocr_text"):
        read_ocr_text([bad])
    clash = tmp_path / "clash.parquet"
    pq.write_table(pa.table({"SAMPLE_ID": [1], "ocr_text": ["b"]}), clash)
    with pytest.raises(ValueError, match="'1' has two different"):
        read_ocr_text([good, clash])


def test_imagenet_captions_text_order_and_repeated_file_names(tmp_path) -> None:
    entries = [
        {"filename": "n01440764_1.JPEG", "title": "T", "description": "D", "tags": ["a", "b"]},
        {"filename": "n01440764_1.JPEG", "title": "second", "description": "", "tags": []},
        {"filename": "n01443537_2.JPEG", "title": "", "description": "only", "tags": ["x"]},
    ]
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(entries))
    items = read_imagenet_captions(path)
    assert [(i.sample_id, i.text) for i in items] == [
        ("n01440764_1.JPEG", "T a b D"),  # title + tags + description, first entry kept
        ("n01443537_2.JPEG", "x only"),
    ]


def test_imagenetv2_release_folders_are_named_by_selection_frequency(tmp_path) -> None:
    assert name_imagenetv2_release("/d/imagenetv2-threshold0.7-format-val") == "imagenetv2-a"
    assert name_imagenetv2_release("ImageNetV2-matched-frequency-format-val") == "imagenetv2-b"
    assert name_imagenetv2_release("imagenetv2-top-images-format-val.tar.gz") == "imagenetv2-c"
    assert name_imagenetv2_release("/d/my-v2") is None
    folder = tmp_path / "imagenetv2-matched-frequency-format-val"
    assert resolve_imagenetv2_name(folder, None) == "imagenetv2-b"
    assert resolve_imagenetv2_name(folder, "mine") == "mine"
    with pytest.raises(ValueError, match="that folder is imagenetv2-b"):
        resolve_imagenetv2_name(folder, "imagenetv2-a")  # the swap the old docs made
    with pytest.raises(ValueError, match="give --name"):
        resolve_imagenetv2_name(tmp_path / "v2", None)


def test_export_manifest_records_the_recipe(demo_db, tmp_path) -> None:
    out = tmp_path / "tmlr.parquet"
    argv = ["export", "--db", str(demo_db), "--out", str(out)]
    assert main([*argv, "--recipe", "paper-tmlr"]) == 0
    manifest = json.loads((tmp_path / "tmlr.parquet.manifest.json").read_text())
    assert manifest["recipe"]["name"] == "paper-tmlr"
    assert manifest["recipe"]["nsfw_rule"] == "unlikely-only"
    # the demo's build applied the same rules, OCR text included (its metadata's column)
    assert manifest["ocr_filter"].startswith("OCR filter applied")
    tmlr = pq.read_table(out).to_pandas()
    assert set(tmlr["NSFW"]) <= {"UNLIKELY"}
    assert main([*argv, "--recipe", "paper-arxiv"]) == 0
    arxiv = pq.read_table(out).to_pandas()
    manifest = json.loads((tmp_path / "tmlr.parquet.manifest.json").read_text())
    assert manifest["recipe"]["name"] == "paper-arxiv"
    assert "NSFW" not in set(arxiv["NSFW"]) and len(arxiv) >= len(tmlr)
    # another recipe than the recorded one (explorer's TMLR rules): its own rule alone
    from laionet_core import queries

    con = queries.connect(demo_db)
    (n,) = con.execute(
        "SELECT count(*) FROM samples WHERE dataset = 'laionet' AND text_similarity > 0.82 "
        "AND NOT multi_label AND upper(trim(coalesce(nsfw, ''))) <> 'NSFW'"
    ).fetchone()
    con.close()
    assert len(arxiv) == n
    # An explicit option overrides one setting, and the recorded name says so.
    assert main([*argv, "--recipe", "paper-arxiv", "--threshold", "0.75"]) == 0
    manifest = json.loads((tmp_path / "tmlr.parquet.manifest.json").read_text())
    assert manifest["recipe"]["name"] == "paper-arxiv+threshold=0.75"
    assert manifest["selection"]["threshold"] == 0.75


def test_export_ocr_rule_drops_named_classes(demo_db, tmp_path) -> None:
    out = tmp_path / "x.parquet"
    argv = ["export", "--db", str(demo_db), "--out", str(out), "--recipe", "paper-tmlr"]
    assert main(argv) == 0
    rows = pq.read_table(out).to_pandas()
    ocr = tmp_path / "ocr.parquet"
    lemma_of_first = "zzz"  # texts naming nothing keep every row
    texts = [lemma_of_first] * len(rows)
    pq.write_table(pa.table({"SAMPLE_ID": rows["SAMPLE_ID"], "ocr_text": texts}), ocr)
    assert main([*argv, "--ocr", str(ocr)]) == 0
    assert len(pq.read_table(out)) == len(rows)
    manifest = json.loads(out.with_name("x.parquet.manifest.json").read_text())
    assert manifest["ocr_filter"].startswith("OCR filter applied")
    texts = [f"SALE: {name.upper()}!" for name in rows["class_name"]]
    texts[0] = "nothing here"
    pq.write_table(pa.table({"SAMPLE_ID": rows["SAMPLE_ID"], "ocr_text": texts}), ocr)
    assert main([*argv, "--ocr", str(ocr)]) == 0
    kept = pq.read_table(out).to_pandas()
    assert kept["SAMPLE_ID"].tolist() == [rows["SAMPLE_ID"].iloc[0]]


def test_demo_dataset_records_its_recipe(demo_db) -> None:
    from laionet_core import queries

    con = queries.connect(demo_db)
    info = queries.read_dataset_info(con, "laionet")
    con.close()
    assert info["parameters"]["recipe"]["name"] == "explorer"
    # the simulated metadata carries an ocr_text column: explorer's OCR rule reads it
    assert info["parameters"]["ocr_filter"].startswith("OCR filter applied")
    assert info["parameters"]["content_rules"]["nsfw_rule"] == "unlikely-only"
    assert info["parameters"]["content_rules"]["ocr_applied"] is True
    assert np.isfinite(info["parameters"]["recipe"]["threshold"])


def test_build_records_the_recipe_and_its_overrides(tmp_path, caplog) -> None:
    from laionet_core import queries
    from tests.laion_corpus import write_laion_corpus

    corpus = write_laion_corpus(tmp_path / "corpus", parts=1, rows_per_part=20)
    db = tmp_path / "db.duckdb"
    argv = ["build", "--corpus", str(corpus), "--db", str(db), "--workers", "1"]
    # The paper's synset text needs its own embeddings: a clear error, nothing written.
    assert main([*argv, "--recipe", "paper-tmlr"]) == 2
    assert not db.exists()
    assert main([*argv, "--recipe", "paper-tmlr", "--synset-format", "name_def"]) == 0
    con = queries.connect(db)
    params = queries.read_dataset_info(con, "laionet")["parameters"]
    samples = queries.read_samples(con, "laionet")
    con.close()
    assert params["recipe"]["name"] == "paper-tmlr+synset_format=name_def"
    assert params["recipe"]["nsfw_rule"] == "unlikely-only"
    assert params["ocr_filter"] == OCR_NOT_APPLIED
    assert params["shard_parameters"]["match_mode"] == "paper"
    assert params["shard_parameters"]["lemma_source_omits"] == "n03126707"
    assert "OCR filter not applied: no OCR text" in caplog.text
    # Case-sensitive matching: "PUMA sneakers" no longer matches the cougar.
    assert not samples["text"].str.contains("PUMA").any()
    assert samples["text"].str.contains("a puma resting").any()
    # build --ocr: the OCR rule joins the NSFW rule in samples.filtered
    ocr = tmp_path / "ocr.parquet"
    ids = samples["sample_id"].tolist()
    pq.write_table(pa.table({"SAMPLE_ID": ids, "ocr_text": ["PUMA!"] * len(ids)}), ocr)
    assert (
        main([*argv, "--recipe", "paper-tmlr", "--synset-format", "name_def", "--ocr", str(ocr)])
        == 0
    )
    con = queries.connect(db)
    params = queries.read_dataset_info(con, "laionet")["parameters"]
    again = queries.read_samples(con, "laionet")
    classes = queries.read_classes(con)
    con.close()
    assert params["content_rules"]["ocr_applied"] is True
    assert params["ocr_filter"].startswith("OCR filter applied")
    lemmas = {w: tuple(x) for w, x in zip(classes["wnid"], classes["lemmas"], strict=True)}
    keep = select_by_nsfw_rule(again["nsfw"].to_numpy(object), "unlikely-only")
    named = ~select_by_ocr_text(np.full(len(again), "PUMA!", object), again["wnid"], lemmas)
    assert named.any() and (again["filtered"].to_numpy() == (~keep | named)).all()
