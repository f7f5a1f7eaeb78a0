"""Generate the SIMULATED LAION-style corpus and reference datasets.

The corpus is written in LAION-400M's own layout (metadata parquet parts, img/text
embedding ``.npy`` parts, thumbnails) plus ImageNet-like reference sets, so the real
ingestion path is what reads it. Everything is labelled as simulated: ``SIMULATED.md``,
``corpus.json["simulated"]``, fake ``.invalid`` URLs and a "SIM" stamp on every picture.
The latent model is in ``simulate_world``; see ``docs/SIMULATION.md``.

Parts are generated in fixed-size chunks, each from its own seeded generator, so
millions of captions fit in bounded memory and the bytes depend only on the config.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.simulate.draws import draw_nsfw_tags
from precompute.simulate.images import compute_motifs, compute_render_params, write_thumbnails
from precompute.simulate.part_rows import PartRows, build_part_rows, to_unit_f16
from precompute.simulate.references import ReferenceSet, build_reference_sets
from precompute.simulate.world import (
    SimulationConfig,
    World,
    build_world,
)

__all__ = ["SimulationConfig", "generate_corpus"]

logger = logging.getLogger(__name__)

GENERATOR = "laionet-explorer simulate"
# Bump when a change to the simulated world changes what a config generates: the demo
# then regenerates corpora (and rebuilds databases) made by an older version.
SIMULATOR_VERSION = 3
CHUNK_ROWS = 100_000  # rows generated at once; bounds memory at ~100 MB for dim 128
SAMPLE_ID_BASE = 3_000_000_000  # SAMPLE_IDs look like LAION's large ints; unique across parts
URL_PREFIX = "https://img.simulated-laion.invalid"  # reserved TLD: never resolves
LICENSES = ("by", "by-sa", "by-nc", "by-nc-sa", "cc0")
LICENSE_KNOWN = 0.07  # most LAION rows have license "?"
SIZES = np.array([256, 320, 400, 480, 500, 600, 640, 768, 800, 1024], dtype=np.int32)
METADATA_SCHEMA = pa.schema(
    [
        ("SAMPLE_ID", pa.int64()),
        ("URL", pa.string()),
        ("TEXT", pa.string()),
        ("HEIGHT", pa.int32()),
        ("WIDTH", pa.int32()),
        ("LICENSE", pa.string()),
        ("NSFW", pa.string()),
        ("similarity", pa.float64()),
        ("ocr_text", pa.string()),
    ]
)


# Words a simulated image shows (a watermark, a price tag), with or without its class name.
OCR_WORDS = ("SALE", "50% OFF", "www.example.com", "(c) stock photo", "FREE SHIPPING", "NEW!")


def _draw_ocr_text(
    world: World, rows: PartRows, config: SimulationConfig, rng: np.random.Generator
) -> np.ndarray:
    """Simulated OCR text: ``ocr_fraction`` of the images show words; ``ocr_class_share``
    of those also name the class the caption names (upper-cased, as on a label), which
    the TMLR recipe's OCR rule drops. The others have no text (None)."""
    n = rows.class_a.size
    u = rng.random(n)
    words = rng.choice(np.array(OCR_WORDS, dtype=object), size=n)
    texts = np.where(u < config.ocr_fraction, words, None)
    naming = np.flatnonzero(u < config.ocr_fraction * config.ocr_class_share)
    names = [world.lemmas[c][0].upper() if world.lemmas[c] else "" for c in rows.class_a[naming]]
    texts[naming] = [f"{name} {w}" for name, w in zip(names, words[naming], strict=True)]
    return texts


def _metadata_table(
    world: World,
    rows: PartRows,
    ids: np.ndarray,
    part: int,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> pa.Table:
    n = ids.size
    similarity = np.sum(rows.img_emb.astype(np.float64) * rows.text_emb.astype(np.float64), axis=1)
    u = rng.random(n)
    nsfw = draw_nsfw_tags(u, config.nsfw_fraction, config.unsure_fraction, config.untagged_fraction)
    licence = np.where(rng.random(n) < LICENSE_KNOWN, rng.choice(LICENSES, size=n), "?")
    height = rng.choice(SIZES, size=n)
    width = (height * rng.choice([0.75, 1.0, 1.333, 1.5, 1.777], size=n)).astype(np.int32)
    return pa.table(
        {
            "SAMPLE_ID": pa.array(ids, pa.int64()),
            "URL": pa.array(
                [f"{URL_PREFIX}/{part:05d}/{i}.jpg" for i in ids.tolist()], pa.string()
            ),
            "TEXT": pa.array(rows.captions, pa.string()),
            "HEIGHT": pa.array(height, pa.int32()),
            "WIDTH": pa.array(width, pa.int32()),
            "LICENSE": pa.array(licence, pa.string()),
            "NSFW": pa.array(nsfw, pa.string()),
            "similarity": pa.array(similarity, pa.float64()),
            "ocr_text": pa.array(_draw_ocr_text(world, rows, config, rng), pa.string()),
        },
        schema=METADATA_SCHEMA,
    )


def _part_sizes(config: SimulationConfig) -> list[int]:
    base, extra = divmod(config.n_captions, config.n_parts)
    return [base + (p < extra) for p in range(config.n_parts)]


def write_parts(world: World, config: SimulationConfig, root: Path, *, progress: bool) -> None:
    """Write metadata, embeddings and thumbnails of every part under ``root``."""
    for name in ("metadata", "img_emb", "text_emb"):
        (root / name).mkdir(parents=True)
    prototypes = world.image_proto
    motifs = compute_motifs(prototypes.shape[0], config.seed)
    bar = tqdm(total=config.n_captions, desc="simulated captions", disable=not progress)
    start = 0
    for part, size in enumerate(_part_sizes(config)):
        img = np.lib.format.open_memmap(
            root / "img_emb" / f"img_emb_{part}.npy",
            mode="w+",
            dtype=np.float16,
            shape=(size, config.dim),
        )
        txt = np.lib.format.open_memmap(
            root / "text_emb" / f"text_emb_{part}.npy",
            mode="w+",
            dtype=np.float16,
            shape=(size, config.dim),
        )
        writer = pq.ParquetWriter(root / "metadata" / f"metadata_{part}.parquet", METADATA_SCHEMA)
        if config.images:
            (root / "images" / f"{part:05d}").mkdir(parents=True)
        for chunk, lo in enumerate(range(0, size, CHUNK_ROWS)):
            n = min(CHUNK_ROWS, size - lo)
            rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2, part, chunk]))
            rows = build_part_rows(world, config, n, rng)
            ids = SAMPLE_ID_BASE + start + lo + np.arange(n, dtype=np.int64)
            writer.write_table(_metadata_table(world, rows, ids, part, config, rng))
            img[lo : lo + n] = rows.img_emb
            txt[lo : lo + n] = rows.text_emb
            if config.images:
                params = compute_render_params(rows.img_emb, prototypes, motifs, config.seed)
                folder = root / "images" / f"{part:05d}"
                write_thumbnails([folder / f"{i}.jpg" for i in ids.tolist()], params)
            bar.update(n)
        writer.close()
        img.flush()
        txt.flush()
        del img, txt
        start += size
    bar.close()


