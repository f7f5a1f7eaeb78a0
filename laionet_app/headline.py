"""The landing page's headline panel: the paper's numbers beside this database's.

The numbers come from ``laionet_core.report`` (the same as ``python -m precompute
report``); they are shown as a plain-text table, never as Markdown or HTML.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from laionet_app.connection import DbKey, cursor
from laionet_core.report import compute_headline_report, summarize_headlines
from laionet_core.report_store import read_stored_headline_report

SIMULATED_PANEL_NOTE = (
    "Simulated data: the right-hand column comes from the simulated demo, not from LAION "
    "or ImageNet; only the paper's column is real."
)


@st.cache_data(show_spinner="Computing the headline numbers…", max_entries=4)
def load_headline_report(db: DbKey) -> dict:
    """The headline report of the database (cached per database key): the one its last
    write kept, else computed now (a database written before reports were kept)."""
    stored = read_stored_headline_report(cursor(db))
    return compute_headline_report(cursor(db)) if stored is None else stored


def build_headline_table(report: dict) -> pd.DataFrame:
    """The table the panel shows: headline, source section, paper, this database."""
    return summarize_headlines(report).rename(
        columns={"section": "source", "database": "this database"}
    )


def render_headline_panel(db: DbKey) -> None:
    """Headline numbers of the paper beside this database's, each with its section."""
    report = load_headline_report(db)
    with st.container(border=True, key="headline_panel"):
        st.subheader("Headline numbers: the paper beside this database")
        if report["simulated"]:
            st.warning(SIMULATED_PANEL_NOTE, icon=":material/warning:")
        st.text(
            f"Recipe: {report['recipe']} · intra-class estimator in use: "
            f"{report['intra_class_estimator']} · OCR: {report['ocr_filter'] or 'not recorded'}"
        )
        st.dataframe(build_headline_table(report), hide_index=True, width="stretch")
