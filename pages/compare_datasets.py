"""Compare datasets: intra-class similarity, image-to-synset similarity, zero-shot recall.

The paper's Figures 6, 8, 12, 13 and 15: dataset A (LAIONet, at the selection chosen
here) against dataset B (ImageNet) class by class, with 95% intervals. B is taken at its
kind's paper selection (LAIONet > 0.82, a text-matched set > 0.7) or whole.
"""

import streamlit as st

from laionet_app.blocks import (
    render_difference,
    render_pair_distribution,
    render_rank_correlation,
)
from laionet_app.charts import build_variant_panel_chart
from laionet_app.connection import require_database
from laionet_app.controls import selection_controls
from laionet_app.loaders import (
    is_thresholded,
    load_metric_table,
    load_variant_panel,
    relative_frequency,
)
from laionet_app.tables import load_datasets, read_dataset_kind
from laionet_app.text import escape_markdown
from laionet_core.comparison import (
    METRIC_IMAGE_SIMILARITY,
    METRIC_INTRA,
    METRIC_ZERO_SHOT_1,
    METRIC_ZERO_SHOT_5,
)
from laionet_core.export import describe_download
from laionet_core.settings import IMAGENET_DATASET, LAIONET_DATASET
from laionet_core.stats import compute_rank_correlation

db = require_database()
st.header("Compare datasets")
names = load_datasets(db)["dataset"].tolist()
left, right = st.columns(2)
a = left.selectbox(
    "Dataset A",
    names,
    index=names.index(LAIONET_DATASET) if LAIONET_DATASET in names else 0,
    key="dataset_a",
)
b = right.selectbox(
    "Dataset B",
    names,
    index=names.index(IMAGENET_DATASET) if IMAGENET_DATASET in names else 0,
    key="dataset_b",
)
if a == b:
    st.info("A and B are the same dataset; pick two to compare.")
params = None  # A taken whole
if is_thresholded(db, a):
    st.caption(f"Selection of {escape_markdown(a)}:")
    params = selection_controls(read_dataset_kind(db, a))
else:
    st.caption(
        f"{escape_markdown(a)} is not selected by a similarity threshold, so it is used whole."
    )
if is_thresholded(db, b):
    st.caption(f"{escape_markdown(b)} is taken at the paper's selection for its kind.")
for name, parameters in load_datasets(db).set_index("dataset")["parameters"].items():
    if name in (a, b) and (download := describe_download(parameters)):
        # Link rot of a dataset added back from img2dataset.
        st.caption(f"{escape_markdown(name)}: {escape_markdown(download)}")

st.subheader("Intra-class similarity (Figure 6)")
render_pair_distribution(db, a, params, b, None)
render_difference(db, a, params, b, None, metric=METRIC_INTRA, label="intra-class similarity")

st.subheader("Image-to-synset similarity (Figure 13)")
render_difference(
    db, a, params, b, None, metric=METRIC_IMAGE_SIMILARITY, label="image-to-synset similarity"
)

st.subheader("CLIP zero-shot recall (Figure 12)")
render_difference(db, a, params, b, None, metric=METRIC_ZERO_SHOT_1, label="zero-shot recall@1")
render_difference(db, a, params, b, None, metric=METRIC_ZERO_SHOT_5, label="zero-shot recall@5")

st.subheader("Annotator agreement and diversity: ImageNetV2 a / b / c (Figure 8)")
panel = load_variant_panel(db, a, params)
if panel.empty:
    st.info("The database holds no ImageNetV2 variants to compare with.")
else:
    for reference in panel["reference"].unique():
        st.altair_chart(build_variant_panel_chart(panel, reference=reference), width="stretch")

st.subheader("Class frequency vs intra-class similarity (Figure 15)")
intra = load_metric_table(db, a, params, METRIC_INTRA)
corr = compute_rank_correlation(
    relative_frequency(intra["n"]),
    intra["value"],
    x_name="relative frequency",
    y_name="intra-class similarity",
)
render_rank_correlation(
    corr,
    label=f"Spearman correlation in {escape_markdown(a)}",
    x_title=f"relative class frequency in {a}",
    y_title="mean intra-class similarity",
    log_x=True,
)
