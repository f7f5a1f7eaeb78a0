"""Altair charts of the Model accuracy page (Figures 1, 5 and 14)."""

from __future__ import annotations

import altair as alt
import pandas as pd


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
        yOffset=alt.YOffset("top:N"),
        color=alt.Color("top:N", title="accuracy"),
    )
    bars = base.mark_bar().encode(
        x=alt.X(f"{value}:Q", title=x_title, scale=alt.Scale(domain=[0, 1])),
        tooltip=[
            alt.Tooltip("dataset"),
            alt.Tooltip("top"),
            alt.Tooltip(f"{value}:Q", format=".3f"),
        ],
    )
    errors = base.mark_rule(color="black").encode(x=alt.X("low:Q"), x2=alt.X2("high:Q"))
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
                alt.Tooltip("model"),
                alt.Tooltip("top"),
                alt.Tooltip("imagenet:Q", format=".3f"),
                alt.Tooltip("laion:Q", format=".3f"),
            ],
        )
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"imagenet": [0.0, 1.0], "laion": [0.0, 1.0]}))
        .mark_line(color="black", strokeDash=[4, 4])
        .encode(x=alt.X("imagenet:Q"), y=alt.Y("laion:Q"))
    )
    return (diagonal + points).properties(height=320)


# --- Diagnose ImageNet page (Figures 9, 10 and 16) ---


def build_weighting_chart(summary: pd.DataFrame, *, laion: str) -> alt.LayerChart:
    """Figure 5 as one chart: per dataset and k, equally weighted accuracy against the
    accuracy weighted by class frequency in ``laion``, joined by a line.

    Args:
        summary: ``build_accuracy_summary`` rows (dataset, k, equal, weighted, ...).
        laion: Name of the dataset whose class frequencies weight the classes.
    """
    frame = summary.assign(top="top-" + summary["k"].astype(str))
    weighted = f"weighted by {laion} frequency"
    long = frame.melt(
        id_vars=["dataset", "top"],
        value_vars=["equal", "weighted"],
        var_name="weighting",
        value_name="accuracy",
    ).replace({"weighting": {"equal": "classes weighted equally", "weighted": weighted}})
    y = alt.Y("dataset:N", title=None, axis=alt.Axis(labelLimit=300))
    x_scale = alt.Scale(domain=[0, 1])
    lines = (
        alt.Chart(frame)
        .mark_rule(color="#888888")
        .encode(
            y=y,
            yOffset=alt.YOffset("top:N"),
            x=alt.X("equal:Q", scale=x_scale),
            x2=alt.X2("weighted:Q"),
        )
    )
    points = (
        alt.Chart(long)
        .mark_point(filled=True, size=80)
        .encode(
            y=y,
            yOffset=alt.YOffset("top:N"),
            x=alt.X("accuracy:Q", title="accuracy", scale=x_scale),
            color=alt.Color("weighting:N", title="weighting"),
            shape=alt.Shape("top:N", title="accuracy"),
            tooltip=[
                alt.Tooltip("dataset"),
                alt.Tooltip("top"),
                alt.Tooltip("weighting"),
                alt.Tooltip("accuracy:Q", format=".3f"),
            ],
        )
    )
    return (lines + points).properties(height=44 * frame["dataset"].nunique() + 20)
