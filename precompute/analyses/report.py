"""The headline report as Markdown or JSON (``python -m precompute report``).

The numbers come from ``laionet_core.report.compute_headline_report``; this module only
opens the database and renders them.
"""

from __future__ import annotations

import json
from pathlib import Path

from laionet_core.queries import connect
from laionet_core.report import compute_headline_report, summarize_headlines

SIMULATED_NOTE = "**Simulated data**: these numbers come from the simulated demo, not LAION."


def read_headline_report(db: Path) -> dict:
    """The report of the database at ``db`` (opened read-only)."""
    con = connect(db)
    try:
        return compute_headline_report(con)
    finally:
        con.close()


def _cell(text: str) -> str:
    """Table cell text with Markdown's table and emphasis characters escaped."""
    for char in ("\\", "|", "*", "_", "`", "<", ">", "[", "]"):
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def format_report_markdown(report: dict, *, db: Path | None = None) -> str:
    """The report as a Markdown table with a header naming the recipe (and the data)."""
    lines = [f"# LAIONet headline numbers{f': {_cell(str(db))}' if db else ''}", ""]
    if report["simulated"]:
        lines += [SIMULATED_NOTE, ""]
    lines += [
        f"Recipe: `{report['recipe']}` (recorded: `{report['recipe_recorded']}`); "
        f"intra-class estimator in use: {report['intra_class_estimator']}; "
        f"OCR: {report['ocr_filter'] or 'not recorded'}",
        "",
        "| headline | source | paper | this database |",
        "|---|---|---|---|",
    ]
    for row in summarize_headlines(report).itertuples(index=False):
        cells = (row.headline, row.section, row.paper, row.database)
        lines.append("| " + " | ".join(_cell(str(c)) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def format_report(report: dict, fmt: str, *, db: Path | None = None) -> str:
    """``md`` or ``json`` text of the report.

    Raises:
        ValueError: Unknown format.
    """
    if fmt == "json":
        return json.dumps(report, indent=2, default=float) + "\n"
    if fmt == "md":
        return format_report_markdown(report, db=db)
    raise ValueError(f"unknown report format {fmt!r}; allowed: md, json")
