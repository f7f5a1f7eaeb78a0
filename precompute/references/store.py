"""Add a reference layout to an existing database (``python -m precompute add-reference``).

Reads a layout (``precompute.ingest.reference_layouts``: ImageNet validation folders or the flat
devkit layout, ImageNetV2, any ``<wnid>/`` folder tree, img2dataset webdataset shards,
the ImageNet-Captions JSON), encodes its images with an open_clip model and its captions
with the same model's text tower (or ``--text-encoder``), scores both against the
synset texts of the database's own classes (``classes.synset_text``), and adds one
dataset in ONE transaction: samples, image and caption embeddings, thumbnails made
here, rejected images with reasons, the model's synset embeddings when the database
lacks them, caption diagnostics (ImageNet-Captions) and the dataset's class metrics.
A failure leaves the database as it was.

ImageNet-Captions without ``--images-root`` builds a text-only dataset: captions, their
embeddings, text similarities and caption diagnostics (Figure 9 needs only texts); with
it, the images too (Figure 10). Entries whose text is empty become rejected rows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from laionet_core import queries
from laionet_core.encoders import (
    ImageEncoder,
    TextEncoder,
    parse_encoder_spec,
)
from laionet_core.storage import (
    DatasetInfo,
    open_database_for_update,
    write_dataset,
    write_synset_embeddings,
)
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT
from precompute.analyses.caption_diagnostics import write_dataset_caption_diagnostics
from precompute.analyses.class_metrics import write_dataset_metrics
from precompute.encode.models import load_image_encoder, load_text_encoder
from precompute.ingest.images import THUMBNAIL_SIZE
from precompute.ingest.reference_layouts import (
    ReferenceItem,
    list_reference_items,
)
from precompute.ingest.webdataset import read_labels, read_webdataset_shards
from precompute.references.config import AddReferenceConfig
from precompute.references.datasets import (
    EncodedSynsets,
    ReferenceDataset,
    build_reference_dataset,
    encode_synsets,
)
from precompute.references.downloads import read_download_record

logger = logging.getLogger(__name__)

# Stored synset embeddings of an encoder name must agree with the loaded model's to this
# cosine per class (fp16 on a GPU vs fp32 on a CPU stays far above it); less means another
# model under the same name.
SYNSET_AGREEMENT = 0.99
EMPTY_CAPTION = "empty caption (no title, description or tags)"


@dataclass(frozen=True)
class _DatabaseClasses:
    synset_format: str
    wnids: tuple[str, ...]
    synset_texts: tuple[str, ...]
    stored_synsets: dict[str, np.ndarray]


def _read_database(config: AddReferenceConfig, encoder_names: list[str]) -> _DatabaseClasses:
    """The database's classes and synset format, refusing an existing dataset name."""
    con = queries.connect(config.db)
    try:
        if queries.read_dataset_info(con, config.name) is not None and not config.replace:
            raise ValueError(
                f"{config.db} already has a dataset {config.name!r}; pass --replace to replace it"
            )
        fmt = queries.read_meta(con).get("synset_format", DEFAULT_SYNSET_TEXT_FORMAT)
        classes = queries.read_classes(con)
        stored = {}
        for name in encoder_names:
            wnids, embeddings = queries.read_synset_embeddings(con, name, fmt)
            if wnids:
                stored[name] = embeddings
    finally:
        con.close()
    return _DatabaseClasses(fmt, tuple(classes["wnid"]), tuple(classes["synset_text"]), stored)


