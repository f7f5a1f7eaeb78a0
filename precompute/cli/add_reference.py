"""``python -m precompute add-reference``: a reference layout into an existing database.

The work is ``precompute.references.store.add_reference_dataset`` (one transaction; a
failure leaves the database as it was). This module turns the command line into its
``AddReferenceConfig``: the image model is ``--model M [--pretrained P]`` (P a tag, a
checkpoint file or ``local-dir:PATH``) or a full ``--encoder`` spec.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from laionet_core.encoders import DEFAULT_IMAGE_BATCH_SIZE, parse_encoder_spec
from laionet_core.recipes import describe_recipe
from precompute.cli.options import batch_size, nonempty_name, worker_count
from precompute.cli.recipes import add_recipe_argument, resolve_recipe
from precompute.ingest.imagenetv2_names import resolve_imagenetv2_name
from precompute.ingest.reference_layouts import REFERENCE_DATASET_KINDS, REFERENCE_KINDS


def build_encoder_spec(
    *, model: str | None, pretrained: str | None = None, encoder: str | None = None
) -> str:
    """The open_clip spec of ``--model M [--pretrained P]`` or a full ``--encoder`` spec.

    ``P`` is a pretrained tag, a checkpoint file or ``local-dir:PATH``; ``M`` may itself
    be ``local-dir:PATH``.

    Raises:
        ValueError: Neither or both of model and encoder given (one message each), or a
            malformed spec.
    """
    if model is None and encoder is None:
        raise ValueError(
            "no image model: give --model (with --pretrained) or a full --encoder spec"
        )
    if model is not None and encoder is not None:
        raise ValueError(
            f"--model {model!r} and --encoder {encoder!r} both name the image model; give one"
        )
    if encoder is not None:
        if pretrained is not None:
            raise ValueError("--pretrained goes with --model, not with --encoder")
        spec = encoder
    else:
        spec = f"open_clip:{model}" + (f":{pretrained}" if pretrained else "")
    parsed = parse_encoder_spec(spec)
    if parsed.family != "open_clip":
        raise ValueError(f"image encoder {spec!r} must be an open_clip model (it has images)")
    return spec


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``add-reference``."""
    parser = subparsers.add_parser(
        "add-reference",
        help="encode a reference layout (ImageNet, ImageNetV2, webdataset, ImageNet-Captions) "
        "into an existing database",
        description="Add one reference dataset to an existing database, in one transaction.",
    )
    parser.add_argument("--db", type=Path, required=True, help="existing database to update")
    parser.add_argument(
        "--name",
        type=nonempty_name,
        help="name of the new dataset (ImageNetV2 release folders are named "
        "imagenetv2-a/b/c automatically, as in Section 4.1)",
    )
    parser.add_argument("--kind", required=True, choices=REFERENCE_KINDS, help="input layout")
    parser.add_argument(
        "--images",
        type=Path,
        required=True,
        help="the layout's folder, .tar shard(s) or ImageNet-Captions JSON file",
    )
    parser.add_argument("--model", help="open_clip architecture, e.g. ViT-B-32")
    parser.add_argument(
        "--pretrained", help="pretrained tag, checkpoint file or local-dir:PATH of --model"
    )
    parser.add_argument(
        "--encoder", help="full spec instead, e.g. open_clip:ViT-B-32:laion400m_e32"
    )
    parser.add_argument(
        "--text-encoder", help="caption encoder spec (default: the image model's text tower)"
    )
    parser.add_argument(
        "--dataset-kind",
        choices=REFERENCE_DATASET_KINDS,
        help="datasets.kind (default: image-selected; captions for imagenet-captions; "
        "text-selected for webdataset); text-matched is text-match's output only",
    )
    parser.add_argument("--ground-truth", type=Path, help="devkit ground truth (flat val)")
    parser.add_argument("--id-to-wnid", type=Path, help="devkit meta.mat or id->wnid file")
    parser.add_argument(
        "--labels",
        type=Path,
        help="webdataset: the export file it was downloaded from (parquet or CSV, joined by "
        "SAMPLE_ID or URL), or a parquet of key, wnid",
    )
    parser.add_argument(
        "--images-root", type=Path, help="ImageNet train folder (imagenet-captions)"
    )
    parser.add_argument("--batch-size", type=batch_size, default=DEFAULT_IMAGE_BATCH_SIZE)
    parser.add_argument(
        "--workers", type=worker_count, default=2, help="decode processes (default: 2)"
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    parser.add_argument("--no-thumbnails", action="store_true", help="store no thumbnails")
    parser.add_argument("--replace", action="store_true", help="replace a same-named dataset")
    add_recipe_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Add the dataset."""
    # Imported here: it loads torch, which every other command can do without.
    from precompute.references.store import AddReferenceConfig, add_reference_dataset

    if args.kind == "imagenetv2":
        name = resolve_imagenetv2_name(args.images, args.name)
    elif args.name is None:
        raise ValueError(f"--name is required for --kind {args.kind}")
    else:
        name = args.name
    config = AddReferenceConfig(
        db=args.db,
        name=name,
        layout=args.kind,
        path=args.images,
        encoder=build_encoder_spec(
            model=args.model, pretrained=args.pretrained, encoder=args.encoder
        ),
        text_encoder=args.text_encoder,
        dataset_kind=args.dataset_kind,
        ground_truth=args.ground_truth,
        id_to_wnid=args.id_to_wnid,
        labels=args.labels,
        images_root=args.images_root,
        batch_size=args.batch_size,
        workers=args.workers,
        device=args.device,
        thumbnails=not args.no_thumbnails,
        replace=args.replace,
        recipe_settings=describe_recipe(resolve_recipe(args)),
    )
    add_reference_dataset(config)
    return 0
