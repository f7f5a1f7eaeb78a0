"""Upgrade a database of the previous schema in place (``python -m precompute upgrade``).

Schema 3 stores a recipe's content rules per sample (``samples.filtered``) and keys the
similarity histograms and the selection statistics on that flag instead of LAION's raw
NSFW tag (``laionet_core.content_rules``). Upgrading a version-2 database:

1. adds ``samples.filtered`` and renames the flag column of ``similarity_histograms``
   and ``selection_subsets`` (``nsfw`` -> ``filtered``);
2. per dataset, applies the content rules of ``--recipe`` (else the recipe recorded
   with the dataset, else the default recipe) in bulk SQL, recounts its histograms
   from the stored rows (bounded batches) and records the rules in its parameters;
3. recomputes the selection statistics of the datasets that had them (class batches,
   as ``python -m precompute metrics`` does);
4. with ``class_order``, stores the samples in class order, as a new database does
   (``laionet_core.storage_order``), so one class's reads skip the others' row groups.
   Opt-in: at 20M samples it took 75 s more, 4.4 GB of memory, and left the file larger
   by the samples table (DuckDB reuses but does not return the freed blocks).

Everything runs in one transaction on a copy that replaces the file only at the end
(``laionet_core.storage_update``), so a failure leaves the database as it was. A
database of the current version can be upgraded again, e.g. to apply another recipe's
rules or OCR text.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import duckdb

from laionet_core import queries, schema
from laionet_core.content_rules import (
    OcrText,
    apply_content_rules,
    describe_content_rules,
    select_content_rules,
)
from laionet_core.queries_stats import has_table
from laionet_core.recipes import DEFAULT_RECIPE, Recipe, get_recipe, read_recorded_recipe
from laionet_core.storage_order import write_samples_in_class_order
from laionet_core.storage_rows import write_meta
from laionet_core.storage_update import open_database_for_update
from precompute.analyses.selection_stats import write_dataset_selection_stats

logger = logging.getLogger(__name__)

# DuckDB keeps written blocks in memory up to its limit (80% of RAM by default); bounded,
# a 20M-sample upgrade spills them instead (as the build's assembly does).
UPGRADE_MEMORY_LIMIT = "2GB"
# Rewriting the samples in class order commits them in one statement: 20M rows needed
# more than 2 GB of DuckDB memory (4.4 GB peak RSS measured).
ORDER_MEMORY_LIMIT = "4GB"
# Tables whose boolean flag column was LAION's NSFW tag and is now the content rules'.
RENAMED_FLAG_TABLES = (schema.SIMILARITY_HISTOGRAMS, schema.SELECTION_SUBSETS)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
    ).fetchall()
    return {r[0] for r in rows}


def upgrade_schema(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Bring the tables to this schema version (nothing to do when they are).

    Returns:
        What was changed, in words (empty when nothing was).
    """
    changes = []
    if "filtered" not in _columns(con, schema.SAMPLES):
        con.execute(f"ALTER TABLE {schema.SAMPLES} ADD COLUMN filtered BOOLEAN DEFAULT false")
        con.execute(f"ALTER TABLE {schema.SAMPLES} ALTER COLUMN filtered SET NOT NULL")
        changes.append(f"{schema.SAMPLES}.filtered added")
    for table in RENAMED_FLAG_TABLES:
        if has_table(con, table) and "nsfw" in _columns(con, table):
            con.execute(f"ALTER TABLE {table} RENAME COLUMN nsfw TO filtered")
            changes.append(f"{table}.nsfw renamed to filtered")
    write_meta(con, {"schema_version": str(schema.SCHEMA_VERSION)})
    return changes


def _has_selection_stats(con: duckdb.DuckDBPyConnection, dataset: str) -> bool:
    if not has_table(con, schema.SELECTION_STATS):
        return False
    row = queries.fetch_one(
        con, f"SELECT count(*) FROM {schema.SELECTION_STATS} WHERE dataset = ?", [dataset]
    )
    return bool(row and row[0])


def reapply_content_rules(
    con: duckdb.DuckDBPyConnection, *, recipe: Recipe | None, ocr: OcrText | None
) -> dict[str, dict[str, int]]:
    """Apply every dataset's content rules, recount its histograms and refresh its
    selection statistics (where it had them).

    Args:
        con: A writable connection to a database of this schema.
        recipe: Rules to apply to every dataset; None: each dataset's recorded recipe,
            else ``DEFAULT_RECIPE``.
        ocr: OCR text for an OCR rule, or None.

    Returns:
        Dataset -> ``content_rules.write_content_flags``' counts.
    """
    datasets = queries.read_datasets(con)
    out = {}
    for row in datasets.itertuples():
        started = time.perf_counter()
        parameters = dict(row.parameters)
        chosen = recipe or read_recorded_recipe(parameters) or get_recipe(DEFAULT_RECIPE)
        rules = select_content_rules(chosen, row.kind)
        given = ocr if rules.ocr_rule != "none" else None
        out[row.dataset] = apply_content_rules(con, row.dataset, rules, ocr_text=given)
        parameters["content_rules"] = describe_content_rules(
            rules, ocr_text_given=given is not None
        )
        con.execute(
            f"UPDATE {schema.DATASETS} SET parameters = ? WHERE dataset = ?",
            [json.dumps(parameters, sort_keys=True, default=str), row.dataset],
        )
        if _has_selection_stats(con, row.dataset):
            write_dataset_selection_stats(con, row.dataset)
        logger.info(
            "%s: content rules of %s applied in %.1f s",
            row.dataset,
            chosen.name,
            time.perf_counter() - started,
        )
    return out


def upgrade_database(
    db: Path,
    *,
    recipe: Recipe | None = None,
    ocr: OcrText | None = None,
    class_order: bool = False,
) -> dict[str, dict[str, int]]:
    """Upgrade ``db`` (schema 2 or this one) in place, atomically.

    ``class_order``: also rewrite the samples in class order (module docstring, step 4).

    Returns:
        ``reapply_content_rules``' counts.

    Raises:
        FileNotFoundError, ValueError, ...: as ``open_database_for_update``.
    """
    versions = (schema.UPGRADABLE_SCHEMA_VERSION, schema.SCHEMA_VERSION)
    with open_database_for_update(db, schema_versions=versions) as con:
        con.execute(f"SET memory_limit = '{UPGRADE_MEMORY_LIMIT}'")
        for change in upgrade_schema(con):
            logger.info("%s: %s", db, change)
        counts = reapply_content_rules(con, recipe=recipe, ocr=ocr)
        if class_order:
            # The copy is private until it is swapped in, so committing in steps loses
            # no atomicity; one transaction holding 20M rewritten rows outgrew 2 GB.
            con.execute("COMMIT")
            con.execute(f"SET memory_limit = '{ORDER_MEMORY_LIMIT}'")
            write_samples_in_class_order(con)
            con.execute("BEGIN TRANSACTION")
    logger.info("%s: schema version %d", db, schema.SCHEMA_VERSION)
    return counts
