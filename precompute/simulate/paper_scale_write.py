"""Write the paper-scale SIMULATED database (see ``precompute.simulate.paper_scale``).

Order: classes and synset texts; the references (ImageNet-val fits the SIMULATED
models); LAIONet chunk by chunk, each chunk's stored embeddings predicted by the models
and searched by the text match as it goes; then the text-matched dataset and the
caption diagnostics. Memory is bounded by a chunk, DuckDB's limit and the references.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from laionet_core import schema
from laionet_core.recipes import DEFAULT_RECIPE, describe_recipe, get_recipe
from laionet_core.settings import (
    IMAGENET_CAPTIONS_DATASET,
    IMAGENET_DATASET,
    IMAGENETV2_DATASETS,
    LAIONET_DATASET,
)
from laionet_core.storage import (
    DatasetInfo,
    open_new_database,
    write_classes,
    write_meta,
    write_synset_embeddings,
)
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT, load_imagenet_vocabulary
from precompute.analyses.caption_diagnostics import write_dataset_caption_diagnostics
from precompute.simulate.config import SimulationConfig
from precompute.simulate.draws import compute_images
from precompute.simulate.paper_scale import PRESET_NAME, PaperScaleConfig, compute_class_plan
from precompute.simulate.paper_scale_laion import (
    LaionChunk,
    LaionPlan,
    draw_laion_chunk,
    laion_sample_ids,
    laion_urls,
    plan_laion,
)
from precompute.simulate.paper_scale_refs import (
    SimulatedModels,
    StreamedTextMatch,
    draw_reference_set,
)
from precompute.simulate.paper_scale_rows import BulkDataset, ThumbnailPools, build_wnid_lists
from precompute.simulate.world import (
    World,
    build_world,
)
from precompute.text_match.search import select_unique_matches
from precompute.text_match.store import DEFAULT_TEXT_MATCHED, TEXT_SIMILARITY_MEANING

logger = logging.getLogger(__name__)

SOURCE = f"simulated:{PRESET_NAME}"
TEXT_MATCH_THRESHOLD = 0.7


def write_paper_scale_database(config: PaperScaleConfig, db: Path) -> None:
    """Write every dataset of the preset into ``db`` atomically."""
    world = build_world(
        SimulationConfig(
            n_captions=1,
            n_parts=1,
            n_classes=config.n_classes,
            dim=config.dim,
            seed=config.seed,
            images=False,
        ),
        load_imagenet_vocabulary(),
    )
    encoder = f"simulated-clip-d{config.dim}"
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 20]))
    plan = plan_laion(config, world, *compute_class_plan(config, rng))
    with open_new_database(db) as con:
        con.execute(f"SET memory_limit = '{config.duckdb_memory}'")
        write_meta(con, {"simulated": "true", "corpus": SOURCE, "preset": PRESET_NAME})
        write_classes(con, world.vocabulary, synset_format=DEFAULT_SYNSET_TEXT_FORMAT)
        write_synset_embeddings(
            con,
            encoder=encoder,
            synset_format=DEFAULT_SYNSET_TEXT_FORMAT,
            wnids=world.vocabulary.wnids,
            embeddings=world.synset_emb,
        )
        pools = ThumbnailPools(con, world, config.thumbnails_per_class, config.seed)
        models, matcher = write_references(con, config, world, pools, encoder)
        write_laion(con, config, world, plan, pools, models, matcher, encoder)
        write_text_matched(con, world, pools, models, matcher, encoder)
        write_dataset_caption_diagnostics(con, IMAGENET_CAPTIONS_DATASET)


def _info(name: str, kind: str, encoder: str, parameters: dict) -> DatasetInfo:
    """A dataset row of the preset; the selected and text-matched datasets record the
    default recipe, whose content rules (``samples.filtered``) the writer applies."""
    recipe = {}
    if kind in (schema.KIND_TEXT_SELECTED, schema.KIND_TEXT_MATCHED):
        recipe = describe_recipe(get_recipe(DEFAULT_RECIPE))
    return DatasetInfo(
        name, kind, SOURCE, encoder, True, {"preset": PRESET_NAME, **parameters, **recipe}
    )


def write_references(
    con: duckdb.DuckDBPyConnection,
    config: PaperScaleConfig,
    world: World,
    pools: ThumbnailPools,
    encoder: str,
) -> tuple[SimulatedModels, StreamedTextMatch]:
    """ImageNet-val, ImageNetV2 a/b/c and ImageNet-Captions, with their predictions.

    Returns:
        The models fitted on ImageNet-val and the text match of the captions' texts.
    """
    # ImageNet-val first (it fits the models), then the captions (the text match's queries).
    sizes = {
        IMAGENET_DATASET: config.imagenet_val_per_class,
        IMAGENET_CAPTIONS_DATASET: config.captions_per_class,
    }
    sizes |= {name: config.imagenetv2_per_class for name in IMAGENETV2_DATASETS}
    synset = world.synset_emb[world.class_indices]
    models = matcher = None
    for name, per_class in sizes.items():
        ref, rows_c = draw_reference_set(world, name, per_class, config.seed)
        position = np.tile(np.arange(per_class), world.n_classes)
        pool = ref.img_emb[position < config.thumbnails_per_class]
        base = pools.add_pool(name, _pad_pool(pool, world, rows_c, position, config))
        ids = pa.array(ref.rows["sample_id"], pa.string())
        text_sim = (
            None if ref.text_emb is None else np.einsum("nd,nd->n", ref.text_emb, synset[rows_c])
        )
        samples = _reference_samples(
            ref, ids, rows_c, synset, text_sim, pools.ids(base, rows_c, position)
        )
        kind = schema.KIND_CAPTIONS if ref.text_emb is not None else schema.KIND_IMAGE_SELECTED
        bulk = BulkDataset(con, _info(name, kind, encoder, {"reference": name}))
        every = np.arange(len(rows_c))
        text = None if ref.text_emb is None else (every, ref.text_emb)
        bulk.insert(samples, image_embeddings=(every, ref.img_emb), text_embeddings=text)
        bulk.finish()
        labels = np.asarray(ref.rows["wnid"])
        if models is None:  # imagenet-val comes first: it fits the models
            models = SimulatedModels.calibrate(ref.img_emb, labels, config.seed)
            models.write(con, name, ids, ref.img_emb, leave_out=every)
        else:
            models.write(con, name, ids, ref.img_emb)
        if ref.text_emb is not None:
            matcher = StreamedTextMatch(ref.text_emb, labels)
        logger.info("%s: %d samples", name, len(rows_c))
    return models, matcher


def _pad_pool(
    pool: np.ndarray,
    world: World,
    rows_c: np.ndarray,
    position: np.ndarray,
    config: PaperScaleConfig,
) -> np.ndarray:
    """A set's pool, with images drawn for classes that have fewer than the pool size."""
    k = config.thumbnails_per_class
    per_class = int(position.max()) + 1
    if per_class >= k:
        return pool
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 24, per_class]))
    extra, _ = compute_images(world, np.repeat(np.arange(world.n_classes), k - per_class), rng)
    grouped = np.concatenate(
        [
            pool.reshape(world.n_classes, per_class, -1),
            extra.reshape(world.n_classes, k - per_class, -1),
        ],
        axis=1,
    )
    return grouped.reshape(world.n_classes * k, -1)


