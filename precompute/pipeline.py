"""The build: LAION-style parts -> matched, scored candidates -> one DuckDB database.

Stages, one function each:

1. ``process_part``: read one metadata part, match captions to synsets by lemma, score
   every (caption, matched synset) pair against the synset-text embedding, and gather
   the matched rows' embeddings and thumbnails.
2. ``read_precomputed_references``: reference datasets shipped with precomputed
   embeddings (the simulated corpus's ImageNet-like sets).
3. ``build_database``: write classes, synset embeddings and every dataset into a new
   database, atomically.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from laionet_core import schema
from laionet_core.matching import DEFAULT_MATCH_MODE, LemmaMatcher
from laionet_core.settings import LAIONET_DATASET
from laionet_core.storage import (
    DatasetInfo,
    open_new_database,
    write_classes,
    write_dataset,
    write_meta,
    write_synset_embeddings,
)
from laionet_core.validation import require_columns, require_unit_rows
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT, Vocabulary, load_vocabulary
from precompute.readers import (
    LaionPart,
    list_laion_parts,
    load_part_embeddings,
    read_part_metadata,
    read_thumbnail_file,
)

logger = logging.getLogger(__name__)

CORPUS_INFO_FILE = "corpus.json"  # written by the simulator; absent for real LAION data
SYNSET_DIR = "synsets"
REFERENCES_DIR = "references"
# Recorded as the encoder when the embeddings are LAION's own release (CLIP ViT-B/32).
LAION_RELEASE_ENCODER = "laion-release:ViT-B-32"
# Reference sets selected by looking at the image, and the one that carries captions.
IMAGE_SELECTED_REFERENCES = ("imagenet-val", "imagenetv2-a", "imagenetv2-b", "imagenetv2-c")
CAPTIONED_REFERENCE = "imagenet-captions"


@dataclass(frozen=True)
class BuildConfig:
    """Everything one build needs.

    Attributes:
        corpus: Root of the LAION-style data (see ``precompute.readers``).
        db: Database file to create (replaced atomically).
        match_mode: Lemma matching mode (``paper`` or ``normalized``).
        synset_format: Synset-text format the captions are scored against.
        vocab_file: wnids to use instead of ImageNet-1k.
        synset_embeddings: (C, D) .npy of synset-text embeddings in vocabulary order;
            defaults to ``<corpus>/synsets/<format>_emb.npy``.
        encoder: Name of the model behind the embeddings; defaults to the corpus's.
        dataset: Name of the text-selected dataset.
        references: Also load reference datasets found under ``<corpus>/references``.
        thumbnails: Store thumbnails found next to the data.
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


@dataclass
class PartResult:
    """What one part contributes: samples, candidate pairs, embeddings, thumbnails."""

    samples: pd.DataFrame
    candidates: pd.DataFrame
    image_embeddings: np.ndarray | None
    text_embeddings: np.ndarray
    thumbnails: list[tuple[str, bytes] | None] = field(default_factory=list)
    rows_in: int = 0


def read_corpus_info(corpus: Path) -> dict:
    """The simulator's ``corpus.json``, or ``{}`` for real data."""
    path = corpus / CORPUS_INFO_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error


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
    matrix = require_unit_rows(np.load(path), name=str(path))
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


