"""Altair chart builders for the pages (no Streamlit here, so they are easy to test)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from laionet_core.selection import SelectionSummary

SELECTED_COLOR = "#d62728"  # the current threshold, as the paper's dashed line


def _threshold_rule(threshold: float) -> alt.Chart:
    return (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(color=SELECTED_COLOR, strokeDash=[6, 4])
        .encode(x="threshold:Q")
    )


def build_curve_chart(
    summary: SelectionSummary, *, value: str, title: str, x_min: float, x_max: float
) -> alt.LayerChart:
    """A curve over all thresholds with a marker at the current one (Figure 3b/c).

    Args:
        summary: The selection.
        value: ``"classes_covered"`` or ``"dataset_size"``.
        title: y-axis title.
        x_min: Left end of the threshold axis.
        x_max: Right end of the threshold axis.
    """
    values = getattr(summary, value)
    shown = (summary.thresholds >= x_min) & (summary.thresholds <= x_max)
    frame = pd.DataFrame({"threshold": summary.thresholds[shown], title: values[shown]})
    x = alt.X("threshold:Q", title="similarity threshold", scale=alt.Scale(domain=[x_min, x_max]))
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
    summary: SelectionSummary, *, x_min: float, x_max: float, bin_width: float = 0.01
) -> alt.LayerChart:
    """Distribution of caption-to-synset similarities before thresholding (Figure 3a)."""
    # Bin b >= 1 holds similarities in (grid[b-1], grid[b]]; bin 0 those at or below -1.
    lower = summary.thresholds
    counts = summary.bin_counts[1:]
    edges = np.floor(np.round(lower / bin_width, 6)) * bin_width
    frame = (
        pd.DataFrame({"similarity": np.round(edges, 6), "samples": counts})
        .groupby("similarity", as_index=False)["samples"]
        .sum()
    )
    frame = frame[(frame["similarity"] >= x_min) & (frame["similarity"] <= x_max)]
    bars = (
        alt.Chart(frame)
        .mark_bar(width={"band": 1})
        .encode(
            x=alt.X(
                "similarity:Q",
                title="caption-to-synset similarity",
                bin="binned",
                scale=alt.Scale(domain=[x_min, x_max]),
            ),
            x2=alt.X2("similarity_end:Q"),
            y=alt.Y("samples:Q", title="samples"),
            tooltip=["similarity", "samples"],
        )
        .transform_calculate(similarity_end=f"datum.similarity + {bin_width}")
    )
    return (bars + _threshold_rule(summary.thresholds[summary.index])).properties(height=260)


def build_class_frequency_chart(
    class_counts: np.ndarray, names: np.ndarray, wnids: np.ndarray, *, top: int = 500
) -> alt.LayerChart:
    """Relative class frequencies in descending order, with the uniform line (Figure 4)."""
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
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("rank:Q", title="class rank"),
            y=alt.Y("relative frequency:Q"),
            tooltip=[
                "rank",
                "class",
                "wnid",
                "samples",
                alt.Tooltip("relative frequency:Q", format=".4f"),
            ],
        )
    )
    uniform = (
        alt.Chart(pd.DataFrame({"uniform": [1 / max(int(present.sum()), 1)]}))
        .mark_rule(color=SELECTED_COLOR)
        .encode(y="uniform:Q")
    )
    return (bars + uniform).properties(height=280)
