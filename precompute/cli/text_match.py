"""``python -m precompute text-match``: LAION captions nearest to ImageNet's texts (Section 4.3).

The work is ``precompute.text_match.store.build_text_matched_dataset`` (its docstring
says what is stored; ``text_similarity`` of the stored rows is text-to-text). This module
turns the command line into its ``TextMatchConfig``.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import fields
from pathlib import Path

from laionet_core.recipes import describe_recipe
from precompute.cli.options import MAX_COUNT, int_between, nonempty_name, similarity
from precompute.cli.recipes import add_recipe_argument, resolve_recipe
from precompute.text_match.search import INDEX_KINDS
from precompute.text_match.store import TextMatchConfig, build_text_matched_dataset

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``text-match``."""
    defaults = TextMatchConfig(db=Path("."))
    parser = subparsers.add_parser(
        "text-match",
        help="store the LAION captions nearest to ImageNet-Captions' texts (Section 4.3)",
        description="For every query caption, find the most similar candidate caption and "
        "store the best matches as a text-matched dataset (text_similarity = text-to-text).",
    )
    parser.add_argument("--db", type=Path, required=True, help="database to update")
    parser.add_argument("--queries", default=defaults.queries, help="query dataset (%(default)s)")
    parser.add_argument(
        "--candidates",
        help=f"database dataset whose captions are searched (default: {defaults.candidates})",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        help="search ALL captions of this LAION-layout corpus instead (not with --candidates)",
    )
    parser.add_argument(
        "--threshold",
        type=similarity,
        default=defaults.threshold,
        help="text-to-text threshold of the selection; every best match is stored "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--name", type=nonempty_name, default=defaults.name, help="dataset name (%(default)s)"
    )
    parser.add_argument("--index", choices=INDEX_KINDS, default=defaults.index)
    parser.add_argument(
        "--nlist",
        type=int_between(None, MAX_COUNT),
        help="IVF lists, >= 1 (default: 4 sqrt(candidates), at most candidates / 39)",
    )
    parser.add_argument(
        "--nprobe",
        type=int_between(None, MAX_COUNT),
        default=defaults.nprobe,
        help="IVF lists visited (%(default)s)",
    )
    parser.add_argument(
        "--recall-sample",
        type=int_between(None, MAX_COUNT),
        default=defaults.recall_sample,
        help="queries whose IVF-PQ match is checked against exact search, >= 1 (%(default)s)",
    )
    parser.add_argument(
        "--encoder", help="name of the model behind the corpus's embeddings (with --corpus only)"
    )
    add_recipe_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Match and store."""
    recipe = resolve_recipe(args)
    names = {f.name for f in fields(TextMatchConfig)} - {"recipe_settings", "label_rule"}
    build_text_matched_dataset(
        TextMatchConfig(
            **{k: v for k, v in vars(args).items() if k in names},
            recipe_settings=describe_recipe(recipe),
            label_rule=recipe.text_match_label,
        )
    )
    return 0