def process_part(
    part: LaionPart,
    *,
    matcher: LemmaMatcher,
    synset_embeddings: np.ndarray,
    wnid_rows: dict[str, int],
    thumbnails: bool = True,
) -> PartResult:
    """Match, score and gather one part.

    Args:
        part: The part to read.
        matcher: Lemma matcher over the vocabulary.
        synset_embeddings: (C, D) L2-normalised synset-text embeddings.
        wnid_rows: wnid -> row of ``synset_embeddings``.
        thumbnails: Read thumbnails of matched samples from ``part.images``.

    Returns:
        One sample per matched caption (labelled with its most similar matched class),
        and one candidate row per (caption, matched class) pair.

    Raises:
        ValueError: The part has no text embeddings, or a file fails its checks.
    """
    meta = read_part_metadata(part)
    if part.text_emb is None:
        raise ValueError(
            f"{part.metadata}: no text_emb/text_emb_{part.index}.npy next to it; "
            "scoring needs caption embeddings (or an encoder)"
        )
    dim = synset_embeddings.shape[1]
    text_emb = load_part_embeddings(part.text_emb, rows=len(meta), dim=dim)
    img_emb = load_part_embeddings(part.img_emb, rows=len(meta), dim=dim) if part.img_emb else None
    matches = matcher.match(meta["text"].tolist())
    rows = np.asarray(matches.rows, dtype=np.int64)
    counts = np.fromiter((len(w) for w in matches.wnids), np.int64, len(rows))
    pair_wnids = [w for wnids in matches.wnids for w in wnids]
    pair_classes = np.fromiter((wnid_rows[w] for w in pair_wnids), np.int64, len(pair_wnids))
    matched_text = np.asarray(text_emb[rows], dtype=np.float32)
    pair_text = np.repeat(matched_text, counts, axis=0)
    pair_sims = np.einsum("nd,nd->n", pair_text, synset_embeddings[pair_classes])

    best = _argmax_per_group(pair_sims, counts)  # a multi-label caption's label
    best_classes = pair_classes[best]
    matched_img = np.asarray(img_emb[rows], dtype=np.float32) if img_emb is not None else None
    image_sims = (
        np.einsum("nd,nd->n", matched_img, synset_embeddings[best_classes])
        if matched_img is not None
        else np.full(len(rows), np.nan)
    )
    sample_ids = meta["sample_id"].to_numpy()[rows]
    samples = pd.DataFrame(
        {
            "sample_id": sample_ids,
            "url": meta["url"].to_numpy()[rows],
            "text": meta["text"].to_numpy()[rows],
            "wnid": [pair_wnids[i] for i in best],
            "matched_wnids": [list(w) for w in matches.wnids],
            "multi_label": counts > 1,
            "text_similarity": pair_sims[best].astype(np.float32),
            "image_similarity": image_sims.astype(np.float32),
            "nsfw": meta["nsfw"].to_numpy()[rows],
        }
    )
    candidates = pd.DataFrame(
        {
            "sample_id": np.repeat(sample_ids, counts),
            "wnid": pair_wnids,
            "text_similarity": pair_sims.astype(np.float32),
        }
    )
    thumbs = [read_thumbnail_file(part.images, s) for s in sample_ids] if thumbnails else []
    logger.info(
        "part %d: %d captions, %d matched, %d multi-label",
        part.index,
        len(meta),
        len(rows),
        int((counts > 1).sum()),
    )
    return PartResult(samples, candidates, matched_img, matched_text, thumbs, len(meta))


