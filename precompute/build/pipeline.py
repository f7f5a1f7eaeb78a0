"""The build: LAION-style parts -> shards of matched, scored captions -> one DuckDB file.

Stages:

1. ``precompute.build.executors.build_shards``: one shard per input part
   (``precompute.build.shards``), run in local processes or on Ray; shards whose manifest
   verifies (``precompute.build.manifests``) are reused, so a killed build resumes.
2. ``precompute.references.precomputed``: reference datasets shipped with precomputed
   embeddings (the simulated corpus's ImageNet-like sets).
3. ``build_database``: runs both and writes classes, synset embeddings and every
   dataset into a new database, streaming the shards (``precompute.build.assemble``),
   atomically. Details: ``docs/PIPELINE.md``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from laionet_core import schema
from laionet_core.content_rules import OcrFile
from laionet_core.matching import DEFAULT_MATCH_MODE
from laionet_core.recipes import Recipe, describe_recipe
from laionet_core.settings import LAIONET_DATASET
from laionet_core.storage import (
    DatasetInfo,
    open_new_database,
    write_classes,
    write_meta,
    write_synset_embeddings,
)
from laionet_core.validation import require_unit_rows
from laionet_core.vocabulary import (
    DEFAULT_SYNSET_TEXT_FORMAT,
    Vocabulary,
    format_synset_text,
    load_vocabulary,
)
from precompute.build.assemble import ShardTotals, write_shard_dataset
from precompute.build.executors import (
    DEFAULT_EXECUTOR,
    DEFAULT_WORKERS,
    LocalExecutor,
    RayExecutor,
    build_shards,
    open_executor,
)
from precompute.build.lifetime import locking_work_folder
from precompute.build.manifests import (
    ShardContext,
    ShardParams,
    compute_array_digest,
    compute_vocabulary_digest,
)
from precompute.build.ocr import select_build_ocr_files
from precompute.build.plan import BuildPlan, estimate_build, format_corpus_report, plan_build
from precompute.build.shards import read_peak_rss_mib
from precompute.build.synsets import load_plan_synset_embeddings
from precompute.ingest.corpus_summary import summarize_corpus
from precompute.ingest.laion_layouts import LaionPart
from precompute.references.precomputed import (
    read_precomputed_references,
    write_precomputed_references,
)

logger = logging.getLogger(__name__)

WORK_DIR_SUFFIX = ".shards"  # default work folder: <db folder>/<db stem>.shards
# BuildConfig fields that change how a build runs but not what it writes.
RUN_ONLY_FIELDS = ("db", "work_dir", "workers", "executor", "ray_address", "verify_inputs")
# Recorded on their own (the recipe as a JSON object), not as strings.
RECORDED_APART = ("recipe",)


@dataclass(frozen=True)
class BuildConfig:
    """Everything one build needs.

    Attributes:
        corpus: Root of the LAION-style data (see ``precompute.ingest.laion``).
        db: Database file to create (replaced atomically).
        match_mode: Lemma matching mode (``paper`` or ``normalized``).
        synset_format: Synset-text format the captions are scored against.
        vocab_file: wnids to use instead of ImageNet-1k.
        synset_embeddings: (C, D) .npy of synset-text embeddings in vocabulary order;
            defaults to ``<corpus>/synsets/<format>_emb.npy``. An error with an encoder.
        encoder: Name of the model behind the shipped embeddings; defaults to the
            corpus's (``corpus.json``), else the release's model by embedding width.
        dataset: Name of the text-selected dataset.
        references: Also load reference datasets found under ``<corpus>/references``.
        thumbnails: Store thumbnails found next to the data.
        text_encoder: Encoder spec that encodes the matched captions and the synset
            texts (``precompute.encode.models``); without one the parts' ``text_emb`` are
            used, and a corpus without them is an error (``precompute.build.plan``).
        work_dir: Folder of the shards; default ``<db folder>/<db stem>.shards``.
        workers: Worker processes (local) or CPUs of a local Ray.
        executor: ``local`` or ``ray``.
        ray_address: Address of a Ray cluster (with ``executor="ray"``).
        verify_inputs: Re-hash inputs when checking a shard (default: size + mtime).
        embedding_floor: Store embeddings only of samples with text similarity above
            this; None stores all.
        recipe: The recipe in force (``laionet_core.recipes``), recorded in the
            dataset's parameters; its lemma omissions reach the matcher and its content
            rules set ``samples.filtered``. None: plain options, no recipe.
        ocr: Parquet files of ``SAMPLE_ID, ocr_text`` for the recipe's OCR rule; None
            reads the metadata's own ``ocr_text`` column when it has one.
    """

    corpus: Path
    db: Path
    match_mode: str = DEFAULT_MATCH_MODE
    synset_format: str = DEFAULT_SYNSET_TEXT_FORMAT
    vocab_file: Path | None = None
    synset_embeddings: Path | None = None
    encoder: str | None = None
    dataset: str = LAIONET_DATASET
    references: bool = True
    thumbnails: bool = True
    text_encoder: str | None = None
    work_dir: Path | None = None
    workers: int = DEFAULT_WORKERS
    executor: str = DEFAULT_EXECUTOR
    ray_address: str | None = None
    verify_inputs: bool = False
    embedding_floor: float | None = None
    recipe: Recipe | None = None
    ocr: tuple[Path, ...] | None = None

    def __post_init__(self) -> None:
        floor = self.embedding_floor
        if floor is not None and not -1.0 <= floor <= 1.0:
            raise ValueError(f"--embedding-floor {floor} is outside [-1, 1]")
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")


def resolve_work_dir(config: BuildConfig) -> Path:
    """The shards' folder, absolute: ``config.work_dir`` or ``<db folder>/<db stem>.shards``."""
    work_dir = config.work_dir or config.db.with_name(config.db.stem + WORK_DIR_SUFFIX)
    return work_dir.resolve()


