"""Compare datasets: intra-class similarity, image-to-synset similarity, zero-shot recall.

The paper's Figures 6, 8, 12, 13 and 15: dataset A (LAIONet, at the selection chosen
here) against dataset B (ImageNet) class by class, with 95% intervals.
"""

import streamlit as st

from laionet_core.comparison import (
    METRIC_IMAGE_SIMILARITY,
    METRIC_INTRA,
    METRIC_ZERO_SHOT_1,
    METRIC_ZERO_SHOT_5,
)
from laionet_core.settings import LAIONET_DATASET
from laionet_core.stats import compute_rank_correlation, compute_significance_shares
from pages._charts import (
    build_difference_chart,
    build_pair_similarity_chart,
    build_scatter_chart,
    build_variant_panel_chart,
)
from pages._metrics_ui import (
    IMAGENET_DATASET,
    is_text_selected,
    load_difference,
    load_matched_pairs,
    load_metric_table,
    load_variant_panel,
    relative_frequency,
)
from pages._shared import load_datasets, require_database, selection_controls

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
params = selection_controls()
if a == b:
    st.info("A and B are the same dataset; pick two to compare.")
if not is_text_selected(db, a):
    st.caption(f"`{a}` is not selected by caption, so the threshold controls do not apply to it.")

st.subheader("Intra-class similarity (Figure 6)")
pairs = load_matched_pairs(db, a, params, b, params)
if pairs.empty:
    st.info("The two datasets share no class with at least two images each.")
else:
    st.caption(
        f"Pairs of images of the same class, the same number per class in both datasets "
        f"({pairs['label'].nunique():,} shared classes, {len(pairs) // 2:,} pairs each)."
    )
    st.altair_chart(build_pair_similarity_chart(pairs), width="stretch")


def render_difference(metric: str, label: str) -> None:
    """The sorted per-class difference chart and its significance shares."""
    diff = load_difference(db, a, params, b, params, metric)
    shares = compute_significance_shares(diff)
    if shares["n_classes"] == 0:
        st.info("No shared class has an interval on both sides.")
        return
    cols = st.columns(3)
    cols[0].metric(f"Classes compared ({label})", f"{shares['n_classes']:,}")
    cols[1].metric(f"A significantly lower ({label})", f"{shares['lower']:.1%}")
    cols[2].metric(f"A significantly higher ({label})", f"{shares['higher']:.1%}")
    st.altair_chart(build_difference_chart(diff, y_title=f"{label}: A − B"), width="stretch")


render_difference(METRIC_INTRA, "intra-class similarity")

st.subheader("Image-to-synset similarity (Figure 13)")
render_difference(METRIC_IMAGE_SIMILARITY, "image-to-synset similarity")

st.subheader("CLIP zero-shot recall (Figure 12)")
render_difference(METRIC_ZERO_SHOT_1, "zero-shot recall@1")
render_difference(METRIC_ZERO_SHOT_5, "zero-shot recall@5")

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
st.metric(
    f"Spearman correlation in {a}", f"{corr.rho:.3f}", help=f"p = {corr.p_value:.3g}, n = {corr.n}"
)
st.altair_chart(
    build_scatter_chart(
        corr.table,
        x="relative frequency",
        y="intra-class similarity",
        x_title=f"relative class frequency in {a}",
        y_title="mean intra-class similarity",
        log_x=True,
    ),
    width="stretch",
)