def write_references(
    world: World, config: SimulationConfig, root: Path, sets: list[ReferenceSet], *, progress: bool
) -> None:
    """Write the image-selected reference sets under ``root/references``."""
    motifs = compute_motifs(world.image_proto.shape[0], config.seed)
    for ref in sets:
        folder = root / "references" / ref.name
        folder.mkdir(parents=True)
        pq.write_table(pa.table(ref.rows), folder / "index.parquet")
        np.save(folder / "img_emb.npy", to_unit_f16(ref.img_emb))
        if ref.text_emb is not None:
            np.save(folder / "text_emb.npy", to_unit_f16(ref.text_emb))
        if ref.records is not None:
            with (folder / "imagenet_captions.json").open("w", encoding="utf-8") as handle:
                json.dump(ref.records, handle, ensure_ascii=False, indent=0)
        if config.images:
            paths = [folder / p for p in ref.rows["path"]]
            for parent in sorted({p.parent for p in paths}):
                parent.mkdir(parents=True, exist_ok=True)
            params = compute_render_params(ref.img_emb, world.image_proto, motifs, config.seed)
            with tqdm(total=len(paths), desc=ref.name, disable=not progress) as bar:
                write_thumbnails(paths, params, progress=bar)


def write_synsets(world: World, root: Path) -> None:
    """Write ``synsets/wnids.txt`` and the synset-text embeddings."""
    folder = root / "synsets"
    folder.mkdir()
    (folder / "wnids.txt").write_text("\n".join(world.vocabulary.wnids) + "\n", encoding="utf-8")
    np.save(folder / "name_def_emb.npy", to_unit_f16(world.synset_emb))


def _write_notes(world: World, config: SimulationConfig, root: Path) -> None:
    info = {
        "simulated": True,
        "generator": GENERATOR,
        "version": SIMULATOR_VERSION,
        "config": config.to_dict(),
        "encoder": f"simulated-clip-d{config.dim}",
        "recipe": "explorer",  # captions written for normalised matching, name_def synsets
        "dim": config.dim,
        "n_parts": config.n_parts,
        "classes": list(world.wnids),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (root / "corpus.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    senses = "\n".join(f"- {name}" for name in world.sense_names)
    (root / "SIMULATED.md").write_text(
        "# THIS DATA IS SIMULATED\n\n"
        "Nothing here was downloaded from LAION or ImageNet. Captions, embeddings and\n"
        "thumbnails were drawn from a latent model of the paper's causal story (class ->\n"
        "caption and image; LAION selects by text, ImageNet annotators by image) by\n"
        f"`{GENERATOR}`. URLs use the reserved `.invalid` domain; thumbnails carry a\n"
        '"SIM" stamp. Only the class names, lemmas and definitions are real (WordNet).\n\n'
        f"- seed: {config.seed}\n- captions: {config.n_captions} in {config.n_parts} parts\n"
        f"- classes: {config.n_classes} real ILSVRC classes\n- dimension: {config.dim}\n"
        f"- references: {config.reference_per_class} images per class per set\n\n"
        f"Lemmas used in another sense:\n{senses}\n\n"
        f"Full config: see `corpus.json`. Model: `docs/SIMULATION.md`.\n",
        encoding="utf-8",
    )


def generate_corpus(config: SimulationConfig, out_dir: Path, *, progress: bool = True) -> Path:
    """Write the simulated corpus under ``out_dir`` atomically.

    The corpus is built in a temporary sibling folder and renamed into place, so a
    failure leaves an existing ``out_dir`` untouched.

    Args:
        config: What to simulate.
        out_dir: Destination folder (replaced if it exists).
        progress: Show tqdm progress bars.

    Returns:
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        world = build_world(config, load_imagenet_vocabulary())
        write_synsets(world, tmp)
        write_parts(world, config, tmp, progress=progress)
        write_references(world, config, tmp, build_reference_sets(world, config), progress=progress)
        _write_notes(world, config, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    logger.info("simulated corpus written to %s", out_dir)
    return out_dir
