"""``python -m precompute export``: write a selected subset and its JSON manifest."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import duckdb

from laionet_core.export import EXPORT_FORMATS, command_path_for, manifest_path_for, write_export
from laionet_core.queries import connect, read_dataset_info
from laionet_core.selection import DEFAULT_MIN_SAMPLES_PER_CLASS, SelectionParams
from laionet_core.settings import LAIONET_DATASET
from laionet_core.thresholds import CAPTION_THRESHOLD, TEXT_MATCH_THRESHOLD, read_threshold_spec
from precompute.cli.options import nonempty_name, refuse_output_over_inputs

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``export``."""
    parser = subparsers.add_parser(
        "export",
        help="export the samples a threshold selects",
        description="Write the selected subset as parquet or CSV plus <out>.manifest.json.",
    )
    parser.add_argument("--db", type=Path, required=True, help="database to read")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="keep text_similarity > THRESHOLD (default: the dataset kind's, "
        f"{CAPTION_THRESHOLD.default} for text-selected, {TEXT_MATCH_THRESHOLD.default} "
        "for text-matched)",
    )
    parser.add_argument("--format", choices=EXPORT_FORMATS, default="parquet", dest="export_format")
    parser.add_argument("--out", type=Path, required=True, help="file to write")
    parser.add_argument("--dataset", type=nonempty_name, default=LAIONET_DATASET)
    parser.add_argument("--keep-nsfw", action="store_true", help="keep samples tagged NSFW")
    parser.add_argument(
        "--keep-multi-label", action="store_true", help="keep captions that matched several classes"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the export."""
    outputs = {
        "--out": args.out,
        "--out's manifest": manifest_path_for(args.out),
        "--out's img2dataset command": command_path_for(args.out),
    }
    for option, out in outputs.items():
        refuse_output_over_inputs(out, [("--db", args.db)], option=option)
    con = connect(args.db)
    try:
        threshold = args.threshold
        if threshold is None:
            threshold = read_default_threshold(con, args.dataset)
        params = SelectionParams(
            threshold=threshold,
            drop_nsfw=not args.keep_nsfw,
            drop_multi_label=not args.keep_multi_label,
            min_samples_per_class=DEFAULT_MIN_SAMPLES_PER_CLASS,
        )
        manifest_path, manifest = write_export(
            con,
            db_path=args.db,
            dataset=args.dataset,
            params=params,
            export_format=args.export_format,
            out=args.out,
        )
    finally:
        con.close()
    logger.info(
        "wrote %d rows in %d classes to %s (manifest %s); download it with %s",
        manifest["rows"],
        manifest["classes"],
        args.out,
        manifest_path,
        command_path_for(args.out),
    )
    return 0


def read_default_threshold(con: duckdb.DuckDBPyConnection, dataset: str) -> float:
    """The paper's threshold for ``dataset``'s kind (``laionet_core.thresholds``).

    Raises:
        ValueError: The database has no such dataset, or its kind is used whole.
    """
    info = read_dataset_info(con, dataset)
    if info is None:
        raise ValueError(f"--dataset {dataset!r}: no such dataset in the database")
    spec = read_threshold_spec(info["kind"])
    if spec is None:
        raise ValueError(
            f"--dataset {dataset!r} is of kind {info['kind']!r}, which no threshold selects; "
            "give --threshold to select on its text_similarity anyway"
        )
    return spec.default
