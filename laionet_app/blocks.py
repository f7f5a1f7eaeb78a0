"""Streamlit blocks shared by several pages: the simulated-data banner, the sample grid,
and the comparison of two datasets class by class.

Figures 6, 10, 12 and 13 of the paper have the same two parts: the distribution of a
quantity pooled over classes, with sizes matched per class, and the per-class
difference with its 95% interval, sorted, with the shares significantly lower and higher.
Figures 7, 14 and 15 are a Spearman correlation over classes with its scatter plot.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from laionet_app.chart_output import show_chart
from laionet_app.charts import CLASS_SELECTION
from laionet_app.charts_compare import (
    build_binned_distribution_chart,
    build_difference_chart,
    build_scatter_chart,
)
from laionet_app.connection import DbKey
from laionet_app.definitions import DEFINITIONS
from laionet_app.loaders import (
    load_difference,
    load_matched_pairs,
    resolve_selection,
)
from laionet_app.tables import load_classes, load_meta, load_thumbnail, load_value_histogram
from laionet_app.text import escape_markdown
from laionet_core.selection import SelectionParams
from laionet_core.selection_reasons import list_drop_reasons
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
    show_chart(build_binned_distribution_chart(pairs.bins), width="stretch")


def render_value_distribution(
    db: DbKey,
    a: str,
    params_a: SelectionParams | None,
    b: str,
    params_b: SelectionParams | None,
    *,
    column: str,
) -> None:
    """Overlaid distributions of one per-sample column of both selections (Figure 13a),
    binned in SQL so at most one bar per bin and dataset reaches the browser."""
    frames = [
        load_value_histogram(db, name, resolve_selection(db, name, params), column).assign(
            dataset=name
        )
        for name, params in ((a, params_a), (b, params_b))
    ]
    bins = pd.concat(frames, ignore_index=True).rename(columns={"n": "pairs"})
    if bins.empty:
        st.info(f"Neither dataset has {column.replace('_', ' ')} values.")
        return
    title = column.replace("_", " ").replace("image similarity", "image-to-synset similarity")
    show_chart(
        build_binned_distribution_chart(bins, x_title=title, y_title="samples"), width="stretch"
    )


def render_difference(
    db: DbKey,
    a: str,
    params_a: SelectionParams | None,
    b: str,
    params_b: SelectionParams | None,
    *,
    metric: str,
    label: str,
    key: str | None = None,
) -> None:
    """The sorted per-class difference ``a - b`` and its significance shares.

    The metrics' labels name the datasets; ``label`` (the quantity) titles the block;
    ``key`` (default: from the metric) keeps its widgets apart from other blocks'.
    """
    diff = load_difference(db, a, params_a, b, params_b, metric)
    render_difference_table(db, diff, a=a, b=b, label=label, key=key or f"difference_{metric}")


def render_difference_table(
    db: DbKey, diff: pd.DataFrame, *, a: str, b: str, label: str, key: str
) -> None:
    """Shares significantly lower and higher, the per-class chart (each point opens its
    class in the class browser) and the table as a CSV download.

    Args:
        db: Database key (for class names).
        diff: ``compare_class_means`` output, indexed by wnid.
        a: Name of the first side.
        b: Name of the second side.
        label: The quantity compared.
        key: Widget key prefix, unique on the page.
    """
    shares = compute_significance_shares(diff)
    st.caption(
        f"Per class: {label}, {escape_markdown(a)} − {escape_markdown(b)}, with 95% intervals. "
        + DEFINITIONS["significance"]
    )
    if shares["n_classes"] == 0:
        st.info("No shared class has an interval on both sides.")
        return
    cols = st.columns(3)
    cols[0].metric("Classes compared", f"{shares['n_classes']:,}")
    # Dataset names come from the command line: escape_markdown keeps Markdown out of them.
    cols[1].metric(f"{escape_markdown(a)} significantly lower", f"{shares['lower']:.1%}")
    cols[2].metric(f"{escape_markdown(a)} significantly higher", f"{shares['higher']:.1%}")
    names = class_name_map(db)
    chart = build_difference_chart(
        diff, y_title=f"{label}: {a} − {b}", legend_title=f"{a} vs {b}", names=names
    )
    render_class_chart(chart, key=key)
    table = diff.reset_index().rename(columns={diff.index.name or "index": "wnid"})
    table.insert(1, "class", table["wnid"].map(names))
    st.download_button(
        "Download the per-class table (CSV)",
        data=table.to_csv(index=False),
        file_name=f"{key}_{a}_vs_{b}.csv",
        mime="text/csv",
        key=f"{key}_download",
    )


def class_name_map(db: DbKey) -> dict[str, str]:
    """wnid -> class name."""
    classes = load_classes(db)
    return dict(zip(classes["wnid"], classes["name"], strict=True))


def render_class_chart(chart: alt.TopLevelMixin, *, key: str) -> None:
    """A per-class chart whose clicked point opens that class in the class browser."""
    event = show_chart(chart, width="stretch", on_select="rerun", key=key)
    picked = event.selection.get(CLASS_SELECTION) if event else None
    if picked and picked[0].get("wnid"):
        st.switch_page("pages/class_browser.py", query_params={"wnid": picked[0]["wnid"]})


def render_rank_correlation(
    db: DbKey,
    corr: RankCorrelation,
    *,
    label: str,
    x_title: str,
    y_title: str,
    log_x: bool = False,
) -> None:
    """Spearman's rho as a metric (p and n in its help) over the per-class scatter plot.

    Args:
        db: Database key (for class names).
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
    chart = build_scatter_chart(
        corr.table,
        x=x,
        y=y,
        x_title=x_title,
        y_title=y_title,
        log_x=log_x,
        names=class_name_map(db),
    )
    render_class_chart(chart, key=f"scatter_{label}")


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


def render_sample_grid(
    db: DbKey, samples: pd.DataFrame, *, columns: int = 6, params: SelectionParams | None = None
) -> None:
    """Thumbnails with their captions, shown as plain text (captions are raw web text).

    Each sample carries its badges (multi-label, NSFW) and, when ``params`` is given,
    whether that selection keeps it or why it drops it.
    """
    if samples.empty:
        st.caption("No samples here.")
        return
    reasons = None if params is None else list_drop_reasons(samples, params)
    for start in range(0, len(samples), columns):
        cells = st.columns(columns)
        for offset, (cell, row) in enumerate(
            zip(cells, samples.iloc[start : start + columns].itertuples(), strict=False)
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
                reason = None if reasons is None else reasons.iloc[start + offset]
                _render_badges(row, reason)


def _render_badges(row: object, reason: str | None) -> None:
    """Multi-label and NSFW badges, and kept / dropped with the reasons."""
    badges = []
    if bool(getattr(row, "multi_label", False)):
        badges.append(":orange-badge[multi-label]")
    nsfw = getattr(row, "nsfw", None)
    if isinstance(nsfw, str) and nsfw.strip().upper() in ("NSFW", "UNSURE"):
        badges.append(f":red-badge[NSFW: {nsfw.strip().upper()}]")
    if reason is not None:
        badges.append(":green-badge[kept]" if not reason else f":gray-badge[dropped: {reason}]")
    if badges:
        st.markdown(" ".join(badges))  # fixed words only: no sample text reaches Markdown
