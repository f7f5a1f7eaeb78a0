"""``python -m precompute lemmas``: write the lemma dictionary a recipe matches with.

One ``lemma<TAB>wnid`` line per lemma, sorted by lemma, in the form the recipe matches
(the vocabulary's spelling for ``paper`` matching, the normalised form otherwise). The
classes left without a lemma are logged and listed in ``FILE.tsv.without_lemma.txt``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from laionet_core.files import open_atomically
from laionet_core.matching import LemmaMatcher
from laionet_core.vocabulary import LemmaDictionary, load_vocabulary
from precompute.cli.recipes import add_recipe_argument, resolve_recipe

logger = logging.getLogger(__name__)

WITHOUT_LEMMA_SUFFIX = ".without_lemma.txt"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``lemmas``."""
    parser = subparsers.add_parser(
        "lemmas",
        help="write the lemma dictionary a recipe uses (lemma<TAB>wnid)",
        description="Write the lemma -> wnid dictionary actually matched, sorted by lemma.",
    )
    add_recipe_argument(parser)
    parser.add_argument("--vocab", type=Path, default=None, help="file of wnids (default: 1k)")
    parser.add_argument("--out", type=Path, required=True, help="TSV file to write")
    parser.set_defaults(func=run)


def format_lemma_tsv(dictionary: LemmaDictionary) -> str:
    """``lemma<TAB>wnid`` lines sorted by lemma (code point order)."""
    return "".join(f"{k}\t{w}\n" for k, w in sorted(dictionary.lemma_to_wnid.items()))


def _write_text_atomically(path: Path, text: str) -> None:
    with open_atomically(path) as out:
        out.write(text.encode("utf-8"))


def run(args: argparse.Namespace) -> int:
    """Write the dictionary and the classes without a lemma."""
    recipe = resolve_recipe(args)
    vocabulary = load_vocabulary(args.vocab)
    matcher = LemmaMatcher(vocabulary, mode=recipe.match_mode, omit_wnids=recipe.lemma_source_omits)
    dictionary = matcher.lemma_dictionary
    _write_text_atomically(args.out, format_lemma_tsv(dictionary))
    without = dictionary.classes_without_lemma
    names = {s.wnid: s.name for s in vocabulary.synsets}
    listing = "".join(f"{w}\t{names[w]}\n" for w in without)
    _write_text_atomically(args.out.with_name(args.out.name + WITHOUT_LEMMA_SUFFIX), listing)
    logger.info(
        "%d lemmas of %d classes (recipe %s, %s matching) -> %s; %d classes without a lemma: %s",
        len(dictionary.lemma_to_wnid),
        len(vocabulary),
        recipe.name,
        recipe.match_mode,
        args.out,
        len(without),
        ", ".join(f"{w} ({names[w]})" for w in without) or "none",
    )
    return 0
