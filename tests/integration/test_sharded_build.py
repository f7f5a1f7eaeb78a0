"""The sharded build: kill and resume, workers, bad input, duplicates, rejected rows, floor."""

from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import precompute.build.executors as executors
from precompute.build.manifests import MANIFEST_FILE, TEMP_MARKER
from precompute.build.shards import PAUSE_ENV
from precompute.cli import main as precompute_main
from tests.db_content import assert_same_content, read_database_content
from tests.laion_corpus import UNUSABLE, write_laion_corpus

PARTS = 4
ROWS = 40
PAUSE_S = 3.0  # the killed build sleeps this long before each manifest: the kill window
REPO = Path(__file__).resolve().parents[2]


def _build(corpus: Path, db: Path, *extra: str) -> int:
    return precompute_main(["build", "--corpus", str(corpus), "--db", str(db), *extra])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_laion_corpus(
        tmp_path_factory.mktemp("sharded") / "corpus", parts=PARTS, rows_per_part=ROWS
    )


@pytest.fixture(scope="module")
def reference_db(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted build with two worker processes."""
    db = tmp_path_factory.mktemp("reference") / "db.duckdb"
    assert _build(corpus, db, "--workers", "2") == 0
    return db


def _manifests(work: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in work.glob(f"*/{MANIFEST_FILE}")}


def test_killed_build_resumes_to_the_same_database(corpus, reference_db, tmp_path) -> None:
    db, work = tmp_path / "db.duckdb", tmp_path / "db.shards"
    command = [sys.executable, "-m", "precompute", "build", "--corpus", str(corpus)]
    command += ["--db", str(db), "--workers", "1"]
    env = {**os.environ, PAUSE_ENV: str(PAUSE_S), "PYTHONPATH": str(REPO)}
    log = tmp_path / "killed.log"  # a file, not a pipe: a full pipe would block the build
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=env, stderr=stderr)
    deadline = time.monotonic() + 60
    while not _manifests(work) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    # Shard 0 is complete; shard 1 is writing its outputs or sleeping before its manifest.
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, log.read_text()
    done = _manifests(work)
    assert len(done) == 1 and not db.exists()

    assert _build(corpus, db, "--workers", "1") == 0
    after = _manifests(work)
    assert len(after) == PARTS
    assert all(after[p] == mtime for p, mtime in done.items())  # verified and skipped
    assert not [p for p in work.rglob("*") if TEMP_MARKER in p.name]
    assert_same_content(db, reference_db)


def test_a_second_run_reuses_every_shard(corpus, reference_db, caplog) -> None:
    work = reference_db.with_name("db.shards")
    before = _manifests(work)
    with caplog.at_level("INFO"):
        assert _build(corpus, reference_db) == 0
    assert _manifests(work) == before
    assert f"{PARTS} of {PARTS} shards verified and reused, 0 to build" in caplog.text
    assert "0 of 4 shards built this run" in caplog.text


def test_content_matches_the_inputs(corpus, reference_db) -> None:
    content = read_database_content(reference_db)
    samples, candidates = content["samples"], content["candidates"]
    assert len(content["rejected"]) == PARTS * (ROWS // 10 * UNUSABLE)
    assert samples["multi_label"].any()
    # The label is the most similar matched class; candidates hold every pair.
    best = candidates.groupby("sample_id")["text_similarity"].max()
    labelled = samples.set_index("sample_id")["text_similarity"]
    np.testing.assert_array_equal(labelled.loc[best.index].to_numpy(), best.to_numpy())
    histogram_total = content["similarity_histograms"]
    assert histogram_total.query("dataset == 'laionet'")["n"].sum() == len(samples)


def test_embedding_floor_keeps_embeddings_above_it_only(corpus, reference_db, tmp_path) -> None:
    db = tmp_path / "floor.duckdb"
    work = reference_db.with_name("db.shards")
    assert _build(corpus, db, "--work", str(work), "--embedding-floor", "0.2") == 0
    floor, full = read_database_content(db), read_database_content(reference_db)
    for table in ("samples", "candidates", "similarity_histograms", "rejected"):
        assert floor[table].equals(full[table]), table
    above = set(full["samples"].query("text_similarity > 0.2")["sample_id"])
    assert 0 < len(above) < len(full["samples"])
    for table in ("image_embeddings", "text_embeddings"):
        assert set(floor[table]["sample_id"]) == above


def test_wrong_row_count_stops_and_leaves_the_database(corpus, tmp_path, capsys) -> None:
    db = tmp_path / "db.duckdb"
    broken = tmp_path / "corpus"
    write_laion_corpus(broken, parts=PARTS, rows_per_part=ROWS)
    assert _build(broken, db, "--workers", "2") == 0
    before = db.read_bytes()
    path = broken / "img_emb" / "img_emb_2.npy"
    np.save(path, np.load(path)[:-1])
    assert _build(broken, db, "--workers", "2") == 2
    error = capsys.readouterr().err
    assert str(path) in error and f"its metadata part has {ROWS} rows" in error
    assert db.read_bytes() == before


def test_a_sample_id_in_two_shards_names_both(tmp_path, capsys) -> None:
    corpus = write_laion_corpus(tmp_path / "corpus", parts=3)
    path = corpus / "metadata" / "metadata_2.parquet"
    table = pq.read_table(path)
    ids = table["SAMPLE_ID"].to_numpy().copy()
    ids[0] = 1001  # both captions match a class: part 0, row 1 has this id
    pq.write_table(table.set_column(0, "SAMPLE_ID", pa.array(ids)), path)
    assert _build(corpus, tmp_path / "db.duckdb", "--workers", "1") == 2
    error = capsys.readouterr().err
    assert "sample_id '1001' is in two shards" in error
    assert "part-00000" in error and "part-00002" in error
    assert not (tmp_path / "db.duckdb").exists()


def test_a_part_without_matches_gives_an_empty_shard(tmp_path) -> None:
    corpus = write_laion_corpus(tmp_path / "corpus", parts=3)
    path = corpus / "metadata" / "metadata_1.parquet"
    table = pq.read_table(path)
    texts = pa.array(["nothing to match here"] * table.num_rows)
    pq.write_table(table.set_column(2, "TEXT", texts), path)
    db = tmp_path / "db.duckdb"
    assert _build(corpus, db, "--workers", "2", "--embedding-floor", "0.5") == 0
    empty = pq.read_table(tmp_path / "db.shards" / "part-00001" / "samples.parquet")
    assert empty.num_rows == 0
    samples = read_database_content(db)["samples"]
    assert len(samples) > 0 and not samples["sample_id"].between("1030", "1059").any()


def test_database_holds_one_dataset_row_with_the_counts(reference_db) -> None:
    con = duckdb.connect(str(reference_db), read_only=True)
    query = "SELECT parameters FROM datasets WHERE dataset = 'laionet'"
    parameters = con.execute(query).fetchall()[0]
    con.close()
    assert f'"rows_in": {PARTS * ROWS}' in parameters[0]
    assert f'"rows_rejected": {PARTS * ROWS // 10 * UNUSABLE}' in parameters[0]


def _thumbnails(db: Path) -> dict[str, tuple[int, int]]:
    """Sample id -> size of its stored thumbnail (thumbnails are re-encoded at build)."""
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT s.sample_id, t.data FROM samples s JOIN thumbnails t USING (thumbnail_id)"
    ).fetchall()
    con.close()
    return {sample_id: Image.open(io.BytesIO(data)).size for sample_id, data in rows}


def test_swapped_thumbnails_rebuild_the_shard(tmp_path, caplog) -> None:
    corpus = write_laion_corpus(tmp_path / "corpus", parts=2)
    images = corpus / "images" / "00000"
    images.mkdir(parents=True)
    pictures = {"1000": (30, 20), "1001": (20, 31)}  # sizes tell them apart
    for sample_id, size in pictures.items():
        Image.new("RGB", size, "gray").save(images / f"{sample_id}.jpg")
    db = tmp_path / "db.duckdb"
    assert _build(corpus, db, "--workers", "1") == 0
    assert _thumbnails(db) == pictures
    # mv keeps every file's mtime: the folder's size sum and newest mtime do not change.
    os.rename(images / "1000.jpg", images / "swap.jpg")
    os.rename(images / "1001.jpg", images / "1000.jpg")
    os.rename(images / "swap.jpg", images / "1001.jpg")
    with caplog.at_level("INFO"):
        assert _build(corpus, db, "--workers", "1") == 0
    assert f"part-00000: rebuilt (input {images.resolve()} changed (blake2b))" in caplog.text
    assert "1 of 2 shards verified and reused, 1 to build" in caplog.text
    assert _thumbnails(db) == {"1000": pictures["1001"], "1001": pictures["1000"]}


def test_a_wnid_file_rewritten_in_place_is_matched_anew(tmp_path) -> None:
    corpus = write_laion_corpus(tmp_path / "corpus", parts=1)
    vocab, db = tmp_path / "wnids.txt", tmp_path / "db.duckdb"
    labels = {}
    for wnid in ("n02125311", "n01440764"):  # cougar (puma), then tench: same path
        vocab.write_text(wnid + "\n", encoding="utf-8")
        assert _build(corpus, db, "--workers", "1", "--vocab", str(vocab)) == 0
        labels[wnid] = set(read_database_content(db)["samples"]["wnid"])
    assert labels == {"n02125311": {"n02125311"}, "n01440764": {"n01440764"}}


def test_pool_processes_get_the_synset_embeddings_once(
    corpus, reference_db, tmp_path, monkeypatch
) -> None:
    submitted: list[int] = []  # pickled bytes of each task sent to the pool

    class RecordingPool(ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            submitted.append(len(pickle.dumps((fn, args, kwargs))))
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(executors, "ProcessPoolExecutor", RecordingPool)
    db = tmp_path / "db.duckdb"
    assert _build(corpus, db, "--workers", "2") == 0
    synsets = np.load(corpus / "synsets" / "name_def_emb.npy").astype(np.float32)
    assert len(submitted) == 2 + PARTS  # a start-up call per process, then the shards
    assert max(submitted) < synsets.nbytes / 8  # the (1000, 8) matrix is not among them
    assert_same_content(db, reference_db)


@pytest.mark.parametrize(
    "name", ["laion-release:ViT-B-32", "simulated-clip-d8", "open_clip:ViT-B-32/laion400m_e32"]
)
def test_a_recorded_model_name_given_to_encoder_suggests_embedding_model(
    corpus, tmp_path, capsys, name
) -> None:
    assert _build(corpus, tmp_path / "db.duckdb", "--encoder", name) == 2
    error = capsys.readouterr().err
    assert f"use --embedding-model {name}" in error and not (tmp_path / "db.duckdb").exists()


def test_a_spec_that_fails_to_load_gets_no_embedding_model_hint(corpus, tmp_path, capsys) -> None:
    assert _build(corpus, tmp_path / "db.duckdb", "--encoder", "open_clip:No-Such-Model") == 2
    error = capsys.readouterr().err
    assert "No-Such-Model" in error and "--embedding-model" not in error
