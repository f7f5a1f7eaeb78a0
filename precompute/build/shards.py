"""Shards of the build: one input part -> matched, scored outputs plus a manifest.

A shard reads one LAION part, matches its captions to synsets by lemma, scores every
(caption, matched synset) pair against the synset-text embedding, and writes into
``<work>/part-NNNNN/``: ``samples.parquet``, ``candidates.parquet``,
``rejected.parquet``, ``text_emb.npy`` (matched rows), ``img_emb.npy`` (when the part has
image embeddings) and ``thumbnails.parquet`` (when thumbnails are kept). Each file is
written to a temporary name in the same folder and renamed into place; the manifest
(``manifest.json``) comes last and records inputs, parameters, outputs with checksums
and row counts, so a shard whose manifest verifies is skipped by the next run.

Two halves, so that caption encoding can run elsewhere: ``match_shard`` (read, match,
gather) and ``write_shard`` (score, write). ``build_shard`` chains them when the part
ships caption embeddings. Manifests and their checks are in ``precompute.build.manifests``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from laionet_core.encoders import DEFAULT_TEXT_BATCH_SIZE
from laionet_core.matching import LemmaMatcher
from laionet_core.vocabulary import load_vocabulary
from precompute.build.manifests import (
    MANIFEST_FILE,
    ShardContext,
    compute_vocabulary_digest,
    describe_inputs,
    describe_outputs,
    open_atomically,
    shard_folder,
    write_manifest,
)
from precompute.build.scoring import score_matches
from precompute.ingest.laion import (
    LaionPart,
    load_part_embeddings,
    read_part_metadata,
    read_thumbnail_files,
)

logger = logging.getLogger(__name__)

# Test hook: seconds to sleep after a shard's outputs and before its manifest, so a test
# can kill the build at a known point. Unset in normal runs.
PAUSE_ENV = "LAIONET_SHARD_PAUSE_S"
SAMPLES_FILE = "samples.parquet"
CANDIDATES_FILE = "candidates.parquet"
REJECTED_FILE = "rejected.parquet"
THUMBNAILS_FILE = "thumbnails.parquet"
TEXT_EMB_FILE = "text_emb.npy"
IMG_EMB_FILE = "img_emb.npy"
# Arrow schemas of the shard outputs (fixed, so an all-null column keeps its type).
SAMPLES_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("url", pa.string()),
        ("text", pa.string()),
        ("wnid", pa.string()),
        ("matched_wnids", pa.list_(pa.string())),
        ("multi_label", pa.bool_()),
        ("text_similarity", pa.float32()),
        ("image_similarity", pa.float32()),
        ("nsfw", pa.string()),
    ]
)
CANDIDATES_SCHEMA = pa.schema(
    [("sample_id", pa.string()), ("wnid", pa.string()), ("text_similarity", pa.float32())]
)
REJECTED_SCHEMA = pa.schema(
    [("source", pa.string()), ("sample_id", pa.string()), ("reason", pa.string())]
)
THUMBNAILS_SCHEMA = pa.schema([("mime", pa.string()), ("data", pa.binary())])

# One matcher per (vocabulary digest, match mode) in each worker process: keyed by the
# vocabulary's content, so a wnid file rewritten at the same path gets a new matcher.
_matchers: dict[tuple[str, str], LemmaMatcher] = {}


@dataclass
class MatchedShard:
    """One part after matching, before scoring (small: only matched rows are kept).

    Attributes:
        part: The input part.
        rows_in: Rows of the part.
        matched: M matched rows: sample_id, url, text, nsfw.
        wnids: M tuples of matched wnids (sorted).
        text_emb: (M, D) caption embeddings from the part's ``text_emb``, or None
            when an encoder scores the captions.
        img_emb: (M, D) image embeddings, or None.
        thumbnails: M ``(mime, bytes)`` or None, or None when thumbnails are off.
        rejected: Rows that could not be used: source, sample_id, reason.
        inputs: The inputs as recorded in the manifest (with checksums).
        seconds: Time spent so far.
    """

    part: LaionPart
    rows_in: int
    matched: pd.DataFrame
    wnids: list[tuple[str, ...]]
    text_emb: np.ndarray | None
    img_emb: np.ndarray | None
    thumbnails: list[tuple[str, bytes] | None] | None
    rejected: pd.DataFrame
    inputs: list[dict]
    seconds: float


@dataclass(frozen=True)
class ShardSummary:
    """What the driver hears about a finished shard.

    Attributes:
        name: The shard's folder name.
        rows_in: Rows of the part; ``matched``, ``rejected``: rows kept and set aside.
        seconds: Time spent on the shard.
        peak_rss_mib: Peak resident memory of the process that wrote it (None off Linux).
    """

    name: str
    rows_in: int
    matched: int
    rejected: int
    seconds: float
    peak_rss_mib: float | None = None


def read_peak_rss_mib() -> float | None:
    """This process's peak resident memory in MiB (Linux ``VmHWM``), None elsewhere.

    Unlike ``getrusage``, it does not count memory of the parent a process was forked from.
    """
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), None)
    return int(line.split()[1]) / 1024 if line else None


def _get_matcher(context: ShardContext) -> LemmaMatcher:
    params = context.params
    key = (params.vocabulary_digest, params.match_mode, params.lemma_source_omits)
    if key not in _matchers:
        vocabulary = load_vocabulary(context.vocab_file)
        if compute_vocabulary_digest(vocabulary) != key[0]:
            raise ValueError(
                f"{context.vocab_file or 'imagenet-1k'}: the vocabulary changed during the build"
            )
        omit = tuple(w for w in key[2].split(",") if w)
        _matchers[key] = LemmaMatcher(vocabulary, mode=key[1], omit_wnids=omit)
    return _matchers[key]


def list_rejected_rows(meta: pd.DataFrame, source: str) -> pd.DataFrame:
    """Rows whose caption is null or blank, with the reason.

    Args:
        meta: A part's metadata (``read_part_metadata``).
        source: The file, recorded with each row.

    Returns:
        Columns source, sample_id, reason.
    """
    text = meta["text"]
    null = text.isna().to_numpy()
    blank = ~null & (text.fillna("").astype(str).str.strip() == "").to_numpy()
    reason = np.where(null, "caption is null", "caption is empty or whitespace")
    keep = null | blank
    return pd.DataFrame(
        {"source": source, "sample_id": meta["sample_id"].to_numpy()[keep], "reason": reason[keep]}
    )


def match_shard(part: LaionPart, context: ShardContext) -> MatchedShard:
    """Read one part, match its captions and gather the matched rows.

    Args:
        part: The part to read.
        context: Parameters and synset embeddings shared by every shard.

    Returns:
        The matched rows with their embeddings and thumbnails.

    Raises:
        ValueError: A file fails its checks (the message names it), or the part has no
            ``text_emb`` and no encoder was given.
    """
    started = time.perf_counter()
    params = context.params
    inputs = describe_inputs(part, params, checksum=True)
    meta = read_part_metadata(part)
    rejected = list_rejected_rows(meta, str(part.metadata))
    matches = _get_matcher(context).match(meta["text"].tolist())
    rows = np.asarray(matches.rows, dtype=np.int64)
    dim = context.synset_embeddings.shape[1]
    text_emb = None
    if not params.encodes_captions:
        if part.text_emb is None:
            raise ValueError(
                f"{part.metadata}: no text_emb/text_emb_{part.index}.npy next to it; "
                "scoring needs caption embeddings or an encoder (--encoder SPEC)"
            )
        text_emb = np.asarray(load_part_embeddings(part.text_emb, rows=len(meta), dim=dim)[rows])
    img_emb = None
    if part.img_emb is not None:
        # Without an encoder the images share the captions' CLIP space, so the dimension
        # must agree; with one, image embeddings of another width are left out.
        array = load_part_embeddings(part.img_emb, rows=len(meta), dim=None)
        if array.shape[1] == dim:
            img_emb = np.asarray(array[rows])
        elif not params.encodes_captions:
            raise ValueError(f"{part.img_emb}: dimension {array.shape[1]}, expected {dim}")
    matched = meta.iloc[rows][["sample_id", "url", "text", "nsfw"]].reset_index(drop=True)
    thumbnails = None
    if params.thumbnails and part.images is not None:  # refused files: rejected rows
        thumbnails, refused = read_thumbnail_files(part.images, matched["sample_id"])
        rejected = pd.concat([rejected, refused], ignore_index=True) if len(refused) else rejected
    return MatchedShard(
        part,
        len(meta),
        matched,
        list(matches.wnids),
        text_emb,
        img_emb,
        thumbnails,
        rejected,
        inputs,
        time.perf_counter() - started,
    )


def _write_parquet(folder: Path, name: str, frame: pd.DataFrame, schema: pa.Schema) -> None:
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    with open_atomically(folder / name) as handle:
        pq.write_table(table, handle)


def _write_npy(folder: Path, name: str, array: np.ndarray) -> None:
    with open_atomically(folder / name) as handle:
        np.save(handle, array, allow_pickle=False)


def write_shard(matched: MatchedShard, text_emb: np.ndarray, context: ShardContext) -> ShardSummary:
    """Score a matched shard and write its outputs, then its manifest, atomically.

    Args:
        matched: From ``match_shard``.
        text_emb: (M, D) L2-normalised caption embeddings of the matched rows.
        context: Shared parameters.

    Returns:
        The shard's row counts.

    Raises:
        ValueError: ``text_emb`` does not have one row per matched caption.
    """
    started = time.perf_counter()
    part = matched.part
    if len(text_emb) != len(matched.wnids):
        raise ValueError(
            f"{part.metadata}: {len(text_emb)} caption embeddings for {len(matched.wnids)} "
            "matched captions"
        )
    samples, candidates = score_matches(matched, text_emb, context)
    folder = shard_folder(context.work_dir, part)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST_FILE).unlink(missing_ok=True)  # first: the shard is now unverified
    for stale in folder.iterdir():
        stale.unlink()
    _write_parquet(folder, SAMPLES_FILE, samples, SAMPLES_SCHEMA)
    _write_parquet(folder, CANDIDATES_FILE, candidates, CANDIDATES_SCHEMA)
    _write_parquet(folder, REJECTED_FILE, matched.rejected, REJECTED_SCHEMA)
    _write_npy(folder, TEXT_EMB_FILE, np.asarray(text_emb))
    if matched.img_emb is not None:
        _write_npy(folder, IMG_EMB_FILE, matched.img_emb)
    if matched.thumbnails is not None:
        thumbs = pd.DataFrame(
            [t if t is not None else (None, None) for t in matched.thumbnails],
            columns=["mime", "data"],
        )
        _write_parquet(folder, THUMBNAILS_FILE, thumbs, THUMBNAILS_SCHEMA)
    if os.environ.get(PAUSE_ENV):
        time.sleep(float(os.environ[PAUSE_ENV]))
    rows = {
        "in": matched.rows_in,
        "matched": len(samples),
        "rejected": len(matched.rejected),
        "candidates": len(candidates),
    }
    seconds = matched.seconds + time.perf_counter() - started
    write_manifest(folder, part, context.params, matched.inputs, describe_outputs(folder), rows)
    logger.debug("%s: %s in %.2f s", folder.name, rows, seconds)
    counts = (rows["in"], rows["matched"], rows["rejected"])
    return ShardSummary(folder.name, *counts, seconds, read_peak_rss_mib())


def build_shard(part: LaionPart, context: ShardContext) -> ShardSummary:
    """Match, score (with the part's ``text_emb``) and write one shard."""
    matched = match_shard(part, context)
    assert matched.text_emb is not None, "build_shard needs caption embeddings in the part"
    return write_shard(matched, matched.text_emb, context)


class ShardEncoder:
    """Scores matched shards with a text encoder, loaded once (in a process or an actor).

    Args:
        spec: Encoder spec, e.g. ``sentence-transformers:all-MiniLM-L6-v2``.
        batch_size: Captions per forward pass.
    """

    def __init__(self, spec: str, *, batch_size: int = DEFAULT_TEXT_BATCH_SIZE) -> None:
        from precompute.encode.models import load_text_encoder  # torch only where it is used

        self.encoder = load_text_encoder(spec)
        self.batch_size = batch_size

    def describe(self) -> dict[str, str | int]:
        """Name, dimension and precision of the loaded encoder."""
        enc = self.encoder
        return {"name": enc.name, "dim": enc.dim, "precision": getattr(enc, "precision", "")}

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """(N, D) float32 L2-normalised embeddings of ``texts``."""
        return self.encoder.encode_texts(texts, batch_size=self.batch_size)

    def finish_shard(self, matched: MatchedShard, context: ShardContext) -> ShardSummary:
        """Encode the matched captions and write the shard."""
        started = time.perf_counter()
        text_emb = self.encode_texts(matched.matched["text"].astype(str).tolist())
        matched.seconds += time.perf_counter() - started
        return write_shard(matched, text_emb, context)