def prepare_build(config: BuildConfig) -> BuildPlan:
    """Summarise the corpus, check it against the options and log the summary first.

    Returns:
        The plan (its warnings logged at WARNING level).

    Raises:
        ValueError / FileNotFoundError: What ``plan_build`` refuses, before any work.
    """
    summary = summarize_corpus(config.corpus.resolve())
    try:
        plan = plan_build(
            summary,
            text_encoder=config.text_encoder,
            embedding_model=config.encoder,
            synset_embeddings=config.synset_embeddings,
            synset_format=config.synset_format,
        )
    except ValueError:
        for line in format_corpus_report(summary, plan=None):
            logger.info("%s", line)
        raise
    estimate = estimate_build(
        summary, workers=config.workers, encodes_captions=plan.encodes_captions
    )
    for line in format_corpus_report(summary, plan=None, estimate=estimate):
        logger.info("%s", line)
    logger.info("encoder recorded: %s", plan.encoder)
    for warning in plan.warnings:
        logger.warning("%s", warning)
    return plan


def _log_image_embeddings(parts: list[LaionPart], encoder: str, dim: int) -> None:
    """Say what happens to the parts' image embeddings when an encoder scores captions."""
    first = next((p.img_emb for p in parts if p.img_emb is not None), None)
    if first is None:
        return
    try:
        width = np.load(first, mmap_mode="r").shape[-1]
    except (ValueError, OSError):
        return  # its shard names the file and the problem
    if width != dim:
        logger.warning(
            "%s: width %d, but %s gives %d: image embeddings and image similarity are left out",
            first,
            width,
            encoder,
            dim,
        )
    else:
        logger.info("image embeddings are taken to be in the space of %s (same width)", encoder)


def _load_synsets(
    plan: BuildPlan,
    vocabulary: Vocabulary,
    executor: LocalExecutor | RayExecutor,
    *,
    synset_format: str,
    parts: list[LaionPart],
    shipped: np.ndarray | None,
) -> tuple[str, str, np.ndarray]:
    """Encoder name, its precision, and the (C, D) synset embeddings of this build."""
    if shipped is not None:
        return plan.encoder, "", shipped
    described = executor.describe_encoder()
    encoder, precision = str(described["name"]), str(described["precision"])
    texts = [format_synset_text(s, synset_format) for s in vocabulary.synsets]
    synset_emb = require_unit_rows(executor.encode_texts(texts), name=encoder)
    _log_image_embeddings(parts, encoder, synset_emb.shape[1])
    return encoder, precision, synset_emb


@dataclass(frozen=True)
class _ShardRun:
    """What the shard phase produced, for the database phase."""

    encoder: str
    synset_emb: np.ndarray
    params: ShardParams
    shards: list[tuple[Path, dict]]
    built: int
    captions_read: int


