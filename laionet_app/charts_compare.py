"""Altair charts of the Compare datasets, Model accuracy and Diagnose ImageNet pages.

Per-class charts carry the class's wnid in ``class`` and its name in ``name``, and a click
selection named ``CLASS_SELECTION`` on ``class``, so a page can open the clicked class.
"""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import numpy as np
import pandas as pd

from laionet_app.charts import AXIS_TITLE_LIMIT, build_threshold_rule, select_class_on_click


def _per_class_frame(table: pd.DataFrame, names: Mapping[str, str] | None) -> pd.DataFrame:
    """``table`` indexed by wnid, as columns ``wnid`` and ``class`` (its name)."""
    frame = table.reset_index().rename(columns={table.index.name or "index": "wnid"})
    frame["class"] = frame["wnid"].map(lambda w: (names or {}).get(w, w))
    return frame


# --- Compare datasets and Model accuracy pages (Figures 1, 5, 6-8, 12-15) ---

# Colours of "significantly lower / higher / neither" in difference charts.
SIGNIFICANCE_COLORS = {"lower": "#1f77b4", "higher": "#d62728", "not significant": "#999999"}


def build_pair_similarity_chart(
    pairs: pd.DataFrame,
    *,
    bin_width: float = 0.02,
    x_title: str = "intra-class pairwise image similarity",
    y_title: str = "pairs",
) -> alt.Chart:
    """Overlaid distributions of a similarity per dataset (Figures 6a and 13a).

    Args:
        pairs: Columns ``dataset`` and ``similarity``.
        bin_width: Histogram bin width.
        x_title: What the similarity is.
        y_title: What is counted.
    """
    return (
        alt.Chart(pairs[["dataset", "similarity"]])
        .mark_bar(opacity=0.5, binSpacing=0)
        .encode(
            x=alt.X("similarity:Q", bin=alt.Bin(step=bin_width), title=x_title),
            y=alt.Y("count():Q", stack=None, title=y_title),
            color=alt.Color("dataset:N", title="dataset"),
            tooltip=[alt.Tooltip("dataset"), alt.Tooltip("count():Q", title=y_title)],
        )
        .properties(height=260)
    )


def build_binned_distribution_chart(
    bins: pd.DataFrame,
    *,
    x_title: str = "intra-class pairwise image similarity",
    y_title: str = "pairs",
) -> alt.Chart:
    """Overlaid distributions binned on the server (Figures 6a and 13a): at most one bar
    per bin and dataset reaches the browser, whatever the number of samples.

    Args:
        bins: Columns ``dataset``, ``bin_low``, ``bin_high``, ``pairs`` (the count).
        x_title: What the similarity is.
        y_title: What is counted.
    """
    return (
        alt.Chart(bins[["dataset", "bin_low", "bin_high", "pairs"]])
        .mark_bar(opacity=0.5, binSpacing=0)
        .encode(
            x=alt.X("bin_low:Q", title=x_title),
            x2=alt.X2("bin_high:Q"),
            y=alt.Y("pairs:Q", stack=None, title=y_title),
            color=alt.Color("dataset:N", title="dataset"),
            tooltip=[
                alt.Tooltip("dataset"),
                alt.Tooltip("bin_low"),
                alt.Tooltip("bin_high"),
                alt.Tooltip("pairs:Q", title=y_title),
            ],
        )
        .properties(height=260)
    )


def build_difference_chart(
    diff: pd.DataFrame,
    *,
    y_title: str,
    legend_title: str,
    names: Mapping[str, str] | None = None,
) -> alt.LayerChart:
    """Per-class difference with its 95% interval, classes sorted ascending (Figs 6b, 12, 13).

    Args:
        diff: ``compare_class_means`` output (index label; difference, ci_low, ci_high).
        y_title: What the difference is of, e.g. "intra-class similarity: A - B".
        legend_title: Names the compared datasets, e.g. "laionet vs imagenet-val".
        names: wnid -> class name, for tooltips.
    """
    frame = _per_class_frame(diff, names)
    frame["rank"] = np.arange(1, len(frame) + 1)
    frame["significance"] = np.select(
        [frame["ci_high"] < 0, frame["ci_low"] > 0], ["lower", "higher"], "not significant"
    )
    color = alt.Color(
        "significance:N",
        title=legend_title,
        scale=alt.Scale(domain=list(SIGNIFICANCE_COLORS), range=list(SIGNIFICANCE_COLORS.values())),
    )
    x = alt.X("rank:Q", title="classes, sorted by difference")
    bars = (
        alt.Chart(frame)
        .mark_rule()
        .encode(
            x=x,
            y=alt.Y("ci_low:Q", title=y_title, axis=alt.Axis(titleLimit=AXIS_TITLE_LIMIT)),
            y2=alt.Y2("ci_high:Q"),
            color=color,
        )
    )
    click = select_class_on_click()
    points = (
        alt.Chart(frame)
        .mark_point(filled=True, size=18)
        .add_params(click)
        .encode(
            x=x,
            y=alt.Y("difference:Q"),
            color=color,
            tooltip=[
                alt.Tooltip("class"),
                alt.Tooltip("wnid"),
                alt.Tooltip("difference:Q", format=".4f"),
                alt.Tooltip("ci_low:Q", format=".4f"),
                alt.Tooltip("ci_high:Q", format=".4f"),
            ],
        )
    )
    zero = (
        alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="black").encode(y=alt.Y("zero:Q"))
    )
    return (bars + points + zero).properties(height=280)


