"""Shard manifests: what a shard was built from, with what, and what it wrote.

``<work>/part-NNNNN/manifest.json`` is written last, atomically, by
``precompute.build.shards.write_shard``. It records:

* ``parameters``: everything that changes the outputs (``ShardParams``, including
  ``SHARD_FORMAT_VERSION``);
* ``inputs``: each input file's path, size, mtime and blake2b-256 checksum (the thumbnail
  folder by a checksum of its listing: names, sizes, mtimes);
* ``outputs``: each output file's name, size and blake2b checksum;
* ``rows``: captions in, matched, rejected, and candidate pairs.

``verify_shard`` accepts a shard when the parameters are equal, every output is present
with its recorded size and checksum, and every input has its recorded size and mtime
(and, with ``verify_inputs``, its recorded checksum; the thumbnail folder's listing
checksum and file count are always compared, as they cost only a directory scan).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from laionet_core.files import TEMP_MARKER, open_atomically
from laionet_core.vocabulary import Vocabulary
from precompute.ingest.laion import LaionPart

logger = logging.getLogger(__name__)

# Bump when a shard's files change layout or meaning; older shards are then rebuilt.
SHARD_FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
HASH_CHUNK_BYTES = 1 << 22  # 4 MiB reads: streamed, so a 1 GB part needs no 1 GB buffer
DIGEST_BYTES = 32  # blake2b-256: collision-safe, and half the hex of the 512-bit default


@dataclass(frozen=True)
class ShardParams:
    """Every parameter that changes a shard's outputs (recorded in its manifest).

    Attributes:
        match_mode: Lemma matching mode.
        vocabulary: Where the vocabulary came from (``imagenet-1k`` or a wnid file).
        vocabulary_digest: Checksum of the classes' wnids and lemmas.
        synset_format: Synset-text format the captions are scored against.
        synset_embeddings_digest: Checksum of the (C, D) float32 synset embeddings.
        encoder: The model behind the caption embeddings.
        encodes_captions: True when ``encoder`` encodes the captions; False when they
            come from the parts' ``text_emb`` files.
        encoder_precision: fp32, fp16 or bf16 when encoding; empty otherwise.
        thumbnails: Thumbnails are gathered.
        lemma_source_omits: Comma-separated wnids whose lemmas stay out of the lemma
            dictionary (a recipe's; the paper's leave out the crane machine).
        format_version: ``SHARD_FORMAT_VERSION``.
    """

    match_mode: str
    vocabulary: str
    vocabulary_digest: str
    synset_format: str
    synset_embeddings_digest: str
    encoder: str
    encodes_captions: bool
    encoder_precision: str
    thumbnails: bool
    lemma_source_omits: str = ""
    format_version: int = SHARD_FORMAT_VERSION


@dataclass(frozen=True)
class ShardContext:
    """What every shard job needs; picklable, so it travels to workers.

    Attributes:
        work_dir: Absolute folder holding one sub-folder per shard.
        params: The shard parameters.
        vocab_file: wnid file of the vocabulary (None: ImageNet-1k).
        wnids: (C,) wnids in vocabulary order.
        synset_embeddings: (C, D) float32, L2-normalised, in vocabulary order.
    """

    work_dir: Path
    params: ShardParams
    vocab_file: Path | None
    wnids: tuple[str, ...]
    synset_embeddings: np.ndarray


def compute_vocabulary_digest(vocabulary: Vocabulary) -> str:
    """blake2b of every class's wnid and lemmas, in vocabulary order."""
    lines = (f"{s.wnid}\t{'|'.join(s.lemmas)}\n" for s in vocabulary.synsets)
    data = "".join(lines).encode("utf-8")
    return hashlib.blake2b(data, digest_size=DIGEST_BYTES).hexdigest()


def compute_array_digest(array: np.ndarray) -> str:
    """blake2b of an array's shape and float32 values."""
    values = np.ascontiguousarray(array, dtype=np.float32)
    digest = hashlib.blake2b(str(values.shape).encode(), digest_size=DIGEST_BYTES)
    digest.update(values.tobytes())
    return digest.hexdigest()


