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

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from laionet_core import schema
from laionet_core.matching import DEFAULT_MATCH_MODE
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
from precompute.build.assemble import write_shard_dataset
from precompute.build.executors import (
    DEFAULT_EXECUTOR,
    DEFAULT_WORKERS,
    LocalExecutor,
    RayExecutor,
    build_shards,
    open_executor,
)
from precompute.build.lifetime import hold_work_folder_lock
from precompute.build.manifests import (
    ShardContext,
    ShardParams,
    compute_array_digest,
    compute_vocabulary_digest,
)
from precompute.build.shards import read_peak_rss_mib
from precompute.ingest.laion import (
    LAION_RELEASE_ENCODER,
    LaionPart,
    list_laion_parts,
    read_corpus_info,
)
from precompute.references.precomputed import (
    read_precomputed_references,
    write_precomputed_references,
)

logger = logging.getLogger(__name__)

SYNSET_DIR = "synsets"
# Encodes the captions when the corpus ships no text_emb and no --encoder is given:
# the model behind LAION-400M's own embeddings, as in the paper.
DEFAULT_TEXT_ENCODER = "open_clip:ViT-B-32:laion400m_e32"
WORK_DIR_SUFFIX = ".shards"  # default work folder: <db folder>/<db stem>.shards
# BuildConfig fields that change how a build runs but not what it writes.
RUN_ONLY_FIELDS = ("db", "work_dir", "workers", "executor", "ray_address", "verify_inputs")


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
            defaults to ``<corpus>/synsets/<format>_emb.npy``. Unused with an encoder.
        encoder: Name of the model behind the shipped embeddings; defaults to the
            corpus's (``corpus.json``), else ``LAION_RELEASE_ENCODER``.
        dataset: Name of the text-selected dataset.
        references: Also load reference datasets found under ``<corpus>/references``.
        thumbnails: Store thumbnails found next to the data.
        text_encoder: Encoder spec that encodes the matched captions and the synset
            texts (``precompute.encode.models``); without one the parts' ``text_emb`` are
            used, or ``DEFAULT_TEXT_ENCODER`` when no part has them.
        work_dir: Folder of the shards; default ``<db folder>/<db stem>.shards``.
        workers: Worker processes (local) or CPUs of a local Ray.
        executor: ``local`` or ``ray``.
        ray_address: Address of a Ray cluster (with ``executor="ray"``).
        verify_inputs: Re-hash inputs when checking a shard (default: size + mtime).
        embedding_floor: Store embeddings only of samples with text similarity above
            this; None stores all.
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

    def __post_init__(self) -> None:
        floor = self.embedding_floor
        if floor is not None and not -1.0 <= floor <= 1.0:
            raise ValueError(f"--embedding-floor {floor} is outside [-1, 1]")
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")


def load_synset_embedding_file(
    path: Path, vocabulary: Vocabulary, *, wnids_file: Path | None = None
) -> np.ndarray:
    """Synset-text embeddings aligned with ``vocabulary``.

    Args:
        path: (C', D) .npy of L2-normalised embeddings.
        vocabulary: The classes to align to.
        wnids_file: One wnid per row of ``path``; when omitted, rows are taken to be in
            ImageNet-1k class-index order.

    Returns:
        (C, D) float32 in vocabulary order.

    Raises:
        ValueError: A class of the vocabulary has no row, or the rows are not unit-norm.
    """
    try:
        array = np.load(path)
    except (ValueError, OSError, EOFError) as error:  # np.load's messages name no file
        raise ValueError(f"{path}: not a readable synset-embedding .npy ({error})") from error
    matrix = require_unit_rows(array, name=str(path))
    if wnids_file is not None:
        row_wnids = wnids_file.read_text(encoding="utf-8").split()
    else:
        from laionet_core.vocabulary import load_imagenet_vocabulary

        row_wnids = list(load_imagenet_vocabulary().wnids)
    if len(row_wnids) != len(matrix):
        raise ValueError(f"{path}: {len(matrix)} rows but {len(row_wnids)} wnids")
    index = {w: i for i, w in enumerate(row_wnids)}
    missing = [w for w in vocabulary.wnids if w not in index]
    if missing:
        raise ValueError(f"{path}: no embedding for {len(missing)} classes, e.g. {missing[0]}")
    return matrix[[index[w] for w in vocabulary.wnids]]


def resolve_work_dir(config: BuildConfig) -> Path:
    """The shards' folder, absolute: ``config.work_dir`` or ``<db folder>/<db stem>.shards``."""
    work_dir = config.work_dir or config.db.with_name(config.db.stem + WORK_DIR_SUFFIX)
    return work_dir.resolve()