def _check_stored_synsets(synsets: EncodedSynsets, stored: dict[str, np.ndarray], db: Path) -> bool:
    """True when ``synsets`` must be written; ValueError when the stored ones disagree."""
    old = stored.get(synsets.encoder)
    if old is None:
        return True
    if old.shape != synsets.embeddings.shape:
        raise ValueError(
            f"{db}: synset embeddings of encoder {synsets.encoder!r} have shape {old.shape}, "
            f"this model gives {synsets.embeddings.shape}: a vocabulary or model mismatch"
        )
    agreement = float(np.min(np.einsum("cd,cd->c", old, synsets.embeddings)))
    if agreement < SYNSET_AGREEMENT:
        raise ValueError(
            f"{db}: the stored synset embeddings of encoder {synsets.encoder!r} differ from "
            f"this model's (lowest cosine {agreement:.3f} < {SYNSET_AGREEMENT}); is another "
            "model stored under the same name?"
        )
    return False


def _split_captionless(
    items: list[ReferenceItem], config: AddReferenceConfig
) -> tuple[list[ReferenceItem], list[dict]]:
    """ImageNet-Captions entries with empty text become rejected rows."""
    if config.layout != "imagenet-captions":
        return items, []
    rejected = [
        {"source": str(config.path), "sample_id": item.sample_id, "reason": EMPTY_CAPTION}
        for item in items
        if not item.text
    ]
    return [item for item in items if item.text], rejected


def _load_encoders(
    config: AddReferenceConfig, with_text: bool
) -> tuple[ImageEncoder | None, TextEncoder | None]:
    """The image model, and the caption model: the image model itself when the names agree.

    A ``--text-encoder`` naming the image model is the same model; loading it twice
    would also store its synset embeddings twice under one name.
    """
    image = None if config.text_only else load_image_encoder(config.encoder, device=config.device)
    if not with_text:
        return image, None
    text_spec = config.text_encoder or config.encoder
    if image is not None and parse_encoder_spec(text_spec).name == image.name:
        return image, image
    return image, load_text_encoder(text_spec, device=config.device)


def _read_items(
    config: AddReferenceConfig, database: _DatabaseClasses
) -> tuple[list[ReferenceItem], pd.DataFrame, dict]:
    """The layout's items, the rejected rows found while reading, and extra parameters.

    A webdataset also gives img2dataset's failed downloads as rejected rows and the
    ``download`` / ``selection_source`` parameters (``precompute.references.downloads``).
    """
    extra: dict = {}
    rejected = pd.DataFrame(columns=["source", "sample_id", "reason"])
    if config.layout == "webdataset":
        labels = read_labels(config.labels) if config.labels is not None else None
        items = read_webdataset_shards(config.path, labels=labels)
        record = read_download_record(config.path, items, labels, labels_path=config.labels)
        rejected, extra = record.rejected, record.parameters
    else:
        items = list_reference_items(config.layout, config.path, **config.reader_options())
    unknown = sorted({item.wnid for item in items} - set(database.wnids))
    if unknown:
        raise ValueError(
            f"{config.path}: wnids not among the {len(database.wnids)} classes of {config.db} "
            f"(vocabulary mismatch): {', '.join(unknown[:10])}"
        )
    items, captionless = _split_captionless(items, config)
    if captionless:
        rejected = pd.concat([rejected, pd.DataFrame(captionless)], ignore_index=True)
    return items, rejected, extra


def _encode_all_synsets(
    config: AddReferenceConfig,
    database: _DatabaseClasses,
    image_encoder: ImageEncoder | None,
    text_encoder: TextEncoder | None,
) -> tuple[EncodedSynsets | None, EncodedSynsets | None, list[EncodedSynsets]]:
    """Synset texts encoded by each model, and those the database still needs stored."""
    image_synsets = text_synsets = None
    if image_encoder is not None:
        image_synsets = encode_synsets(image_encoder, database.wnids, database.synset_texts)
    if text_encoder is not None:
        text_synsets = (
            image_synsets
            if text_encoder is image_encoder
            else encode_synsets(text_encoder, database.wnids, database.synset_texts)
        )
    # One set of synset embeddings per encoder name: the name is the table's key.
    to_store = [
        s
        for s in {s.encoder: s for s in (image_synsets, text_synsets) if s is not None}.values()
        if _check_stored_synsets(s, database.stored_synsets, config.db)
    ]
    return image_synsets, text_synsets, to_store


