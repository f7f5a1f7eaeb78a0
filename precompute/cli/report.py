"""``python -m precompute report``: the paper's headline numbers beside the database's."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from precompute.analyses.report import format_report, read_headline_report

REPORT_FORMATS = ("md", "json")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``report``."""
    parser = subparsers.add_parser(
        "report",
        help="the paper's headline numbers beside this database's, with their sections",
        description="Print LAIONet's size, zero-shot accuracy, intra-class shares (both "
        "estimators), weighted accuracy, ImageNetV2 and Section 4.3 shares: paper vs database.",
    )
    parser.add_argument("--db", type=Path, required=True, help="database to read")
    parser.add_argument("--format", choices=REPORT_FORMATS, default="md", dest="fmt")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report."""
    if not args.db.is_file():
        raise FileNotFoundError(f"--db {args.db}: no such database")
    sys.stdout.write(format_report(read_headline_report(args.db), args.fmt, db=args.db))
    return 0
