"""Selection lab: keep samples by text or by image, from one candidate pool, at one size.

The paper's argument as an experiment: LAIONet keeps a sample when its caption is
similar to the class; ImageNet kept it when its image looked like the class. Each
mechanism here keeps as many samples as LAIONet's text threshold, from the same
candidates, so any difference in intra-class similarity comes from what it selects on.
"""

import streamlit as st

from laionet_app.blocks import render_difference_table
from laionet_app.chart_output import show_chart
from laionet_app.charts_lab import build_mechanism_chart
from laionet_app.controls import select_bound_option, selection_controls
from laionet_app.definitions import DEFINITIONS, METRIC_LABELS
from laionet_app.frame import open_page
from laionet_app.lab import describe_lab_pool, load_lab, load_lab_difference
from laionet_app.tables import load_datasets
from laionet_app.url_state import bound_widget
from laionet_core import schema
from laionet_core.comparison import METRIC_INTRA
from laionet_core.selection import THRESHOLD_MAX, THRESHOLD_MIN, THRESHOLD_STEP
from laionet_core.selection_lab import (
    DEFAULT_MULTIMODAL_TEXT_THRESHOLD,
    MECHANISM_TEXT,
    MECHANISM_TOP_K_IMAGE,
    MECHANISMS,
    LabParams,
)
from laionet_core.settings import LAIONET_DATASET

db = open_page(
    "Selection lab",
    "Four ways to keep samples out of the same LAION candidates, compared at one dataset size: "
    "does selecting on the image make the images of a class more alike?",
)
datasets = load_datasets(db)
names = datasets.loc[datasets["kind"] == schema.KIND_TEXT_SELECTED, "dataset"].tolist()
if not names:
    st.info("The database holds no text-selected (LAIONet-like) dataset to draw candidates out of.")
    st.stop()
dataset = select_bound_option("Candidates from", names, key="lab_dataset", default=LAIONET_DATASET)
st.caption(describe_lab_pool(db, dataset))
st.caption("LAIONet's rule, whose size every mechanism matches (its filters apply to all):")
selection = selection_controls(db=db, dataset=dataset)
mechanisms = bound_widget(
    st.multiselect,
    "Mechanisms",
    key="mechanisms",
    options=list(MECHANISMS),
    default=list(MECHANISMS),
    help="text threshold: LAIONet's rule. text + image thresholds: a lower caption bound, "
    "then the image-to-synset bound that matches the size. top-k: the best samples of every "
    "class by caption or by image-to-synset similarity (ImageNet's kind of selection).",
)
multimodal = bound_widget(
    st.slider,
    "Caption bound of 'text + image thresholds' (keep >)",
    key="multimodal_threshold",
    min_value=THRESHOLD_MIN,
    max_value=THRESHOLD_MAX,
    value=DEFAULT_MULTIMODAL_TEXT_THRESHOLD,
    step=THRESHOLD_STEP,
    format="%.3f",
)
if not mechanisms:
    st.info("Pick at least one mechanism.")
    st.stop()
params = LabParams(selection, float(multimodal), tuple(mechanisms))
summary, _ = load_lab(db, dataset, params)
st.subheader("Side by side, at matched size")
st.caption(
    f"Size: {DEFINITIONS['size']} Coverage: {DEFINITIONS['coverage']} Each metric is the mean "
    "over classes of the per-class value, with its 95% interval over classes."
)
st.dataframe(summary, hide_index=True, width="stretch", key="lab_summary")
for metric in METRIC_LABELS:
    st.markdown(f"**{METRIC_LABELS[metric].capitalize()}**")
    st.caption(DEFINITIONS[metric])
    show_chart(
        build_mechanism_chart(summary, metric=metric, title=METRIC_LABELS[metric]),
        width="stretch",
    )

st.subheader("Per class: one mechanism against another")
left, middle, right = st.columns(3)
with left:
    a = select_bound_option(
        "Mechanism A", mechanisms, key="mechanism_a", default=MECHANISM_TOP_K_IMAGE
    )
with middle:
    b = select_bound_option("Mechanism B", mechanisms, key="mechanism_b", default=MECHANISM_TEXT)
with right:
    metric = select_bound_option(
        "Metric",
        list(METRIC_LABELS),
        key="lab_metric",
        default=METRIC_INTRA,
        format_func=METRIC_LABELS.get,
    )
diff = load_lab_difference(db, dataset, params, a, b, metric)
render_difference_table(db, diff, a=a, b=b, label=METRIC_LABELS[metric], key="lab_difference")
