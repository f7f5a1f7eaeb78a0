"""The bad-input cases about files (``tests.bad_inputs`` has the options and databases)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from precompute.build.lifetime import WORK_LOCK_FILE
from tests import bad_input_files as files
from tests.bad_inputs import PROC_FOLDER, BadInput, Fixtures

REPO = Path(__file__).resolve().parents[1]
# Corpus defects that ``match`` sees too (it reads only the metadata parquet).
METADATA_DEFECTS = (
    "metadata-random-bytes",
    "metadata-truncated",
    "metadata-empty-file",
    "no-caption-column",
    "list-sample-ids",
    "binary-sample-ids",
    "struct-sample-ids",
    "bool-sample-ids",
    "no-parts",
    "missing-folder",
    "empty-folder",
    "a-file",
)


def _output_cases(fx: Fixtures) -> Iterator[BadInput]:
    db, corpus = fx.db, fx.corpus
    part = corpus / "metadata" / "metadata_0.parquet"
    vocab = fx.root / "vocab.txt"
    vocab.write_text("n02125311\n", encoding="utf-8")
    linked = fx.root / "linked.duckdb"
    if not linked.exists():
        linked.symlink_to(db)
    hard = fx.root / "hard.duckdb"
    if not hard.exists():
        os.link(db, hard)
    glob = str(corpus / "metadata" / "*.parquet")
    cases = {
        "export --out is --db": ["export", "--db", str(db), "--out", str(db)],
        "export --out links to --db": ["export", "--db", str(db), "--out", str(linked)],
        "export --out is a hard link of --db": ["export", "--db", str(db), "--out", str(hard)],
        "export --out relative to --db": [
            "export", "--db", str(db), "--out", str(db.parent / "." / db.name),
        ],
        "match --out is an input": ["match", "--input", glob, "--out", str(part)],
        "match --out is --vocab": [
            "match", "--input", glob, "--out", str(vocab), "--vocab", str(vocab),
        ],
        "build --db is a corpus part": ["build", "--corpus", str(corpus), "--db", str(part)],
        "build --db is --vocab": [
            "build", "--corpus", str(corpus), "--db", str(vocab), "--vocab", str(vocab),
        ],
        "build --db is an embedding file": [
            "build", "--corpus", str(corpus), "--db",
            str(corpus / "text_emb" / "text_emb_0.npy"),
        ],
        "build --db is a folder": ["build", "--corpus", str(corpus), "--db", str(corpus)],
        "demo --db is a text file": [
            "demo", "--corpus", str(fx.root / "demo-corpus"), "--db", str(vocab),
        ],
        "export --out is a folder": ["export", "--db", str(db), "--out", str(fx.root)],
    }  # fmt: skip
    guarded = (db, part, vocab, corpus / "text_emb" / "text_emb_0.npy")
    for label, argv in cases.items():
        names = ("--out", "--db", "is a folder", "Is a directory")
        yield BadInput("output is input", label, tuple(argv), names, guarded=guarded)
    readonly = {
        "build --db in /proc": [
            "build", "--corpus", str(corpus), "--db", f"{PROC_FOLDER}/laionet.duckdb",
            "--workers", "1",
        ],
        "build --work in /proc": [
            "build", "--corpus", str(corpus), "--db", str(fx.root / "ro.duckdb"),
            "--work", f"{PROC_FOLDER}/laionet.shards", "--workers", "1",
        ],
        "export --out in /proc": ["export", "--db", str(db), "--out", f"{PROC_FOLDER}/x.parquet"],
        "match --out in /proc": ["match", "--input", glob, "--out", f"{PROC_FOLDER}/m.parquet"],
        "export --out under a file": [
            "export", "--db", str(db), "--out", str(vocab / "x.parquet"),
        ],
    }  # fmt: skip
    for label, argv in readonly.items():
        yield BadInput(
            "read-only folder", label, tuple(argv), (PROC_FOLDER, str(vocab)),
            guarded=(db,), absent=(fx.root / "ro.duckdb",),
        )  # fmt: skip


def _vocabulary_cases(fx: Fixtures) -> Iterator[BadInput]:
    out = fx.root / "vocab-out"
    for name, path in files.write_bad_vocabularies(fx.root / "vocabularies").items():
        build_db = out / f"{name}.duckdb"
        yield BadInput(
            "vocabulary", f"build --vocab {name}",
            ("build", "--corpus", str(fx.corpus), "--db", str(build_db), "--vocab", str(path),
             "--workers", "1"),
            (str(path),), guarded=(fx.db,), absent=(build_db,),
        )  # fmt: skip
        matched = out / f"{name}.parquet"
        yield BadInput(
            "vocabulary", f"match --vocab {name}",
            ("match", "--input", str(fx.corpus / "metadata" / "*.parquet"), "--out",
             str(matched), "--vocab", str(path), "--workers", "1"),
            (str(path),), absent=(matched,),
        )  # fmt: skip


def _prediction_cases(fx: Fixtures) -> Iterator[BadInput]:
    bad = files.write_bad_predictions(fx.root / "predictions", fx.sample_id)
    for name, path in bad.items():
        argv = ("add-predictions", "--db", str(fx.db), "--model", "m", "--from", str(path))
        yield BadInput("predictions", name, argv, (str(path),), guarded=(fx.db, path))


def _corpus_cases(fx: Fixtures) -> Iterator[BadInput]:
    out = fx.root / "corpus-out"
    out.mkdir(exist_ok=True)
    for name, corpus in files.write_bad_corpora(fx.root / "corpora").items():
        db = out / f"{name}.duckdb"
        shutil.copyfile(fx.db, db)  # an existing database the failed build must not touch
        argv = ("build", "--corpus", str(corpus), "--db", str(db), "--workers", "1")
        names = (str(corpus), "sample_id '7'")  # a repeated id is named by its value
        yield BadInput("corpus", name, argv, names, guarded=(db,))
        if name in METADATA_DEFECTS:  # match reads the metadata only
            matched = out / f"{name}.parquet"
            yield BadInput(
                "corpus", f"match on {name}",
                ("match", "--input", str(corpus / "metadata" / "*.parquet"), "--out",
                 str(matched), "--workers", "1"),
                (str(corpus),), absent=(matched,),
            )  # fmt: skip


def _reference_cases(fx: Fixtures) -> Iterator[BadInput]:
    images_root = fx.root / "train"
    images_root.mkdir(exist_ok=True)
    base = ("add-reference", "--db", str(fx.db), "--name", "r", "--model", "ViT-B-32")
    for name, path in files.write_bad_caption_files(fx.root / "captions").items():
        argv = (*base, "--kind", "imagenet-captions", "--images", str(path),
                "--images-root", str(images_root))  # fmt: skip
        yield BadInput("imagenet-captions", name, argv, (str(path),), guarded=(fx.db,))
    for name, path in files.write_bad_shards(fx.root / "shards").items():
        argv = (*base, "--kind", "webdataset", "--images", str(path))
        yield BadInput("webdataset", name, argv, (str(path),), guarded=(fx.db,))


@contextlib.contextmanager
def _writer_in_another_process(db: Path) -> Iterator[int]:
    """Hold ``db`` open for writing in a child process; yields its pid."""
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
        "print('held', flush=True); sys.stdin.read()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "held"
        yield child.pid
    finally:
        child.stdin.close()
        child.wait(timeout=30)


@contextlib.contextmanager
def _work_folder_held(work: Path) -> Iterator[None]:
    work.mkdir(parents=True, exist_ok=True)
    fd = os.open(work / WORK_LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"424242")
        yield
    finally:
        os.close(fd)


def _concurrency_cases(fx: Fixtures) -> Iterator[BadInput]:
    busy = fx.root / "busy.duckdb"
    shutil.copyfile(fx.db, busy)
    predictions = fx.root / "one-prediction.csv"
    writers = {
        "metrics": ["metrics", "--db", str(busy)],
        "add-predictions": ["add-predictions", "--db", str(busy), "--model", "m", "--simulate"],
        "add-predictions --from": [
            "add-predictions", "--db", str(busy), "--model", "m", "--from", str(predictions),
        ],
        "export": ["export", "--db", str(busy), "--out", str(fx.root / "busy.parquet")],
        "text-match": ["text-match", "--db", str(busy)],
    }  # fmt: skip
    for label, argv in writers.items():
        yield BadInput(
            "database held by a writer", label, tuple(argv), (str(busy),),
            guarded=(busy,), absent=(fx.root / "busy.parquet",),
            holding=lambda: _writer_in_another_process(busy),
        )  # fmt: skip
    work = fx.root / "held.shards"
    db = fx.root / "held.duckdb"
    argv = ("build", "--corpus", str(fx.corpus), "--db", str(db), "--work", str(work))
    yield BadInput(
        "work folder held", "build", (*argv, "--workers", "1"), ("424242",),
        absent=(db,), holding=lambda: _work_folder_held(work),
    )  # fmt: skip


def _sample_id_cases(fx: Fixtures) -> Iterator[BadInput]:
    folder = fx.root / "sample-ids"
    folder.mkdir(exist_ok=True)
    values = {
        "large-list": pa.array([[1, 2]], pa.large_list(pa.int64())),
        "large-binary": pa.array([b"1"], pa.large_binary()),
        "date": pa.array([0], pa.date32()),
        "decimal": pa.array([1], pa.decimal128(5, 0)),
        "map": pa.array([[("a", 1)]], pa.map_(pa.string(), pa.int64())),
    }
    for name, ids in values.items():
        path = folder / f"{name}.parquet"
        pq.write_table(pa.table({"SAMPLE_ID": ids, "TEXT": ["a puma"]}), path)
        out = folder / f"{name}.matches.parquet"
        argv = ("match", "--input", str(path), "--out", str(out), "--workers", "1")
        yield BadInput("sample ids", name, argv, (str(path),), absent=(out,))


def file_cases(fx: Fixtures) -> list[BadInput]:
    """The file cases (``tests.bad_inputs.generate_bad_inputs`` adds the others)."""
    return [
        *_output_cases(fx),
        *_vocabulary_cases(fx),
        *_prediction_cases(fx),
        *_corpus_cases(fx),
        *_reference_cases(fx),
        *_concurrency_cases(fx),
        *_sample_id_cases(fx),
    ]
