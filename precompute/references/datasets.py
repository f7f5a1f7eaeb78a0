"""Turn read reference items into rows + embeddings + thumbnails, scored per class.

``precompute.ingest.reference_layouts`` reads the layouts into ``ReferenceItem``s; this
module encodes them. Images go through ``precompute.encode.image_batches``'s
``encode_image_sources`` (decode workers, the model's own preprocess, thumbnails,
rejections with reasons); captions through a text encoder. Each sample is scored against
the synset text of its own class:

* ``image_similarity`` = cosine(image, synset text) with the synset text encoded by the
  image model's text tower;
* ``text_similarity`` = cosine(caption, synset text) under the text encoder (NaN when a
  sample has no caption or no text encoder is given).

An ImageNet-Captions list without images (no ``images_root``) builds a text-only dataset:
captions, their embeddings and text similarities, no image embeddings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from laionet_core.encoders import DEFAULT_IMAGE_BATCH_SIZE, ImageEncoder, TextEncoder
from laionet_core.validation import require_unit_rows
from precompute.encode.image_batches import encode_image_sources
from precompute.ingest.images import DEFAULT_MAX_IMAGE_PIXELS, THUMBNAIL_SIZE
from precompute.ingest.reference_layouts import ReferenceItem

logger = logging.getLogger(__name__)

REJECTED_SOURCE_CHARS = 500  # a rejected row names its source; bytes sources are cut short


@dataclass(frozen=True)
class EncodedSynsets:
    """Synset-text embeddings of every class under one encoder.

    Attributes:
        encoder: The encoder's canonical name (``datasets.encoder``).
        wnids: (C,) the classes, in the database's class-index order.
        embeddings: (C, D) float32, L2-normalised, row-aligned with ``wnids``.
    """

    encoder: str
    wnids: tuple[str, ...]
    embeddings: np.ndarray

    def rows_of(self, wnids: Sequence[str]) -> np.ndarray:
        """(N,) int64 row of each wnid; ValueError naming the first unknown one."""
        index = {w: i for i, w in enumerate(self.wnids)}
        unknown = sorted({w for w in wnids if w not in index})
        if unknown:
            raise ValueError(
                f"wnids not among the {len(self.wnids)} classes of the database: "
                f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}"
            )
        return np.fromiter((index[w] for w in wnids), np.int64, len(wnids))


@dataclass(frozen=True)
class ReferenceDataset:
    """What ``build_reference_dataset`` returns, ready for ``storage.write_dataset``.

    Attributes:
        samples: One row per kept sample: sample_id, url, text, wnid, matched_wnids,
            multi_label, text_similarity, image_similarity, nsfw.
        image_embeddings: (N, D) float32, L2-normalised, row-aligned with samples;
            None for a text-only dataset.
        text_embeddings: (N, D') caption embeddings, or None unless every sample has text.
        thumbnails: ``(mime, bytes)`` per sample, or None.
        rejected: Columns source, sample_id, reason.
    """

    samples: pd.DataFrame
    image_embeddings: np.ndarray | None
    text_embeddings: np.ndarray | None
    thumbnails: list[tuple[str, bytes]] | None
    rejected: pd.DataFrame


def encode_synsets(
    encoder: TextEncoder, wnids: Sequence[str], synset_texts: Sequence[str]
) -> EncodedSynsets:
    """Encode every class's synset text.

    Args:
        encoder: A text encoder (or an open_clip model's text tower).
        wnids: (C,) classes.
        synset_texts: (C,) their synset texts (e.g. the ``classes.synset_text`` column).

    Returns:
        The (C, D) embeddings with the encoder's name.

    Raises:
        ValueError: Lengths differ.
    """
    if len(wnids) != len(synset_texts):
        raise ValueError(f"{len(wnids)} wnids but {len(synset_texts)} synset texts")
    embeddings = require_unit_rows(
        encoder.encode_texts(list(synset_texts)), name=f"synset embeddings of {encoder.name}"
    )
    return EncodedSynsets(encoder.name, tuple(wnids), embeddings)


def _encode_images(
    items: Sequence[ReferenceItem],
    image_encoder: ImageEncoder,
    *,
    where: str,
    batch_size: int,
    num_workers: int,
    thumbnail_size: int | None,
    max_pixels: int,
) -> tuple[list[int], np.ndarray, list | None, pd.DataFrame]:
    missing = [item.sample_id for item in items if item.source is None]
    if missing:
        raise ValueError(
            f"{where}: {len(missing)} items have no image (first {missing[0]!r}); "
            "pass the images' folder (images_root) or build a text-only dataset"
        )
    result = encode_image_sources(
        image_encoder,
        [item.source for item in items],
        batch_size=batch_size,
        num_workers=num_workers,
        max_pixels=max_pixels,
        thumbnail_size=thumbnail_size,
        progress=True,
    )
    rejected = pd.DataFrame(
        {
            "source": [str(items[i].source)[:REJECTED_SOURCE_CHARS] for i, _ in result.rejected],
            "sample_id": [items[i].sample_id for i, _ in result.rejected],
            "reason": [reason for _, reason in result.rejected],
        }
    )
    return list(result.kept), result.embeddings, result.thumbnails, rejected


def _check_reference_inputs(
    items: Sequence[ReferenceItem],
    image: tuple[ImageEncoder | None, EncodedSynsets | None],
    text: tuple[TextEncoder | None, EncodedSynsets | None],
    *,
    where: str,
) -> None:
    """Refuse what ``build_reference_dataset`` cannot build (its Raises)."""
    if not items:
        raise ValueError(f"{where}: no samples found")
    if image[0] is not None and image[1] is None:
        raise ValueError("image_synsets are needed to score images")
    if text[0] is not None and text[1] is None:
        raise ValueError("text_synsets are needed to score captions")
    synsets = image[1] or text[1]
    if synsets is None:
        raise ValueError("give an image encoder, a text encoder or both")
    try:
        synsets.rows_of([item.wnid for item in items])
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error
    if image[0] is None and (text[0] is None or any(not item.text for item in items)):
        raise ValueError(f"{where}: a text-only dataset needs a text encoder and captions")


def _samples_frame(
    items: Sequence[ReferenceItem], text_sim: np.ndarray, image_sim: np.ndarray
) -> pd.DataFrame:
    """The samples table rows of kept items (NSFW when the layout carried it)."""
    wnids = [item.wnid for item in items]
    return pd.DataFrame(
        {
            "sample_id": [item.sample_id for item in items],
            "url": [item.url for item in items],
            "text": [item.text for item in items],
            "wnid": wnids,
            "matched_wnids": [[w] for w in wnids],
            "multi_label": np.zeros(len(items), dtype=bool),
            "text_similarity": text_sim,
            "image_similarity": image_sim,
            "nsfw": [item.nsfw for item in items],
        }
    )


def build_reference_dataset(
    items: Sequence[ReferenceItem],
    *,
    image_encoder: ImageEncoder | None,
    image_synsets: EncodedSynsets | None = None,
    text_encoder: TextEncoder | None = None,
    text_synsets: EncodedSynsets | None = None,
    batch_size: int = DEFAULT_IMAGE_BATCH_SIZE,
    num_workers: int = 0,
    thumbnail_size: int | None = THUMBNAIL_SIZE,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    where: str = "reference dataset",
) -> ReferenceDataset:
    """Encode reference items and score them against their own class's synset text.

    Args:
        items: From ``precompute.ingest.reference_layouts.list_reference_items``.
        image_encoder: Encodes the images; None builds a text-only dataset (every
            item then needs a caption).
        image_synsets: Synset texts encoded by the image model's text tower (required
            with ``image_encoder``).
        text_encoder: Encodes captions; None leaves ``text_similarity`` NaN.
        text_synsets: Synset texts encoded by ``text_encoder`` (required with it).
        batch_size, num_workers, thumbnail_size, max_pixels: See ``encode_image_sources``.
        where: Names the input in error messages (a path).

    Returns:
        Samples, embeddings, thumbnails and rejected rows (images that did not decode).

    Raises:
        ValueError: No items, wnids outside the synsets' classes (the vocabulary of the
            database), items without an image when images are encoded, or a text-only
            build of items without captions.
    """
    _check_reference_inputs(
        items, (image_encoder, image_synsets), (text_encoder, text_synsets), where=where
    )
    if image_encoder is None:
        kept = list(range(len(items)))
        image_emb, thumbnails = None, None
        rejected = pd.DataFrame({"source": [], "sample_id": [], "reason": []})
    else:  # images that do not decode become rejected rows
        kept, image_emb, thumbnails, rejected = _encode_images(
            items,
            image_encoder,
            where=where,
            batch_size=batch_size,
            num_workers=num_workers,
            thumbnail_size=thumbnail_size,
            max_pixels=max_pixels,
        )
    kept_items = [items[i] for i in kept]
    image_sim = np.full(len(kept_items), np.nan, dtype=np.float32)
    if image_emb is not None:
        own = image_synsets.embeddings[image_synsets.rows_of([i.wnid for i in kept_items])]
        image_sim = np.einsum("nd,nd->n", image_emb, own).astype(np.float32)
    text_sim, text_emb = _score_captions(kept_items, text_encoder, text_synsets)
    samples = _samples_frame(kept_items, text_sim, image_sim)
    logger.info("%s: %d kept, %d rejected", where, len(kept_items), len(rejected))
    return ReferenceDataset(samples, image_emb, text_emb, thumbnails, rejected)


def _score_captions(
    items: Sequence[ReferenceItem],
    text_encoder: TextEncoder | None,
    text_synsets: EncodedSynsets | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Caption-to-synset cosine per item (NaN without caption) and, when every item
    has a caption, the (N, D') caption embeddings."""
    text_sim = np.full(len(items), np.nan, dtype=np.float32)
    with_text = np.array([bool(item.text) for item in items], dtype=bool)
    if text_encoder is None or not with_text.any():
        return text_sim, None
    rows = np.flatnonzero(with_text)
    caption_emb = require_unit_rows(
        text_encoder.encode_texts([items[i].text for i in rows]),
        name=f"caption embeddings of {text_encoder.name}",
    )
    own = text_synsets.embeddings[text_synsets.rows_of([items[i].wnid for i in rows])]
    text_sim[rows] = np.einsum("nd,nd->n", caption_emb, own)
    return text_sim, caption_emb if with_text.all() else None
