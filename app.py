"""LAIONet Explorer: ``streamlit run app.py``.

The entrypoint is the frame around every page: it sets up the page, shows the banner
that says when data is simulated, and routes to the pages under ``pages/``.
The database comes from ``$LAIONET_DB`` (default: the simulated demo database).
"""

import streamlit as st

from laionet_app.blocks import render_simulated_banner
from laionet_app.connection import database_lease

st.set_page_config(
    page_title="LAIONet Explorer", page_icon=":material/image_search:", layout="wide"
)

# Every url_path differs from its file name on purpose: Streamlit serves the files under
# pages/ by name (its older multipage mode) until app.py has called st.navigation once,
# so a first request for ".../<file name>" would run that page without this frame and
# its simulated-data banner. An unknown path runs app.py, which then routes it.
PAGES = [
    st.Page(
        "pages/threshold_explorer.py",
        title="Threshold explorer",
        icon=":material/tune:",
        url_path="threshold",
        default=True,
    ),
    st.Page(
        "pages/class_browser.py",
        title="Class browser",
        icon=":material/category:",
        url_path="classes",
    ),
    st.Page(
        "pages/compare_datasets.py",
        title="Compare datasets",
        icon=":material/compare:",
        url_path="compare",
    ),
    st.Page(
        "pages/model_accuracy.py",
        title="Model accuracy",
        icon=":material/insights:",
        url_path="accuracy",
    ),
    st.Page(
        "pages/diagnose_imagenet.py",
        title="Diagnose ImageNet",
        icon=":material/troubleshoot:",
        url_path="diagnose",
    ),
]

navigation = st.navigation(PAGES)
st.title("LAIONet Explorer")
with database_lease() as db:  # this rerun finishes on this file, even if a new one lands
    render_simulated_banner(db)
    navigation.run()
