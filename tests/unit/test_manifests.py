"""Shard manifests: contents, atomic writes, and what makes a shard fail verification."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.build.assemble import read_shard_outputs
from precompute.build.manifests import (
    MANIFEST_FILE,
    SHARD_FORMAT_VERSION,
    TEMP_MARKER,
    ShardContext,
    ShardParams,
    clean_work_dir,
    compute_array_digest,
    compute_vocabulary_digest,
    hash_file,
    open_atomically,
    verify_shard,
)
from precompute.cli import main as precompute_main
from precompute.ingest.laion import list_laion_parts
from tests.laion_corpus import CAPTIONS, UNUSABLE, write_laion_corpus

ROWS = 30


@pytest.fixture()
def built(tmp_path: Path) -> tuple[Path, Path]:
    """A 2-part corpus built once into ``db.duckdb``; returns (corpus, work folder)."""
    corpus = write_laion_corpus(tmp_path / "corpus", parts=2, rows_per_part=ROWS)
    db = tmp_path / "db.duckdb"
    argv = ["build", "--corpus", str(corpus), "--db", str(db), "--workers", "1"]
    assert precompute_main(argv) == 0
    return corpus, tmp_path / "db.shards"


def _context(corpus: Path, work: Path, **changes) -> tuple[list, ShardContext]:
    """The parts and a context with the parameters the build recorded (or ``changes``)."""
    manifest = json.loads((work / "part-00000" / MANIFEST_FILE).read_text())
    params = dataclasses.replace(ShardParams(**manifest["parameters"]), **changes)
    vocab = load_imagenet_vocabulary()
    context = ShardContext(work, params, None, vocab.wnids, np.zeros((len(vocab), 8)))
    return list_laion_parts(corpus.resolve()), context


def test_manifest_records_inputs_parameters_outputs_and_rows(built) -> None:
    corpus, work = built
    shards = sorted(p.name for p in work.iterdir() if p.is_dir())
    assert shards == ["part-00000", "part-00001"]
    manifest = json.loads((work / "part-00000" / MANIFEST_FILE).read_text())
    params = manifest["parameters"]
    assert params["format_version"] == SHARD_FORMAT_VERSION
    assert params["match_mode"] == "normalized" and params["synset_format"] == "name_def"
    assert params["encoder"] == "laion-release:ViT-B-32" and not params["encodes_captions"]
    synsets = np.load(corpus / "synsets" / "name_def_emb.npy")
    assert params["synset_embeddings_digest"] == compute_array_digest(synsets)
    assert params["vocabulary_digest"] == compute_vocabulary_digest(load_imagenet_vocabulary())
    inputs = {r["role"]: r for r in manifest["inputs"]}
    assert sorted(inputs) == ["img_emb", "metadata", "text_emb"]
    meta = corpus / "metadata" / "metadata_0.parquet"
    assert inputs["metadata"]["path"] == str(meta.resolve())
    assert inputs["metadata"]["size"] == meta.stat().st_size
    assert inputs["metadata"]["mtime_ns"] == meta.stat().st_mtime_ns
    assert inputs["metadata"]["blake2b"] == hash_file(meta)
    outputs = {o["name"]: o for o in manifest["outputs"]}
    assert sorted(outputs) == [
        "candidates.parquet",
        "img_emb.npy",
        "rejected.parquet",
        "samples.parquet",
        "text_emb.npy",
    ]
    for name, output in outputs.items():
        assert output["blake2b"] == hash_file(work / "part-00000" / name)
    samples = pd.read_parquet(work / "part-00000" / "samples.parquet")
    rejected = pd.read_parquet(work / "part-00000" / "rejected.parquet")
    assert manifest["rows"]["in"] == ROWS
    assert manifest["rows"]["matched"] == len(samples) > 0
    assert manifest["rows"]["rejected"] == len(rejected) == ROWS // len(CAPTIONS) * UNUSABLE
    assert set(rejected["reason"]) == {"caption is null", "caption is empty or whitespace"}
    assert np.load(work / "part-00000" / "text_emb.npy").shape == (len(samples), 8)
    assert not [p for p in work.rglob("*") if TEMP_MARKER in p.name]


def test_open_atomically_leaves_nothing_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), open_atomically(target) as handle:
        handle.write(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_verification_accepts_an_untouched_shard(built) -> None:
    parts, context = _context(*built)
    for part in parts:
        assert verify_shard(part, context)[1] == ""
        assert verify_shard(part, context, verify_inputs=True)[1] == ""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"match_mode": "paper"}, "parameter match_mode changed"),
        ({"synset_embeddings_digest": "0"}, "parameter synset_embeddings_digest changed"),
        ({"encoder": "other"}, "parameter encoder changed"),
        ({"format_version": SHARD_FORMAT_VERSION + 1}, "parameter format_version changed"),
        ({"thumbnails": False}, "parameter thumbnails changed"),
    ],
)
def test_verification_detects_a_changed_parameter(built, change, expected) -> None:
    parts, context = _context(*built, **change)
    manifest, why = verify_shard(parts[0], context)
    assert manifest is None and why.startswith(expected)


def test_verification_detects_a_changed_or_missing_output(built) -> None:
    corpus, work = built
    parts, context = _context(corpus, work)
    samples = work / "part-00000" / "samples.parquet"
    data = bytearray(samples.read_bytes())
    data[100] ^= 0xFF  # same size, other bytes
    samples.write_bytes(bytes(data))
    assert "does not match its checksum" in verify_shard(parts[0], context)[1]
    (work / "part-00001" / "img_emb.npy").unlink()
    assert "img_emb.npy is missing" in verify_shard(parts[1], context)[1]


def test_verification_detects_a_changed_input(built) -> None:
    corpus, work = built
    parts, context = _context(corpus, work)
    text = corpus / "text_emb" / "text_emb_0.npy"
    stat = text.stat()
    array = np.load(text)
    array[0] = -array[0]  # same size; restore the mtime: only a re-hash sees it
    np.save(text, array)
    os.utime(text, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert verify_shard(parts[0], context)[1] == ""
    assert "(blake2b)" in verify_shard(parts[0], context, verify_inputs=True)[1]
    meta = corpus / "metadata" / "metadata_1.parquet"
    os.utime(meta, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert verify_shard(parts[1], context)[1] == f"input {meta.resolve()} changed (mtime_ns)"


def test_stale_files_are_cleaned_and_the_shard_rebuilt(built, tmp_path: Path) -> None:
    corpus, work = built
    db = tmp_path / "db.duckdb"
    before = {p: p.stat().st_mtime_ns for p in work.glob("*/" + MANIFEST_FILE)}
    (work / "part-00001" / MANIFEST_FILE).unlink()  # outputs without a manifest
    (work / "part-00001" / f".samples.parquet{TEMP_MARKER}123").write_bytes(b"partial")
    assert clean_work_dir(work) == 1
    (work / "part-00001" / f".samples.parquet{TEMP_MARKER}123").write_bytes(b"partial")
    assert precompute_main(["build", "--corpus", str(corpus), "--db", str(db)]) == 0
    assert not [p for p in work.rglob("*") if TEMP_MARKER in p.name]
    manifest = work / "part-00000" / MANIFEST_FILE
    assert manifest.stat().st_mtime_ns == before[manifest]  # reused
    assert (work / "part-00001" / MANIFEST_FILE).is_file()  # rebuilt


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ([], "a JSON list, expected an object"),
        ({}, "'parameters' is missing or not a dict"),
        ("drop inputs", "'inputs' is missing or not a list"),
        ("drop an output name", "an entry of 'outputs' lacks name, size, blake2b"),
        ("drop rows.candidates", "'rows' lacks candidates"),
    ],
)
def test_a_malformed_manifest_asks_for_a_rebuild(built, manifest, expected) -> None:
    corpus, work = built
    parts, context = _context(corpus, work)
    path = work / "part-00000" / MANIFEST_FILE
    recorded = json.loads(path.read_text())
    if manifest == "drop inputs":
        manifest = {k: v for k, v in recorded.items() if k != "inputs"}
    elif manifest == "drop an output name":
        manifest = {**recorded, "outputs": [{"size": 1, "blake2b": "0"}]}
    elif manifest == "drop rows.candidates":
        manifest = {**recorded, "rows": {"in": 1, "matched": 1, "rejected": 0}}
    path.write_text(json.dumps(manifest))
    assert verify_shard(parts[0], context) == (None, f"malformed manifest {path} ({expected})")


def test_a_malformed_manifest_is_rebuilt_by_the_next_build(built, tmp_path: Path) -> None:
    corpus, work = built
    path = work / "part-00001" / MANIFEST_FILE
    path.write_text("[]")
    assert (
        precompute_main(["build", "--corpus", str(corpus), "--db", str(tmp_path / "db.duckdb")])
        == 0
    )
    assert json.loads(path.read_text())["shard"] == "part-00001"


def test_changed_input_files_are_named_with_their_role(built) -> None:
    corpus, work = built
    images = corpus / "images" / "00000"
    images.mkdir(parents=True)
    (images / "1000.jpg").write_bytes(b"jpeg")
    (corpus / "img_emb" / "img_emb_1.npy").unlink()
    parts, context = _context(corpus, work)
    assert verify_shard(parts[0], context)[1] == (
        f"input files changed (added images {images.resolve()})"
    )
    removed = (corpus / "img_emb" / "img_emb_1.npy").resolve()
    assert verify_shard(parts[1], context)[1] == (
        f"input files changed (removed img_emb {removed})"
    )


def test_a_reordered_thumbnail_folder_fails_verification_without_verify_inputs(
    built, tmp_path: Path
) -> None:
    corpus, work = built
    images = corpus / "images" / "00000"
    images.mkdir(parents=True)
    for name, data in (("1000.jpg", b"a" * 10), ("1001.jpg", b"b" * 20)):
        (images / name).write_bytes(data)
    db = tmp_path / "db.duckdb"
    assert precompute_main(["build", "--corpus", str(corpus), "--db", str(db)]) == 0
    parts, context = _context(corpus, work)
    assert verify_shard(parts[0], context)[1] == ""
    # Swap the two files: the folder's size sum and newest mtime stay the same.
    os.rename(images / "1000.jpg", images / "tmp.jpg")
    os.rename(images / "1001.jpg", images / "1000.jpg")
    os.rename(images / "tmp.jpg", images / "1001.jpg")
    assert verify_shard(parts[0], context)[1] == f"input {images.resolve()} changed (blake2b)"
    (images / "1002.jpg").write_bytes(b"")
    os.utime(images / "1002.jpg", ns=(0, 0))  # an empty, old file: size and mtime unchanged
    assert (
        verify_shard(parts[0], context)[1] == f"input {images.resolve()} changed (files, blake2b)"
    )


@pytest.mark.parametrize(
    ("count", "file"),
    [
        ("matched", "samples.parquet"),
        ("candidates", "candidates.parquet"),
        ("rejected", "rejected.parquet"),
    ],
)
def test_assembly_checks_each_file_against_the_manifest_counts(built, count, file) -> None:
    _, work = built
    folder = work / "part-00000"
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert len(read_shard_outputs(folder, manifest).candidates) == manifest["rows"]["candidates"]
    rows = manifest["rows"][count]
    manifest["rows"][count] = rows + 1
    message = f"{folder / file}: {rows} rows, its manifest says {rows + 1}"
    with pytest.raises(ValueError, match=re.escape(message)):
        read_shard_outputs(folder, manifest)
