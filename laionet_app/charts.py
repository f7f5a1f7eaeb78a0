"""Altair chart builders for the pages (no Streamlit here, so they are easy to test)."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from laionet_core.selection import THRESHOLD_MAX, THRESHOLD_MIN, SelectionSummary

SELECTED_COLOR = "#d62728"  # the current threshold, as the paper's dashed line
# Name of the click selection of every per-class chart; its field is the class's wnid.
CLASS_SELECTION = "pick"
# Long axis titles wrap instead of being cut at the plot's edge.
AXIS_TITLE_LIMIT = 0
_THRESHOLD_AXIS = alt.Scale(domain=[THRESHOLD_MIN, THRESHOLD_MAX])  # the slider's range


def build_threshold_rule(threshold: float) -> alt.Chart:
    """The dashed line at the current threshold."""
    return (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(color=SELECTED_COLOR, strokeDash=[6, 4])
        .encode(x=alt.X("threshold:Q"))
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
        .encode(
            x=x,
            y=alt.Y(f"{title}:Q", title=title),
            tooltip=[alt.Tooltip("threshold"), alt.Tooltip(title)],
        )
    )
    point = (
        alt.Chart(
            pd.DataFrame(
                {"threshold": [summary.thresholds[summary.index]], title: [values[summary.index]]}
            )
        )
        .mark_point(color=SELECTED_COLOR, size=90, filled=True)
        .encode(x=x, y=alt.Y(f"{title}:Q"), tooltip=[alt.Tooltip("threshold"), alt.Tooltip(title)])
    )
    rule = build_threshold_rule(summary.thresholds[summary.index])
    return alt.layer(line, point, rule, height=260)


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
        .mark_bar(binSpacing=0, stroke="#1f4e79", strokeWidth=0.5)
        .encode(
            x=alt.X(
                "similarity:Q",
                title=x_title,
                bin="binned",
                scale=_THRESHOLD_AXIS,
            ),
            x2=alt.X2("similarity_end:Q"),
            y=alt.Y("samples:Q", title="samples"),
            tooltip=[alt.Tooltip("similarity"), alt.Tooltip("samples")],
        )
        .transform_calculate(similarity_end=f"datum.similarity + {bin_width}")
    )
    return alt.layer(bars, build_threshold_rule(summary.thresholds[summary.index]), height=260)


def highlight_selection(
    selection: alt.Parameter, selected: float, other: float
) -> alt.OpacityValue:
    """``alt.condition(selection, alt.value(selected), alt.value(other))`` as a typed
    opacity channel, the same spec: the dict ``alt.condition`` returns is parsed against
    the whole Vega-Lite schema on every chart built (14 ms of a threshold move)."""
    return alt.OpacityValue(other, condition={"param": selection.name, "value": selected})


def select_class_on_click() -> alt.Parameter:
    """The click selection per-class charts add, read back by ``CLASS_SELECTION``."""
    return alt.selection_point(name=CLASS_SELECTION, fields=["wnid"], on="click")


def _class_frequency_frame(
    class_counts: np.ndarray, names: np.ndarray, wnids: np.ndarray, top: int
) -> pd.DataFrame:
    total = int(class_counts.sum())
    present = class_counts > 0
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
    return frame


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
    frame = _class_frequency_frame(class_counts, names, np.asarray(wnids), top)
    n_present = int((class_counts > 0).sum())
    x = alt.X(
        "rank:Q",
        title="class rank (most frequent first)",
        scale=alt.Scale(domain=[1, len(frame) + 1], nice=False),
    )
    click = select_class_on_click()
    bars = (
        alt.Chart(frame)
        .mark_bar(binSpacing=0)
        .encode(
            x=x,
            x2=alt.X2("rank_end:Q"),
            y=alt.Y("relative frequency:Q", title="relative frequency"),
            y2=alt.Y2Datum(0),  # typed: a dict channel is parsed against the whole schema
            opacity=highlight_selection(click, 1.0, 0.6),
            tooltip=[
                alt.Tooltip("rank"),
                alt.Tooltip("class"),
                alt.Tooltip("wnid"),
                alt.Tooltip("samples"),
                alt.Tooltip("relative frequency:Q", format=".4f"),
            ],
        )
        .add_params(click)
    )
    named = np.unique(np.linspace(0, len(frame) - 1, labelled).round().astype(int))
    names_layer = (
        alt.Chart(frame.iloc[named] if len(frame) else frame)
        .mark_text(align="left", dx=4, angle=300, fontSize=11)
        .encode(x=x, y=alt.Y("relative frequency:Q"), text=alt.Text("class:N"))
    )
    uniform = (
        alt.Chart(pd.DataFrame({"uniform": [1 / max(n_present, 1)]}))
        .mark_rule(color=SELECTED_COLOR)
        .encode(y=alt.Y("uniform:Q"), tooltip=[alt.Tooltip("uniform:Q", title="uniform weight")])
    )
    return alt.layer(bars, names_layer, uniform, height=280)
