"""``python -m precompute build``: build the database from LAION-style parts."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from laionet_core.encoders import OPEN_CLIP_SCHEMAS, parse_encoder_spec
from laionet_core.matching import MATCH_MODES
from laionet_core.settings import DEFAULT_DB_PATH, LAIONET_DATASET
from laionet_core.vocabulary import SYNSET_TEXT_FORMATS
from precompute.build.executors import DEFAULT_EXECUTOR, DEFAULT_WORKERS, EXECUTORS
from precompute.build.pipeline import BuildConfig, build_database
from precompute.cli.options import (
    MAX_WORKERS,
    add_ocr_argument,
    int_between,
    nonempty_name,
    refuse_replacing_a_non_database,
)
from precompute.cli.recipes import add_recipe_argument, resolve_recipe
from precompute.ingest.laion import read_corpus_info

logger = logging.getLogger(__name__)


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``build`` and ``demo`` (everything but the input)."""
    parser.add_argument("--db", type=Path, default=DEFAULT_DB_PATH, help="database to write")
    add_recipe_argument(parser)
    parser.add_argument(
        "--mode",
        choices=MATCH_MODES,
        default=None,
        help="lemma matching mode (default: the recipe's)",
    )
    parser.add_argument(
        "--synset-format",
        choices=SYNSET_TEXT_FORMATS,
        default=None,
        help="synset text the captions are scored against (default: the recipe's)",
    )
    parser.add_argument(
        "--vocab",
        type=Path,
        default=None,
        help="file of wnids, one per line (default: ImageNet-1k)",
    )
    parser.add_argument("--no-thumbnails", action="store_true", help="store no thumbnails")
    parser.add_argument(
        "--no-references",
        action="store_true",
        help="skip reference datasets shipped under <corpus>/references",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="folder of the shards, reused by the next run (default: <db stem>.shards beside "
        "the database)",
    )
    parser.add_argument(
        "--workers",
        type=int_between(None, MAX_WORKERS),
        default=DEFAULT_WORKERS,
        help="worker processes, or CPUs of a local Ray (default: %(default)s)",
    )
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=DEFAULT_EXECUTOR,
        help="run shards in local processes or as Ray tasks (default: %(default)s)",
    )
    parser.add_argument(
        "--ray-address", default=None, help="Ray cluster to join (with --executor ray)"
    )
    parser.add_argument(
        "--verify-inputs",
        action="store_true",
        help="re-hash every input before reusing a shard (default: compare size and mtime)",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``build``."""
    parser = subparsers.add_parser(
        "build",
        help="build the database from LAION-style parts",
        description="Match captions to synsets, score them and write one DuckDB database.",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        required=True,
        help="root with metadata/, img_emb/, text_emb/ (or *.parquet parts)",
    )
    parser.add_argument(
        "--synset-embeddings",
        type=Path,
        default=None,
        help=".npy of synset-text embeddings (default: <corpus>/synsets/)",
    )
    parser.add_argument(
        "--encoder",
        default=None,
        metavar="SPEC",
        help="encode captions and synset texts with this model, e.g. "
        "open_clip:ViT-B-32:openai or sentence-transformers:all-MiniLM-L6-v2 "
        "(default: the corpus's text_emb; the paper's model is open_clip:ViT-B-32:openai)",
    )
    parser.add_argument(
        "--embedding-model",
        default=None,
        help="name recorded for the shipped embeddings (default: corpus.json's, else "
        "laion-release:ViT-B-32)",
    )
    parser.add_argument(
        "--embedding-floor",
        type=float,
        default=None,
        help="store embeddings only of samples with text similarity above this (default: all)",
    )
    parser.add_argument(
        "--dataset",
        type=nonempty_name,
        default=LAIONET_DATASET,
        help="name of the selected dataset",
    )
    add_ocr_argument(
        parser,
        help_tail=") for the recipe's OCR rule (default: the metadata's own ocr_text column, if "
        "any; without OCR text the rule is not applied, and the database says so)",
    )
    add_build_arguments(parser)
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace, corpus: Path) -> BuildConfig:
    """The build configuration the parsed arguments describe (the recipe, overridden by
    explicit ``--mode`` and ``--synset-format``)."""
    named = read_corpus_info(corpus).get("recipe")  # a corpus may name its own (simulated)
    recipe = resolve_recipe(
        args, fallback=named, match_mode=args.mode, synset_format=args.synset_format
    )
    return BuildConfig(
        corpus=corpus,
        db=args.db,
        match_mode=recipe.match_mode,
        synset_format=recipe.synset_format,
        recipe=recipe,
        vocab_file=args.vocab,
        synset_embeddings=getattr(args, "synset_embeddings", None),
        encoder=getattr(args, "embedding_model", None),
        dataset=getattr(args, "dataset", LAIONET_DATASET),
        references=not args.no_references,
        thumbnails=not args.no_thumbnails,
        text_encoder=getattr(args, "encoder", None),
        work_dir=args.work,
        workers=args.workers,
        executor=args.executor,
        ray_address=args.ray_address,
        verify_inputs=args.verify_inputs,
        embedding_floor=getattr(args, "embedding_floor", None),
        ocr=tuple(args.ocr) if getattr(args, "ocr", None) else None,
    )


def looks_like_recorded_name(value: str) -> bool:
    """True when ``value`` reads as a recorded model name rather than an encoder spec.

    ``--encoder`` once took the name now given with ``--embedding-model``: a name that is
    no spec (``laion-release:ViT-B-32``), or the ``open_clip:MODEL/PRETRAINED`` form that
    ``datasets.encoder`` records.
    """
    try:
        spec = parse_encoder_spec(value)
    except ValueError:
        return True
    return (
        spec.family == "open_clip"
        and spec.pretrained is None
        and "/" in spec.model
        and not spec.model.startswith(OPEN_CLIP_SCHEMAS)
    )


def run(args: argparse.Namespace) -> int:
    """Build the database.

    Raises:
        ValueError: Bad input; when ``--encoder`` fails to load a value that looks like a
            recorded model name, the message suggests ``--embedding-model``.
    """
    refuse_replacing_a_non_database(args.db)
    try:
        path = build_database(config_from_args(args, args.corpus))
    except ValueError as error:
        value = args.encoder
        if value and value in str(error) and looks_like_recorded_name(value):
            raise ValueError(
                f"{error}\n--encoder SPEC encodes the captions with a model; to name the model "
                f"behind the corpus's embeddings, use --embedding-model {value}"
            ) from error
        raise
    logger.info("database ready: %s", path)
    return 0
