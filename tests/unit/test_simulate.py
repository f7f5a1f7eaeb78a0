"""Tests of the simulated corpus: layout contract, determinism and the causal story."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import precompute.simulate.corpus as simulate
from laionet_core.vocabulary import build_lemma_dictionary, load_imagenet_vocabulary
from precompute.simulate.corpus import SimulationConfig, generate_corpus
from precompute.simulate.part_rows import build_part_rows
from precompute.simulate.references import REFERENCE_NAMES
from precompute.simulate.world import (
    KIND_MULTI,
    KIND_NAMES,
    KIND_UNMATCHED,
    KIND_WRONG_SENSE,
    SHOWCASE_WNIDS,
    build_world,
    compute_at_cosine,
    compute_unit_normal,
)

TINY = SimulationConfig(
    n_captions=2_000, n_classes=100, n_parts=3, dim=32, reference_per_class=5, seed=1
)
MODERATE = SimulationConfig(
    n_captions=20_000, n_classes=100, n_parts=2, dim=64, reference_per_class=20, images=False
)
EXPECTED_COLUMNS = {
    "SAMPLE_ID": pa.int64(),
    "URL": pa.string(),
    "TEXT": pa.string(),
    "HEIGHT": pa.int32(),
    "WIDTH": pa.int32(),
    "LICENSE": pa.string(),
    "NSFW": pa.string(),
    "similarity": pa.float64(),
    "ocr_text": pa.string(),
}


@pytest.fixture(scope="module")
def vocab():
    return load_imagenet_vocabulary()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return generate_corpus(TINY, tmp_path_factory.mktemp("sim") / "corpus", progress=False)


@pytest.fixture(scope="module")
def moderate(tmp_path_factory) -> Path:
    return generate_corpus(MODERATE, tmp_path_factory.mktemp("simm") / "corpus", progress=False)


def _matcher(vocab, *, ignore_case: bool = False, unique: bool = True):
    if unique:
        lemmas = build_lemma_dictionary(vocab).lemma_to_wnid
    else:
        lemmas = {lemma: s.wnid for s in vocab.synsets for lemma in s.lemmas}
    alternation = "|".join(map(re.escape, sorted(lemmas, key=len, reverse=True)))
    flags = re.IGNORECASE if ignore_case else 0
    pattern = re.compile(rf"(?<!\w)({alternation})(?!\w)", flags)
    return pattern, lemmas


def _read_corpus(root: Path):
    info = json.loads((root / "corpus.json").read_text())
    tables = [
        pq.read_table(root / f"metadata/metadata_{p}.parquet") for p in range(info["n_parts"])
    ]
    text = np.concatenate(
        [np.load(root / f"text_emb/text_emb_{p}.npy") for p in range(len(tables))]
    )
    img = np.concatenate([np.load(root / f"img_emb/img_emb_{p}.npy") for p in range(len(tables))])
    return info, pa.concat_tables(tables), text.astype(np.float32), img.astype(np.float32)


def _intra_class(emb: np.ndarray, labels: np.ndarray) -> float:
    """Mean over classes of the mean pairwise cosine (naive loop over classes)."""
    means = []
    for c in np.unique(labels):
        e = emb[labels == c]
        if len(e) >= 2:
            g = e @ e.T
            means.append((g.sum() - np.trace(g)) / (len(e) * (len(e) - 1)))
    return float(np.mean(means))


def test_layout_and_dtypes(tiny: Path) -> None:
    info, _, _, _ = _read_corpus(tiny)
    assert info["simulated"] is True and info["dim"] == 32 and info["n_parts"] == 3
    assert info["encoder"] == "simulated-clip-d32" and info["config"]["seed"] == 1
    assert "SIMULATED" in (tiny / "SIMULATED.md").read_text()
    ids = []
    for p in range(3):
        table = pq.read_table(tiny / f"metadata/metadata_{p}.parquet")
        assert dict(zip(table.schema.names, table.schema.types, strict=True)) == EXPECTED_COLUMNS
        for name in ("img_emb", "text_emb"):
            emb = np.load(tiny / f"{name}/{name}_{p}.npy")
            assert emb.dtype == np.float16 and emb.shape == (table.num_rows, 32)
            norms = np.linalg.norm(emb.astype(np.float32), axis=1)
            np.testing.assert_allclose(norms, 1.0, atol=2e-3)
        sims = np.sum(
            np.load(tiny / f"img_emb/img_emb_{p}.npy").astype(np.float64)
            * np.load(tiny / f"text_emb/text_emb_{p}.npy").astype(np.float64),
            axis=1,
        )
        np.testing.assert_allclose(table["similarity"].to_numpy(), sims, atol=1e-9)
        # every tag LAION has, and none: the TMLR rule (UNLIKELY only) differs from arXiv's
        assert set(table["NSFW"].to_pylist()) == {"UNLIKELY", "UNSURE", "NSFW", None}
        ocr = [t for t in table["ocr_text"].to_pylist() if t is not None]
        assert 0 < len(ocr) < table.num_rows / 4
        assert all(
            u.startswith("https://img.simulated-laion.invalid/") for u in table["URL"].to_pylist()
        )
        for sid in table["SAMPLE_ID"].to_pylist()[:50]:
            with Image.open(tiny / f"images/{p:05d}/{sid}.jpg") as im:
                assert im.size == (64, 64) and im.format == "JPEG"
        ids += table["SAMPLE_ID"].to_pylist()
    assert len(ids) == 2_000 and len(set(ids)) == len(ids)
    assert len(list((tiny / "images").rglob("*.jpg"))) == 2_000
    wnids = (tiny / "synsets/wnids.txt").read_text().split()
    assert len(wnids) == 1000
    syn = np.load(tiny / "synsets/name_def_emb.npy")
    assert syn.dtype == np.float16 and syn.shape == (1000, 32)


def test_reference_layout(tiny: Path, vocab) -> None:
    info = json.loads((tiny / "corpus.json").read_text())
    class_index = {s.wnid: s.class_index for s in vocab.synsets}
    for name in REFERENCE_NAMES:
        folder = tiny / "references" / name
        index = pq.read_table(folder / "index.parquet")
        emb = np.load(folder / "img_emb.npy")
        assert index.num_rows == 100 * 5 == emb.shape[0] and emb.dtype == np.float16
        assert index.schema.field("sample_id").type == pa.string()
        assert set(index["wnid"].to_pylist()) == set(info["classes"])
        for wnid, path in zip(index["wnid"].to_pylist(), index["path"].to_pylist(), strict=True):
            assert (folder / path).is_file()
            if name == "imagenet-val":
                assert path.split("/")[0] == wnid
            elif name.startswith("imagenetv2-"):
                assert int(path.split("/")[0]) == class_index[wnid]
        if name.startswith("imagenetv2-"):
            assert index.schema.field("selection_frequency").type == pa.float64()
    folder = tiny / "references/imagenet-captions"
    records = json.loads((folder / "imagenet_captions.json").read_text())
    index = pq.read_table(folder / "index.parquet")
    assert len(records) == index.num_rows == np.load(folder / "text_emb.npy").shape[0]
    for record, path in zip(records, index["path"].to_pylist(), strict=True):
        assert set(record) == {"filename", "title", "description", "tags", "wnid"}
        assert record["filename"].startswith(record["wnid"] + "_")
        assert path == f"train/{record['wnid']}/{record['filename']}"


def test_deterministic_bytes(tiny: Path, tmp_path: Path) -> None:
    same = generate_corpus(
        SimulationConfig(**{**TINY.to_dict(), "images": False}), tmp_path / "a", progress=False
    )
    other = generate_corpus(
        SimulationConfig(**{**TINY.to_dict(), "images": False, "seed": 2}),
        tmp_path / "b",
        progress=False,
    )
    files = [
        "metadata/metadata_1.parquet",
        "img_emb/img_emb_2.npy",
        "text_emb/text_emb_0.npy",
        "synsets/name_def_emb.npy",
        "references/imagenetv2-b/index.parquet",
        "references/imagenet-captions/imagenet_captions.json",
    ]
    for name in files:
        assert (same / name).read_bytes() == (tiny / name).read_bytes(), name
        assert (other / name).read_bytes() != (tiny / name).read_bytes(), name
    assert not (same / "images").exists()


def test_world_has_real_classes_and_showcase(vocab) -> None:
    world = build_world(TINY, vocab)
    assert len(set(world.wnids)) == 100 and set(SHOWCASE_WNIDS) <= set(world.wnids)
    by_wnid = vocab.by_wnid()
    for wnid, lemmas in zip(world.wnids, world.lemmas, strict=True):
        assert lemmas and set(lemmas) <= set(by_wnid[wnid].lemmas)
    assert any(" " in lemma for lemmas in world.lemmas for lemma in lemmas)


def test_captions_use_real_lemmas_and_zipf(tiny: Path, vocab) -> None:
    info, table, _, _ = _read_corpus(tiny)
    pattern, lemmas = _matcher(vocab)
    counts: dict[str, int] = {}
    for text in table["TEXT"].to_pylist():
        for wnid in {lemmas[m] for m in pattern.findall(text)}:
            assert wnid in info["classes"], (text, wnid)
            counts[wnid] = counts.get(wnid, 0) + 1
    values = np.array(sorted(counts.values()))
    assert values.max() >= 8 * np.median(values)


def test_caption_kinds_and_variety(vocab) -> None:
    world = build_world(TINY, vocab)
    rows = build_part_rows(world, TINY, 5_000, np.random.default_rng(0))
    kinds = {KIND_NAMES[k] for k in np.unique(rows.kind)}
    assert kinds == set(KIND_NAMES)
    syn = world.synset_emb[world.class_indices[rows.class_a]]
    sim = np.sum(rows.text_emb.astype(np.float32) * syn, axis=1)
    wrong, single = rows.kind == KIND_WRONG_SENSE, rows.kind == 1
    assert sim[wrong].max() < 0.75 and np.median(sim[wrong]) < np.median(sim[single]) - 0.1
    # A wrong-sense image shows the other concept, not the class.
    assert np.all(rows.concept[wrong] >= world.n_classes)
    texts = rows.captions
    assert any("<script>" in t for t in texts) and any("&amp;" in t for t in texts)
    assert any(not t.isascii() for t in texts)
    # Every caption names exactly the classes it was built for (case-sensitive, unique lemmas).
    pattern, lemmas = _matcher(vocab)
    any_case, _ = _matcher(vocab, ignore_case=True, unique=False)
    for i, text in enumerate(texts):
        found = {lemmas[m] for m in pattern.findall(text)}
        if rows.kind[i] == KIND_UNMATCHED:
            assert not any_case.findall(text), text
        elif rows.kind[i] == KIND_MULTI:
            expected = {world.wnids[rows.class_a[i]], world.wnids[rows.class_b[i]]}
            assert found <= expected and found, text
        elif rows.kind[i] in (1, KIND_WRONG_SENSE):
            assert found <= {world.wnids[rows.class_a[i]]}, text
    assert any(len({lemmas[m] for m in pattern.findall(t)}) == 2 for t in texts)


def test_exact_cosine_matches_naive_construction() -> None:
    rng = np.random.default_rng(3)
    anchor = compute_unit_normal(rng, 50, 16)
    a = rng.uniform(-0.9, 0.99, size=50).astype(np.float32)
    toward = rng.standard_normal((50, 16)).astype(np.float32)
    out = compute_at_cosine(anchor, a, toward)
    for i in range(50):
        u = toward[i] - (toward[i] @ anchor[i]) * anchor[i]
        u /= np.linalg.norm(u)
        naive = a[i] * anchor[i] + np.sqrt(1 - a[i] ** 2) * u
        np.testing.assert_allclose(out[i], naive, atol=1e-5)
    np.testing.assert_allclose(np.sum(out * anchor, axis=1), a, atol=1e-5)


def test_causal_story_intra_class_ordering(moderate: Path, vocab) -> None:
    info, table, text, img = _read_corpus(moderate)
    syn = np.load(moderate / "synsets/name_def_emb.npy").astype(np.float32)
    pattern, lemmas = _matcher(vocab)
    row = {w: i for i, w in enumerate(vocab.wnids)}
    label = np.full(table.num_rows, -1)
    for i, caption in enumerate(table["TEXT"].to_pylist()):
        found = {lemmas[m] for m in pattern.findall(caption)}
        if len(found) == 1:
            label[i] = row[found.pop()]
    matched = label >= 0
    sim = np.sum(text[matched] * syn[label[matched]], axis=1)
    q05, q25, q50, q75, q95 = np.quantile(sim, [0.05, 0.25, 0.5, 0.75, 0.95])
    assert 0.5 < q05 < 0.68 and q25 > 0.65 and q50 < 0.82 and q75 < 0.9 and 0.82 < q95 < 0.97
    covered = {t: len(set(label[matched][sim > t])) for t in (0.7, 0.82, 0.9)}
    assert covered[0.82] >= 0.75 * len(info["classes"])
    assert covered[0.9] < 0.6 * covered[0.82]
    keep = matched.copy()
    keep[matched] = sim > 0.82
    intra = {"laionet": _intra_class(img[keep], label[keep])}
    to_synset = {"laionet": float(np.mean(np.sum(img[keep] * syn[label[keep]], axis=1)))}
    for name in ("imagenetv2-b", "imagenetv2-a", "imagenetv2-c", "imagenet-val"):
        index = pq.read_table(moderate / f"references/{name}/index.parquet")
        emb = np.load(moderate / f"references/{name}/img_emb.npy").astype(np.float32)
        labels = np.array([row[w] for w in index["wnid"].to_pylist()])
        intra[name] = _intra_class(emb, labels)
        to_synset[name] = float(np.mean(np.sum(emb * syn[labels], axis=1)))
        if name.startswith("imagenetv2-"):
            target = {"a": 0.85, "b": 0.73, "c": 0.93}[name[-1]]
            assert abs(index["selection_frequency"].to_numpy().mean() - target) < 0.01
    assert intra["laionet"] + 0.02 < intra["imagenetv2-b"] < intra["imagenetv2-a"]
    assert intra["imagenetv2-a"] < intra["imagenetv2-c"] <= intra["imagenet-val"] + 0.005
    assert abs(to_synset["laionet"] - to_synset["imagenet-val"]) < 0.03


def test_imagenet_captions_some_do_not_explain_label(moderate: Path) -> None:
    folder = moderate / "references/imagenet-captions"
    index = pq.read_table(folder / "index.parquet")
    wnids = (moderate / "synsets/wnids.txt").read_text().split()
    syn = np.load(moderate / "synsets/name_def_emb.npy").astype(np.float32)
    text = np.load(folder / "text_emb.npy").astype(np.float32)
    own = np.array([wnids.index(w) for w in index["wnid"].to_pylist()])
    scores = text @ syn.T
    own_score = scores[np.arange(len(own)), own]
    rank = (scores > own_score[:, None]).sum(axis=1)
    unexplained = own_score < 0.5
    assert 0.05 < unexplained.mean() < 0.6
    assert np.median(rank[unexplained]) >= 5 and np.median(rank[~unexplained]) == 0


def test_failure_leaves_existing_corpus_untouched(tmp_path: Path, monkeypatch) -> None:
    config = SimulationConfig(**{**TINY.to_dict(), "images": False, "n_captions": 300})
    out = generate_corpus(config, tmp_path / "corpus", progress=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(simulate, "write_references", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_corpus(SimulationConfig(**{**config.to_dict(), "seed": 9}), out, progress=False)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="n_classes"):
        SimulationConfig(n_classes=50)
    with pytest.raises(ValueError, match="html_fraction"):
        SimulationConfig(html_fraction=1.5)


def test_demo_regenerates_a_corpus_of_an_older_simulator(tiny: Path, tmp_path: Path) -> None:
    from precompute.cli.demo import find_stale_corpus

    info = json.loads((tiny / "corpus.json").read_text(encoding="utf-8"))
    made = SimulationConfig(**{k: info["config"][k] for k in ("n_captions", "n_parts", "seed")})
    assert find_stale_corpus(tiny, made, any_size=False) is None
    bigger = SimulationConfig(n_captions=made.n_captions * 2, n_parts=made.n_parts)
    assert "n_captions" in find_stale_corpus(tiny, bigger, any_size=False)
    assert find_stale_corpus(tiny, bigger, any_size=True) is None  # make app keeps it

    old = tmp_path / "old"
    old.mkdir()
    del info["version"]  # what the first simulator wrote
    (old / "corpus.json").write_text(json.dumps(info), encoding="utf-8")
    assert "version 1" in find_stale_corpus(old, made, any_size=True)
    assert find_stale_corpus(tmp_path / "none", made, any_size=True) == "no corpus yet"
