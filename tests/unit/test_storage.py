"""Storage: atomic builds, dataset writes, and reads that agree with what was written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from laionet_core import queries, schema
from laionet_core.selection import SelectionParams, select_mask, summarize_selection
from laionet_core.storage import (
    DatasetInfo,
    open_database_for_update,
    open_new_database,
    write_classes,
    write_dataset,
)
from laionet_core.storage_results import write_class_metrics
from laionet_core.vocabulary import load_imagenet_vocabulary

INFO = DatasetInfo("laionet", schema.KIND_TEXT_SELECTED, "test", "test-encoder", True, {"a": 1})


def _samples(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    wnids = rng.choice(["n01440764", "n01443537", "n02125311"], n)
    frame = pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "url": "https://example.invalid/x.jpg",
            "text": "<b>puma</b> & <script>alert(1)</script>",
            "wnid": wnids,
            "matched_wnids": [[w] for w in wnids],
            "multi_label": rng.random(n) < 0.2,
            "text_similarity": rng.uniform(0.5, 1.0, n).astype(np.float32),
            "image_similarity": rng.uniform(0.1, 0.4, n).astype(np.float32),
            "nsfw": rng.choice(["UNLIKELY", "UNSURE", "NSFW"], n),
        }
    )
    emb = rng.normal(size=(n, 8))
    return frame, emb / np.linalg.norm(emb, axis=1, keepdims=True)


def _build(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    samples, emb = _samples()
    with open_new_database(path) as con:
        write_classes(con, load_imagenet_vocabulary())
        write_dataset(
            con,
            INFO,
            samples,
            image_embeddings=emb,
            thumbnails=[("image/jpeg", bytes([i])) for i in range(len(samples))],
        )
    return samples, emb


def test_round_trip_of_samples_embeddings_and_thumbnails(tmp_path: Path) -> None:
    samples, emb = _build(tmp_path / "db.duckdb")
    con = queries.connect(tmp_path / "db.duckdb")
    assert len(queries.read_classes(con)) == 1000
    datasets = queries.read_datasets(con)
    assert datasets.loc[0, "n_samples"] == len(samples)
    recorded = datasets.loc[0, "parameters"]
    assert recorded["a"] == 1
    # no recipe recorded: a text-selected dataset drops LAION's NSFW tag only
    assert recorded["content_rules"]["nsfw_rule"] == "drop-nsfw"
    assert recorded["content_rules"]["ocr_rule"] == "none"
    rows, read = queries.read_embeddings(con, "laionet")
    order = samples.set_index("sample_id").loc[rows["sample_id"]]
    np.testing.assert_allclose(read, emb[[int(s[1:]) for s in rows["sample_id"]]], atol=1e-6)
    assert (rows["wnid"].to_numpy() == order["wnid"].to_numpy()).all()
    selected = queries.read_selected_samples(
        con, "laionet", SelectionParams(threshold=0.0, drop_nsfw=False, drop_multi_label=False)
    )
    thumb = queries.read_thumbnail(con, int(selected.loc[0, "thumbnail_id"]))
    assert thumb is not None and thumb[0] == "image/jpeg"
    assert selected.loc[0, "text"] == samples.loc[0, "text"]  # stored verbatim, HTML and all


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.82, 0.95])
@pytest.mark.parametrize("drop", [True, False])
def test_histograms_agree_with_a_scan_and_with_numpy(
    tmp_path: Path, threshold: float, drop: bool
) -> None:
    samples, _ = _build(tmp_path / "db.duckdb")
    con = queries.connect(tmp_path / "db.duckdb")
    params = SelectionParams(threshold=threshold, drop_nsfw=drop, drop_multi_label=drop)
    summary = summarize_selection(queries.load_similarity_histograms(con, "laionet").counts, params)
    n, classes = queries.count_selected(con, "laionet", params)
    keep = select_mask(
        samples["text_similarity"].to_numpy(),
        (samples["nsfw"] == "NSFW").to_numpy(),
        samples["multi_label"].to_numpy(),
        params,
    )
    assert summary.size == n == int(keep.sum())
    assert summary.covered == classes == samples.loc[keep, "wnid"].nunique()


def test_failed_build_leaves_the_existing_database_untouched(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    _build(path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="boom"), open_new_database(path) as con:
        write_classes(con, load_imagenet_vocabulary())
        raise RuntimeError("boom")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["db.duckdb"]  # no temporary file left


def test_bad_samples_are_refused_with_the_reason(tmp_path: Path) -> None:
    samples, emb = _samples()
    with open_new_database(tmp_path / "db.duckdb") as con:
        with pytest.raises(ValueError, match="missing column.*wnid"):
            write_dataset(con, INFO, samples.drop(columns="wnid"))
        with pytest.raises(ValueError, match="appears more than once"):
            write_dataset(con, INFO, pd.concat([samples, samples.head(1)]))
        with pytest.raises(ValueError, match="row 3 has norm"):
            bad = emb.copy()
            bad[3] *= 2
            write_dataset(con, INFO, samples, image_embeddings=bad)
        with pytest.raises(ValueError, match="59 image_embeddings for 60 samples"):
            write_dataset(con, INFO, samples, image_embeddings=emb[:-1])


def test_update_is_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    _build(path)
    samples, _ = _samples(seed=1)
    other = DatasetInfo("other", schema.KIND_IMAGE_SELECTED, "t", "e", True)
    with pytest.raises(ValueError), open_database_for_update(path) as con:
        write_dataset(con, other, samples)
        write_dataset(con, other, samples.drop(columns="nsfw"))  # fails after a first write
    con = queries.connect(path)
    assert queries.read_datasets(con)["dataset"].tolist() == ["laionet"]


def test_connect_refuses_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        queries.connect(tmp_path / "missing.duckdb")
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).close()
    with pytest.raises(ValueError, match="not a LAIONet Explorer database"):
        queries.connect(foreign)


def test_update_of_a_foreign_file_names_the_real_error(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).close()
    match = "not a LAIONet Explorer database"
    with pytest.raises(ValueError, match=match), open_database_for_update(foreign):
        pass


def test_temporary_files_of_killed_builds_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is no longer running
    killed = [tmp_path / f".db.duckdb.tmp-{dead.pid}", tmp_path / f".db.duckdb.tmp-{dead.pid}.wal"]
    running = [tmp_path / f".db.duckdb.tmp-{os.getppid()}", tmp_path / ".db.duckdb.tmp-x"]
    others = [tmp_path / f".other.duckdb.tmp-{dead.pid}"]
    for leftover in killed + running + others:
        leftover.write_bytes(b"partial")
    _build(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in [path, *running, *others]
    )


def test_replacing_a_dataset_drops_its_metrics_at_every_threshold(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    samples, _ = _build(path)
    names = ["laionet", "laionet", "laionet", "laionet2", "other"]
    metrics = pd.DataFrame(
        {
            "dataset": names,
            "threshold": [0.82, 0.75, 0.9, 0.75, None],
            "wnid": "n01440764",
            "metric": "intra_class_similarity",
            "n": 5,
            "value": 0.5,
            "ci_low": 0.4,
            "ci_high": 0.6,
        }
    )
    with open_database_for_update(path) as con:
        write_class_metrics(con, metrics)
    with open_database_for_update(path) as con:
        write_dataset(con, INFO, samples)
    con = duckdb.connect(str(path), read_only=True)
    kept = con.execute("SELECT dataset, threshold FROM class_metrics ORDER BY dataset").fetchall()
    assert kept == [("laionet2", 0.75), ("other", None)]


def test_class_metrics_are_replaced_per_threshold(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    _build(path)
    row = {"dataset": "laionet", "wnid": "n01440764", "metric": "intra_class_similarity"}
    first = pd.DataFrame(
        [
            {**row, "threshold": t, "n": 5, "value": 0.5, "ci_low": 0.4, "ci_high": 0.6}
            for t in (0.75, 0.82)
        ]
    )
    again = first.iloc[[1]].assign(value=0.7)
    with open_database_for_update(path) as con:
        write_class_metrics(con, first)
        write_class_metrics(con, again)
    con = duckdb.connect(str(path), read_only=True)
    stored = con.execute("SELECT threshold, value FROM class_metrics ORDER BY threshold").fetchall()
    assert stored == [(0.75, 0.5), (0.82, 0.7)]
