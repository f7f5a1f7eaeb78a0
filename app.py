"""LAIONet Explorer: ``streamlit run app.py``.

The entrypoint is the frame around every page: it sets up the page, shows the banner
that says when data is simulated, and routes to the pages under ``pages/``.
The database comes from ``$LAIONET_DB`` (default: the simulated demo database).
"""

import streamlit as st

from pages._shared import render_simulated_banner, require_database

st.set_page_config(
    page_title="LAIONet Explorer", page_icon=":material/image_search:", layout="wide"
)

PAGES = [
    st.Page(
        "pages/threshold_explorer.py",
        title="Threshold explorer",
        icon=":material/tune:",
        default=True,
    ),
    st.Page("pages/class_browser.py", title="Class browser", icon=":material/category:"),
    st.Page("pages/compare_datasets.py", title="Compare datasets", icon=":material/compare:"),
    st.Page("pages/model_accuracy.py", title="Model accuracy", icon=":material/insights:"),
]

navigation = st.navigation(PAGES)
st.title("LAIONet Explorer")
db = require_database()
render_simulated_banner(db)
navigation.run()
