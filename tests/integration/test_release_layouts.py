"""Every LAION release as it lies on disk: inspect, build with its shipped embeddings, errors."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

import precompute.build.pipeline as pipeline
from precompute.cli import main as precompute_main
from precompute.ingest.laion_layouts import LAYOUT_DESCRIPTIONS
from tests.laion_releases import (
    write_deploy_layout,
    write_laion5b_embeddings,
    write_laion400m_embeddings,
    write_laion400m_parts,
    write_synset_embeddings,
)
from tests.tiny_clip import build_tiny_clip_local_dir

# layout -> (writer, folder of the corpus under tmp, embedding width, zero padding)
RELEASES = {
    "laion400m-embeddings": (write_laion400m_embeddings, "laion400m-embeddings", 512, 0),
    "laion5b-embeddings": (write_laion5b_embeddings, "laion2B-en", 768, 4),
    "laion5b-embeddings-sibling-metadata": (
        lambda root: write_laion5b_embeddings(root, sibling=True),
        "laion2B-en",
        768,
        4,
    ),
    "embeddings-deploy": (write_deploy_layout, "deploy", 512, 0),
}
RECORDED = {512: "laion-release:ViT-B-32", 768: "laion-release:ViT-L-14"}


def _write(tmp_path: Path, layout: str) -> tuple[Path, Path, int]:
    writer, name, dim, _ = RELEASES[layout]
    corpus = writer(tmp_path / name)
    synsets = write_synset_embeddings(tmp_path / f"synsets{dim}", dim=dim)
    return corpus, synsets, dim


def _inspect(corpus: Path, capsys, *extra: str) -> tuple[int, str]:
    code = precompute_main(["inspect", "--corpus", str(corpus), *extra])
    return code, capsys.readouterr().out


def _build(corpus: Path, db: Path, *extra: str) -> int:
    argv = ["build", "--corpus", str(corpus), "--db", str(db), "--workers", "1"]
    return precompute_main([*argv, "--no-references", *extra])


def _embedding_files(corpus: Path, kind: str) -> list[Path]:
    return sorted(p for p in corpus.rglob(f"{kind}_emb_*.npy"))


@pytest.mark.parametrize("layout", list(RELEASES))
def test_inspect_names_the_layout_files_widths_and_encoder(layout, tmp_path, capsys) -> None:
    corpus, synsets, dim = _write(tmp_path, layout)
    code, out = _inspect(corpus, capsys, "--synset-embeddings", str(synsets))
    assert code == 0, out
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert lines["layout"].startswith(LAYOUT_DESCRIPTIONS[layout])
    assert f"{dim}-d float16" in lines["image embeddings"]
    assert f"{dim}-d float16" in lines["caption embeddings"]
    assert "caption, NSFW, similarity, LICENSE, url, key, status" in lines["metadata"]
    assert lines["encoder recorded"] == f"{RECORDED[dim]} (shipped)"
    assert lines["problems"] == "none" and "estimate" in lines
    padding = RELEASES[layout][3]
    assert ("padded to 4 digits" in lines["layout"]) == (padding == 4)


@pytest.mark.parametrize("layout", list(RELEASES))
def test_build_uses_the_shipped_embeddings(layout, tmp_path, caplog) -> None:
    corpus, synsets, dim = _write(tmp_path, layout)
    db = tmp_path / "db.duckdb"
    with caplog.at_level(logging.INFO):
        assert _build(corpus, db, "--synset-embeddings", str(synsets)) == 0
    assert any(r.getMessage().startswith("layout: ") for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    con = duckdb.connect(str(db), read_only=True)
    samples = con.sql(
        "SELECT sample_id, wnid, text_similarity, image_similarity, nsfw FROM samples"
    ).df()
    encoder = con.execute("SELECT encoder FROM datasets WHERE dataset = 'laionet'").fetchone()[0]
    con.close()
    assert encoder == RECORDED[dim] and len(samples) > 3
    wnids = (synsets.parent / "wnids.txt").read_text().split()
    synset = np.load(synsets)
    text = {p.name: np.load(p) for p in _embedding_files(corpus, "text")}
    img = {p.name: np.load(p) for p in _embedding_files(corpus, "img")}
    padding = RELEASES[layout][3]
    for row in samples.itertuples():
        part, index = int(row.sample_id[:5]), int(row.sample_id[5:])  # img2dataset's key
        name = f"{part:0{padding}d}.npy"
        s = synset[wnids.index(row.wnid)]
        expected_text = float(text[f"text_emb_{name}"][index].astype(np.float64) @ s)
        expected_img = float(img[f"img_emb_{name}"][index].astype(np.float64) @ s)
        assert row.text_similarity == pytest.approx(expected_text, abs=2e-3)
        assert row.image_similarity == pytest.approx(expected_img, abs=2e-3)
    assert set(samples["nsfw"]) <= {"NSFW", "UNLIKELY"}


def test_original_parts_with_float_ids_build_with_an_encoder(tmp_path, capsys) -> None:
    corpus = write_laion400m_parts(tmp_path / "laion400m-meta", float_ids=True)
    code, out = _inspect(corpus, capsys)
    assert code == 1 and "LAION-400M metadata parts" in out
    assert "SAMPLE_ID, URL, TEXT, HEIGHT, WIDTH, LICENSE, NSFW, similarity" in out
    spec = f"open_clip:local-dir:{build_tiny_clip_local_dir(tmp_path / 'model')}"
    db = tmp_path / "db.duckdb"
    assert _build(corpus, db, "--encoder", spec) == 0
    con = duckdb.connect(str(db), read_only=True)
    ids = [r[0] for r in con.sql("SELECT sample_id FROM samples").fetchall()]
    con.close()
    assert ids and all(i.isdigit() and int(i) >= 10_000 for i in ids)  # no ".0"


def _refused(corpus: Path, tmp_path: Path, capsys, monkeypatch, *extra: str) -> str:
    """Build, expect a refusal before any work (no executor, no database, no shards)."""

    def no_executor(*args, **kwargs):
        raise AssertionError("the build started work (or a model download) before refusing")

    monkeypatch.setattr(pipeline, "open_executor", no_executor)
    db = tmp_path / "refused.duckdb"
    assert _build(corpus, db, *extra) == 2
    assert not db.exists() and not (tmp_path / "refused.shards").exists()
    return capsys.readouterr().err


def test_no_caption_embeddings_and_no_encoder_stops_naming_the_options(
    tmp_path, capsys, monkeypatch
) -> None:
    corpus, synsets, _ = _write(tmp_path, "laion400m-embeddings")
    shutil.rmtree(corpus / "texts")
    error = _refused(corpus, tmp_path, capsys, monkeypatch, "--synset-embeddings", str(synsets))
    assert "no caption embeddings" in error and "texts/text_emb_N.npy" in error
    assert "--encoder SPEC" in error
    parts = write_laion400m_parts(tmp_path / "parts")
    error = _refused(parts, tmp_path, capsys, monkeypatch)
    assert "original metadata parts ship none" in error and "--encoder SPEC" in error


def test_a_part_missing_its_embedding_file_is_named(tmp_path, capsys, monkeypatch) -> None:
    corpus, synsets, _ = _write(tmp_path, "laion5b-embeddings")
    (corpus / "text_emb" / "text_emb_0001.npy").unlink()
    code, out = _inspect(corpus, capsys, "--synset-embeddings", str(synsets))
    assert code == 1 and "metadata_0001.parquet has no text_emb" in out
    error = _refused(corpus, tmp_path, capsys, monkeypatch, "--synset-embeddings", str(synsets))
    assert "1 of 2 parts have no caption embeddings" in error
    assert str(corpus / "text_emb" / "text_emb_0001.npy") in error
    np.save(
        corpus / "text_emb" / "text_emb_0001.npy", np.load(corpus / "text_emb/text_emb_0000.npy")
    )
    (corpus / "img_emb" / "img_emb_0000.npy").unlink()
    error = _refused(corpus, tmp_path, capsys, monkeypatch, "--synset-embeddings", str(synsets))
    assert "1 of 2 parts have no image embeddings" in error and "img_emb_0000.npy" in error


def test_misaligned_orphaned_and_mismatched_files_are_named(tmp_path, capsys, monkeypatch) -> None:
    corpus, synsets, _ = _write(tmp_path, "embeddings-deploy")
    np.save(corpus / "img_emb" / "img_emb_1.npy", np.zeros((5, 512), np.float16))
    np.save(corpus / "text_emb" / "text_emb_7.npy", np.zeros((5, 512), np.float16))
    code, out = _inspect(corpus, capsys, "--synset-embeddings", str(synsets))
    assert code == 1
    assert "img_emb_1.npy: 5 rows but its metadata part has 12 rows (metadata_1.parquet)" in out
    assert "have no metadata part" in out and "text_emb_7.npy" in out
    error = _refused(corpus, tmp_path, capsys, monkeypatch, "--synset-embeddings", str(synsets))
    assert "img_emb_1.npy: 5 rows" in error and "text_emb_7.npy" in error


def test_synset_embeddings_are_never_ignored(tmp_path, capsys, monkeypatch) -> None:
    corpus, _, _ = _write(tmp_path, "laion400m-embeddings")
    wide = write_synset_embeddings(tmp_path / "wide", dim=768)
    db = tmp_path / "db.duckdb"
    assert _build(corpus, db, "--synset-embeddings", str(wide)) == 2
    assert (
        "synset embeddings are 768-d but the caption embeddings are 512-d"
        in capsys.readouterr().err
    )
    assert not db.exists()
    error = _refused(
        corpus, tmp_path, capsys, monkeypatch, "--synset-embeddings", str(wide), "--encoder", "x:y"
    )
    assert "cannot be used with --encoder" in error
    error = _refused(corpus, tmp_path, capsys, monkeypatch)
    assert "no synset-text embeddings" in error and "--synset-embeddings NPY" in error


def test_caption_embeddings_without_image_embeddings_warn_with_counts(tmp_path, caplog) -> None:
    corpus, synsets, _ = _write(tmp_path, "laion400m-embeddings")
    shutil.rmtree(corpus / "images")
    db = tmp_path / "db.duckdb"
    with caplog.at_level(logging.INFO):
        assert _build(corpus, db, "--synset-embeddings", str(synsets)) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no image embeddings" in w and "36 rows" in w for w in warnings)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(image_similarity) FROM samples").fetchone()[0] == 0
    con.close()
