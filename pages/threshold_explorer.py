"""Threshold explorer: how the similarity threshold moves class coverage and size.

The paper's Figures 3, 4 and 16a: slide the threshold and watch the classes covered, the
dataset size, the similarity histogram and the class frequencies; export the selection.
The threshold is on caption-to-synset similarity (LAIONet; ImageNet-Captions, to see
what the paper's rule would keep of it) or, for a text-matched dataset, on text-to-text
similarity. Every number comes from precomputed per-class histograms, so moving the
slider needs no scan of the samples; the selection's part of the page is a fragment,
so a move reruns only it, and the export file is made only when its button is clicked.
"""

import json

import streamlit as st

from laionet_app.blocks import render_class_chart
from laionet_app.chart_output import show_chart
from laionet_app.charts import (
    build_class_frequency_chart,
    build_curve_chart,
    build_similarity_histogram,
)
from laionet_app.connection import database_fragment
from laionet_app.controls import select_dataset, select_threshold_control, selection_controls
from laionet_app.frame import open_page
from laionet_app.tables import (
    class_names,
    estimate_export_bytes,
    load_classes,
    load_selection_summary,
    make_export,
    make_export_manifest,
    read_dataset_kind,
)
from laionet_core import schema
from laionet_core.export import EXPORT_FORMATS
from laionet_core.selection import SelectionParams, SelectionSummary

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


@database_fragment  # a slider move reruns this part only (on the page's file)
def render_selection(dataset: str, kind: str | None) -> None:
    """The controls, numbers, charts and export of one dataset's selection."""
    params = selection_controls(kind, db=db, dataset=dataset)
    summary = load_selection_summary(db, dataset, params)
    render_numbers_and_charts(summary, params, kind)
    render_export(dataset, params, int((summary.class_counts > 0).sum()), summary.size)


def render_numbers_and_charts(
    summary: SelectionSummary, params: SelectionParams, kind: str | None
) -> None:
    """Coverage and size with their curves, the histogram and the class frequencies."""
    names = class_names(db)
    covered_col, size_col, threshold_col = st.columns(3)
    covered_col.metric(
        "Classes covered",
        f"{summary.covered:,} / {len(names):,}",
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
        show_chart(
            build_curve_chart(summary, value="classes_covered", title="classes covered"),
            width="stretch",
        )
    with right:
        st.subheader("Dataset size")
        show_chart(
            build_curve_chart(summary, value="dataset_size", title="samples"),
            width="stretch",
        )
    left, right = st.columns(2)
    with left:
        st.subheader("Similarity histogram")
        show_chart(
            build_similarity_histogram(summary, x_title=select_threshold_control(kind).quantity),
            width="stretch",
        )
    with right:
        st.subheader("Class frequencies")
        st.caption("Click a bar to open its class in the class browser.")
        render_class_chart(
            build_class_frequency_chart(
                summary.class_counts, names, load_classes(db)["wnid"].to_numpy()
            ),
            key="class_frequencies",
        )


def render_export(dataset: str, params: SelectionParams, classes: int, rows: int) -> None:
    """Download buttons whose file is made only when clicked, its size shown before."""
    st.subheader("Export the selection")
    export_format = st.radio("Format", EXPORT_FORMATS, horizontal=True, key="export_format")
    size = estimate_export_bytes(db, dataset, export_format, rows)
    stem = f"{dataset}_threshold_{params.threshold:.3f}"
    file_col, manifest_col = st.columns(2)
    file_col.download_button(
        f"Download {rows:,} rows ({export_format})",
        data=lambda: make_export(db, dataset, params, export_format),
        file_name=f"{stem}.{export_format}",
        mime="application/octet-stream" if export_format == "parquet" else "text/csv",
        key="download_export",
        help="The file is made when you click.",
    )
    file_col.caption(f"About {size / 1e6:,.1f} MB, made when you click.")
    manifest_col.download_button(
        "Download manifest (JSON)",
        data=lambda: json.dumps(
            make_export_manifest(db, dataset, params, export_format, rows=rows, classes=classes),
            indent=2,
        ),
        file_name=f"{stem}.{export_format}.manifest.json",
        mime="application/json",
        key="download_manifest",
    )


render_selection(dataset, kind)
