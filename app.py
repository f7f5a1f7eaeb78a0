"""LAIONet Explorer: ``streamlit run app.py``.

The entrypoint is the frame around every page: it sets up the page, shows the banner
that says when data is simulated, and routes to the pages under ``pages/``.
The database comes from ``$LAIONET_DB`` (default: the simulated demo database).
"""

import streamlit as st

from laionet_app.blocks import render_simulated_banner
from laionet_app.connection import database_lease

# An emoji favicon is drawn in the browser; a ":material/...:" one is fetched from
# fonts.gstatic.com, a request that leaves the machine (and fails offline).
st.set_page_config(page_title="LAIONet Explorer", page_icon="🔎", layout="wide")


def _page(file: str, title: str, icon: str, *, default: bool = False) -> st.Page:
    # url_path is the file's name: a cold server's first run resolves the URL against the
    # files of pages/ (see laionet_app.frame), so the two must agree.
    stem = file.removeprefix("pages/").removesuffix(".py")
    return st.Page(file, title=title, icon=icon, url_path=stem, default=default)


PAGES = [
    _page("pages/home.py", "Start here", ":material/home:", default=True),
    _page("pages/threshold_explorer.py", "Threshold explorer", ":material/tune:"),
    _page("pages/class_browser.py", "Class browser", ":material/category:"),
    _page("pages/selection_lab.py", "Selection lab", ":material/science:"),
    _page("pages/compare_datasets.py", "Compare datasets", ":material/compare:"),
    _page("pages/model_accuracy.py", "Model accuracy", ":material/insights:"),
    _page("pages/diagnose_imagenet.py", "Diagnose ImageNet", ":material/troubleshoot:"),
]

navigation = st.navigation(PAGES)
st.title("LAIONet Explorer")
with database_lease() as db:  # this rerun finishes on this file, even if a new one lands
    render_simulated_banner(db)
    # The spinner stands at the top of the page while it recomputes, then goes.
    with st.spinner("Updating the page…", show_time=True):
        navigation.run()