def load_corpus_synset_embeddings(config: BuildConfig, vocabulary: Vocabulary) -> np.ndarray:
    """The corpus's synset-text embeddings (``--synset-embeddings`` or ``<corpus>/synsets``).

    Returns:
        (C, D) float32, L2-normalised, in vocabulary order.

    Raises:
        FileNotFoundError: There is no such file.
    """
    synset_path = config.synset_embeddings or (
        config.corpus / SYNSET_DIR / f"{config.synset_format}_emb.npy"
    )
    if not synset_path.is_file():
        raise FileNotFoundError(
            f"{synset_path}: no synset-text embeddings; pass --synset-embeddings or --encoder"
        )
    wnids_file = synset_path.parent / "wnids.txt"
    return load_synset_embedding_file(
        synset_path, vocabulary, wnids_file=wnids_file if wnids_file.is_file() else None
    )


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
    config: BuildConfig,
    vocabulary: Vocabulary,
    executor: LocalExecutor | RayExecutor,
    *,
    spec: str | None,
    parts: list[LaionPart],
    info: dict,
) -> tuple[str, str, np.ndarray]:
    """Encoder name, its precision, and the (C, D) synset embeddings of this build."""
    if spec is None:
        encoder = config.encoder or info.get("encoder") or LAION_RELEASE_ENCODER
        return encoder, "", load_corpus_synset_embeddings(config, vocabulary)
    described = executor.describe_encoder()
    encoder, precision = str(described["name"]), str(described["precision"])
    texts = [format_synset_text(s, config.synset_format) for s in vocabulary.synsets]
    synset_emb = require_unit_rows(executor.encode_texts(texts), name=encoder)
    _log_image_embeddings(parts, encoder, synset_emb.shape[1])
    return encoder, precision, synset_emb


def _holding_work_folder_lock(build: Callable[[BuildConfig], Path]) -> Callable[..., Path]:
    """Run ``build`` holding its work folder's lock (``lifetime.hold_work_folder_lock``).

    A second build on the same folder raises ``WorkFolderBusyError`` naming this one's pid.
    """

    @functools.wraps(build)
    def locked(config: BuildConfig) -> Path:
        with hold_work_folder_lock(resolve_work_dir(config)):
            return build(config)

    return locked


@_holding_work_folder_lock
def build_database(config: BuildConfig) -> Path:
    """Build (or reuse) every shard, then write ``config.db`` atomically from them.

    Returns:
        The database path.

    Raises:
        ValueError / FileNotFoundError: Bad input; the database is not touched then.
    """
    started = time.perf_counter()
    corpus = config.corpus.resolve()
    info = read_corpus_info(corpus)
    simulated = bool(info.get("simulated", False))
    vocabulary = load_vocabulary(config.vocab_file)
    parts = list_laion_parts(corpus)
    spec = config.text_encoder
    if spec is None and all(p.text_emb is None for p in parts):
        spec = DEFAULT_TEXT_ENCODER
        logger.info("%s has no text_emb: captions are encoded with %s", corpus, spec)
    executor = open_executor(
        config.executor, workers=config.workers, address=config.ray_address, encoder_spec=spec
    )
    try:
        encoder, precision, synset_emb = _load_synsets(
            config, vocabulary, executor, spec=spec, parts=parts, info=info
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
        )
        vocab_file = config.vocab_file.resolve() if config.vocab_file else None
        context = ShardContext(
            resolve_work_dir(config), params, vocab_file, vocabulary.wnids, synset_emb
        )
        shards, built, captions_read = build_shards(
            parts, context, executor, verify_inputs=config.verify_inputs
        )
        sharded = time.perf_counter()
    finally:
        executor.close()

    references = []
    if config.references and spec is not None:
        logger.warning("precomputed references skipped: their embeddings are not from %s", encoder)
    elif config.references:
        wnid_rows = {w: i for i, w in enumerate(vocabulary.wnids)}
        references = read_precomputed_references(config.corpus, synset_emb, wnid_rows)
    parameters = {k: str(v) for k, v in vars(config).items() if k not in RUN_ONLY_FIELDS}
    parameters |= {"text_encoder": spec, "shard_parameters": vars(params)}
    with open_new_database(config.db) as con:
        write_meta(con, {"simulated": str(simulated).lower(), "corpus": str(config.corpus)})
        write_classes(con, vocabulary, synset_format=config.synset_format)
        write_synset_embeddings(
            con,
            encoder=encoder,
            synset_format=config.synset_format,
            wnids=vocabulary.wnids,
            embeddings=synset_emb,
        )
        kind, source = schema.KIND_TEXT_SELECTED, str(config.corpus)
        totals = write_shard_dataset(
            con,
            DatasetInfo(config.dataset, kind, source, encoder, simulated, parameters),
            shards,
            embedding_floor=config.embedding_floor,
        )
        write_precomputed_references(
            con,
            config.corpus,
            references,
            encoder=encoder,
            simulated=simulated,
            thumbnails=config.thumbnails,
        )
    ended = time.perf_counter()
    logger.info(
        "build: %d captions in, %d matched, %d rejected; %d of %d shards built this run "
        "(%d captions); %.1f s (shards %.1f s, database %.1f s), %.0f captions/s; "
        "peak RSS %.0f MiB",
        totals.rows_in,
        totals.matched,
        totals.rejected,
        built,
        len(parts),
        captions_read,
        ended - started,
        sharded - started,
        ended - sharded,
        captions_read / max(ended - started, 1e-9),
        read_peak_rss_mib() or 0.0,
    )
    return config.db
