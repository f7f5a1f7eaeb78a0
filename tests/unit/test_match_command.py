"""``python -m precompute match``: keys, output schema, errors, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import precompute.match.parquet as match_command
from laionet_core.matching import LemmaMatcher
from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.cli import main
from precompute.ingest.laion import LaionPart, read_part_metadata
from precompute.match.parquet import MATCH_SCHEMA, match_parquet_file

CAPTIONS = ["A PUMA in the snow", "nothing to see", None, "great white shark", "tabby cat"]


@pytest.fixture(scope="module")
def matcher():
    return LemmaMatcher(load_imagenet_vocabulary())


def write(path: Path, **columns) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def test_keys_from_float_sample_ids_and_fallback(tmp_path, matcher):
    path = write(
        tmp_path / "part-00000.parquet",
        SAMPLE_ID=pa.array([1.0e15, 2.0, 3.0, None, 5.5], pa.float64()),
        TEXT=CAPTIONS,
    )
    table, captions = match_parquet_file(path, matcher)
    assert captions == 5
    assert table.schema == MATCH_SCHEMA
    # Integral floats lose ".0"; a null SAMPLE_ID falls back to file:row.
    assert table["key"].to_pylist() == ["1000000000000000", "part-00000:3", "5.5"]
    assert table["wnids"].to_pylist() == [["n02125311"], ["n01484850"], ["n02123045"]]
    assert table["lemmas"].to_pylist()[1] == ["great white shark", "white shark"]


def test_keys_without_sample_id_use_file_and_row(tmp_path, matcher):
    path = write(tmp_path / "meta.parquet", caption=CAPTIONS, url=["u"] * 5)
    table, _ = match_parquet_file(path, matcher)
    assert table["key"].to_pylist() == ["meta:0", "meta:3", "meta:4"]


def test_match_and_build_key_rows_the_same_way(tmp_path, matcher):
    """One rendering of LAION ids (``ingest.laion``) for the match command and the build."""
    ids = pa.array([1.0e15, 2.0, 3.0, None, 5.5], pa.float64())
    path = write(tmp_path / "part-00007.snappy.parquet", SAMPLE_ID=ids, TEXT=CAPTIONS)
    table, _ = match_parquet_file(path, matcher)
    part = LaionPart(index=7, metadata=path, img_emb=None, text_emb=None, images=None)
    built = read_part_metadata(part)["sample_id"].tolist()
    assert built == ["1000000000000000", "2", "3", "part-00007:3", "5.5"]
    assert set(table["key"].to_pylist()) <= set(built)


def test_sample_ids_that_are_lists_are_refused(tmp_path, matcher):
    path = write(tmp_path / "l.parquet", SAMPLE_ID=pa.array([[1]] * 5), TEXT=CAPTIONS)
    with pytest.raises(ValueError, match=r"l.parquet: sample id column has type list"):
        match_parquet_file(path, matcher)


def test_rows_count_across_read_batches(tmp_path, matcher, monkeypatch):
    monkeypatch.setattr(match_command, "READ_BATCH_ROWS", 2)
    path = write(tmp_path / "p.parquet", SAMPLE_ID=pa.array([7, 8, 9, 10, 11]), TEXT=CAPTIONS)
    table, _ = match_parquet_file(path, matcher)
    assert table["key"].to_pylist() == ["7", "10", "11"]
    path = write(tmp_path / "q.parquet", TEXT=CAPTIONS)
    assert match_parquet_file(path, matcher)[0]["key"].to_pylist()[-1] == "q:4"


def test_missing_caption_column_names_file_and_columns(tmp_path, matcher):
    path = write(tmp_path / "bad.parquet", URL=["u"], SAMPLE_ID=[1])
    with pytest.raises(ValueError, match=r"bad\.parquet.*'TEXT' or 'caption'.*URL, SAMPLE_ID"):
        match_parquet_file(path, matcher)
    with pytest.raises(ValueError, match=r"'desc'.*URL"):
        match_parquet_file(path, matcher, text_column="desc")


def test_command_writes_matches_and_modes_differ(tmp_path, capsys):
    write(tmp_path / "a.parquet", SAMPLE_ID=pa.array([1, 2, 3, 4, 5]), TEXT=CAPTIONS)
    write(tmp_path / "b.parquet", TEXT=["Shih-Tzu", "shih tzu", "puma"])
    out = tmp_path / "out" / "matches.parquet"
    args = ["match", "--input", str(tmp_path / "*.parquet"), "--out", str(out), "--workers", "2"]
    assert main([*args, "--mode", "normalized"]) == 0  # the default recipe matches as the paper
    table = pq.read_table(out)
    assert table.schema == MATCH_SCHEMA
    assert table["key"].to_pylist() == ["1", "4", "5", "b:0", "b:1", "b:2"]
    assert main([*args, "--workers", "1"]) == 0
    # Case-sensitive, punctuation-literal: "A PUMA" and both Shih-Tzu spellings drop out.
    assert pq.read_table(out)["key"].to_pylist() == ["4", "5", "b:2"]
    assert not [p for p in out.parent.iterdir() if p.name != "matches.parquet"]


def test_command_text_column_and_vocab(tmp_path):
    write(tmp_path / "a.parquet", desc=["puma", "tabby cat"], TEXT=["x", "y"])
    vocab = tmp_path / "wnids.txt"
    vocab.write_text("n02125311  # cougar\n")
    out = tmp_path / "m.parquet"
    argv = ["match", "--input", str(tmp_path / "a.parquet"), "--out", str(out)]
    assert main([*argv, "--text-column", "desc", "--vocab", str(vocab)]) == 0
    assert pq.read_table(out)["wnids"].to_pylist() == [["n02125311"]]


def test_glob_matching_nothing_is_an_error(tmp_path, capsys):
    pattern = str(tmp_path / "nope-*.parquet")
    assert main(["match", "--input", pattern, "--out", str(tmp_path / "o.parquet")]) == 2
    assert pattern in capsys.readouterr().err


def test_error_leaves_no_output_and_no_partial_file(tmp_path, capsys):
    write(tmp_path / "a.parquet", TEXT=["puma"])
    write(tmp_path / "b.parquet", URL=["u"])
    out = tmp_path / "out.parquet"
    argv = ["match", "--input", str(tmp_path / "*.parquet"), "--out", str(out), "--workers", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "b.parquet" in err and "URL" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet"]


def test_failed_write_removes_the_temporary_file(tmp_path, monkeypatch):
    out = tmp_path / "o.parquet"
    out.write_bytes(b"old")

    def explode(table, where):
        where.write(b"partial")  # an open file of the temporary sibling
        raise OSError("disk full")

    monkeypatch.setattr(match_command.pq, "write_table", explode)
    with pytest.raises(OSError, match="disk full"):
        match_command.write_table_atomically(MATCH_SCHEMA.empty_table(), out)
    assert [p.name for p in tmp_path.iterdir()] == ["o.parquet"]
    assert out.read_bytes() == b"old"
