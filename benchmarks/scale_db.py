"""A large simulated database for the app-scale benchmark, bulk-written in minutes.

Not the simulator's ``paper-scale`` preset (``python -m precompute demo --preset
paper-scale``, which ``bench_app_scale.py`` prefers when it exists): a quicker stand-in
written straight through the project's storage writers, shaped like LAIONet at a chosen
size. 1,000 ImageNet classes with heavy-tailed frequencies (Zipf, the largest about 5%);
``--samples`` LAION-like samples with caption similarities in [0.5, 1]; image embeddings
(D = 512, random unit vectors around a class centre) for the samples above
``--embedding-floor``; ImageNet-val with 50 images per class; two models' top-5
predictions on both. Then ``precompute metrics`` stores the class metrics and the
selection statistics, as for any database.

Run: .venv/bin/python benchmarks/scale_db.py --db /work/data/scale.duckdb --samples 2500000
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from laionet_core import schema  # noqa: E402
from laionet_core.storage import (  # noqa: E402
    DatasetInfo,
    DatasetWriter,
    open_database_for_update,
    open_new_database,
    write_classes,
    write_meta,
    write_synset_embeddings,
)
from laionet_core.storage_arrow import insert_arrow  # noqa: E402
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT, load_imagenet_vocabulary  # noqa: E402
from precompute.analyses.class_metrics import compute_database_metrics  # noqa: E402

DIM = 512  # CLIP ViT-B/32
ENCODER = "simulated-scale"
CHUNK = 100_000  # samples written per batch
IMAGENET_PER_CLASS = 50
MODELS = ("simulated-scale-a", "simulated-scale-b")

logger = logging.getLogger("scale_db")


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _embed(codes: np.ndarray, centres: np.ndarray, tightness: np.ndarray, rng) -> np.ndarray:
    """Unit vectors whose mean cosine to their class centre is about ``tightness``."""
    noise = _unit(rng.standard_normal((codes.size, DIM), dtype=np.float32))
    a = tightness[codes, None]
    return _unit(a * centres[codes] + np.sqrt(1 - a * a) * noise)


def _samples(name: str, start: int, codes: np.ndarray, wnids: np.ndarray, rng) -> pd.DataFrame:
    n = codes.size
    ids = np.arange(start, start + n)
    multi = rng.random(n) < 0.04
    labels = wnids[codes]
    return pd.DataFrame(
        {
            "sample_id": [f"{name}-{i:09d}" for i in ids],
            "url": [f"https://example.invalid/{name}/{i}.jpg" for i in ids],
            "text": [f"a simulated caption {i} of {w}" for i, w in zip(ids, labels, strict=True)],
            "wnid": labels,
            "matched_wnids": [[w] for w in labels],
            "multi_label": multi,
            "text_similarity": np.nan,
            "image_similarity": np.nan,
            "nsfw": np.where(rng.random(n) < 0.02, "NSFW", "UNLIKELY"),
        }
    )


def _write_laion(con, wnids, centres, synsets, tightness, args, rng) -> None:
    weights = 1.0 / np.arange(1, wnids.size + 1) ** 1.1
    weights /= weights.sum()
    rng.shuffle(weights)
    info = DatasetInfo("laionet", schema.KIND_TEXT_SELECTED, "scale_db.py", ENCODER, True)
    writer = DatasetWriter(con, info)
    for start in range(0, args.samples, CHUNK):
        codes = rng.choice(wnids.size, size=min(CHUNK, args.samples - start), p=weights)
        frame = _samples("laion", start, codes, wnids, rng)
        frame["text_similarity"] = 0.5 + 0.5 * rng.beta(3, 3.5, codes.size)
        keep = frame["text_similarity"].to_numpy() > args.embedding_floor
        x = _embed(codes[keep], centres, tightness, rng)
        frame.loc[keep, "image_similarity"] = np.einsum("ij,ij->i", x, synsets[codes[keep]])
        writer.append_batch(frame[keep].reset_index(drop=True), image_embeddings=x)
        writer.append_batch(frame[~keep].reset_index(drop=True))
        logger.info("laionet: %d samples written", start + codes.size)
    writer.finish()


def _write_imagenet(con, wnids, centres, synsets, tightness, rng) -> None:
    codes = np.repeat(np.arange(wnids.size), IMAGENET_PER_CLASS)
    frame = _samples("imagenet", 0, codes, wnids, rng)
    x = _embed(codes, centres, np.minimum(tightness + 0.1, 0.95), rng)
    frame["image_similarity"] = np.einsum("ij,ij->i", x, synsets[codes])
    info = DatasetInfo("imagenet-val", schema.KIND_IMAGE_SELECTED, "scale_db.py", ENCODER, True)
    writer = DatasetWriter(con, info)
    writer.append_batch(frame, image_embeddings=x)
    writer.finish()


def _write_predictions(con, wnids: np.ndarray, rng) -> None:
    for dataset in ("laionet", "imagenet-val"):
        rows = con.execute(
            f"SELECT s.sample_id, s.wnid FROM {schema.IMAGE_EMBEDDINGS} e "
            f"JOIN {schema.SAMPLES} s USING (dataset, sample_id) WHERE e.dataset = ?",
            [dataset],
        ).df()
        truth = pd.Index(wnids).get_indexer(rows["wnid"])
        for model, skill in zip(MODELS, (0.75, 0.6), strict=True):
            top = rng.integers(0, wnids.size, (len(rows), 5))
            hit = rng.random(len(rows)) < skill
            top[hit, rng.integers(0, 5, hit.sum())] = truth[hit]
            flat = pa.array(wnids[top.ravel()].tolist(), pa.string())
            offsets = pa.array(np.arange(0, top.size + 1, 5, dtype=np.int32))
            table = pa.table(
                {
                    "dataset": pa.array([dataset] * len(rows), pa.string()),
                    "model": pa.array([model] * len(rows), pa.string()),
                    "sample_id": pa.array(rows["sample_id"].tolist(), pa.string()),
                    "top5_wnids": pa.ListArray.from_arrays(offsets, flat),
                }
            )
            insert_arrow(con, schema.PREDICTIONS, table)


def build_scale_database(db: Path, *, samples: int, embedding_floor: float, seed: int) -> None:
    """Write the database at ``db`` (when absent), its predictions, then run the metrics
    stage."""
    args = argparse.Namespace(samples=samples, embedding_floor=embedding_floor)
    rng = np.random.default_rng(seed)
    vocabulary = load_imagenet_vocabulary()
    wnids = np.array([s.wnid for s in vocabulary.synsets])
    centres = _unit(rng.standard_normal((wnids.size, DIM), dtype=np.float32))
    synsets = _unit(centres + 0.8 * _unit(rng.standard_normal(centres.shape, dtype=np.float32)))
    tightness = rng.uniform(0.45, 0.8, wnids.size).astype(np.float32)
    started = time.perf_counter()
    if db.is_file():  # resume: the samples are written, predictions and metrics may not be
        logger.info("%s exists: adding predictions and metrics only", db)
    else:
        _write_samples(db, vocabulary, wnids, centres, synsets, tightness, args, rng)
    with open_database_for_update(db) as con:
        for model in MODELS:
            con.execute(f"DELETE FROM {schema.PREDICTIONS} WHERE model = ?", [model])
        _write_predictions(con, wnids, rng)
    logger.info("wrote %s in %.0f s; running the metrics stage", db, time.perf_counter() - started)
    started = time.perf_counter()
    compute_database_metrics(db)
    logger.info("metrics stage: %.0f s", time.perf_counter() - started)


def _write_samples(db, vocabulary, wnids, centres, synsets, tightness, args, rng) -> None:
    with open_new_database(db) as con:
        write_meta(con, {"simulated": "true", "built_by": "benchmarks/scale_db.py"})
        write_classes(con, vocabulary, synset_format=DEFAULT_SYNSET_TEXT_FORMAT)
        write_synset_embeddings(
            con,
            encoder=ENCODER,
            synset_format=DEFAULT_SYNSET_TEXT_FORMAT,
            wnids=list(wnids),
            embeddings=synsets,
        )
        _write_laion(con, wnids, centres, synsets, tightness, args, rng)
        _write_imagenet(con, wnids, centres, synsets, tightness, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=2_500_000)
    parser.add_argument("--embedding-floor", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    build_scale_database(
        args.db, samples=args.samples, embedding_floor=args.embedding_floor, seed=args.seed
    )


if __name__ == "__main__":
    main()
