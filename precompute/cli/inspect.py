"""``python -m precompute inspect``: what a corpus holds and what a build of it would do.

Reads file headers only (seconds on LAION-400M), so it is the check to run before any
long build: the layout recognised, parts, rows, embedding files with their widths and
dtypes, metadata columns, anything missing or misaligned, the encoder a build would
record, and an estimate of the build's time, disk and memory. ``build`` logs the same
summary first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT, SYNSET_TEXT_FORMATS
from precompute.build.executors import DEFAULT_WORKERS
from precompute.build.plan import estimate_build, format_corpus_report, plan_build
from precompute.ingest.corpus_summary import summarize_corpus


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``inspect``."""
    parser = subparsers.add_parser(
        "inspect",
        help="describe a corpus and what a build of it would do",
        description="Print the layout, parts, rows, embedding files, metadata columns, "
        "problems, the encoder a build would record and an estimate of its cost.",
    )
    parser.add_argument("--corpus", type=Path, required=True, help="root of the LAION data")
    parser.add_argument(
        "--encoder", default=None, metavar="SPEC", help="as for build: encode captions"
    )
    parser.add_argument(
        "--embedding-model", default=None, help="as for build: name of the shipped model"
    )
    parser.add_argument(
        "--synset-embeddings", type=Path, default=None, help="as for build: synset .npy"
    )
    parser.add_argument(
        "--synset-format", choices=SYNSET_TEXT_FORMATS, default=DEFAULT_SYNSET_TEXT_FORMAT
    )
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="as for build")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report on stdout.

    Returns:
        0 when a build with these options would run, 1 when it would stop (the report
        says why).
    """
    summary = summarize_corpus(args.corpus)
    plan = error = None
    try:
        plan = plan_build(
            summary,
            text_encoder=args.encoder,
            embedding_model=args.embedding_model,
            synset_embeddings=args.synset_embeddings,
            synset_format=args.synset_format,
        )
    except ValueError as refusal:
        error = str(refusal)
    estimate = estimate_build(
        summary, workers=args.workers, encodes_captions=args.encoder is not None
    )
    lines = format_corpus_report(summary, plan=plan, error=error, estimate=estimate)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if plan is not None else 1