def _run_shards(
    config: BuildConfig, plan: BuildPlan, vocabulary: Vocabulary, shipped: np.ndarray | None
) -> _ShardRun:
    """Encode the synset texts (unless ``shipped``), then build (or reuse) every shard."""
    parts = list(plan.summary.layout.parts)
    spec = config.text_encoder
    executor = open_executor(
        config.executor, workers=config.workers, address=config.ray_address, encoder_spec=spec
    )
    try:
        encoder, precision, synset_emb = _load_synsets(
            plan,
            vocabulary,
            executor,
            synset_format=config.synset_format,
            parts=parts,
            shipped=shipped,
        )
        params = ShardParams(
            match_mode=config.match_mode,
            vocabulary=vocabulary.source,
            vocabulary_digest=compute_vocabulary_digest(vocabulary),
            synset_format=config.synset_format,
            synset_embeddings_digest=compute_array_digest(synset_emb),
            encoder=encoder,
            encodes_captions=spec is not None,
            encoder_precision=precision,
            thumbnails=config.thumbnails,
            lemma_source_omits=",".join(config.recipe.lemma_source_omits if config.recipe else ()),
        )
        vocab_file = config.vocab_file.resolve() if config.vocab_file else None
        context = ShardContext(
            resolve_work_dir(config), params, vocab_file, vocabulary.wnids, synset_emb
        )
        shards, built, captions_read = build_shards(
            parts, context, executor, verify_inputs=config.verify_inputs
        )
    finally:
        executor.close()
    return _ShardRun(encoder, synset_emb, params, shards, built, captions_read)


def _write_database(
    config: BuildConfig,
    vocabulary: Vocabulary,
    run: _ShardRun,
    *,
    simulated: bool,
    ocr: list[OcrFile] | None,
) -> ShardTotals:
    """Write the new database from the shards (and precomputed references); its totals.

    ``ocr``: the OCR text of the recipe's OCR rule (``precompute.build.ocr``), or None.
    """
    references = []
    if config.references and config.text_encoder is not None:
        logger.warning(
            "precomputed references skipped: their embeddings are not from %s", run.encoder
        )
    elif config.references:
        wnid_rows = {w: i for i, w in enumerate(vocabulary.wnids)}
        references = read_precomputed_references(config.corpus, run.synset_emb, wnid_rows)
    skipped = RUN_ONLY_FIELDS + RECORDED_APART
    parameters = {k: str(v) for k, v in vars(config).items() if k not in skipped}
    parameters |= {"text_encoder": config.text_encoder, "shard_parameters": vars(run.params)}
    parameters |= describe_recipe(config.recipe, ocr_text_given=ocr is not None)
    with open_new_database(config.db) as con:
        write_meta(con, {"simulated": str(simulated).lower(), "corpus": str(config.corpus)})
        write_classes(con, vocabulary, synset_format=config.synset_format)
        write_synset_embeddings(
            con,
            encoder=run.encoder,
            synset_format=config.synset_format,
            wnids=vocabulary.wnids,
            embeddings=run.synset_emb,
        )
        kind, source = schema.KIND_TEXT_SELECTED, str(config.corpus)
        info = DatasetInfo(config.dataset, kind, source, run.encoder, simulated, parameters)
        totals = write_shard_dataset(
            con, info, run.shards, embedding_floor=config.embedding_floor, ocr_text=ocr
        )
        write_precomputed_references(
            con,
            config.corpus,
            references,
            encoder=run.encoder,
            simulated=simulated,
            thumbnails=config.thumbnails,
        )
    return totals


@locking_work_folder(resolve_work_dir)
def build_database(config: BuildConfig) -> Path:
    """Check the corpus, build (or reuse) every shard, then write ``config.db`` atomically.

    Returns:
        The database path.

    Raises:
        ValueError / FileNotFoundError: Bad input; the database is not touched then.
    """
    started = time.perf_counter()
    plan = prepare_build(config)
    simulated = bool(plan.summary.info.get("simulated", False))
    vocabulary = load_vocabulary(config.vocab_file)
    shipped = None if plan.encodes_captions else load_plan_synset_embeddings(plan, vocabulary)
    ocr = select_build_ocr_files(
        config.ocr,
        [part.metadata for part in plan.summary.layout.parts],
        ocr_rule=config.recipe.ocr_rule if config.recipe else "none",
    )
    run = _run_shards(config, plan, vocabulary, shipped)
    sharded = time.perf_counter()
    totals = _write_database(config, vocabulary, run, simulated=simulated, ocr=ocr)
    ended = time.perf_counter()
    logger.info(
        "build: %d captions in, %d matched, %d rejected; %d of %d shards built this run "
        "(%d captions); %.1f s (shards %.1f s, database %.1f s), %.0f captions/s; "
        "peak RSS %.0f MiB",
        totals.rows_in,
        totals.matched,
        totals.rejected,
        run.built,
        len(run.shards),
        run.captions_read,
        ended - started,
        sharded - started,
        ended - sharded,
        run.captions_read / max(ended - started, 1e-9),
        read_peak_rss_mib() or 0.0,
    )
    return config.db