def hash_file(path: Path) -> str:
    """blake2b of a file's bytes, read in ``HASH_CHUNK_BYTES`` chunks."""
    digest = hashlib.blake2b(digest_size=DIGEST_BYTES)
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def shard_folder(work_dir: Path, part: LaionPart) -> Path:
    """``<work_dir>/part-NNNNN``: where a part's shard lives."""
    return work_dir / f"part-{part.index:05d}"


def _describe_file(role: str, path: Path, *, checksum: bool) -> dict:
    stat = path.stat()
    return {
        "role": role,
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "blake2b": hash_file(path) if checksum else None,
    }


def _describe_folder(role: str, folder: Path) -> dict:
    digest = hashlib.blake2b(digest_size=DIGEST_BYTES)
    size = mtime = files = 0
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_file():
            stat = entry.stat()
            digest.update(f"{entry.name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
            size, mtime, files = size + stat.st_size, max(mtime, stat.st_mtime_ns), files + 1
    path = str(folder.resolve())
    record = {"role": role, "path": path, "size": size, "mtime_ns": mtime, "files": files}
    return {**record, "blake2b": digest.hexdigest()}


def describe_inputs(part: LaionPart, params: ShardParams, *, checksum: bool) -> list[dict]:
    """The files a shard reads, with size, mtime and (if ``checksum``) blake2b.

    Caption embeddings count only when they are used (no encoder); the thumbnail
    folder only when thumbnails are kept.

    Args:
        part: The shard's input part.
        params: The run's shard parameters (whether captions are encoded, thumbnails kept).
        checksum: Hash every input file (reads it whole); the thumbnail folder's
            listing is hashed either way.

    Returns:
        One record per input, in a fixed order: ``role`` (metadata, text_emb, img_emb,
        images), absolute ``path``, ``size`` (bytes), ``mtime_ns`` and ``blake2b`` (None
        for a file without ``checksum``); the images record also has ``files``, and its
        size, mtime and blake2b are the sum, the newest and a checksum of the listing.
    """
    files = [("metadata", part.metadata)]
    if part.text_emb is not None and not params.encodes_captions:
        files.append(("text_emb", part.text_emb))
    if part.img_emb is not None:
        files.append(("img_emb", part.img_emb))
    records = [_describe_file(role, path, checksum=checksum) for role, path in files]
    if params.thumbnails and part.images is not None:
        records.append(_describe_folder("images", part.images))
    return records


def describe_outputs(folder: Path) -> list[dict]:
    """Every file of a shard folder but the manifest: name, size, blake2b."""
    return [
        {"name": path.name, "size": path.stat().st_size, "blake2b": hash_file(path)}
        for path in sorted(folder.iterdir())
        if path.name != MANIFEST_FILE and TEMP_MARKER not in path.name
    ]


def write_manifest(
    folder: Path,
    part: LaionPart,
    params: ShardParams,
    inputs: list[dict],
    outputs: list[dict],
    rows: dict[str, int],
) -> Path:
    """Write ``folder/manifest.json`` atomically (the last file of a shard).

    Args:
        folder: The shard's folder (``shard_folder``); the manifest is named for it.
        part: The shard's input part.
        params: The parameters the shard was built with.
        inputs: From ``describe_inputs`` (with checksums).
        outputs: From ``describe_outputs``.
        rows: Counts ``in``, ``matched``, ``rejected`` and ``candidates``.

    Returns:
        The manifest path.
    """
    manifest = {
        "format_version": SHARD_FORMAT_VERSION,
        "shard": folder.name,
        "part": part.index,
        "parameters": asdict(params),
        "inputs": inputs,
        "outputs": outputs,
        "rows": rows,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = folder / MANIFEST_FILE
    with open_atomically(path) as handle:
        handle.write(json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"))
    return path


def read_manifest(folder: Path) -> dict | None:
    """The shard's manifest, or None when it is missing or not valid JSON."""
    path = folder / MANIFEST_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        logger.warning("%s: unreadable manifest (%s); the shard is rebuilt", path, error)
        return None


def verify_shard(
    part: LaionPart, context: ShardContext, *, verify_inputs: bool = False
) -> tuple[dict | None, str]:
    """Check whether a shard can be reused.

    Args:
        part: The shard's input part.
        context: The current run's parameters.
        verify_inputs: Re-hash the inputs instead of trusting size and mtime.

    Returns:
        (manifest, "") when the shard verifies, else (None, why not).
    """
    folder = shard_folder(context.work_dir, part)
    manifest = read_manifest(folder)
    if manifest is None:
        return None, "no manifest"
    malformed = _find_malformed_part(manifest)
    if malformed:
        return None, f"malformed manifest {folder / MANIFEST_FILE} ({malformed})"
    recorded, expected = manifest["parameters"], asdict(context.params)
    for key in sorted(set(recorded) | set(expected)):
        if recorded.get(key) != expected.get(key):
            return None, f"parameter {key} changed ({recorded.get(key)!r} -> {expected.get(key)!r})"
    current = describe_inputs(part, context.params, checksum=verify_inputs)
    old = manifest["inputs"]
    if [(r["role"], r["path"]) for r in old] != [(r["role"], r["path"]) for r in current]:
        return None, f"input files changed ({_describe_input_changes(old, current)})"
    for was, now in zip(old, current, strict=True):
        if now["role"] == "images":  # a listing checksum: cheap, so always compared
            fields = ("size", "mtime_ns", "files", "blake2b")
        else:
            fields = ("size", "mtime_ns", "blake2b") if verify_inputs else ("size", "mtime_ns")
        changed = [f for f in fields if was.get(f) != now.get(f)]
        if changed:
            return None, f"input {now['path']} changed ({', '.join(changed)})"
    for output in manifest["outputs"]:
        path = folder / output["name"]
        if not path.is_file():
            return None, f"output {path} is missing"
        if path.stat().st_size != output["size"] or hash_file(path) != output["blake2b"]:
            return None, f"output {path} does not match its checksum"
    return manifest, ""


# The manifest's shape that verification and assembly rely on: key -> (type, item keys).
MANIFEST_SHAPE: dict[str, tuple[type, tuple[str, ...]]] = {
    "parameters": (dict, ()),
    "inputs": (list, ("role", "path")),
    "outputs": (list, ("name", "size", "blake2b")),
    "rows": (dict, ()),
}
ROW_COUNTS = ("in", "matched", "rejected", "candidates")


def _find_malformed_part(manifest: object) -> str:
    """What makes a parsed manifest unusable (wrong type, missing key), or ""."""
    if not isinstance(manifest, dict):
        return f"a JSON {type(manifest).__name__}, expected an object"
    for key, (kind, item_keys) in MANIFEST_SHAPE.items():
        value = manifest.get(key)
        if not isinstance(value, kind):
            return f"{key!r} is missing or not a {kind.__name__}"
        for item in value if kind is list else ():
            if not isinstance(item, dict) or not all(k in item for k in item_keys):
                return f"an entry of {key!r} lacks {', '.join(item_keys)}"
    missing = [k for k in ROW_COUNTS if not isinstance(manifest["rows"].get(k), int)]
    return f"'rows' lacks {', '.join(missing)}" if missing else ""


def _describe_input_changes(old: list[dict], current: list[dict]) -> str:
    """Which inputs (role and path) were added, removed or moved to another path."""
    was = {r["role"]: r["path"] for r in old}
    now = {r["role"]: r["path"] for r in current}
    changes = [f"added {role} {path}" for role, path in now.items() if role not in was]
    changes += [f"removed {role} {path}" for role, path in was.items() if role not in now]
    changes += [
        f"{role} {was[role]} -> {path}"
        for role, path in now.items()
        if role in was and was[role] != path
    ]
    return "; ".join(changes) or "same inputs in another order"


def clean_work_dir(work_dir: Path) -> int:
    """Remove temporary files left by killed runs; returns how many."""
    removed = 0
    for path in work_dir.glob(f"*/.*{TEMP_MARKER}*"):
        path.unlink(missing_ok=True)
        removed += 1
    if removed:
        logger.info("%s: removed %d temporary files of an interrupted run", work_dir, removed)
    return removed
