"""``python -m precompute demo``: generate the SIMULATED corpus if needed, then build it.

The corpus is drawn from the paper's causal story by ``precompute.simulate`` and written
in LAION's own layout, so the build below reads it through the real ingestion path.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from laionet_core.settings import DEFAULT_CORPUS_DIR
from precompute.build import add_build_arguments, config_from_args
from precompute.class_metrics import add_demo_metrics
from precompute.pipeline import CORPUS_INFO_FILE, build_database
from precompute.simulate import SimulationConfig, generate_corpus

logger = logging.getLogger(__name__)


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
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    parser.add_argument(
        "--regenerate", action="store_true", help="generate the corpus again even if it exists"
    )
    parser.add_argument(
        "--if-missing", action="store_true", help="do nothing when the database already exists"
    )
    add_build_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate (when needed) and build."""
    if args.if_missing and args.db.is_file():
        logger.info("%s exists; nothing to do", args.db)
        return 0
    if args.captions < 1 or args.parts < 1:
        raise ValueError(
            f"--captions and --parts must be positive, got {args.captions}, {args.parts}"
        )
    if args.regenerate or not (args.corpus / CORPUS_INFO_FILE).is_file():
        config = SimulationConfig(n_captions=args.captions, n_parts=args.parts, seed=args.seed)
        logger.info("generating a SIMULATED corpus in %s", args.corpus)
        generate_corpus(config, args.corpus)
    build_database(config_from_args(args, args.corpus))
    add_demo_metrics(args.db)
    logger.info("demo database (SIMULATED data) ready: %s", args.db)
    return 0
