"""Streamlit blocks shared by several pages: the simulated-data banner, the sample grid,
and the comparison of two datasets class by class.

Figures 6, 10, 12 and 13 of the paper have the same two parts: the distribution of a
quantity pooled over classes, with sizes matched per class, and the per-class
difference with its 95% interval, sorted, with the shares significantly lower and higher.
Figures 7, 14 and 15 are a Spearman correlation over classes with its scatter plot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from laionet_app.charts import (
    build_difference_chart,
    build_pair_similarity_chart,
    build_scatter_chart,
)
from laionet_app.connection import DbKey
from laionet_app.loaders import load_difference, load_matched_pairs
from laionet_app.tables import load_meta, load_thumbnail
from laionet_app.text import escape_markdown
from laionet_core.selection import SelectionParams
from laionet_core.stats import RankCorrelation, compute_significance_shares


def render_pair_distribution(
    db: DbKey, a: str, params_a: SelectionParams | None, b: str, params_b: SelectionParams | None
) -> None:
    """Within-class image pair similarities of both datasets, equal pairs per class."""
    pairs = load_matched_pairs(db, a, params_a, b, params_b)
    if pairs.classes == 0:
        st.info("The two datasets share no class with at least two images each.")
        return
    st.caption(
        f"Pairs of images of the same class, the same number per class in both datasets "
        f"({pairs.classes:,} shared classes, {pairs.pairs_each:,} pairs each)."
    )
    st.altair_chart(build_pair_similarity_chart(pairs.bins), width="stretch")


def render_difference(
    db: DbKey,
    a: str,
    params_a: SelectionParams | None,
    b: str,
    params_b: SelectionParams | None,
    *,
    metric: str,
    label: str,
) -> None:
    """The sorted per-class difference ``a - b`` and its significance shares.

    The metrics' labels name the datasets; ``label`` (the quantity) titles the block.
    """
    diff = load_difference(db, a, params_a, b, params_b, metric)
    shares = compute_significance_shares(diff)
    st.caption(
        f"Per class: {label}, {escape_markdown(a)} − {escape_markdown(b)}, with 95% intervals"
    )
    if shares["n_classes"] == 0:
        st.info("No shared class has an interval on both sides.")
        return
    cols = st.columns(3)
    cols[0].metric("Classes compared", f"{shares['n_classes']:,}")
    # Dataset names come from the command line: code spans keep Markdown out of them.
    cols[1].metric(f"{escape_markdown(a)} significantly lower", f"{shares['lower']:.1%}")
    cols[2].metric(f"{escape_markdown(a)} significantly higher", f"{shares['higher']:.1%}")
    chart = build_difference_chart(diff, y_title=f"{label}: {a} − {b}", legend_title=f"{a} vs {b}")
    st.altair_chart(chart, width="stretch")


def render_rank_correlation(
    corr: RankCorrelation, *, label: str, x_title: str, y_title: str, log_x: bool = False
) -> None:
    """Spearman's rho as a metric (p and n in its help) over the per-class scatter plot.

    Args:
        corr: ``compute_rank_correlation``'s result; its two table columns are x and y.
        label: The metric's label.
        x_title: x-axis title.
        y_title: y-axis title.
        log_x: Logarithmic x axis (class frequencies).
    """
    # NaN: too few classes, or a constant side (a reference with 50 images per class).
    rho = f"{corr.rho:.3f}" if np.isfinite(corr.rho) else "undefined"
    st.metric(label, rho, help=f"p = {corr.p_value:.3g}, n = {corr.n}")
    x, y = corr.table.columns
    chart = build_scatter_chart(corr.table, x=x, y=y, x_title=x_title, y_title=y_title, log_x=log_x)
    st.altair_chart(chart, width="stretch")


def render_simulated_banner(db: DbKey) -> None:
    """Say loudly when the database holds simulated data, and where it came from."""
    simulated = load_meta(db).get("simulated") == "true"
    if simulated:
        st.warning(
            "**Simulated data.** This database was generated from the paper's causal story "
            "(class → caption and image; selection by text vs by image). No image, caption or "
            "figure here is real LAION or ImageNet data.",
            icon=":material/warning:",
        )
    st.caption(f"Database: {escape_markdown(Path(db[0]))}" + (" · SIMULATED" if simulated else ""))


def render_sample_grid(db: DbKey, samples: pd.DataFrame, *, columns: int = 6) -> None:
    """Thumbnails with their captions, shown as plain text (captions are raw web text)."""
    if samples.empty:
        st.caption("No samples here.")
        return
    for start in range(0, len(samples), columns):
        cells = st.columns(columns)
        for cell, row in zip(
            cells, samples.iloc[start : start + columns].itertuples(), strict=False
        ):
            with cell:
                image = (
                    None if pd.isna(row.thumbnail_id) else load_thumbnail(db, int(row.thumbnail_id))
                )
                if image is not None:
                    st.image(image, width="stretch")
                if isinstance(row.text, str):
                    st.text(row.text[:300])  # st.text never interprets HTML or Markdown
                if not pd.isna(row.text_similarity):
                    st.text(f"text sim {row.text_similarity:.3f}")
