"""Command line of the offline pipeline: ``python -m precompute <command> ...``.

Each command lives in its own module under ``precompute.cli``, named as the command
(``add-reference`` is ``add_reference``), and exposes two functions:
``add_parser(subparsers)``, which registers its arguments, and ``run(args) -> int``.
Adding a command is adding a module and one name to ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Sequence

from precompute.cli.errors import run_command

# Modules under precompute/cli/ that each provide one sub-command, in the order --help lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "inspect",
    "build",
    "export",
    "match",
    "metrics",
    "add_predictions",
    "add_reference",
    "text_match",
    "recipes",
    "lemmas",
    "report",
    "ocr",
    "upgrade",
)

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog="python -m precompute",
        description="Build the LAIONet Explorer database from LAION-style data.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of a failure (with its message)"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"precompute.cli.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The error boundary: one line naming the file, column, value or option; exit != 0.
    return run_command(args.func, args, debug=args.debug)
