"""``add-reference`` on generated layouts with the tiny open_clip model (real loading path).

Each layout goes through the command line into a small database; stored embeddings,
similarities and caption diagnostics are checked against a direct encode + dot product.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from laionet_core import queries, schema
from laionet_core.storage import open_new_database, write_classes, write_meta
from laionet_core.vocabulary import load_imagenet_vocabulary, load_vocabulary
from precompute.cli import main as precompute_main
from precompute.encode.models import load_image_encoder
from tests.reference_layouts import make_jpeg, write_captions_json, write_class_tree, write_shard
from tests.tiny_clip import TINY_CLIP_NAME, build_tiny_clip_checkpoint

WNIDS = load_imagenet_vocabulary().wnids
CLASSES = (0, 1, 999)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return build_tiny_clip_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny(checkpoint):
    return load_image_encoder(f"open_clip:{TINY_CLIP_NAME}:{checkpoint}", device="cpu")


def _new_db(path: Path, vocab_file: Path | None = None) -> Path:
    with open_new_database(path) as con:
        write_meta(con, {"simulated": "false"})
        write_classes(con, load_vocabulary(vocab_file))
    return path


@pytest.fixture
def db(tmp_path) -> Path:
    return _new_db(tmp_path / "ref.duckdb")


def _add(db: Path, checkpoint: Path, *args: str) -> int:
    return precompute_main(
        [
            "add-reference",
            "--db",
            str(db),
            "--model",
            TINY_CLIP_NAME,
            "--pretrained",
            str(checkpoint),
            "--device",
            "cpu",
            "--workers",
            "0",
            *args,
        ]
    )


def _add_layout(db: Path, checkpoint: Path, name: str, kind: str, path: Path, *args: str) -> int:
    return _add(db, checkpoint, "--name", name, "--kind", kind, "--images", str(path), *args)


def _table_contents(db: Path) -> dict[str, pd.DataFrame]:
    con = queries.connect(db)
    try:
        return {
            t: con.sql(f"SELECT * EXCLUDE (created) FROM {t}").df()
            if t == schema.DATASETS
            else con.sql(f"SELECT * FROM {t}").df()
            for t in schema.TABLE_DOCS
        }
    finally:
        con.close()


def _synset_oracle(tiny, db: Path, wnids) -> np.ndarray:
    con = queries.connect(db)
    classes = queries.read_classes(con).set_index("wnid")
    con.close()
    return tiny.encode_texts(classes.loc[list(wnids), "synset_text"].tolist())


def test_imagenet_val_folders_end_to_end(tiny, checkpoint, db, tmp_path) -> None:
    root = write_class_tree(tmp_path / "val", [WNIDS[c] for c in CLASSES])
    (root / WNIDS[1] / "broken.JPEG").write_bytes(b"garbage")
    assert _add_layout(db, checkpoint, "val", "imagenet-val", root) == 0
    con = queries.connect(db)
    info = queries.read_datasets(con).set_index("dataset").loc["val"]
    samples = queries.read_samples(con, "val").set_index("sample_id")
    ids, emb = queries.read_embeddings(con, "val")
    rejected = con.sql("SELECT * FROM rejected WHERE dataset = 'val'").df()
    stored = queries.read_synset_embeddings(con, info["encoder"], "name_def")
    metrics = queries.read_class_metrics(con, dataset="val")
    con.close()
    assert info["kind"] == schema.KIND_IMAGE_SELECTED and not info["simulated"]
    assert info["encoder"] == f"open_clip:{TINY_CLIP_NAME}/{checkpoint}"
    assert info["parameters"]["layout"] == "imagenet-val" and info["parameters"]["samples"] == 6
    assert len(samples) == 6 and samples["thumbnail_id"].notna().all()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert rejected["sample_id"].tolist() == [f"{WNIDS[1]}/broken.JPEG"]
    assert "not an image" in rejected["reason"].iloc[0]
    # oracle: a direct encode of each file and a dot product with its synset text
    images = [Image.open(root / s).convert("RGB") for s in ids["sample_id"]]
    direct = tiny.encode_images(images)
    np.testing.assert_allclose(emb, direct, atol=1e-5)
    synsets = _synset_oracle(tiny, db, ids["wnid"])
    expected = np.einsum("nd,nd->n", direct, synsets)
    got = samples.loc[ids["sample_id"], "image_similarity"].to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert len(stored[0]) == 1000  # the model's synset embeddings were added
    assert set(metrics["wnid"]) == {WNIDS[c] for c in CLASSES}


def test_batch_size_and_workers_do_not_change_results(checkpoint, db, tmp_path) -> None:
    root = write_class_tree(tmp_path / "val", [WNIDS[c] for c in CLASSES], per_class=3)
    common = ["--kind", "imagenet-val", "--images", str(root)]
    assert _add(db, checkpoint, "--name", "a", "--batch-size", "1", *common) == 0
    assert _add(db, checkpoint, "--name", "b", "--batch-size", "4", *common) == 0
    con = queries.connect(db)
    (ids_a, a), (ids_b, b) = queries.read_embeddings(con, "a"), queries.read_embeddings(con, "b")
    sims = [queries.read_samples(con, d)["image_similarity"].to_numpy() for d in ("a", "b")]
    con.close()
    assert ids_a.equals(ids_b)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(sims[0], sims[1], atol=1e-5)


def test_imagenetv2_index_folders(checkpoint, db, tmp_path) -> None:
    root = write_class_tree(tmp_path / "v2", ["0", "999"])
    args = ["--name", "v2-a", "--kind", "imagenetv2", "--images", str(root), "--no-thumbnails"]
    assert _add(db, checkpoint, *args) == 0
    con = queries.connect(db)
    samples = queries.read_samples(con, "v2-a")
    con.close()
    assert sorted(set(samples["wnid"])) == [WNIDS[0], WNIDS[999]]
    assert samples["thumbnail_id"].isna().all()


def test_webdataset_shard_is_text_selected_with_caption_scores(tiny, checkpoint, db, tmp_path):
    shard = tmp_path / "00000.tar"
    write_shard(
        shard,
        [
            (
                "000",
                {"key": "000", "url": "http://a/0", "caption": "a tench", "wnid": WNIDS[0]},
                make_jpeg(0),
            ),
            (
                "001",
                {"key": "001", "url": "http://a/1", "caption": "goldfish", "label": 1},
                make_jpeg(1),
            ),
        ],
    )
    assert _add_layout(db, checkpoint, "sub", "webdataset", shard) == 0
    con = queries.connect(db)
    info = queries.read_datasets(con).set_index("dataset").loc["sub"]
    samples = queries.read_samples(con, "sub").set_index("sample_id")
    ids, text = queries.read_embeddings(con, "sub", table=schema.TEXT_EMBEDDINGS)
    hist = queries.load_similarity_histograms(con, "sub").counts.sum()
    con.close()
    assert info["kind"] == schema.KIND_TEXT_SELECTED and hist == 2
    assert samples.loc["000", "url"] == "http://a/0"
    direct = tiny.encode_texts(samples.loc[ids["sample_id"], "text"].tolist())
    np.testing.assert_allclose(text, direct, atol=1e-5)
    expected = np.einsum("nd,nd->n", direct, _synset_oracle(tiny, db, ids["wnid"]))
    np.testing.assert_allclose(
        samples.loc[ids["sample_id"], "text_similarity"], expected, atol=1e-5
    )


def _diagnostics_oracle(text: np.ndarray, wnids, synsets: np.ndarray, all_wnids) -> list:
    """Loop over captions and classes: own similarity and share of others above it."""
    out = []
    for t, w in zip(text, wnids, strict=True):
        own_row = list(all_wnids).index(w)
        own = float(t @ synsets[own_row])
        above = sum(
            1 for c in range(len(all_wnids)) if c != own_row and float(t @ synsets[c]) > own
        )
        out.append((own, above / (len(all_wnids) - 1)))
    return out


def test_imagenet_captions_text_only_with_diagnostics(tiny, checkpoint, db, tmp_path) -> None:
    path = write_captions_json(tmp_path / "c.json")
    entries = json.loads(path.read_text())
    entries.append({"filename": "n01443537_8.JPEG", "title": "", "description": "", "tags": []})
    path.write_text(json.dumps(entries))
    args = ["--name", "imagenet-captions", "--kind", "imagenet-captions", "--images", str(path)]
    assert _add(db, checkpoint, *args) == 0
    con = queries.connect(db)
    info = queries.read_datasets(con).set_index("dataset").loc["imagenet-captions"]
    ids, text = queries.read_embeddings(con, "imagenet-captions", table=schema.TEXT_EMBEDDINGS)
    diag = queries.read_caption_diagnostics(con, "imagenet-captions").set_index("sample_id")
    rejected = con.sql("SELECT * FROM rejected WHERE dataset = 'imagenet-captions'").df()
    image_rows = len(queries.read_embeddings(con, "imagenet-captions")[0])
    wnids, synsets = queries.read_synset_embeddings(con, info["encoder"], "name_def")
    con.close()
    assert info["kind"] == schema.KIND_CAPTIONS and info["parameters"]["text_only"]
    assert image_rows == 0 and len(ids) == 2 == len(diag)
    assert rejected["sample_id"].tolist() == ["n01443537_8.JPEG"]
    assert "empty caption" in rejected["reason"].iloc[0]
    oracle = _diagnostics_oracle(text, ids["wnid"], synsets, wnids)
    for sample_id, (own, share) in zip(ids["sample_id"], oracle, strict=True):
        assert diag.loc[sample_id, "own_similarity"] == pytest.approx(own, abs=1e-5)
        assert diag.loc[sample_id, "false_classes_more_similar"] == pytest.approx(share)
    direct = tiny.encode_texts(["Big tench fish lake caught today", "goldie"])
    np.testing.assert_allclose(text, direct, atol=1e-5)


def test_imagenet_captions_with_images_and_minilm_text_encoder(checkpoint, db, tmp_path):
    images = tmp_path / "train"
    for name, file, seed in (
        ("n01440764", "n01440764_10026.JPEG", 0),
        ("n01443537", "n01443537_7.JPEG", 1),
    ):
        (images / name).mkdir(parents=True)
        (images / name / file).write_bytes(make_jpeg(seed))
    path = write_captions_json(tmp_path / "c.json")
    args = ["--name", "caps", "--kind", "imagenet-captions", "--images", str(path)]
    minilm = "sentence-transformers:all-MiniLM-L6-v2"
    assert _add(db, checkpoint, *args, "--images-root", str(images), "--text-encoder", minilm) == 0
    con = queries.connect(db)
    info = queries.read_datasets(con).set_index("dataset").loc["caps"]
    text_width = queries.read_embeddings(con, "caps", table=schema.TEXT_EMBEDDINGS)[1].shape[1]
    image_width = queries.read_embeddings(con, "caps")[1].shape[1]
    encoders = {
        r[0] for r in con.execute("SELECT DISTINCT encoder FROM synset_embeddings").fetchall()
    }
    n_diag = len(queries.read_caption_diagnostics(con, "caps"))
    con.close()
    assert info["parameters"]["text_encoder"] == minilm and not info["parameters"]["text_only"]
    assert (text_width, image_width, n_diag) == (384, 32, 2)
    assert encoders == {info["encoder"], minilm}


def test_errors_are_named_and_leave_the_database_unchanged(checkpoint, db, tmp_path, capsys):
    root = write_class_tree(tmp_path / "val", [WNIDS[c] for c in CLASSES])
    assert _add_layout(db, checkpoint, "val", "imagenet-val", root) == 0
    before = _table_contents(db)
    # the same name again, a missing folder, a missing database
    assert _add_layout(db, checkpoint, "val", "folder", root) == 2
    assert "already has a dataset 'val'" in capsys.readouterr().err
    assert _add_layout(db, checkpoint, "x", "folder", tmp_path / "no") == 2
    assert "no such file or folder" in capsys.readouterr().err
    missing = tmp_path / "missing.duckdb"
    assert _add_layout(missing, checkpoint, "x", "folder", root) == 2
    assert "does not exist" in capsys.readouterr().err and not missing.exists()
    with pytest.raises(SystemExit):
        _add_layout(db, checkpoint, "x", "coco", root)
    for name, table in _table_contents(db).items():
        pd.testing.assert_frame_equal(table, before[name], obj=name)


def test_vocabulary_mismatch_is_refused(checkpoint, tmp_path, capsys) -> None:
    vocab = tmp_path / "wnids.txt"
    vocab.write_text(f"{WNIDS[0]}\n{WNIDS[1]}\n")
    small = _new_db(tmp_path / "small.duckdb", vocab)
    root = write_class_tree(tmp_path / "val", [WNIDS[c] for c in CLASSES])
    assert _add_layout(small, checkpoint, "v", "imagenet-val", root) == 2
    err = capsys.readouterr().err
    assert "vocabulary mismatch" in err and WNIDS[999] in err


def test_failure_inside_the_transaction_rolls_back(checkpoint, db, tmp_path, monkeypatch) -> None:
    import precompute.references.store as store

    root = write_class_tree(tmp_path / "val", [WNIDS[c] for c in CLASSES])
    before = _table_contents(db)

    def fail(*args, **kwargs):
        raise ValueError("metrics exploded")

    monkeypatch.setattr(store, "write_dataset_metrics", fail)
    assert _add_layout(db, checkpoint, "val", "imagenet-val", root) == 2
    for name, table in _table_contents(db).items():
        pd.testing.assert_frame_equal(table, before[name], obj=name)


def test_stored_synsets_of_another_model_under_the_same_name_are_refused(
    checkpoint, db, tmp_path, capsys
) -> None:
    import torch

    root = write_class_tree(tmp_path / "val", [WNIDS[c] for c in CLASSES])
    assert _add_layout(db, checkpoint, "a", "imagenet-val", root) == 0
    state = torch.load(checkpoint)
    torch.save(
        {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in state.items()},
        checkpoint,
    )
    try:
        assert _add_layout(db, checkpoint, "b", "imagenet-val", root) == 2
        assert "differ from this model's" in capsys.readouterr().err
    finally:
        torch.save(state, checkpoint)


def test_text_encoder_naming_the_image_model_reuses_it(checkpoint, db, tmp_path, monkeypatch):
    import precompute.references.store as store

    def second_copy(*args, **kwargs):
        raise AssertionError("the image model was loaded a second time as the text encoder")

    monkeypatch.setattr(store, "load_text_encoder", second_copy)
    shard = tmp_path / "00000.tar"
    meta = {"key": "000", "url": "http://a/0", "caption": "a tench", "wnid": WNIDS[0]}
    write_shard(shard, [("000", meta, make_jpeg(0))])
    same = f"open_clip:{TINY_CLIP_NAME}:{checkpoint}"
    assert _add_layout(db, checkpoint, "sub", "webdataset", shard, "--text-encoder", same) == 0
    con = queries.connect(db)
    info = queries.read_datasets(con).set_index("dataset").loc["sub"]
    per_encoder = con.sql("SELECT encoder, count(*) AS n FROM synset_embeddings GROUP BY 1").df()
    con.close()
    # one set of synset embeddings under the one name, so the metrics step could run
    assert per_encoder.set_index("encoder")["n"].to_dict() == {info["encoder"]: 1000}
    assert info["parameters"]["text_encoder"] == info["encoder"]


def test_model_and_encoder_errors_say_which_is_wrong() -> None:
    from precompute.cli.add_reference import build_encoder_spec

    with pytest.raises(ValueError, match="no image model: give --model") as neither:
        build_encoder_spec(model=None)
    assert "both" not in str(neither.value)
    with pytest.raises(ValueError, match="'ViT-B-32' and --encoder 'open_clip:RN50' both"):
        build_encoder_spec(model="ViT-B-32", encoder="open_clip:RN50")
    assert build_encoder_spec(model="ViT-B-32", pretrained="x") == "open_clip:ViT-B-32:x"


def test_text_matched_dataset_kind_is_refused_for_a_layout(checkpoint, db, tmp_path, capsys):
    from precompute.references.store import AddReferenceConfig

    root = write_class_tree(tmp_path / "val", [WNIDS[0]])
    with pytest.raises(ValueError, match="--dataset-kind text-matched: only text-match"):
        AddReferenceConfig(
            db=db,
            name="x",
            layout="folder",
            path=root,
            encoder=f"open_clip:{TINY_CLIP_NAME}:{checkpoint}",
            dataset_kind=schema.KIND_TEXT_MATCHED,
        )
    with pytest.raises(SystemExit):
        _add_layout(db, checkpoint, "x", "folder", root, "--dataset-kind", "text-matched")
    assert "invalid choice: 'text-matched'" in capsys.readouterr().err
