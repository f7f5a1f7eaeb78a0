"""Writers of bad files for the bad-input corpus (``tests.bad_inputs``).

Each function writes one kind of broken input under a folder and returns its path:
databases that are not ours or are damaged, vocabularies, prediction files, LAION
corpora with one defect each, ImageNet-Captions JSON and webdataset shards.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.laion_corpus import write_laion_corpus

RANDOM_BYTES = bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8))
DEEP_JSON = "[" * 100_000 + "]" * 100_000  # deeper than Python's recursion limit


def write_bad_databases(folder: Path, good_db: Path) -> dict[str, Path]:
    """Files given as ``--db`` that are no usable database, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "empty": b"",
        "random": RANDOM_BYTES,
        "text": b"SAMPLE_ID,TEXT\n1,a puma\n",
        "truncated": good_db.read_bytes()[: good_db.stat().st_size // 3],
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"{name}.duckdb"
        paths[name].write_bytes(data)
    paths["parquet"] = folder / "parquet.duckdb"
    pq.write_table(pa.table({"a": [1, 2]}), paths["parquet"])
    paths["folder"] = folder / "folder.duckdb"
    paths["folder"].mkdir(exist_ok=True)
    paths["missing"] = folder / "missing.duckdb"
    paths["foreign"] = folder / "foreign.duckdb"
    duckdb.connect(str(paths["foreign"])).execute("CREATE TABLE t (a INT)").close()
    paths["old-version"] = folder / "old-version.duckdb"
    shutil.copyfile(good_db, paths["old-version"])
    con = duckdb.connect(str(paths["old-version"]))
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    con.close()
    return paths


def write_bad_vocabularies(folder: Path) -> dict[str, Path]:
    """Files given as ``--vocab`` that list no usable class, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    texts: dict[str, bytes] = {
        "empty": b"",
        "comments-only": b"# nothing here\n\n   \n",
        "binary": RANDOM_BYTES,
        "not-a-wnid": b"n02125311\npuma\n",
        "repeated": b"n02125311\nn02125311\n",
        "unknown-wnid": b"n99999999\n",
        "long-line": b"n" + b"1" * 100_000 + b"\n",
        "utf16": "n02125311\n".encode("utf-16"),
    }
    paths = {}
    for name, data in texts.items():
        paths[name] = folder / f"{name}.txt"
        paths[name].write_bytes(data)
    paths["folder"] = folder / "folder.txt"
    paths["folder"].mkdir(exist_ok=True)
    paths["missing"] = folder / "missing.txt"
    return paths


def write_bad_predictions(folder: Path, sample_id: str) -> dict[str, Path]:
    """Files given as ``add-predictions --from`` that cannot be stored, by name.

    Args:
        folder: Where to write them.
        sample_id: A sample of the database's ``laionet`` dataset.
    """
    folder.mkdir(parents=True, exist_ok=True)
    good_row = f"{sample_id},n02125311,n01440764,n01443537,n01484850,n01491361\n"
    header = "sample_id,pred_1,pred_2,pred_3,pred_4,pred_5\n"
    texts: dict[str, bytes] = {
        "empty.csv": b"",
        "header-only.csv": header.encode(),
        "binary.csv": RANDOM_BYTES,
        "binary.parquet": RANDOM_BYTES,
        "empty.parquet": b"",
        "no-sample-id.csv": b"pred_1,pred_2\nn02125311,n01440764\n",
        "no-predictions.csv": f"sample_id,other\n{sample_id},1\n".encode(),
        "unknown-sample.csv": (header + "no-such-sample" + good_row[len(sample_id) :]).encode(),
        "unknown-wnid.csv": (header + good_row.replace("n02125311", "n00000000")).encode(),
        "bad-dataset.csv": ("dataset," + header + "nope," + good_row).encode(),
        "empty-predictions.csv": (header + f"{sample_id},,,,,\n").encode(),
        "utf16.csv": (header + good_row).encode("utf-16"),
        "predictions.json": b"{}",
        "quoted.csv": (header + '"' + good_row).encode(),
    }
    paths = {}
    for name, data in texts.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    paths["top5-not-a-list.parquet"] = folder / "top5-not-a-list.parquet"
    pq.write_table(
        pa.table({"sample_id": [sample_id], "top5": [7]}), paths["top5-not-a-list.parquet"]
    )
    paths["wide.parquet"] = folder / "wide.parquet"
    pq.write_table(pa.table({f"c{i}": [i] for i in range(2000)}), paths["wide.parquet"])
    paths["folder.csv"] = folder / "folder.csv"
    paths["folder.csv"].mkdir(exist_ok=True)
    paths["missing.csv"] = folder / "missing.csv"
    return paths


def _rewrite_metadata(corpus: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    path = corpus / "metadata" / "metadata_0.parquet"
    pq.write_table(change(pq.read_table(path)), path)


def _set_column(name: str, values: pa.Array) -> Callable[[pa.Table], pa.Table]:
    def change(table: pa.Table) -> pa.Table:
        return table.set_column(table.schema.get_field_index(name), name, values)

    return change


def _corpus_defects(rows: int) -> dict[str, Callable[[Path], object]]:
    """Name -> a function that breaks a fresh one-part corpus in one way."""
    meta = Path("metadata") / "metadata_0.parquet"
    text_emb = Path("text_emb") / "text_emb_0.npy"
    synsets = Path("synsets") / "name_def_emb.npy"
    ids = [str(i) for i in range(rows)]
    unit = np.eye(8, dtype=np.float16)[np.arange(rows) % 8]
    return {
        "metadata-random-bytes": lambda c: (c / meta).write_bytes(RANDOM_BYTES),
        "metadata-truncated": lambda c: (c / meta).write_bytes((c / meta).read_bytes()[:200]),
        "metadata-empty-file": lambda c: (c / meta).write_bytes(b""),
        "no-caption-column": lambda c: _rewrite_metadata(c, lambda t: t.drop(["TEXT"])),
        "list-sample-ids": lambda c: _rewrite_metadata(
            c, _set_column("SAMPLE_ID", pa.array([[i] for i in range(rows)]))
        ),
        "binary-sample-ids": lambda c: _rewrite_metadata(
            c, _set_column("SAMPLE_ID", pa.array([i.encode() for i in ids], pa.binary()))
        ),
        "struct-sample-ids": lambda c: _rewrite_metadata(
            c, _set_column("SAMPLE_ID", pa.array([{"id": i} for i in range(rows)]))
        ),
        "bool-sample-ids": lambda c: _rewrite_metadata(
            c, _set_column("SAMPLE_ID", pa.array([i % 2 == 0 for i in range(rows)]))
        ),
        "repeated-sample-ids": lambda c: _rewrite_metadata(
            c, _set_column("SAMPLE_ID", pa.array([7] * rows, pa.int64()))
        ),
        "text-emb-rows": lambda c: np.save(c / text_emb, unit[:-1]),
        "text-emb-dim": lambda c: np.save(c / text_emb, np.eye(rows, 9, dtype=np.float16)),
        "text-emb-nan": lambda c: np.save(c / text_emb, np.full((rows, 8), np.nan, np.float16)),
        "text-emb-int": lambda c: np.save(c / text_emb, np.ones((rows, 8), np.int32)),
        "text-emb-object": lambda c: np.save(
            c / text_emb, np.array([None] * rows, dtype=object), allow_pickle=True
        ),
        "text-emb-random-bytes": lambda c: (c / text_emb).write_bytes(RANDOM_BYTES),
        "text-emb-truncated": lambda c: (c / text_emb).write_bytes(
            (c / text_emb).read_bytes()[:150]
        ),
        "text-emb-1d": lambda c: np.save(c / text_emb, np.ones(rows, np.float16)),
        "synsets-missing": lambda c: (c / synsets).unlink(),
        "synsets-shape": lambda c: np.save(c / synsets, np.ones((3, 8), np.float16)),
        "synsets-random-bytes": lambda c: (c / synsets).write_bytes(RANDOM_BYTES),
        "corpus-json-invalid": lambda c: (c / "corpus.json").write_text("{", encoding="utf-8"),
        "corpus-json-deep": lambda c: (c / "corpus.json").write_text(DEEP_JSON, encoding="utf-8"),
        "corpus-json-binary": lambda c: (c / "corpus.json").write_bytes(RANDOM_BYTES),
        "no-parts": lambda c: shutil.rmtree(c / "metadata"),
    }


CORPUS_DEFECTS = tuple(_corpus_defects(10))  # names, in order


def write_bad_corpora(folder: Path, *, rows: int = 10) -> dict[str, Path]:
    """One-part LAION corpora, each with one defect (``CORPUS_DEFECTS``), by name."""
    paths = {}
    for name, breaks in _corpus_defects(rows).items():
        corpus = write_laion_corpus(folder / name, parts=1, rows_per_part=rows)
        breaks(corpus)
        paths[name] = corpus
    paths["missing-folder"] = folder / "missing-folder"
    paths["empty-folder"] = folder / "empty-folder"
    paths["empty-folder"].mkdir(exist_ok=True)
    paths["a-file"] = folder / "a-file"
    paths["a-file"].write_bytes(b"not a corpus")
    return paths


def write_bad_caption_files(folder: Path) -> dict[str, Path]:
    """ImageNet-Captions JSON files that cannot be read, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"filename": "n02125311_1.JPEG", "title": "a puma", "wnid": "n02125311"}
    documents: dict[str, object] = {
        "string-tags": [{**entry, "tags": "puma"}],
        "number-in-tags": [{**entry, "tags": ["puma", 3]}],
        "number-title": [{**entry, "title": 42}],
        "dict-description": [{**entry, "description": {"a": 1}}],
        "not-a-list": {"entries": [entry]},
        "entry-not-a-dict": ["n02125311_1.JPEG"],
        "no-filename": [{"title": "a puma", "wnid": "n02125311"}],
        "number-filename": [{**entry, "filename": 12}],
        "filename-leaves-root": [{**entry, "filename": "../../outside.jpg"}],
        "filename-absolute": [{**entry, "filename": "/etc/passwd"}],
        "filename-nul": [{**entry, "filename": "n02125311_1\u0000.JPEG"}],
        "wnid-leaves-root": [{**entry, "wnid": "../n02125311"}],
        "wnid-number": [{**entry, "wnid": 2125311}],
        "wnid-trailing-newline": [{**entry, "wnid": "n02125311\n"}],
        "unknown-wnid": [{**entry, "wnid": "n99999999"}],
    }
    paths = {}
    for name, document in documents.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(document), encoding="utf-8")
    raw = {"deep": DEEP_JSON.encode(), "binary": RANDOM_BYTES, "empty": b"", "truncated": b"[{"}
    for name, data in raw.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_bytes(data)
    paths["utf16"] = folder / "utf16.json"
    paths["utf16"].write_bytes(json.dumps([entry]).encode("utf-16"))
    paths["missing"] = folder / "missing.json"
    return paths


def _write_shard(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_bad_shards(folder: Path) -> dict[str, Path]:
    """Webdataset shards whose labels are unusable, or that are not tar files, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    labels: dict[str, bytes] = {
        "label-true": b'{"label": true}',
        "label-false": b'{"label": false}',
        "label-negative": b'{"label": -1}',
        "label-too-large": b'{"label": 1000}',
        "label-word": b'{"label": "puma"}',
        "label-float": b'{"label": 3.0}',
        "json-invalid": b'{"label": ',
        "json-list": b"[1, 2]",
        "json-deep": DEEP_JSON.encode(),
        "no-label": b'{"caption": "a puma"}',
    }
    paths = {
        name: _write_shard(folder / f"{name}.tar", {"0.jpg": b"x", "0.json": data})
        for name, data in labels.items()
    }
    paths["not-a-tar"] = folder / "not-a-tar.tar"
    paths["not-a-tar"].write_bytes(RANDOM_BYTES)
    paths["empty-folder"] = folder / "empty-shards"
    paths["empty-folder"].mkdir(exist_ok=True)
    return paths
