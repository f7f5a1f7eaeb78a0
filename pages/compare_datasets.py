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
    render_value_distribution,
)
from laionet_app.chart_output import show_chart
from laionet_app.charts_compare import build_variant_panel_chart
from laionet_app.controls import select_bound_option, selection_controls
from laionet_app.definitions import DEFINITIONS
from laionet_app.estimators import render_estimator_choice
from laionet_app.frame import open_page
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

db = open_page(
    "Compare datasets",
    "Two datasets class by class: are the images of a class more alike in one than in the "
    "other? (Figures 6, 8, 12, 13, 15)",
)
names = load_datasets(db)["dataset"].tolist()
left, right = st.columns(2)
with left:
    a = select_bound_option("Dataset A", names, key="dataset_a", default=LAIONET_DATASET)
with right:
    b = select_bound_option("Dataset B", names, key="dataset_b", default=IMAGENET_DATASET)
if a == b:
    st.info("A and B are the same dataset; pick two to compare.")
params = None  # A taken whole
if is_thresholded(db, a):
    st.caption(f"Selection of {escape_markdown(a)}:")
    params = selection_controls(read_dataset_kind(db, a), db=db, dataset=a)
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
st.caption(DEFINITIONS[METRIC_INTRA])
render_pair_distribution(db, a, params, b, None)
intra_metric = render_estimator_choice(db, a, params, b)  # U-statistic or the paper's
render_difference(db, a, params, b, None, metric=intra_metric, label="intra-class similarity")

st.subheader("Image-to-synset similarity (Figure 13)")
st.caption(DEFINITIONS[METRIC_IMAGE_SIMILARITY])
render_value_distribution(db, a, params, b, None, column="image_similarity")
render_difference(
    db, a, params, b, None, metric=METRIC_IMAGE_SIMILARITY, label="image-to-synset similarity"
)

st.subheader("CLIP zero-shot recall (Figure 12)")
st.caption(f"{DEFINITIONS[METRIC_ZERO_SHOT_1]} {DEFINITIONS[METRIC_ZERO_SHOT_5]}")
render_difference(db, a, params, b, None, metric=METRIC_ZERO_SHOT_1, label="zero-shot recall@1")
render_difference(db, a, params, b, None, metric=METRIC_ZERO_SHOT_5, label="zero-shot recall@5")

st.subheader("Annotator agreement and diversity: ImageNetV2 a / b / c (Figure 8)")
st.caption(
    "ImageNetV2's variants kept images that more (c) or fewer (b) annotators agreed on. "
    "The share of classes whose intra-class similarity is significantly lower on each side."
)
variants = set(names) & {"imagenetv2-b", "imagenetv2-c"}
if len(variants) == 2:
    st.markdown("**Figure 8a: ImageNetV2 b (least agreement) vs c (most agreement)**")
    render_difference(
        db,
        "imagenetv2-b",
        None,
        "imagenetv2-c",
        None,
        metric=METRIC_INTRA,
        label="intra-class similarity",
        key="figure_8a",
    )
panel = load_variant_panel(db, a, params)
if panel.empty:
    st.info("The database holds no ImageNetV2 variants to compare with.")
else:
    for figure, reference in zip("bc", panel["reference"].unique(), strict=False):
        st.markdown(f"**Figure 8{figure}: {escape_markdown(reference)} vs ImageNetV2 b / a / c**")
        show_chart(build_variant_panel_chart(panel, reference=reference), width="stretch")

st.subheader("Class frequency vs intra-class similarity (Figure 15)")
intra = load_metric_table(db, a, params, METRIC_INTRA)
corr = compute_rank_correlation(
    relative_frequency(intra["n"]),
    intra["value"],
    x_name="relative frequency",
    y_name="intra-class similarity",
)
render_rank_correlation(
    db,
    corr,
    label=f"Spearman correlation in {escape_markdown(a)}",
    x_title=f"relative class frequency in {a}",
    y_title="mean intra-class similarity",
    log_x=True,
)