def _reference_samples(ref, ids, rows_c, synset, text_sim, thumbnail_ids) -> dict[str, object]:
    n = len(rows_c)
    wnids = np.asarray(ref.rows["wnid"], dtype=object)
    return {
        "sample_id": ids,
        "url": pa.nulls(n, pa.string()),
        "text": pa.array(ref.rows.get("text", [None] * n), pa.string()),
        "wnid": pa.array(wnids, pa.string()),
        "matched_wnids": build_wnid_lists(wnids),
        "multi_label": pa.array(np.zeros(n, dtype=bool)),
        "text_similarity": pa.array(text_sim, pa.float32())
        if text_sim is not None
        else pa.nulls(n, pa.float32()),
        "image_similarity": pa.array(
            np.einsum("nd,nd->n", ref.img_emb, synset[rows_c]), pa.float32()
        ),
        "nsfw": pa.nulls(n, pa.string()),
        "thumbnail_id": pa.array(thumbnail_ids, pa.int64()),
    }


def write_laion(
    con: duckdb.DuckDBPyConnection,
    config: PaperScaleConfig,
    world: World,
    plan: LaionPlan,
    pools: ThumbnailPools,
    models: SimulatedModels,
    matcher: StreamedTextMatch,
    encoder: str,
) -> None:
    """LAIONet, chunk by chunk: rows, candidates, stored embeddings, predictions, search."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 25]))
    k = config.thumbnails_per_class
    pool, _ = compute_images(world, np.repeat(np.arange(world.n_classes), k), rng)
    base = pools.add_pool(LAIONET_DATASET, pool)
    bulk = BulkDataset(con, _info(LAIONET_DATASET, schema.KIND_TEXT_SELECTED, encoder, {}))
    started, n = time.perf_counter(), config.n_samples
    for lo in tqdm(range(0, n, config.chunk_rows), desc="paper-scale laionet", unit="chunk"):
        chunk = draw_laion_chunk(config, world, plan, lo, min(lo + config.chunk_rows, n))
        samples, candidates = _laion_tables(
            world, chunk, pools.ids(base, chunk.rows, chunk.index), config
        )
        above = np.flatnonzero(chunk.above)
        bulk.insert(
            samples,
            image_embeddings=(above, chunk.img_emb),
            text_embeddings=(above, chunk.text_emb),
            candidates=candidates,
        )
        ids = samples["sample_id"].take(pa.array(above))
        models.write(con, LAIONET_DATASET, ids, chunk.img_emb)
        meta = pd.DataFrame(
            {
                c: samples[c].take(pa.array(above)).to_numpy(zero_copy_only=False)
                for c in ("sample_id", "url", "text", "nsfw")
            }
        )
        matcher.update(chunk.index[above], chunk.img_emb, chunk.text_emb, meta)
    counts = {
        "rows_in": n,
        "rows_matched": n,
        "rows_rejected": 0,
        "embedding_floor": config.threshold,
        "config": config.to_dict(),
    }
    bulk.finish(parameters=counts)
    logger.info("%s: %d samples in %.0f s", LAIONET_DATASET, n, time.perf_counter() - started)


def _laion_tables(
    world: World, chunk: LaionChunk, thumbnail_ids: np.ndarray, config: PaperScaleConfig
) -> tuple[dict[str, object], dict[str, object]]:
    wnids = np.asarray(world.wnids, dtype=object)
    label = wnids[chunk.rows]
    multi = chunk.second >= 0
    second = np.where(multi, wnids[np.maximum(chunk.second, 0)], "")
    ids = laion_sample_ids(chunk.index)
    samples = {
        "sample_id": ids,
        "url": laion_urls(chunk.index, config.chunk_rows),
        "text": pa.array(chunk.captions, pa.string()),
        "wnid": pa.array(label, pa.string()),
        "matched_wnids": build_wnid_lists(label, second),
        "multi_label": pa.array(multi),
        "text_similarity": pa.array(chunk.similarity, pa.float32()),
        "image_similarity": pa.array(chunk.image_similarity, pa.float32()),
        "nsfw": pa.array(chunk.nsfw, pa.string()),
        "thumbnail_id": pa.array(thumbnail_ids, pa.int64()),
    }
    two = np.flatnonzero(multi)
    candidates = {
        "sample_id": pa.concat_arrays([ids, ids.take(pa.array(two))]),
        "wnid": pa.array(np.concatenate([label, second[two]]), pa.string()),
        "text_similarity": pa.array(
            np.concatenate([chunk.similarity, chunk.second_similarity[two]]), pa.float32()
        ),
    }
    return samples, candidates


def write_text_matched(
    con: duckdb.DuckDBPyConnection,
    world: World,
    pools: ThumbnailPools,
    models: SimulatedModels,
    matcher: StreamedTextMatch,
    encoder: str,
) -> None:
    """The text-matched dataset: every query's best caption, kept once (Section 4.3)."""
    unique = select_unique_matches(matcher.index, matcher.best, matcher.labels)
    query = unique["query"].to_numpy()
    labels = unique["label"].to_numpy(dtype=object)
    row_of = {w: i for i, w in enumerate(world.wnids)}
    rows = np.array([row_of[w] for w in labels], dtype=np.int64)
    img, text = matcher.img[query], matcher.text[query]
    synset = world.synset_emb[world.class_indices[rows]]
    meta = matcher.meta.iloc[query]
    n = len(unique)
    samples = {
        "sample_id": pa.array(meta["sample_id"].tolist(), pa.string()),
        "url": pa.array(meta["url"].tolist(), pa.string()),
        "text": pa.array(meta["text"].tolist(), pa.string()),
        "wnid": pa.array(labels, pa.string()),
        "matched_wnids": build_wnid_lists(labels),
        "multi_label": pa.array(np.zeros(n, dtype=bool)),
        "text_similarity": pa.array(unique["similarity"].to_numpy(np.float32)),
        "image_similarity": pa.array(np.einsum("nd,nd->n", img, synset), pa.float32()),
        "nsfw": pa.array(meta["nsfw"].tolist(), pa.string(), from_pandas=True),
        "thumbnail_id": pa.array(
            pools.ids(pools.bases[LAIONET_DATASET], rows, unique["candidate"].to_numpy())
        ),
    }
    above = unique["similarity"] > TEXT_MATCH_THRESHOLD
    parameters = {
        "queries": IMAGENET_CAPTIONS_DATASET,
        "candidates": LAIONET_DATASET,
        "text_similarity": TEXT_SIMILARITY_MEANING,
        "threshold": TEXT_MATCH_THRESHOLD,
        "n_queries": len(matcher.labels),
        "index": "exact",
        "recall_at_1": 1.0,
        "n_candidates_searched": matcher.searched,
        "n_queries_matched": int((matcher.index >= 0).sum()),
        "queries_above_threshold": int((matcher.best > TEXT_MATCH_THRESHOLD).sum()),
        "samples_above_threshold": int(above.sum()),
        "classes_above_threshold": int(unique.loc[above, "label"].nunique()),
        "text_match_label_applied": "nearest",
    }
    bulk = BulkDataset(
        con, _info(DEFAULT_TEXT_MATCHED, schema.KIND_TEXT_MATCHED, encoder, parameters)
    )
    every = np.arange(n)
    bulk.insert(samples, image_embeddings=(every, img), text_embeddings=(every, text))
    bulk.finish()
    models.write(con, DEFAULT_TEXT_MATCHED, samples["sample_id"], img)
    logger.info(
        "%s: %d samples (%d above %.1f)", DEFAULT_TEXT_MATCHED, n, above.sum(), TEXT_MATCH_THRESHOLD
    )
