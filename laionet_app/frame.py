"""The frame every page opens with: its way out of Streamlit's legacy first run, the
database, its title and a one-line statement of what the page is for.

A cold server runs its first session's first script run in Streamlit's older multipage
mode whenever a ``pages/`` folder sits beside the entry point (``PagesManager.
uses_pages_directory``, set when the first session starts and cleared by the first
``st.navigation`` call; see streamlit/streamlit#9992 and the review of PR #10276). That
run resolves the URL against the files of ``pages/`` and, for a path it does not know,
sends "Page not found" before ``app.py`` routes it. ``app.py`` therefore gives every page
its file's name as ``url_path``: the legacy run finds the file and runs it bare, and the
page, seeing the legacy mode still on, turns it off and reruns, so ``app.py`` frames it.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from laionet_app.connection import DbKey, holds_database_lease, require_database

# Session-state flag: this session already reran once to leave a bare (unframed) run.
REFRAMED_KEY = "_reframed_legacy_run"


def leave_legacy_first_run() -> None:
    """Rerun through ``app.py`` when this run is Streamlit's legacy pages-folder run.

    Only the first runs of a fresh server are such runs. The flag that marks them is the
    class's, so when several sessions start at once, the first clears it for all; the
    others' runs are still bare (no title, banner or lease) and are told apart by running
    outside ``app.py``'s lease. Each session reruns at most once for this, so a page run
    bare on purpose cannot loop.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what st.navigation itself does
        st.rerun()  # same page (its hash is its url_path), now through app.py
    if not holds_database_lease() and not st.session_state.get(REFRAMED_KEY):
        st.session_state[REFRAMED_KEY] = True
        st.rerun()


def open_page(title: str, purpose: str) -> DbKey:
    """Start a page: leave a legacy run, open the database, show title and purpose.

    Args:
        title: The page's header.
        purpose: One plain sentence on the question the page answers.

    Returns:
        The database key (see ``laionet_app.connection``).
    """
    leave_legacy_first_run()
    db = require_database()
    st.header(title)
    st.caption(purpose)
    return db
