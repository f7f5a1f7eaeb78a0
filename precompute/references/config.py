"""What one ``add-reference`` run is given (``AddReferenceConfig``), checked at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from laionet_core import schema
from laionet_core.encoders import DEFAULT_IMAGE_BATCH_SIZE, parse_encoder_spec
from precompute.ingest.reference_layouts import REFERENCE_DATASET_KINDS, REFERENCE_KINDS

# Dataset kind (datasets.kind) of each layout unless --dataset-kind says otherwise: a
# webdataset is how a downloaded LAIONet subset comes back, so it is text-selected.
LAYOUT_DATASET_KINDS = {
    "imagenet-val": schema.KIND_IMAGE_SELECTED,
    "imagenet-val-flat": schema.KIND_IMAGE_SELECTED,
    "imagenetv2": schema.KIND_IMAGE_SELECTED,
    "folder": schema.KIND_IMAGE_SELECTED,
    "webdataset": schema.KIND_TEXT_SELECTED,
    "imagenet-captions": schema.KIND_CAPTIONS,
}


@dataclass(frozen=True)
class AddReferenceConfig:
    """One ``add-reference`` run.

    Attributes:
        db: An existing database.
        name: The new dataset's name.
        layout: One of ``REFERENCE_KINDS`` (the CLI's ``--kind``).
        path: Folder, shard(s) or ImageNet-Captions JSON the layout's reader takes.
        encoder: open_clip spec of the image model.
        text_encoder: Spec of the caption encoder; the image model's text tower if None.
        dataset_kind: ``datasets.kind``; ``LAYOUT_DATASET_KINDS[layout]`` if None.
        ground_truth, id_to_wnid: Devkit files (``imagenet-val-flat``).
        labels: Parquet of ``key, wnid``, or the export file the download came from
            (``webdataset``; joined by SAMPLE_ID or URL).
        images_root: ImageNet train folder (``imagenet-captions``); None: text only.
        batch_size: Images per forward pass.
        workers: Decode worker processes (0 decodes in this process).
        device: ``cpu``, ``cuda``...; CUDA when available if None.
        thumbnails: Make and store thumbnails.
        replace: Replace a dataset of the same name instead of refusing.
        recipe_settings: The recipe in force (``describe_recipe``), recorded as is.
    """

    db: Path
    name: str
    layout: str
    path: Path
    encoder: str
    text_encoder: str | None = None
    dataset_kind: str | None = None
    ground_truth: Path | None = None
    id_to_wnid: Path | None = None
    labels: Path | None = None
    images_root: Path | None = None
    batch_size: int = DEFAULT_IMAGE_BATCH_SIZE
    workers: int = 0
    device: str | None = None
    thumbnails: bool = True
    replace: bool = False
    recipe_settings: dict | None = None

    def __post_init__(self) -> None:
        if self.layout not in REFERENCE_KINDS:
            raise ValueError(f"--kind {self.layout!r}; allowed: {', '.join(REFERENCE_KINDS)}")
        if self.dataset_kind == schema.KIND_TEXT_MATCHED:
            raise ValueError(
                f"--dataset-kind {self.dataset_kind}: only text-match builds that kind (its "
                "text_similarity is caption-to-caption with the 0.7 rule; a reference layout's "
                f"is caption-to-synset); allowed: {', '.join(REFERENCE_DATASET_KINDS)}"
            )
        if self.dataset_kind is not None and self.dataset_kind not in REFERENCE_DATASET_KINDS:
            raise ValueError(
                f"--dataset-kind {self.dataset_kind!r}; allowed: "
                f"{', '.join(REFERENCE_DATASET_KINDS)}"
            )
        if not self.name.strip():
            raise ValueError("--name must not be empty")
        if self.batch_size < 1 or self.workers < 0:
            raise ValueError(
                f"--batch-size must be >= 1 and --workers >= 0, got {self.batch_size}, "
                f"{self.workers}"
            )
        if self.layout == "imagenet-val-flat" and (
            self.ground_truth is None or self.id_to_wnid is None
        ):
            raise ValueError("--kind imagenet-val-flat needs --ground-truth and --id-to-wnid")
        for what, path in (("--images", self.path), ("--images-root", self.images_root)):
            if path is not None and not path.exists():
                raise ValueError(f"{what} {path}: no such file or folder")
        parse_encoder_spec(self.encoder)
        if self.text_encoder is not None:
            parse_encoder_spec(self.text_encoder)

    @property
    def kind(self) -> str:
        """The dataset's ``datasets.kind``."""
        return self.dataset_kind or LAYOUT_DATASET_KINDS[self.layout]

    @property
    def text_only(self) -> bool:
        """ImageNet-Captions without images: captions only."""
        return self.layout == "imagenet-captions" and self.images_root is None

    def reader_options(self) -> dict[str, Path]:
        """The layout reader's options that were given."""
        options = {
            "ground_truth": self.ground_truth,
            "id_to_wnid": self.id_to_wnid,
            "labels": self.labels,
            "images_root": self.images_root,
        }
        return {k: v for k, v in options.items() if v is not None}
