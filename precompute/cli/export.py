"""``python -m precompute export``: write a selected subset and its JSON manifest.

The selection follows the recipe (``--recipe``): the dataset kind's threshold, its
multi-label rule, NSFW rule and, with ``--ocr``, its OCR rule; explicit options override
single settings. The recipe in force and what became of its OCR rule go into the manifest.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from laionet_core.content_rules import read_content_rules
from laionet_core.export import EXPORT_FORMATS, command_path_for, manifest_path_for, write_export
from laionet_core.queries import connect, read_classes, read_dataset_info
from laionet_core.recipes import Recipe, describe_recipe, read_recorded_recipe
from laionet_core.schema import KIND_TEXT_MATCHED
from laionet_core.selection import (
    DEFAULT_MIN_SAMPLES_PER_CLASS,
    SelectionParams,
    select_by_nsfw_rule,
    select_by_ocr_text,
)
from laionet_core.settings import LAIONET_DATASET
from laionet_core.thresholds import CAPTION_THRESHOLD, TEXT_MATCH_THRESHOLD, read_threshold_spec
from precompute.cli.options import add_ocr_argument, nonempty_name, refuse_output_over_inputs
from precompute.cli.recipes import add_recipe_argument, resolve_recipe
from precompute.ingest.ocr_text import read_ocr_text

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``export``."""
    parser = subparsers.add_parser(
        "export",
        help="export the samples a threshold selects",
        description="Write the selected subset as parquet or CSV plus <out>.manifest.json.",
    )
    parser.add_argument("--db", type=Path, required=True, help="database to read")
    add_recipe_argument(parser)
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
    parser.add_argument("--keep-nsfw", action="store_true", help="keep every NSFW tag")
    parser.add_argument(
        "--keep-multi-label", action="store_true", help="keep captions that matched several classes"
    )
    add_ocr_argument(
        parser,
        help_tail=", or metadata parts with an ocr_text column) for the recipe's OCR rule",
    )
    parser.set_defaults(func=run)


def _build_filter(con: duckdb.DuckDBPyConnection, nsfw_rule: str, ocr: pd.Series | None):
    """The export table -> keep mask of an NSFW rule and (with OCR text) the OCR rule."""
    lemmas = None
    if ocr is not None:
        classes = read_classes(con)
        lemmas = {w: tuple(x) for w, x in zip(classes["wnid"], classes["lemmas"], strict=True)}

    def keep(table: pd.DataFrame) -> np.ndarray:
        mask = select_by_nsfw_rule(table["NSFW"], nsfw_rule)
        if lemmas is not None:
            texts = ocr.reindex(table["SAMPLE_ID"].astype(str)).to_numpy(object)
            ocr_keep = select_by_ocr_text(texts, table["wnid"], lemmas)
            logger.info("OCR rule drops %d samples naming their class", int((~ocr_keep).sum()))
            mask &= ocr_keep
        return mask

    return keep


def _resolve(
    con: duckdb.DuckDBPyConnection, args: argparse.Namespace
) -> tuple[Recipe, pd.Series | None]:
    """The recipe (``--recipe``, else the one recorded with the dataset or, failing that,
    with LAIONet, else the default) with the explicit options, and the OCR text."""
    recorded = None
    for name in (args.dataset, LAIONET_DATASET):
        info = read_dataset_info(con, name)
        recorded = recorded or read_recorded_recipe(info["parameters"] if info else None)
    recipe = resolve_recipe(
        args,
        fallback=recorded,
        threshold=args.threshold,
        nsfw_rule="keep-all" if args.keep_nsfw else None,
        text_match_nsfw_rule="keep-all" if args.keep_nsfw else None,
        multi_label="keep" if args.keep_multi_label else None,
    )
    ocr = read_ocr_text(args.ocr) if args.ocr else None
    if ocr is not None and recipe.ocr_rule == "none":
        logger.warning("recipe %s has no OCR rule: --ocr is not used", recipe.name)
        ocr = None
    return recipe, ocr


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
        recipe, ocr = _resolve(con, args)
        threshold = args.threshold
        if threshold is None:
            threshold = read_default_threshold(con, args.dataset)
        info = read_dataset_info(con, args.dataset) or {}
        matched = info.get("kind") == KIND_TEXT_MATCHED
        nsfw_rule = recipe.text_match_nsfw_rule if matched else recipe.nsfw_rule
        stored, applied = read_content_rules(info.get("parameters"), info.get("kind", ""))
        params = SelectionParams(
            threshold=threshold,
            # the stored verdict (samples.filtered) is the recipe's only when its rules
            # are the recorded ones; else the recipe's rules below decide alone
            drop_nsfw=(stored.nsfw_rule, stored.ocr_rule)
            == (nsfw_rule, "none" if matched else recipe.ocr_rule),
            drop_multi_label=recipe.multi_label == "drop",
            min_samples_per_class=DEFAULT_MIN_SAMPLES_PER_CLASS,
        )
        manifest_path, manifest = write_export(
            con,
            db_path=args.db,
            dataset=args.dataset,
            params=params,
            export_format=args.export_format,
            out=args.out,
            keep=_build_filter(con, nsfw_rule, ocr),
            # OCR text read now, or already applied by the build to the stored verdict
            manifest_extra=describe_recipe(
                recipe, ocr_text_given=ocr is not None or (params.drop_nsfw and bool(applied))
            ),
        )
    finally:
        con.close()
    logger.info(
        "wrote %d rows in %d classes to %s (manifest %s; recipe %s; %s); download it with %s",
        manifest["rows"],
        manifest["classes"],
        args.out,
        manifest_path,
        recipe.name,
        manifest["ocr_filter"],
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
