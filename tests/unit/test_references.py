"""Reference readers on generated layouts, and building a reference dataset end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from laionet_core.vocabulary import format_synset_text, load_imagenet_vocabulary
from precompute.encode.models import load_image_encoder
from precompute.ingest.images import FileSlice, decode_image
from precompute.ingest.reference_layouts import list_reference_items, read_devkit_id_to_wnid
from precompute.references.datasets import build_reference_dataset, encode_synsets
from tests.reference_layouts import make_jpeg, write_captions_json, write_class_tree, write_shard
from tests.tiny_clip import TINY_CLIP_NAME, build_tiny_clip_checkpoint

WNIDS = load_imagenet_vocabulary().wnids
CLASSES = (0, 1, 999)  # tench, goldfish, toilet tissue


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    checkpoint = build_tiny_clip_checkpoint(tmp_path_factory.mktemp("tiny"))
    return load_image_encoder(f"open_clip:{TINY_CLIP_NAME}:{checkpoint}", device="cpu")


def test_imagenet_val_and_folder_layouts(tmp_path):
    root = write_class_tree(tmp_path / "val", [WNIDS[c] for c in CLASSES])
    (root / WNIDS[0] / "notes.txt").write_text("not an image")
    for kind in ("imagenet-val", "folder"):
        items = list_reference_items(kind, root)
        assert [i.wnid for i in items] == [WNIDS[c] for c in CLASSES for _ in range(2)]
        assert items[0].sample_id == f"{WNIDS[0]}/img_0.JPEG"
        assert decode_image(items[0].source).size == (48, 40)


def test_imagenetv2_maps_class_index_to_wnid(tmp_path):
    root = write_class_tree(tmp_path / "v2", ["999", "0", "1"], ext="jpeg")
    items = list_reference_items("imagenetv2", root)
    assert sorted({(i.sample_id.split("/")[0], i.wnid) for i in items}) == [
        ("0", "n01440764"),
        ("1", "n01443537"),
        ("999", "n15075141"),
    ]


@pytest.mark.parametrize(
    ("kind", "folder", "match"),
    [
        ("imagenet-val", "cats", "is not a wnid"),
        ("imagenetv2", "1000", "is not a class index 0-999"),
        ("imagenetv2", "n01440764", "is not a class index"),
    ],
)
def test_bad_class_folder_names_are_refused(tmp_path, kind, folder, match):
    write_class_tree(tmp_path / "r", [folder])
    with pytest.raises(ValueError, match=match) as info:
        list_reference_items(kind, tmp_path / "r")
    assert folder in str(info.value)


def test_unknown_kind_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="allowed: imagenet-val"):
        list_reference_items("coco", tmp_path)
    with pytest.raises(ValueError, match="expected a folder"):
        list_reference_items("folder", tmp_path / "nope")


def test_flat_val_uses_devkit_ids_not_class_indices(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for n in (1, 2, 3):
        (root / f"ILSVRC2012_val_{n:08d}.JPEG").write_bytes(make_jpeg(n))
    (tmp_path / "gt.txt").write_text("490\n361\n171\n")
    # devkit id 490 is n01440764 (class index 0): the orders differ
    (tmp_path / "map.txt").write_text(
        "# devkit id -> wnid\n490 n01440764\n361 n01443537\n171 n15075141\n"
    )
    items = list_reference_items(
        "imagenet-val-flat", root, ground_truth=tmp_path / "gt.txt", id_to_wnid=tmp_path / "map.txt"
    )
    assert [(i.sample_id, i.wnid) for i in items] == [
        ("ILSVRC2012_val_00000001.JPEG", "n01440764"),
        ("ILSVRC2012_val_00000002.JPEG", "n01443537"),
        ("ILSVRC2012_val_00000003.JPEG", "n15075141"),
    ]
    (tmp_path / "gt.txt").write_text("490\n361\n7\n")
    with pytest.raises(ValueError, match="id 7 is not in"):
        list_reference_items(
            "imagenet-val-flat",
            root,
            ground_truth=tmp_path / "gt.txt",
            id_to_wnid=tmp_path / "map.txt",
        )


def test_devkit_meta_mat_is_read(tmp_path):
    from scipy.io import savemat

    synsets = np.zeros((2,), dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O")])
    synsets[0] = (490, "n01440764", "tench")
    synsets[1] = (361, "n01443537", "goldfish")
    savemat(tmp_path / "meta.mat", {"synsets": synsets})
    assert read_devkit_id_to_wnid(tmp_path / "meta.mat") == {490: "n01440764", 361: "n01443537"}
    (tmp_path / "bad.txt").write_text("490 tench\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        read_devkit_id_to_wnid(tmp_path / "bad.txt")


def test_webdataset_shards_with_json_wnid_label_and_labels_parquet(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    write_shard(
        folder / "00000.tar",
        [
            (
                "000000000",
                {
                    "key": "000000000",
                    "url": "http://a/0.jpg",
                    "caption": "a tench",
                    "wnid": WNIDS[0],
                },
                make_jpeg(0),
            ),
            (
                "000000001",
                {"key": "000000001", "url": "http://a/1.jpg", "caption": "goldfish", "label": 1},
                make_jpeg(1),
            ),
        ],
    )
    write_shard(
        folder / "00001.tar",
        [
            (
                "000010000",
                {"key": "000010000", "url": "http://a/2.jpg", "caption": "paper"},
                make_jpeg(2),
            ),
        ],
    )
    pd.DataFrame({"key": ["000010000"], "wnid": [WNIDS[999]]}).to_parquet(
        tmp_path / "labels.parquet"
    )
    items = list_reference_items("webdataset", folder, labels=tmp_path / "labels.parquet")
    assert [(i.sample_id, i.wnid, i.url, i.text) for i in items] == [
        ("000000000", WNIDS[0], "http://a/0.jpg", "a tench"),
        ("000000001", WNIDS[1], "http://a/1.jpg", "goldfish"),
        ("000010000", WNIDS[999], "http://a/2.jpg", "paper"),
    ]
    assert isinstance(items[0].source, FileSlice)
    assert items[1].source.read() == make_jpeg(1)
    with pytest.raises(ValueError, match="000010000: no wnid"):
        list_reference_items("webdataset", folder)
    (folder / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ValueError, match="junk.tar: not a readable webdataset"):
        list_reference_items("webdataset", folder, labels=tmp_path / "labels.parquet")


def test_imagenet_captions_text_and_wnid_from_prefix(tmp_path):
    items = list_reference_items("imagenet-captions", write_captions_json(tmp_path / "c.json"))
    assert [(i.sample_id, i.wnid, i.text, i.source) for i in items] == [
        ("n01440764_10026.JPEG", "n01440764", "Big tench fish lake caught today", None),
        ("n01443537_7.JPEG", "n01443537", "goldie", None),
    ]
    (tmp_path / "bad.json").write_text(json.dumps([{"title": "x"}]))
    with pytest.raises(ValueError, match="entry 0 has no 'filename'"):
        list_reference_items("imagenet-captions", tmp_path / "bad.json")


def _synsets(encoder):
    vocab = load_imagenet_vocabulary()
    texts = [format_synset_text(s, "name_def") for s in vocab.synsets]
    return encode_synsets(encoder, vocab.wnids, texts)


def test_build_reference_dataset_end_to_end(tiny, tmp_path):
    root = write_class_tree(tmp_path / "val", [WNIDS[c] for c in CLASSES])
    (root / WNIDS[1] / "broken.JPEG").write_bytes(b"garbage")
    synsets = _synsets(tiny)
    built = build_reference_dataset(
        list_reference_items("imagenet-val", root),
        image_encoder=tiny,
        image_synsets=synsets,
        text_encoder=tiny,
        text_synsets=synsets,
    )
    assert len(built.samples) == 6 and built.image_embeddings.shape == (6, 32)
    assert built.rejected["sample_id"].tolist() == [f"{WNIDS[1]}/broken.JPEG"]
    assert "not an image" in built.rejected["reason"].iloc[0]
    assert built.text_embeddings is None and built.samples["text_similarity"].isna().all()
    assert len(built.thumbnails) == 6
    # oracle: image_similarity = cosine(image, synset text of its own class), by hand
    vocab = load_imagenet_vocabulary().by_wnid()
    for row, emb in zip(built.samples.itertuples(), built.image_embeddings, strict=True):
        synset = tiny.encode_texts([format_synset_text(vocab[row.wnid], "name_def")])[0]
        assert row.image_similarity == pytest.approx(float(emb @ synset), abs=1e-5)
        assert row.matched_wnids == [row.wnid]


def test_build_reference_dataset_from_captions_with_text_and_text_only(tiny, tmp_path):
    images = tmp_path / "train"
    for name in ("n01440764", "n01443537"):
        (images / name).mkdir(parents=True)
    (images / "n01440764" / "n01440764_10026.JPEG").write_bytes(make_jpeg(0))
    (images / "n01443537" / "n01443537_7.JPEG").write_bytes(make_jpeg(1))
    synsets = _synsets(tiny)
    json_path = write_captions_json(tmp_path / "c.json")
    built = build_reference_dataset(
        list_reference_items("imagenet-captions", json_path, images_root=images),
        image_encoder=tiny,
        image_synsets=synsets,
        text_encoder=tiny,
        text_synsets=synsets,
        thumbnail_size=None,
    )
    assert built.text_embeddings.shape == (2, 32) and built.thumbnails is None
    assert built.samples["text_similarity"].notna().all()
    text_only = build_reference_dataset(
        list_reference_items("imagenet-captions", json_path),
        image_encoder=None,
        text_encoder=tiny,
        text_synsets=synsets,
    )
    assert text_only.image_embeddings is None and text_only.samples["image_similarity"].isna().all()
    np.testing.assert_allclose(text_only.text_embeddings, built.text_embeddings, atol=1e-6)
    with pytest.raises(ValueError, match="have no image"):
        build_reference_dataset(
            list_reference_items("imagenet-captions", json_path),
            image_encoder=tiny,
            image_synsets=synsets,
            where=str(json_path),
        )
    others = encode_synsets(tiny, WNIDS[2:5], ["a", "b", "c"])
    with pytest.raises(ValueError, match="not among the 3 classes of the database: n01440764"):
        build_reference_dataset(
            list_reference_items("imagenet-captions", json_path),
            image_encoder=None,
            text_encoder=tiny,
            text_synsets=others,
        )
