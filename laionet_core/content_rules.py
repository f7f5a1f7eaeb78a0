"""A recipe's content rules (NSFW and OCR) as one stored flag per sample.

The two versions of the paper filter LAIONet's content differently (``recipes``): the
arXiv version drops samples LAION tagged ``NSFW``; the TMLR version keeps only
``UNLIKELY`` and drops samples whose image text (OCR) names a lemma of their class. The
build applies the recorded recipe's rules once, in SQL, and stores the verdict as
``samples.filtered`` ("the content rules drop this sample"). The similarity
histograms, the selection statistics and every selection query are keyed on that flag,
so the app's "apply the content rules" switch is the recipe's rule, whichever it is;
LAION's raw ``nsfw`` tag stays for display.

Rules per dataset kind: text-selected datasets get the recipe's ``nsfw_rule`` and
``ocr_rule``; text-matched datasets its ``text_match_nsfw_rule`` (no OCR rule);
reference datasets (ImageNet and the like) have no tag and are never filtered.

The OCR comparison matches ``selection.select_by_ocr_text`` (the oracle): text and
lemmas lower-cased (DuckDB's ``lower``, Python's ``str.lower``), ASCII punctuation as
spaces, ASCII whitespace runs as one space, padded with a space; a sample is dropped
when its padded text contains a padded lemma of its class (``classes.lemmas``).
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from laionet_core import schema
from laionet_core.recipes import (
    OCR_NOT_APPLIED,
    OCR_RULES,
    Recipe,
    describe_ocr_rule,
    read_recorded_recipe,
)
from laionet_core.selection import NSFW_RULES, NSFW_TAG, SAFE_TAG, compute_similarity_bins
from laionet_core.storage_arrow import insert_frame

logger = logging.getLogger(__name__)

# Rows read at once when the histograms are recounted from the samples table: bounds
# memory (a few columns of 1M rows) whatever the dataset's size.
HISTOGRAM_BATCH_ROWS = 1_000_000
# Name of the temporary table that holds the OCR text during a build or an upgrade.
OCR_TABLE = "ocr_texts_tmp"

# SQL: is the sample kept by an NSFW rule? (LAION's tag, trimmed, case-insensitive.)
_TAG = "upper(trim(coalesce(s.nsfw, '')))"
NSFW_KEEP_SQL = {
    "keep-all": "true",
    "drop-nsfw": f"{_TAG} <> '{NSFW_TAG}'",
    "unlikely-only": f"{_TAG} = '{SAFE_TAG}'",
}
assert set(NSFW_KEEP_SQL) == set(NSFW_RULES)

_PUNCTUATION = "[" + re.escape(string.punctuation).replace("'", "''") + "]"
_WHITESPACE = "[ \t\n\r\f\v]+"


def _ocr_form_sql(expression: str) -> str:
    """SQL of ``selection._ocr_form`` applied to ``expression``."""
    lowered = f"regexp_replace(lower({expression}), '{_PUNCTUATION}', ' ', 'g')"
    return f"(' ' || trim(regexp_replace({lowered}, '{_WHITESPACE}', ' ', 'g')) || ' ')"


FLAG_NSFW_SQL = """
UPDATE {samples} AS s SET filtered = NOT ({keep}) WHERE s.dataset = $dataset
"""

# Each text and lemma is put in its compared form once, then joined on the class.
FLAG_OCR_SQL = f"""
WITH texts AS (
    SELECT x.sample_id, x.wnid, {_ocr_form_sql("o.ocr_text")} AS form
    FROM {schema.SAMPLES} x JOIN {OCR_TABLE} o ON o.sample_id = x.sample_id
    WHERE x.dataset = $dataset AND o.ocr_text IS NOT NULL
),
lemmas AS (
    SELECT wnid, {_ocr_form_sql("lemma")} AS form
    FROM (SELECT wnid, unnest(lemmas) AS lemma FROM {schema.CLASSES})
),
named AS (
    SELECT DISTINCT t.sample_id FROM texts t JOIN lemmas l ON l.wnid = t.wnid
    WHERE contains(t.form, l.form)
)
UPDATE {schema.SAMPLES} AS s SET filtered = true FROM named d
WHERE s.dataset = $dataset AND s.sample_id = d.sample_id
"""

HISTOGRAM_ROWS_SQL = f"""
SELECT wnid, filtered, multi_label, text_similarity
FROM {schema.SAMPLES} WHERE dataset = $dataset
"""


@dataclass(frozen=True)
class ContentRules:
    """The content rules of one dataset.

    Attributes:
        nsfw_rule: One of ``selection.NSFW_RULES``.
        ocr_rule: ``none`` or ``drop-class-text`` (``recipes.OCR_RULES``).
        recipe: Name of the recipe they come from (None: plain options).
    """

    nsfw_rule: str = "keep-all"
    ocr_rule: str = "none"
    recipe: str | None = None

    def __post_init__(self) -> None:
        if self.nsfw_rule not in NSFW_RULES:
            raise ValueError(f"NSFW rule {self.nsfw_rule!r} is not one of {', '.join(NSFW_RULES)}")
        if self.ocr_rule not in OCR_RULES:
            raise ValueError(f"OCR rule {self.ocr_rule!r} is not one of {', '.join(OCR_RULES)}")


# Kept by every rule: reference datasets carry no tag.
NO_RULES = ContentRules()


def select_content_rules(recipe: Recipe | None, kind: str) -> ContentRules:
    """The content rules ``recipe`` gives a dataset of ``kind``.

    Without a recipe (plain options), a text-selected or text-matched dataset drops
    ``NSFW`` only (the arXiv rule, this project's rule before recipes).
    """
    if kind == schema.KIND_TEXT_SELECTED:
        if recipe is None:
            return ContentRules("drop-nsfw")
        return ContentRules(recipe.nsfw_rule, recipe.ocr_rule, recipe.name)
    if kind == schema.KIND_TEXT_MATCHED:
        if recipe is None:
            return ContentRules("drop-nsfw")
        return ContentRules(recipe.text_match_nsfw_rule, "none", recipe.name)
    return NO_RULES


def describe_content_rules(rules: ContentRules, *, ocr_text_given: bool) -> dict[str, object]:
    """The rules as recorded in ``datasets.parameters["content_rules"]``."""
    recorded: dict[str, object] = asdict(rules)
    recorded["ocr_applied"] = rules.ocr_rule != "none" and ocr_text_given
    recorded["ocr_filter"] = describe_ocr_rule(rules.ocr_rule, ocr_text_given=ocr_text_given)
    return recorded


@dataclass(frozen=True)
class OcrFile:
    """A parquet file of recognised image text, read by DuckDB without Python rows.

    Attributes:
        path: The file (``python -m precompute ocr``'s output, or a metadata part).
        id_column: Its sample-id column (``SAMPLE_ID``, or ``key`` in some layouts).
    """

    path: Path
    id_column: str = "SAMPLE_ID"


# OCR text: sample id -> text in memory, or parquet files DuckDB reads in bulk.
OcrText = pd.Series | Sequence[OcrFile]


def write_ocr_table(con: duckdb.DuckDBPyConnection, ocr_text: OcrText) -> None:
    """Hold OCR text in the temporary table the OCR rule reads.

    Raises:
        ValueError: A sample id has two different texts (the id is named).
    """
    if isinstance(ocr_text, pd.Series):
        _write_ocr_series(con, ocr_text)
    else:
        selects = [
            f"SELECT CAST({_quote(f.id_column)} AS VARCHAR) AS sample_id, "
            f"CAST(ocr_text AS VARCHAR) AS ocr_text FROM read_parquet($p{i})"
            for i, f in enumerate(ocr_text)
        ]
        params = {f"p{i}": str(f.path) for i, f in enumerate(ocr_text)}
        union = " UNION ALL ".join(selects) or "SELECT NULL::VARCHAR, NULL::VARCHAR LIMIT 0"
        con.execute(
            f"CREATE OR REPLACE TEMPORARY TABLE {OCR_TABLE} AS SELECT DISTINCT * FROM ({union})",
            params,
        )
    clash = con.execute(
        f"SELECT sample_id FROM {OCR_TABLE} GROUP BY sample_id HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    if clash:
        con.execute(f"DROP TABLE IF EXISTS {OCR_TABLE}")
        raise ValueError(f"OCR text: SAMPLE_ID {clash[0][0]!r} has two different ocr_text values")


def _quote(identifier: str) -> str:
    """A column name as a quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def _write_ocr_series(con: duckdb.DuckDBPyConnection, ocr_text: pd.Series) -> None:
    texts = ocr_text.astype(object).where(ocr_text.notna(), None)
    rows = pa.table(
        {
            "sample_id": pa.array(ocr_text.index.astype(str).tolist(), pa.string()),
            "ocr_text": pa.array(texts.tolist(), pa.string()),
        }
    )
    con.register("ocr_rows_view", rows)
    try:
        con.execute(f"CREATE OR REPLACE TEMPORARY TABLE {OCR_TABLE} AS SELECT * FROM ocr_rows_view")
    finally:
        con.unregister("ocr_rows_view")


def write_content_flags(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    rules: ContentRules,
    *,
    ocr_text: OcrText | None = None,
) -> dict[str, int]:
    """Set ``samples.filtered`` of one dataset from its content rules, in bulk SQL.

    Args:
        con: A writable connection.
        dataset: The dataset.
        rules: Its content rules.
        ocr_text: Recognised image text (``OcrText``), for an OCR rule; None: the OCR
            rule is not applied (``recipes.OCR_NOT_APPLIED`` is logged).

    Returns:
        ``{"nsfw": samples the NSFW rule drops, "ocr": further samples the OCR rule
        drops, "filtered": both}``.
    """
    keep = NSFW_KEEP_SQL[rules.nsfw_rule]
    con.execute(FLAG_NSFW_SQL.format(samples=schema.SAMPLES, keep=keep), {"dataset": dataset})
    counted = _count_filtered(con, dataset)
    by_ocr = 0
    if rules.ocr_rule != "none" and ocr_text is not None:
        write_ocr_table(con, ocr_text)
        try:
            con.execute(FLAG_OCR_SQL, {"dataset": dataset})
        finally:
            con.execute(f"DROP TABLE IF EXISTS {OCR_TABLE}")
        by_ocr = _count_filtered(con, dataset) - counted
    elif rules.ocr_rule != "none":
        logger.warning("%s: %s", dataset, OCR_NOT_APPLIED)
    logger.info(
        "%s: content rules (NSFW %s, OCR %s) drop %d samples (%d by NSFW, %d more by OCR)",
        dataset,
        rules.nsfw_rule,
        rules.ocr_rule,
        counted + by_ocr,
        counted,
        by_ocr,
    )
    return {"nsfw": counted, "ocr": by_ocr, "filtered": counted + by_ocr}


def _count_filtered(con: duckdb.DuckDBPyConnection, dataset: str) -> int:
    row = con.execute(
        f"SELECT count(*) FROM {schema.SAMPLES} WHERE dataset = ? AND filtered", [dataset]
    ).fetchall()
    return int(row[0][0])


def write_similarity_histograms(con: duckdb.DuckDBPyConnection, dataset: str) -> int:
    """Recount one dataset's ``similarity_histograms`` from its stored samples.

    Reads ``HISTOGRAM_BATCH_ROWS`` samples at a time (bins by numpy, counts by pandas:
    no per-row Python), so memory is bounded whatever the dataset's size. A dataset
    without any text similarity gets no histogram.

    Returns:
        The number of histogram rows written.
    """
    con.execute(f"DELETE FROM {schema.SIMILARITY_HISTOGRAMS} WHERE dataset = ?", [dataset])
    reader = con.sql(HISTOGRAM_ROWS_SQL, params={"dataset": dataset}).to_arrow_reader(
        HISTOGRAM_BATCH_ROWS
    )
    parts, scored = [], False
    keys = ["wnid", "filtered", "multi_label", "bin"]
    for batch in reader:
        frame = batch.to_pandas()
        sims = frame["text_similarity"].to_numpy(dtype=np.float64, na_value=np.nan)
        scored = scored or bool(np.isfinite(sims).any())
        frame = frame.assign(
            bin=compute_similarity_bins(sims), filtered=frame["filtered"].astype(bool)
        )
        parts.append(frame.groupby(keys, sort=False).size().rename("n").reset_index())
    if not scored:
        return 0
    counts = pd.concat(parts).groupby(keys, sort=True)["n"].sum().reset_index()
    counts.insert(0, "dataset", dataset)
    insert_frame(con, schema.SIMILARITY_HISTOGRAMS, counts)
    return len(counts)


def apply_content_rules(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    rules: ContentRules,
    *,
    ocr_text: OcrText | None = None,
) -> dict[str, int]:
    """``write_content_flags`` then ``write_similarity_histograms`` for one dataset.

    Returns:
        ``write_content_flags``' counts.
    """
    counts = write_content_flags(con, dataset, rules, ocr_text=ocr_text)
    write_similarity_histograms(con, dataset)
    return counts


# What each NSFW rule keeps, in the words of the app's switch (help, then label).
NSFW_RULE_WORDS = {
    "keep-all": "keep every NSFW tag",
    "drop-nsfw": "drop images LAION tagged NSFW",
    "unlikely-only": "keep only NSFW = UNLIKELY (UNSURE and untagged dropped)",
}
NSFW_RULE_SHORT = {
    "keep-all": "every NSFW tag kept",
    "drop-nsfw": "drop NSFW",
    "unlikely-only": "NSFW = UNLIKELY only",
}


def read_content_rules(parameters: dict | None, kind: str) -> tuple[ContentRules, bool | None]:
    """The content rules recorded with a dataset (``datasets.parameters``) and whether
    OCR text was applied (None when the database does not say)."""
    recorded = (parameters or {}).get("content_rules")
    if isinstance(recorded, dict):
        try:
            rules = ContentRules(
                str(recorded.get("nsfw_rule")),
                str(recorded.get("ocr_rule")),
                recorded.get("recipe"),
            )
            return rules, bool(recorded.get("ocr_applied"))
        except ValueError as error:
            logger.warning("recorded content rules not readable (%s)", error)
    return select_content_rules(read_recorded_recipe(parameters), kind), None


def describe_content_switch(parameters: dict | None, kind: str) -> tuple[str, str]:
    """Label and help of the app's switch that applies a dataset's content rules.

    Returns:
        ``(label, help)``, e.g. ``"Apply paper-tmlr's content rules (NSFW = UNLIKELY
        only; OCR rule not applied)"`` and the rules in force in full: ``"Keep only
        NSFW = UNLIKELY (...); drop images whose text (OCR) names their class (OCR text
        not given: not applied). Off: keep every sample."``
    """
    rules, applied = read_content_rules(parameters, kind)
    owner = f"{rules.recipe}'s" if rules.recipe else "the"
    if rules == NO_RULES:
        return f"Apply {owner} content rules (none)", "This dataset has no content rules."
    words, short = [NSFW_RULE_WORDS[rules.nsfw_rule]], [NSFW_RULE_SHORT[rules.nsfw_rule]]
    if rules.ocr_rule != "none":
        ocr = "drop images whose text (OCR) names their class"
        words.append(ocr if applied else f"{ocr} (OCR text not given: not applied)")
        short.append("OCR rule" if applied else "OCR rule not applied")
    text = "; ".join(words)
    label = f"Apply {owner} content rules ({'; '.join(short)})"
    return label, f"{text[0].upper()}{text[1:]}. Off: keep every sample."
