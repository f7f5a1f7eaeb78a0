"""``python -m precompute demo``: generate the SIMULATED corpus if needed, then build it.

The corpus is drawn from the paper's causal story by ``precompute.simulate.corpus`` and written
in LAION's own layout, so the build below reads it through the real ingestion path.
After the build: caption diagnostics of the simulated ImageNet-Captions (Section 4.2),
the text-matched dataset (Section 4.3, ``precompute.text_match.store``), then every
dataset's class metrics and the SIMULATED model's predictions.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from laionet_core import queries, schema
from laionet_core.settings import DEFAULT_CORPUS_DIR, DEFAULT_DB_PATH, LAIONET_DATASET
from laionet_core.storage import open_database_for_update
from precompute.analyses.caption_diagnostics import write_dataset_caption_diagnostics
from precompute.build.pipeline import build_database
from precompute.cli.build import add_build_arguments, config_from_args
from precompute.cli.options import random_seed, refuse_replacing_a_non_database
from precompute.ingest.laion import read_corpus_info
from precompute.simulate.corpus import SIMULATOR_VERSION, SimulationConfig, generate_corpus
from precompute.simulate.paper_scale import (
    DEFAULT_PAPER_SCALE_DB,
    PRESET_NAME,
    PaperScaleConfig,
    build_paper_scale_database,
)
from precompute.simulate.predictions import add_demo_metrics
from precompute.text_match.store import DEFAULT_QUERIES, TextMatchConfig, build_text_matched_dataset

logger = logging.getLogger(__name__)

DEMO_RECIPE = "explorer"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``demo``."""
    defaults = SimulationConfig()
    parser = subparsers.add_parser(
        "demo",
        help="generate the simulated corpus (if missing) and build its database",
        description="Generate a SIMULATED LAION-style corpus and build the demo database.",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS_DIR,
        help="where the simulated corpus lives (default: %(default)s)",
    )
    parser.add_argument(
        "--captions",
        type=int,
        default=defaults.n_captions,
        help="captions to simulate (default: %(default)s)",
    )
    parser.add_argument(
        "--parts",
        type=int,
        default=defaults.n_parts,
        help="metadata parts to write (default: %(default)s)",
    )
    parser.add_argument("--seed", type=random_seed, default=defaults.seed, help="random seed")
    parser.add_argument(
        "--preset",
        choices=[PRESET_NAME],
        default=None,
        help=f"{PRESET_NAME}: write a SIMULATED database shaped like the real LAIONet "
        "(about 21M matched captions over 994 classes, about 880k above 0.82, embeddings "
        "above 0.82, ImageNet-val/V2/Captions, text match, two models) straight into --db "
        f"(default {DEFAULT_PAPER_SCALE_DB}), "
        "without a corpus on disk (about 30 min on 2 cores; --captions, --parts and the "
        "build options do not apply)",
    )
    parser.add_argument(
        "--regenerate", action="store_true", help="generate the corpus again even if it exists"
    )
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when the database exists and its corpus is the current simulator's",
    )
    add_build_arguments(parser)
    # The simulated captions are written for normalised matching and the corpus ships
    # name_def synset embeddings: the demo is built with this project's own recipe.
    parser.set_defaults(func=run, recipe=DEMO_RECIPE)


def run(args: argparse.Namespace) -> int:
    """Generate (when needed) and build, or write the ``--preset`` database."""
    if args.preset == PRESET_NAME:
        if args.db == DEFAULT_DB_PATH:  # never replace the demo database with the preset
            args.db = DEFAULT_PAPER_SCALE_DB
            logger.info("no --db: writing the %s preset to %s", PRESET_NAME, args.db)
        if args.if_missing and args.db.is_file():
            logger.info("%s exists; nothing to do (--if-missing)", args.db)
            return 0
        build_paper_scale_database(PaperScaleConfig(seed=args.seed), args.db)
        return 0
    if args.captions < 1 or args.parts < 1:
        raise ValueError(
            f"--captions and --parts must be positive, got {args.captions}, {args.parts}"
        )
    refuse_replacing_a_non_database(args.db)
    config = SimulationConfig(n_captions=args.captions, n_parts=args.parts, seed=args.seed)
    stale = find_stale_corpus(args.corpus, config, any_size=args.if_missing)
    if args.if_missing and args.db.is_file() and stale is None:
        logger.info("%s exists; nothing to do", args.db)
        return 0
    if args.regenerate or stale is not None:
        logger.info(
            "generating a SIMULATED corpus in %s (%s)",
            args.corpus,
            "--regenerate" if args.regenerate else stale,
        )
        generate_corpus(config, args.corpus)
    build_database(config_from_args(args, args.corpus))
    add_demo_text_analyses(args.db)
    add_demo_metrics(args.db)
    logger.info("demo database (SIMULATED data) ready: %s", args.db)
    return 0


def find_stale_corpus(corpus: Path, config: SimulationConfig, *, any_size: bool) -> str | None:
    """Why the simulated corpus in ``corpus`` must be generated again, or None.

    Args:
        corpus: The corpus folder.
        config: What the user asked for.
        any_size: Accept a corpus of another size or seed (``--if-missing``: an existing
            demo, perhaps made larger on purpose, is kept unless the simulator changed).
    """
    info = read_corpus_info(corpus)
    if not info:
        return "no corpus yet"
    if info.get("version") != SIMULATOR_VERSION:
        return f"made by simulator version {info.get('version', 1)}, now {SIMULATOR_VERSION}"
    made = info.get("config", {})
    asked = config.to_dict()
    differ = [key for key in ("n_captions", "n_parts", "seed") if made.get(key) != asked[key]]
    if differ and not any_size:
        return "made with other " + ", ".join(differ)
    return None


def add_demo_text_analyses(db: Path) -> None:
    """Caption diagnostics of the simulated ImageNet-Captions, then the text-matched dataset.

    Both need the captions' embeddings, which a build with ``--no-references`` (or an
    ``--encoder`` build, which skips the shipped references) does not have; then they
    are skipped with a message.
    """
    with open_database_for_update(db) as con:
        datasets = set(queries.read_datasets(con)["dataset"])
        captioned = DEFAULT_QUERIES in datasets
        if captioned:
            ids, _ = queries.read_embeddings(con, DEFAULT_QUERIES, table=schema.TEXT_EMBEDDINGS)
            captioned = not ids.empty
        if captioned:
            write_dataset_caption_diagnostics(con, DEFAULT_QUERIES)
    if not captioned:
        logger.info("no %s captions in %s: no text-matched dataset", DEFAULT_QUERIES, db)
        return
    if LAIONET_DATASET not in datasets:
        logger.info("no %s dataset in %s: no text-matched dataset", LAIONET_DATASET, db)
        return
    build_text_matched_dataset(TextMatchConfig(db=db), compute_metrics=False)