def _argmax_per_group(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Index of the first maximum within each consecutive group of ``counts`` values."""
    if len(counts) == 0:
        return np.zeros(0, dtype=np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    is_max = values == np.maximum.reduceat(values, starts)[group]
    hits = np.flatnonzero(is_max)
    return hits[np.unique(group[hits], return_index=True)[1]]


def read_precomputed_references(
    corpus: Path, synset_embeddings: np.ndarray, wnid_rows: dict[str, int]
) -> list[tuple[str, pd.DataFrame, np.ndarray, np.ndarray | None, list]]:
    """Reference datasets stored with their embeddings under ``<corpus>/references``.

    Each folder holds ``index.parquet`` (sample_id, wnid, path[, text]) row-aligned with
    ``img_emb.npy`` (and ``text_emb.npy`` for the captioned set).

    Returns:
        ``(name, samples, image_embeddings, text_embeddings, thumbnails)`` per dataset.
    """
    found = []
    root = corpus / REFERENCES_DIR
    for name in (*IMAGE_SELECTED_REFERENCES, CAPTIONED_REFERENCE):
        folder = root / name
        if not (folder / "index.parquet").is_file():
            continue
        index = pd.read_parquet(folder / "index.parquet")
        require_columns(index, ("sample_id", "wnid", "path"), where=str(folder / "index.parquet"))
        unknown = sorted(set(index["wnid"]) - set(wnid_rows))
        if unknown:
            raise ValueError(f"{folder / 'index.parquet'}: wnid {unknown[0]} is not a class")
        img = load_part_embeddings(
            folder / "img_emb.npy", rows=len(index), dim=synset_embeddings.shape[1]
        )
        img = np.asarray(img, dtype=np.float32)
        classes = index["wnid"].map(wnid_rows).to_numpy()
        text = None
        text_sims = np.full(len(index), np.nan, dtype=np.float32)
        if (folder / "text_emb.npy").is_file():
            text = np.asarray(
                load_part_embeddings(folder / "text_emb.npy", rows=len(index)), dtype=np.float32
            )
            text_sims = np.einsum("nd,nd->n", text, synset_embeddings[classes]).astype(np.float32)
        samples = pd.DataFrame(
            {
                "sample_id": index["sample_id"].astype(str),
                "url": None,
                "text": index.get("text"),
                "wnid": index["wnid"],
                "matched_wnids": [[w] for w in index["wnid"]],
                "multi_label": False,
                "text_similarity": text_sims,
                "image_similarity": np.einsum("nd,nd->n", img, synset_embeddings[classes]),
                "nsfw": None,
            }
        )
        thumbs = [_read_file_thumbnail(folder / p) for p in index["path"]]
        found.append((name, samples, img, text, thumbs))
    return found


def _read_file_thumbnail(path: Path) -> tuple[str, bytes] | None:
    return read_thumbnail_file(path.parent, path.stem) if path.is_file() else None


def build_database(config: BuildConfig) -> Path:
    """Run every stage and write ``config.db`` atomically.

    Returns:
        The database path.

    Raises:
        ValueError / FileNotFoundError: Bad input; nothing is written in that case.
    """
    info = read_corpus_info(config.corpus)
    simulated = bool(info.get("simulated", False))
    encoder = config.encoder or info.get("encoder") or LAION_RELEASE_ENCODER
    vocabulary = load_vocabulary(config.vocab_file)
    synset_path = config.synset_embeddings or (
        config.corpus / SYNSET_DIR / f"{config.synset_format}_emb.npy"
    )
    if not synset_path.is_file():
        raise FileNotFoundError(
            f"{synset_path}: no synset-text embeddings; pass --synset-embeddings"
        )
    wnids_file = synset_path.parent / "wnids.txt"
    synset_emb = load_synset_embedding_file(
        synset_path, vocabulary, wnids_file=wnids_file if wnids_file.is_file() else None
    )
    wnid_rows = {w: i for i, w in enumerate(vocabulary.wnids)}
    matcher = LemmaMatcher(vocabulary, mode=config.match_mode)
    parts = list_laion_parts(config.corpus)

    results = [
        process_part(
            part,
            matcher=matcher,
            synset_embeddings=synset_emb,
            wnid_rows=wnid_rows,
            thumbnails=config.thumbnails,
        )
        for part in tqdm(parts, desc="parts", unit="part")
    ]
    references = (
        read_precomputed_references(config.corpus, synset_emb, wnid_rows)
        if config.references
        else []
    )
    parameters = {k: str(v) for k, v in asdict(config).items()}
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
        write_dataset(
            con,
            DatasetInfo(
                config.dataset,
                schema.KIND_TEXT_SELECTED,
                str(config.corpus),
                encoder,
                simulated,
                {**parameters, "rows_in": sum(r.rows_in for r in results)},
            ),
            pd.concat([r.samples for r in results], ignore_index=True),
            image_embeddings=_stack([r.image_embeddings for r in results]),
            text_embeddings=_stack([r.text_embeddings for r in results]),
            thumbnails=[t for r in results for t in r.thumbnails] if config.thumbnails else None,
            candidates=pd.concat([r.candidates for r in results], ignore_index=True),
        )
        for name, samples, img, text, thumbs in references:
            kind = (
                schema.KIND_CAPTIONS
                if name == CAPTIONED_REFERENCE
                else (schema.KIND_IMAGE_SELECTED)
            )
            write_dataset(
                con,
                DatasetInfo(
                    name,
                    kind,
                    str(config.corpus / REFERENCES_DIR / name),
                    encoder,
                    simulated,
                    {"reference": name},
                ),
                samples,
                image_embeddings=img,
                text_embeddings=text,
                thumbnails=thumbs if config.thumbnails else None,
            )
    return config.db


def _stack(arrays: list[np.ndarray | None]) -> np.ndarray | None:
    if any(a is None for a in arrays) or not arrays:
        return None
    return np.concatenate(arrays, axis=0)
