"""``python -m precompute recipes``: list every recipe with every setting.

Also the one place commands get ``--recipe NAME`` from (``add_recipe_argument``) and
turn it, with their explicit options, into a recipe (``resolve_recipe``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from laionet_core.recipes import DEFAULT_RECIPE, RECIPES, Recipe, get_recipe

logger = logging.getLogger(__name__)


def add_recipe_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--recipe NAME``; a command's explicit options override single settings."""
    parser.add_argument(
        "--recipe",
        choices=tuple(RECIPES),
        default=None,
        help=f"named set of the paper's choices (default: {DEFAULT_RECIPE}, the published "
        "paper, unless a simulated corpus names its own; `python -m precompute recipes` "
        "lists them); explicit options override single settings",
    )


def resolve_recipe(
    args: argparse.Namespace, *, fallback: str | Recipe | None = None, **overrides: object
) -> Recipe:
    """The recipe ``--recipe`` names, with explicit options (not None) replacing settings.

    Args:
        args: Parsed arguments with ``recipe``.
        fallback: Recipe (or its name) to use when ``--recipe`` is not given: the one a
            corpus names, or the one recorded with a dataset; ``DEFAULT_RECIPE`` if None.
        **overrides: Recipe setting -> the option's value (None when not given).

    Returns:
        The recipe in force; its name records any override.
    """
    name = getattr(args, "recipe", None)
    base = fallback if name is None and isinstance(fallback, Recipe) else None
    recipe = (base or get_recipe(name or fallback)).with_overrides(**overrides)
    logger.info("recipe %s", recipe.name)
    return recipe


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``recipes``."""
    parser = subparsers.add_parser(
        "recipes",
        help="list the recipes (the paper's versions and this project's) with every setting",
        description="Print every recipe and its settings.",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", dest="fmt")
    parser.set_defaults(func=run)


def format_recipes_text() -> str:
    """Every recipe as aligned ``setting value`` lines, the default marked."""
    blocks = []
    for name, recipe in RECIPES.items():
        settings = recipe.to_dict()
        width = max(len(k) for k in settings)
        head = f"{name}{'  (default)' if name == DEFAULT_RECIPE else ''}"
        lines = [head] + [f"  {k:<{width}}  {v}" for k, v in settings.items() if k != "name"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def run(args: argparse.Namespace) -> int:
    """Print the recipes."""
    if args.fmt == "json":
        text = json.dumps({n: r.to_dict() for n, r in RECIPES.items()}, indent=2) + "\n"
    else:
        text = format_recipes_text()
    sys.stdout.write(text)
    return 0
