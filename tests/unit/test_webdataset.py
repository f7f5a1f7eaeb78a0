"""img2dataset output read back: ids, labels from an export, failed rows, missing parquets."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from laionet_core.export import encode_export
from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.ingest.webdataset import read_download_outcomes, read_labels, read_webdataset_shards
from precompute.references.downloads import read_download_record
from tests.img2dataset_output import DNS_ERROR, write_img2dataset_output

WNIDS = load_imagenet_vocabulary().wnids


def _export(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "URL": [f"https://example.invalid/{i}.jpg" for i in range(n)],
            "TEXT": ["-a dash caption" if i == 0 else f"a tench {i}" for i in range(n)],
            "wnid": [WNIDS[i % 2] for i in range(n)],
            "class_name": ["tench"] * n,
            "text_similarity": [0.9] * n,
            "NSFW": ["UNLIKELY", "NSFW"] * (n // 2),
            "SAMPLE_ID": [str(5000 + i) for i in range(n)],
        }
    )


def test_saved_sample_id_is_the_id_and_the_key_is_kept(tmp_path: Path) -> None:
    export = _export()
    folder = write_img2dataset_output(
        tmp_path / "dl", export, failed={2}, number_sample_per_shard=4
    )
    items = read_webdataset_shards(folder)
    assert [i.sample_id for i in items] == ["5000", "5001", "5003", "5004", "5005"]
    assert [i.key for i in items] == ["000000", "000001", "000003", "000010", "000011"]
    assert [i.nsfw for i in items] == ["UNLIKELY", "NSFW", "NSFW", "UNLIKELY", "NSFW"]
    assert items[0].wnid == WNIDS[0] and items[0].text == "-a dash caption"
    outcomes, missing = read_download_outcomes(folder)
    assert not missing and len(outcomes) == len(export)
    failed = outcomes[outcomes["status"] != "success"]
    assert failed["sample_id"].tolist() == ["5002"]
    assert failed["reason"].tolist() == [f"failed_to_download: {DNS_ERROR}"]
    assert failed["source"].iloc[0].endswith("00000.parquet:000002")


def test_csv_export_labels_join_by_url_when_no_id_was_saved(tmp_path: Path) -> None:
    export = _export()
    labels = tmp_path / "laionet.csv"
    labels.write_bytes(encode_export(export, "csv"))
    folder = write_img2dataset_output(
        tmp_path / "dl", export, failed=set(), save_additional_columns=()
    )
    items = read_webdataset_shards(folder, labels=labels)
    assert [i.sample_id for i in items] == [f"{k:06d}" for k in range(6)]  # the keys
    assert [i.wnid for i in items] == export["wnid"].tolist()
    assert read_labels(labels).by_id["5000"] == WNIDS[0]  # unescaped, ids as text


def test_a_sample_missing_from_the_export_is_named(tmp_path: Path) -> None:
    export = _export()
    folder = write_img2dataset_output(tmp_path / "dl", export, failed=set())
    labels = tmp_path / "laionet.parquet"
    export.iloc[1:].to_parquet(labels)
    with pytest.raises(ValueError, match=r"SAMPLE_ID '5000' .* is not in the --labels export"):
        read_webdataset_shards(folder, labels=labels)
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"SAMPLE_ID": ["1"], "label": ["x"]}).to_parquet(bad)
    with pytest.raises(ValueError, match="expected a wnid column"):
        read_labels(bad)


def test_without_the_shard_parquet_the_share_is_not_measured(tmp_path: Path, caplog) -> None:
    folder = write_img2dataset_output(tmp_path / "dl", _export(), failed={1})
    (folder / "00000.parquet").unlink()
    items = read_webdataset_shards(folder)
    with caplog.at_level(logging.WARNING):
        record = read_download_record(folder, items, None, labels_path=None)
    assert "no img2dataset parquet" in caplog.text and "download" not in record.parameters
    assert record.rejected.empty


def test_an_image_without_a_success_row_is_an_error(tmp_path: Path) -> None:
    folder = write_img2dataset_output(tmp_path / "dl", _export(), failed=set())
    table = pd.read_parquet(folder / "00000.parquet")
    table.loc[0, "status"] = "failed_to_download"
    table.to_parquet(folder / "00000.parquet")
    items = read_webdataset_shards(folder)
    with pytest.raises(ValueError, match="no 'success' row .* key 000000"):
        read_download_record(folder, items, None, labels_path=None)
