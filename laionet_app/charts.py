"""Altair chart builders for the pages (no Streamlit here, so they are easy to test)."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from laionet_core.selection import THRESHOLD_MAX, THRESHOLD_MIN, SelectionSummary

SELECTED_COLOR = "#d62728"  # the current threshold, as the paper's dashed line
_THRESHOLD_AXIS = alt.Scale(domain=[THRESHOLD_MIN, THRESHOLD_MAX])  # the slider's range


def _threshold_rule(threshold: float) -> alt.Chart:
    return (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(color=SELECTED_COLOR, strokeDash=[6, 4])
        .encode(x="threshold:Q")
    )


def build_curve_chart(
    summary: SelectionSummary,
    *,
    value: str,
    title: str,
) -> alt.LayerChart:
    """A curve over the slider's thresholds with a marker at the current one (Fig 3b/c).

    Args:
        summary: The selection.
        value: ``"classes_covered"`` or ``"dataset_size"``.
        title: y-axis title.
    """
    values = getattr(summary, value)
    shown = (summary.thresholds >= THRESHOLD_MIN) & (summary.thresholds <= THRESHOLD_MAX)
    frame = pd.DataFrame({"threshold": summary.thresholds[shown], title: values[shown]})
    x = alt.X("threshold:Q", title="similarity threshold", scale=_THRESHOLD_AXIS)
    line = (
        alt.Chart(frame)
        .mark_line()
        .encode(x=x, y=alt.Y(f"{title}:Q", title=title), tooltip=["threshold", title])
    )
    point = (
        alt.Chart(
            pd.DataFrame(
                {"threshold": [summary.thresholds[summary.index]], title: [values[summary.index]]}
            )
        )
        .mark_point(color=SELECTED_COLOR, size=90, filled=True)
        .encode(x=x, y=f"{title}:Q", tooltip=["threshold", title])
    )
    return (line + point + _threshold_rule(summary.thresholds[summary.index])).properties(
        height=260
    )


def build_similarity_histogram(
    summary: SelectionSummary,
    *,
    bin_width: float = 0.01,
    x_title: str = "caption-to-synset similarity",
) -> alt.LayerChart:
    """Distribution of the similarities before thresholding, over the slider's range
    (Figure 3a)."""
    # Bin b >= 1 holds similarities in (grid[b-1], grid[b]]; bin 0 those at or below -1.
    lower = summary.thresholds
    counts = summary.bin_counts[1:]
    edges = np.floor(np.round(lower / bin_width, 6)) * bin_width
    frame = (
        pd.DataFrame({"similarity": np.round(edges, 6), "samples": counts})
        .groupby("similarity", as_index=False)["samples"]
        .sum()
    )
    frame = frame[(frame["similarity"] >= THRESHOLD_MIN) & (frame["similarity"] <= THRESHOLD_MAX)]
    bars = (
        alt.Chart(frame)
        .mark_bar(width={"band": 1})
        .encode(
            x=alt.X(
                "similarity:Q",
                title=x_title,
                bin="binned",
                scale=_THRESHOLD_AXIS,
            ),
            x2=alt.X2("similarity_end:Q"),
            y=alt.Y("samples:Q", title="samples"),
            tooltip=["similarity", "samples"],
        )
        .transform_calculate(similarity_end=f"datum.similarity + {bin_width}")
    )
    return (bars + _threshold_rule(summary.thresholds[summary.index])).properties(height=260)


def build_class_frequency_chart(
    class_counts: np.ndarray,
    names: np.ndarray,
    wnids: Sequence[str] | np.ndarray,
    *,
    top: int = 500,
    labelled: int = 8,
) -> alt.LayerChart:
    """Relative class frequencies in descending order, with the uniform line (Figure 4).

    Args:
        class_counts: (C,) selected samples per class.
        names: (C,) class names.
        wnids: (C,) wnids (any sequence).
        top: Classes shown, most frequent first (the paper shows 500).
        labelled: Classes named on the chart, as in the paper: the most frequent and
            others evenly spaced in rank, so the names do not overlap.
    """
    total = int(class_counts.sum())
    present = class_counts > 0
    wnids = np.asarray(wnids)
    frame = (
        pd.DataFrame(
            {"class": names[present], "wnid": wnids[present], "samples": class_counts[present]}
        )
        .sort_values("samples", ascending=False, kind="stable")
        .head(top)
    )
    frame["relative frequency"] = frame["samples"] / max(total, 1)
    frame["rank"] = np.arange(1, len(frame) + 1)
    frame["rank_end"] = frame["rank"] + 1
    x = alt.X(
        "rank:Q",
        title="class rank (most frequent first)",
        scale=alt.Scale(domain=[1, len(frame) + 1], nice=False),
    )
    bars = (
        alt.Chart(frame)
        .mark_bar(binSpacing=0)
        .encode(
            x=x,
            x2="rank_end:Q",
            y=alt.Y("relative frequency:Q", title="relative frequency"),
            y2=alt.datum(0),
            tooltip=[
                "rank",
                "class",
                "wnid",
                "samples",
                alt.Tooltip("relative frequency:Q", format=".4f"),
            ],
        )
    )
    named = np.unique(np.linspace(0, len(frame) - 1, labelled).round().astype(int))
    names_layer = (
        alt.Chart(frame.iloc[named] if len(frame) else frame)
        .mark_text(align="left", dx=4, angle=300, fontSize=11)
        .encode(x=x, y="relative frequency:Q", text="class:N")
    )
    uniform = (
        alt.Chart(pd.DataFrame({"uniform": [1 / max(int(present.sum()), 1)]}))
        .mark_rule(color=SELECTED_COLOR)
        .encode(y="uniform:Q", tooltip=[alt.Tooltip("uniform:Q", title="uniform weight")])
    )
    return (bars + names_layer + uniform).properties(height=280)


# --- Compare datasets and Model accuracy pages (Figures 1, 5, 6-8, 12-15) ---

# Colours of "significantly lower / higher / neither" in difference charts.
SIGNIFICANCE_COLORS = {"lower": "#1f77b4", "higher": "#d62728", "not significant": "#999999"}


def build_pair_similarity_chart(bins: pd.DataFrame) -> alt.Chart:
    """Overlaid distributions of within-class pair similarities per dataset (Figure 6a).

    Args:
        bins: Binned on the server (``selection_pairs.bin_pair_similarities``): columns
            ``dataset``, ``bin_low``, ``bin_high``, ``pairs``.
    """
    return (
        alt.Chart(bins[["dataset", "bin_low", "bin_high", "pairs"]])
        .mark_bar(opacity=0.5, binSpacing=0)
        .encode(
            x=alt.X("bin_low:Q", title="intra-class pairwise image similarity"),
            x2="bin_high:Q",
            y=alt.Y("pairs:Q", stack=None, title="pairs"),
            color=alt.Color("dataset:N", title="dataset"),
            tooltip=["dataset", "bin_low", "bin_high", "pairs"],
        )
        .properties(height=260)
    )


def build_difference_chart(
    diff: pd.DataFrame, *, y_title: str, legend_title: str
) -> alt.LayerChart:
    """Per-class difference with its 95% interval, classes sorted ascending (Figs 6b, 12, 13).

    Args:
        diff: ``compare_class_means`` output (index label; difference, ci_low, ci_high).
        y_title: What the difference is of, e.g. "intra-class similarity: A - B".
        legend_title: Names the compared datasets, e.g. "laionet vs imagenet-val".
    """
    frame = diff.reset_index().rename(columns={diff.index.name or "index": "class"})
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
        .encode(x=x, y=alt.Y("ci_low:Q", title=y_title), y2="ci_high:Q", color=color)
    )
    points = (
        alt.Chart(frame)
        .mark_point(filled=True, size=18)
        .encode(
            x=x,
            y="difference:Q",
            color=color,
            tooltip=[
                "class",
                alt.Tooltip("difference:Q", format=".4f"),
                alt.Tooltip("ci_low:Q", format=".4f"),
                alt.Tooltip("ci_high:Q", format=".4f"),
            ],
        )
    )
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="black").encode(y="zero:Q")
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
        y=alt.Y("share:Q", title="share of classes significantly lower", axis=alt.Axis(format="%")),
        color=alt.Color("curve:N", title=f"{reference} vs ImageNetV2"),
        tooltip=["variant", "curve", alt.Tooltip("share:Q", format=".1%"), "n_classes"],
    )
    return (base.mark_line() + base.mark_point(filled=True, size=60)).properties(
        height=240, title=f"{reference} vs ImageNetV2 b / a / c"
    )


def build_scatter_chart(
    table: pd.DataFrame, *, x: str, y: str, x_title: str, y_title: str, log_x: bool = False
) -> alt.Chart:
    """One point per class (Figures 7, 14, 15); ``table`` is indexed by class."""
    frame = table.reset_index().rename(columns={table.index.name or "index": "class"})
    scale = alt.Scale(type="log") if log_x else alt.Scale(zero=False)
    return (
        alt.Chart(frame)
        .mark_circle(size=40, opacity=0.6)
        .encode(
            x=alt.X(f"{x}:Q", title=x_title, scale=scale),
            y=alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(zero=False)),
            tooltip=[
                "class",
                alt.Tooltip(f"{x}:Q", format=".4f"),
                alt.Tooltip(f"{y}:Q", format=".4f"),
            ],
        )
        .properties(height=280)
    )


def build_accuracy_chart(
    summary: pd.DataFrame, *, value: str, title: str, x_title: str
) -> alt.LayerChart:
    """Accuracy per dataset and k with +-1.96 SE bars (Figures 1 and 5).

    Bars run horizontally so that long dataset names need no rotated labels.

    Args:
        summary: Rows with ``dataset``, ``k``, ``value`` and ``<value>_se``.
        value: ``"equal"`` or ``"weighted"``.
        title: Chart title.
        x_title: Accuracy axis title (what the mean over classes is).
    """
    frame = summary.copy()
    frame["top"] = "top-" + frame["k"].astype(str)
    frame["low"] = (frame[value] - 1.96 * frame[f"{value}_se"]).clip(0, 1)
    frame["high"] = (frame[value] + 1.96 * frame[f"{value}_se"]).clip(0, 1)
    base = alt.Chart(frame).encode(
        y=alt.Y("dataset:N", title=None),
        yOffset="top:N",
        color=alt.Color("top:N", title="accuracy"),
    )
    bars = base.mark_bar().encode(
        x=alt.X(f"{value}:Q", title=x_title, scale=alt.Scale(domain=[0, 1])),
        tooltip=["dataset", "top", alt.Tooltip(f"{value}:Q", format=".3f")],
    )
    errors = base.mark_rule(color="black").encode(x="low:Q", x2="high:Q")
    height = 44 * frame["dataset"].nunique() + 20
    return (bars + errors).properties(height=height, title=title)


def build_model_scatter_chart(models: pd.DataFrame, *, laion: str) -> alt.LayerChart:
    """Accuracy on ImageNet (x) vs on the LAION selection (y), one point per model and k,
    with the line y = x (Figure 1).

    Args:
        models: ``build_model_comparison`` rows: model, k, imagenet, laion.
        laion: Name of the LAION-derived dataset, for the axis title.
    """
    frame = models.assign(top="top-" + models["k"].astype(str))
    axis = alt.Scale(domain=[0, 1])
    points = (
        alt.Chart(frame)
        .mark_point(filled=True, size=90)
        .encode(
            x=alt.X("imagenet:Q", title="accuracy on ImageNet (imagenet-val)", scale=axis),
            y=alt.Y("laion:Q", title=f"accuracy on {laion}", scale=axis),
            color=alt.Color("top:N", title="accuracy"),
            shape=alt.Shape("model:N", title="model"),
            tooltip=[
                "model",
                "top",
                alt.Tooltip("imagenet:Q", format=".3f"),
                alt.Tooltip("laion:Q", format=".3f"),
            ],
        )
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"imagenet": [0.0, 1.0], "laion": [0.0, 1.0]}))
        .mark_line(color="black", strokeDash=[4, 4])
        .encode(x="imagenet:Q", y="laion:Q")
    )
    return (diagonal + points).properties(height=320)


# --- Diagnose ImageNet page (Figures 9, 10 and 16) ---


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
    base = alt.Chart(frame).encode(x=x, x2="bin_high:Q")
    bars = base.mark_bar(opacity=0.8, binSpacing=1).encode(
        y=alt.Y("mean:Q", title="share of other classes more similar", axis=alt.Axis(format="%")),
        tooltip=[
            alt.Tooltip("bin_low:Q", title="from"),
            alt.Tooltip("bin_high:Q", title="to"),
            alt.Tooltip("n:Q", title="captions"),
            alt.Tooltip("mean:Q", format=".2%", title="share"),
            alt.Tooltip("classes:Q", format=",.0f", title="≈ classes"),
        ],
    )
    middle = alt.Chart(frame.assign(mid=(frame["bin_low"] + frame["bin_high"]) / 2))
    errors = middle.mark_rule(color="black").encode(x="mid:Q", y="ci_low:Q", y2="ci_high:Q")
    return (bars + errors).properties(height=260)


def build_share_sweep_chart(sweep: pd.DataFrame, *, threshold: float) -> alt.LayerChart:
    """Shares of classes significantly lower on each side vs the threshold (Figure 16b)."""
    base = alt.Chart(sweep).encode(
        x=alt.X(
            "threshold:Q", title="text-to-text similarity threshold", scale=alt.Scale(zero=False)
        ),
        y=alt.Y("share:Q", title="share of classes significantly lower", axis=alt.Axis(format="%")),
        color=alt.Color("side:N", title="intra-class similarity"),
        tooltip=["threshold", "side", alt.Tooltip("share:Q", format=".1%"), "n_classes"],
    )
    lines = base.mark_line() + base.mark_point(filled=True, size=50)
    return (lines + _threshold_rule(threshold)).properties(height=260)