def _dataset_parameters(
    config: AddReferenceConfig,
    database: _DatabaseClasses,
    main: ImageEncoder | TextEncoder,
    text_encoder: TextEncoder | None,
    counts: tuple[int, int],
) -> dict:
    """The ``datasets.parameters`` of the new dataset; ``counts`` = (samples, rejected)."""
    return {
        "layout": config.layout,
        "path": str(config.path.resolve()),
        "reader_options": {k: str(v.resolve()) for k, v in config.reader_options().items()},
        "text_encoder": text_encoder.name if text_encoder is not None else None,
        "synset_format": database.synset_format,
        "batch_size": config.batch_size,
        "workers": config.workers,
        "device": str(getattr(main, "device", config.device)),
        "precision": getattr(main, "precision", None),
        "thumbnails": config.thumbnails,
        "text_only": config.text_only,
        "samples": counts[0],
        "rejected": counts[1],
        **(config.recipe_settings or {}),
    }


def _write_reference(
    config: AddReferenceConfig,
    database: _DatabaseClasses,
    info: DatasetInfo,
    built: ReferenceDataset,
    to_store: list[EncodedSynsets],
) -> None:
    """Everything in one transaction: synsets, the dataset, diagnostics, class metrics."""
    with open_database_for_update(config.db) as con:
        for synsets in to_store:
            write_synset_embeddings(
                con,
                encoder=synsets.encoder,
                synset_format=database.synset_format,
                wnids=synsets.wnids,
                embeddings=synsets.embeddings,
            )
        write_dataset(
            con,
            info,
            built.samples,
            image_embeddings=built.image_embeddings,
            text_embeddings=built.text_embeddings,
            thumbnails=built.thumbnails,
            rejected=built.rejected,
        )
        if config.layout == "imagenet-captions":
            write_dataset_caption_diagnostics(con, config.name)
        write_dataset_metrics(con, config.name)


def add_reference_dataset(config: AddReferenceConfig) -> ReferenceDataset:
    """Read, encode, score and store one reference dataset (see the module docstring).

    Returns:
        What was built (samples, embeddings, thumbnails, rejected rows).

    Raises:
        FileNotFoundError: The database does not exist.
        ValueError: Bad layout or options, wnids outside the database's classes,
            stored synset embeddings that disagree, or a dataset of that name (without
            ``replace``). Nothing is written then.
    """
    started = time.perf_counter()
    names = [parse_encoder_spec(s).name for s in (config.encoder, config.text_encoder) if s]
    database = _read_database(config, names)
    items, read_rejected, extra = _read_items(config, database)
    image_encoder, text_encoder = _load_encoders(config, any(item.text for item in items))
    image_synsets, text_synsets, to_store = _encode_all_synsets(
        config, database, image_encoder, text_encoder
    )
    built = build_reference_dataset(
        items,
        image_encoder=image_encoder,
        image_synsets=image_synsets,
        text_encoder=text_encoder,
        text_synsets=text_synsets,
        batch_size=config.batch_size,
        num_workers=config.workers,
        thumbnail_size=THUMBNAIL_SIZE if config.thumbnails else None,
        where=str(config.path),
    )
    rejected = pd.concat([read_rejected, built.rejected], ignore_index=True)
    built = replace(built, rejected=rejected)
    main = image_encoder or text_encoder
    counts = (len(built.samples), len(rejected))
    parameters = _dataset_parameters(config, database, main, text_encoder, counts) | extra
    info = DatasetInfo(
        config.name, config.kind, str(config.path.resolve()), main.name, False, parameters
    )
    _write_reference(config, database, info, built, to_store)
    logger.info(
        "added %s (%s, %d samples, %d rejected) to %s in %.1f s",
        config.name,
        config.kind,
        len(built.samples),
        len(rejected),
        config.db,
        time.perf_counter() - started,
    )
    return built
