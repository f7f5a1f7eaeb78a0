"""Threshold explorer: how the similarity threshold moves class coverage and size.

The paper's Figures 3, 4 and 16a: slide the threshold and watch the classes covered, the
dataset size, the similarity histogram and the class frequencies; export the selection.
The threshold is on caption-to-synset similarity (LAIONet; ImageNet-Captions, to see
what the paper's rule would keep of it) or, for a text-matched dataset, on text-to-text
similarity. Every number comes from precomputed per-class histograms, so moving the
slider needs no scan of the samples.
"""

import json

import streamlit as st

from laionet_app.blocks import render_class_chart
from laionet_app.charts import (
    build_class_frequency_chart,
    build_curve_chart,
    build_similarity_histogram,
)
from laionet_app.controls import select_dataset, select_threshold_control, selection_controls
from laionet_app.frame import open_page
from laionet_app.tables import class_names, load_export, load_histograms, read_dataset_kind
from laionet_core import schema
from laionet_core.export import EXPORT_FORMATS
from laionet_core.selection import summarize_selection

db = open_page(
    "Threshold explorer",
    "How the caption-similarity threshold trades the classes covered against the dataset "
    "size (Figures 3, 4 and 16a).",
)
dataset = select_dataset(db)
kind = read_dataset_kind(db, dataset)
if kind == schema.KIND_TEXT_MATCHED:
    st.caption(
        "Text-matched: each LAION caption's similarity to the ImageNet-Captions text that "
        "chose it. The classes-covered curve is the paper's Figure 16a."
    )
params = selection_controls(kind)
histograms = load_histograms(db, dataset)
summary = summarize_selection(histograms.counts, params)
n_classes = len(histograms.wnids)

covered_col, size_col, threshold_col = st.columns(3)
covered_col.metric(
    "Classes covered",
    f"{summary.covered:,} / {n_classes:,}",
    help=f"Classes with at least {params.min_samples_per_class} selected sample(s).",
)
size_col.metric("Dataset size", f"{summary.size:,}", help="Samples the selection keeps.")
threshold_col.metric(
    "Threshold",
    f"> {params.threshold:.3f}",
    help="A sample is kept when its similarity is strictly above this.",
)

left, right = st.columns(2)
with left:
    st.subheader("Classes covered")
    st.altair_chart(
        build_curve_chart(summary, value="classes_covered", title="classes covered"),
        width="stretch",
    )
with right:
    st.subheader("Dataset size")
    st.altair_chart(
        build_curve_chart(summary, value="dataset_size", title="samples"),
        width="stretch",
    )
left, right = st.columns(2)
with left:
    st.subheader("Similarity histogram")
    st.altair_chart(
        build_similarity_histogram(summary, x_title=select_threshold_control(kind).quantity),
        width="stretch",
    )
with right:
    st.subheader("Class frequencies")
    st.caption("Click a bar to open its class in the class browser.")
    render_class_chart(
        build_class_frequency_chart(summary.class_counts, class_names(db), histograms.wnids),
        key="class_frequencies",
    )

st.subheader("Export the selection")
export_format = st.radio("Format", EXPORT_FORMATS, horizontal=True, key="export_format")
data, manifest = load_export(db, dataset, params, export_format)
stem = f"{dataset}_threshold_{params.threshold:.3f}"
file_col, manifest_col = st.columns(2)
file_col.download_button(
    f"Download {manifest['rows']:,} rows ({export_format})",
    data=data,
    file_name=f"{stem}.{export_format}",
    mime="application/octet-stream" if export_format == "parquet" else "text/csv",
    key="download_export",
)
manifest_col.download_button(
    "Download manifest (JSON)",
    data=json.dumps(manifest, indent=2),
    file_name=f"{stem}.{export_format}.manifest.json",
    mime="application/json",
    key="download_manifest",
)
