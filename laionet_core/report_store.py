"""The headline report kept inside the database, so the landing page opens at once.

``compute_headline_report`` joins the stored predictions with LAIONet's selection: 2 s at
LAIONet's scale, two thirds of the landing page's first load. Every write of a database
(``storage.open_new_database``, ``storage_update.open_database_for_update``) computes it
once more from what it wrote and keeps it in ``meta``, so the stored report always
describes the file it is in; the app reads it back, and computes live only in a database
written before it was kept.
"""

from __future__ import annotations

import json
import logging
import time

import duckdb

from laionet_core import queries
from laionet_core.report import compute_headline_report
from laionet_core.storage_rows import write_meta

logger = logging.getLogger(__name__)

# The ``meta`` key the report is kept under, as JSON.
HEADLINE_REPORT_KEY = "headline_report"


def store_headline_report(con: duckdb.DuckDBPyConnection) -> dict:
    """Compute the headline report of the database ``con`` writes, and keep it in ``meta``.

    Returns:
        The report.
    """
    started = time.perf_counter()
    report = compute_headline_report(con)
    write_meta(con, {HEADLINE_REPORT_KEY: json.dumps(report)})
    logger.info("headline report kept in meta in %.1f s", time.perf_counter() - started)
    return report


def read_stored_headline_report(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The headline report kept in ``meta``; None in a database written before it was.

    Raises:
        ValueError: The kept value is not a JSON object.
    """
    text = queries.read_meta(con).get(HEADLINE_REPORT_KEY)
    if text is None:
        return None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"meta {HEADLINE_REPORT_KEY!r} is not JSON: {error}") from error
    if not isinstance(report, dict):
        raise ValueError(f"meta {HEADLINE_REPORT_KEY!r} is not a JSON object")
    return report
