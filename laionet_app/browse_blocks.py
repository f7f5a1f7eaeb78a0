"""Blocks of the class browser: the class picker with search, what the selection keeps of
a class and why, its samples in similarity bands, the 2-D grid, and caption search."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from laionet_app.blocks import render_sample_grid
from laionet_app.browse import (
    CAPTION_SCAN_ROWS,
    CAPTION_SHOWN_ROWS,
    load_band_counts,
    load_caption_search,
    load_class_search,
    load_samples_in_cell,
    load_similarity_grid,
)
from laionet_app.chart_output import show_chart
from laionet_app.charts_lab import GRID_SELECTION, build_similarity_grid_chart
from laionet_app.connection import DbKey
from laionet_app.controls import select_bound_option
from laionet_app.tables import load_classes, load_histograms, load_samples_in_band
from laionet_app.text import escape_markdown
from laionet_app.url_state import bound_widget
from laionet_core.selection import SelectionParams, compute_band_edges
from laionet_core.selection_reasons import (
    REASON_BELOW,
    REASON_MULTI_LABEL,
    REASON_NSFW,
    count_class_outcomes,
)

SHOWCASE_WNID = "n02125311"  # cougar: the paper's Figure 11 example ("puma")
# Bands of image-to-synset similarity in the 2-D grid.
GRID_IMAGE_BANDS = 5


def select_class(db: DbKey) -> str:
    """A class picker narrowed by a search over names, lemmas and wnids; bound to the URL."""
    classes = load_classes(db)
    query = bound_widget(
        st.text_input,
        "Find a class by name, lemma or wnid",
        key="class_query",
        value="",
        placeholder="e.g. puma",
    )
    found = load_class_search(db, query) if query.strip() else classes
    if found.empty:
        st.info(f"No class name, lemma or wnid contains {escape_markdown(query)}; showing all.")
        found = classes
    labels = dict(zip(classes["wnid"], classes["name"] + " (" + classes["wnid"] + ")", strict=True))
    wnids = found["wnid"].tolist()
    return select_bound_option(
        "Class",
        wnids,
        key="wnid",
        default=SHOWCASE_WNID,
        format_func=labels.get,
        warn_unknown=not query.strip(),
    )


def format_edge(value: float) -> str:
    """A band edge, exactly as computed (no rounding to two decimals)."""
    return f"{round(value, 6):g}"


def render_class_outcomes(db: DbKey, dataset: str, wnid: str, params: SelectionParams) -> None:
    """Candidates, selected and dropped samples of one class, with the drop reasons."""
    histograms = load_histograms(db, dataset)
    if wnid not in histograms.wnids:
        return
    outcome = count_class_outcomes(histograms.counts[histograms.wnids.index(wnid)], params)
    cols = st.columns(5)
    cols[0].metric(
        "Candidates",
        f"{outcome['candidates']:,}",
        help="Samples whose caption matched a lemma of this class, before the selection.",
    )
    cols[1].metric(
        "Selected",
        f"{outcome['selected']:,}",
        help="Candidates the current selection (threshold and filters) keeps.",
    )
    for col, reason in zip(cols[2:], (REASON_BELOW, REASON_MULTI_LABEL, REASON_NSFW), strict=True):
        col.metric(
            f"Dropped: {reason}",
            f"{outcome[reason]:,}",
            help="A dropped sample can have several reasons.",
        )


def render_bands(
    db: DbKey,
    dataset: str,
    wnid: str,
    params: SelectionParams,
    *,
    per_band: int,
    seed: int,
    bands: tuple[float, float, int],
) -> None:
    """The class's samples in equal bands of text similarity, highest band first."""
    counts = load_band_counts(db, dataset, wnid, params, bands)
    edges = compute_band_edges(*bands)
    for band in reversed(range(len(edges))):
        low, high = edges[band]
        row = counts.iloc[band]
        st.subheader(f"Similarity in ({format_edge(low)}, {format_edge(high)}]")
        st.caption(f"{row['candidates']:,} candidates, {row['selected']:,} selected")
        samples = load_samples_in_band(db, dataset, wnid, low, high, per_band, seed)
        render_sample_grid(db, samples, params=params)


def render_similarity_grid(
    db: DbKey, dataset: str, wnid: str, params: SelectionParams | None, *, text_bands: tuple
) -> None:
    """The 2-D grid of caption x image similarity bands; a clicked cell shows its samples."""
    image_range = bound_widget(
        st.slider,
        "Range of image-to-synset similarity",
        key="image_range",
        min_value=-1.0,
        max_value=1.0,
        value=(0.0, 1.0),
        step=0.01,
    )
    if image_range[1] <= image_range[0]:
        st.info("Pick an image-similarity range of positive width.")
        return
    image_bands = (float(image_range[0]), float(image_range[1]), GRID_IMAGE_BANDS)
    grid = load_similarity_grid(db, dataset, wnid, text_bands, image_bands)
    st.caption(f"{int(grid['samples'].sum()):,} samples of this class fall in the grid.")
    event = show_chart(
        build_similarity_grid_chart(grid), width="stretch", on_select="rerun", key="grid"
    )
    picked = event.selection.get(GRID_SELECTION) if event else None
    if not picked:
        st.caption("Click a cell to see its samples.")
        return
    cell = grid[
        (grid["text_low"] == picked[0]["text_low"]) & (grid["image_low"] == picked[0]["image_low"])
    ].iloc[0]
    text_range = (float(cell["text_low"]), float(cell["text_high"]))
    cell_range = (float(cell["image_low"]), float(cell["image_high"]))
    st.markdown(
        f"**Cell: caption similarity ({format_edge(text_range[0])}, {format_edge(text_range[1])}], "
        f"image similarity ({format_edge(cell_range[0])}, {format_edge(cell_range[1])}]: "
        f"{int(cell['samples']):,} samples**"
    )
    samples = load_samples_in_cell(db, dataset, wnid, text_range, cell_range, 12)
    render_sample_grid(db, samples, params=params)


def render_caption_search(db: DbKey, dataset: str, wnid: str) -> None:
    """Captions containing every word of a query, in this class or the whole dataset."""
    left, right = st.columns([3, 1])
    with left:
        query = bound_widget(st.text_input, "Words in the caption", key="caption_query", value="")
    with right:
        scope = select_bound_option(
            "Search in", ["this class", "the whole dataset"], key="search_scope"
        )
    if not query.strip():
        return
    try:
        found = load_caption_search(db, dataset, query, wnid if scope == "this class" else None)
    except ValueError as error:
        st.error(escape_markdown(error))
        return
    st.caption(
        f"{len(found):,} captions shown (at most {CAPTION_SHOWN_ROWS}, from the first "
        f"{CAPTION_SCAN_ROWS:,} rows read)."
    )
    # st.dataframe shows cells as text: captions never reach HTML or Markdown.
    st.dataframe(pd.DataFrame(found), hide_index=True, width="stretch", key="caption_results")