def build_variant_panel_chart(panel: pd.DataFrame, *, reference: str) -> alt.LayerChart:
    """Share of classes significantly lower vs selection frequency (Figure 8b/c).

    Args:
        panel: ``compute_variant_panel`` rows.
        reference: Which reference's rows to draw (one panel per reference).
    """
    frame = panel[panel["reference"] == reference].copy()
    # Two curves, as in the paper: the reference lower, and ImageNetV2 (any variant) lower.
    frame["curve"] = np.where(frame["lower"] == reference, f"{reference} lower", "ImageNetV2 lower")
    base = alt.Chart(frame).encode(
        x=alt.X(
            "selection_frequency:Q",
            title="ImageNetV2 average MTurk selection frequency",
            scale=alt.Scale(zero=False),
        ),
        y=alt.Y(
            "share:Q",
            title="share of classes significantly lower",
            axis=alt.Axis(format="%", titleLimit=AXIS_TITLE_LIMIT),
        ),
        color=alt.Color("curve:N", title=f"{reference} vs ImageNetV2"),
        tooltip=[
            alt.Tooltip("variant"),
            alt.Tooltip("curve"),
            alt.Tooltip("share:Q", format=".1%"),
            alt.Tooltip("n_classes"),
        ],
    )
    return (base.mark_line() + base.mark_point(filled=True, size=60)).properties(
        height=240, title=f"{reference} vs ImageNetV2 b / a / c"
    )


def build_scatter_chart(
    table: pd.DataFrame,
    *,
    x: str,
    y: str,
    x_title: str,
    y_title: str,
    log_x: bool = False,
    names: Mapping[str, str] | None = None,
) -> alt.Chart:
    """One point per class (Figures 7, 14, 15); ``table`` is indexed by wnid."""
    frame = _per_class_frame(table, names)
    scale = alt.Scale(type="log") if log_x else alt.Scale(zero=False)
    return (
        alt.Chart(frame)
        .mark_circle(size=40, opacity=0.6)
        .encode(
            x=alt.X(f"{x}:Q", title=x_title, scale=scale),
            y=alt.Y(
                f"{y}:Q",
                title=y_title,
                scale=alt.Scale(zero=False),
                axis=alt.Axis(titleLimit=AXIS_TITLE_LIMIT),
            ),
            tooltip=[
                alt.Tooltip("class"),
                alt.Tooltip("wnid"),
                alt.Tooltip(f"{x}:Q", format=".4f"),
                alt.Tooltip(f"{y}:Q", format=".4f"),
            ],
        )
        .add_params(select_class_on_click())
        .properties(height=280)
    )


def build_value_histogram(
    values: pd.Series, *, title: str, bin_width: float = 0.02, count_title: str = "captions"
) -> alt.Chart:
    """Histogram of one per-sample quantity (Figure 9a)."""
    return (
        alt.Chart(pd.DataFrame({"value": values.to_numpy()}))
        .mark_bar(binSpacing=0)
        .encode(
            x=alt.X("value:Q", bin=alt.Bin(step=bin_width), title=title),
            y=alt.Y("count():Q", title=count_title),
            tooltip=[alt.Tooltip("count():Q", title=count_title)],
        )
        .properties(height=240)
    )


def build_caption_diagnostics_chart(bins: pd.DataFrame, *, n_classes: int) -> alt.LayerChart:
    """Mean share of false classes more similar than the true one, per similarity bin,
    with its 95% interval (Figure 9b).

    Args:
        bins: ``bin_caption_diagnostics`` rows (bin_low, bin_high, n, mean, ci_low, ci_high).
        n_classes: Classes each caption was compared with, to show shares as class counts.
    """
    frame = bins[bins["n"] > 0].copy()
    frame["classes"] = frame["mean"] * (n_classes - 1)
    x = alt.X("bin_low:Q", bin="binned", title="caption's similarity to its own synset")
    base = alt.Chart(frame).encode(x=x, x2=alt.X2("bin_high:Q"))
    bars = base.mark_bar(opacity=0.8, binSpacing=1).encode(
        y=alt.Y(
            "mean:Q",
            title="share of other classes more similar",
            axis=alt.Axis(format="%", titleLimit=AXIS_TITLE_LIMIT),
        ),
        tooltip=[
            alt.Tooltip("bin_low:Q", title="from"),
            alt.Tooltip("bin_high:Q", title="to"),
            alt.Tooltip("n:Q", title="captions"),
            alt.Tooltip("mean:Q", format=".2%", title="share"),
            alt.Tooltip("classes:Q", format=",.0f", title="≈ classes"),
        ],
    )
    middle = alt.Chart(frame.assign(mid=(frame["bin_low"] + frame["bin_high"]) / 2))
    errors = middle.mark_rule(color="black").encode(
        x=alt.X("mid:Q"), y=alt.Y("ci_low:Q"), y2=alt.Y2("ci_high:Q")
    )
    return (bars + errors).properties(height=260)


def build_share_sweep_chart(sweep: pd.DataFrame, *, threshold: float) -> alt.LayerChart:
    """Shares of classes significantly lower on each side vs the threshold (Figure 16b)."""
    base = alt.Chart(sweep).encode(
        x=alt.X(
            "threshold:Q", title="text-to-text similarity threshold", scale=alt.Scale(zero=False)
        ),
        y=alt.Y(
            "share:Q",
            title="share of classes significantly lower",
            axis=alt.Axis(format="%", titleLimit=AXIS_TITLE_LIMIT),
        ),
        color=alt.Color("side:N", title="intra-class similarity"),
        tooltip=[
            alt.Tooltip("threshold"),
            alt.Tooltip("side"),
            alt.Tooltip("share:Q", format=".1%"),
            alt.Tooltip("n_classes"),
        ],
    )
    lines = base.mark_line() + base.mark_point(filled=True, size=50)
    return (lines + build_threshold_rule(threshold)).properties(height=260)
