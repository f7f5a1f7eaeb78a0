"""LAION layout readers: both column conventions, and checks that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from precompute.ingest.laion import (
    format_sample_key,
    list_laion_parts,
    load_part_embeddings,
    read_part_metadata,
)


def _release(root: Path, rows: int = 4, dtype=np.float16) -> None:
    (root / "metadata").mkdir(parents=True)
    (root / "img_emb").mkdir()
    (root / "text_emb").mkdir()
    pd.DataFrame(
        {
            "key": [f"{i:09d}" for i in range(rows)],
            "caption": ["a puma"] * rows,
            "url": ["u"] * rows,
            "NSFW": ["UNLIKELY"] * rows,
        }
    ).to_parquet(root / "metadata" / "metadata_0.parquet")
    emb = np.eye(rows, 8, dtype=dtype)
    np.save(root / "img_emb" / "img_emb_0.npy", emb)
    np.save(root / "text_emb" / "text_emb_0.npy", emb)


def test_embeddings_release_layout(tmp_path: Path) -> None:
    _release(tmp_path)
    (part,) = list_laion_parts(tmp_path)
    assert part.index == 0 and part.img_emb is not None and part.text_emb is not None
    meta = read_part_metadata(part)
    assert meta["sample_id"].tolist() == ["000000000", "000000001", "000000002", "000000003"]
    assert meta["text"].iloc[0] == "a puma"
    assert meta["similarity"].isna().all()  # a column the layout lacks comes back empty
    assert load_part_embeddings(part.text_emb, rows=4).dtype == np.float16


def test_float32_embeddings_are_detected_not_assumed(tmp_path: Path) -> None:
    _release(tmp_path, dtype=np.float32)
    (part,) = list_laion_parts(tmp_path)
    assert load_part_embeddings(part.img_emb, rows=4).dtype == np.float32


def test_original_metadata_parts_with_float_sample_ids(tmp_path: Path) -> None:
    pd.DataFrame(
        {"SAMPLE_ID": [1234.0, np.nan], "URL": ["u", "v"], "TEXT": ["x", None]}
    ).to_parquet(tmp_path / "part-00000-abc-c000.snappy.parquet")
    (part,) = list_laion_parts(tmp_path)
    assert part.img_emb is None
    assert read_part_metadata(part)["sample_id"].tolist() == ["1234", "part-00000-abc-c000:1"]


def test_sample_key_rules() -> None:
    assert format_sample_key(5.0, file_stem="f", row=0) == "5"
    assert format_sample_key(np.float64(7.0), file_stem="f", row=0) == "7"
    assert format_sample_key("abc", file_stem="f", row=0) == "abc"
    assert format_sample_key(None, file_stem="f", row=3) == "f:3"


def test_misaligned_rows_name_the_file(tmp_path: Path) -> None:
    _release(tmp_path)
    np.save(tmp_path / "img_emb" / "img_emb_0.npy", np.eye(3, 8, dtype=np.float16))
    (part,) = list_laion_parts(tmp_path)
    with pytest.raises(
        ValueError, match=r"img_emb_0.npy: shape \(3, 8\) but its metadata part has 4 rows"
    ):
        load_part_embeddings(part.img_emb, rows=4)


def test_non_finite_and_wrong_dtype_name_the_file(tmp_path: Path) -> None:
    bad = np.eye(4, 8, dtype=np.float16)
    bad[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"nan.npy: row 2 holds NaN"):
        load_part_embeddings(tmp_path / "nan.npy", rows=4)
    np.save(tmp_path / "int.npy", np.zeros((4, 8), dtype=np.int32))
    with pytest.raises(ValueError, match=r"int.npy: dtype int32"):
        load_part_embeddings(tmp_path / "int.npy", rows=4)
    with pytest.raises(ValueError, match="dimension 8, expected 16"):
        np.save(tmp_path / "ok.npy", np.eye(4, 8, dtype=np.float16))
        load_part_embeddings(tmp_path / "ok.npy", rows=4, dim=16)


def test_missing_caption_column_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no LAION parts"):
        list_laion_parts(tmp_path)
    pd.DataFrame({"URL": ["u"]}).to_parquet(tmp_path / "p.parquet")
    (part,) = list_laion_parts(tmp_path)
    with pytest.raises(
        ValueError, match=r"p.parquet: no caption column \(TEXT or caption\); found URL"
    ):
        read_part_metadata(part)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="junk.parquet: not a readable parquet"):
        read_part_metadata(list_laion_parts(tmp_path)[0])
