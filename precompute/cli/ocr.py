"""``python -m precompute ocr``: recognise image text in webdataset shards (Tesseract).

Writes ``SAMPLE_ID, ocr_text, error`` for ``export --ocr`` and the TMLR recipe's rule.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from precompute.encode.ocr import recognise_shards


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``ocr``."""
    parser = subparsers.add_parser(
        "ocr",
        help="recognise the text in downloaded images (webdataset shards) with Tesseract",
        description="OCR every image of img2dataset .tar shards into SAMPLE_ID, ocr_text.",
    )
    parser.add_argument("--images", type=Path, required=True, help=".tar shard or folder of them")
    parser.add_argument("--out", type=Path, required=True, help="parquet file to write")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes (default: min(2, CPUs))",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Recognise and write."""
    if args.out.resolve() == args.images.resolve():
        raise ValueError(f"--out {args.out} is the input")
    recognise_shards(args.images, args.out, workers=args.workers)
    return 0
