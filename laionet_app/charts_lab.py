"""Altair charts of the selection lab and the class browser's 2-D similarity grid."""

from __future__ import annotations

import altair as alt
import pandas as pd

from laionet_app.charts import highlight_selection

# Name of the grid's click selection; the page reads the clicked cell under this name.
GRID_SELECTION = "cell"


def build_mechanism_chart(summary: pd.DataFrame, *, metric: str, title: str) -> alt.LayerChart:
    """One point per mechanism with its 95% interval over classes.

    Args:
        summary: ``build_lab_summary`` rows.
        metric: Metric column; ``<metric> low`` and ``<metric> high`` are its interval.
        title: x-axis title.
    """
    frame = summary[["mechanism", metric, f"{metric} low", f"{metric} high"]].rename(
        columns={metric: "value", f"{metric} low": "low", f"{metric} high": "high"}
    )
    y = alt.Y("mechanism:N", title=None, sort=None, axis=alt.Axis(labelLimit=300))
    base = alt.Chart(frame).encode(y=y)
    rules = base.mark_rule().encode(
        x=alt.X("low:Q", title=title, scale=alt.Scale(zero=False)), x2=alt.X2("high:Q")
    )
    points = base.mark_point(filled=True, size=90).encode(
        x=alt.X("value:Q"),
        color=alt.Color("mechanism:N", legend=None),
        tooltip=[
            alt.Tooltip("mechanism"),
            alt.Tooltip("value:Q", format=".4f", title=title),
            alt.Tooltip("low:Q", format=".4f"),
            alt.Tooltip("high:Q", format=".4f"),
        ],
    )
    return (rules + points).properties(height=40 * len(frame) + 40)


def build_similarity_grid_chart(grid: pd.DataFrame) -> alt.LayerChart:
    """Counts of a class's samples per caption-to-synset x image-to-synset band, with a
    click selection of one cell (read back through ``GRID_SELECTION``).

    Args:
        grid: ``read_similarity_grid`` rows: ``text_low``, ``text_high``, ``image_low``,
            ``image_high``, ``samples``.
    """
    frame = grid.assign(
        text_band=grid["text_low"].map("{:.2f}".format)
        + "–"
        + grid["text_high"].map("{:.2f}".format),
        image_band=grid["image_low"].map("{:.2f}".format)
        + "–"
        + grid["image_high"].map("{:.2f}".format),
    )
    click = alt.selection_point(name=GRID_SELECTION, fields=["text_low", "image_low"])
    text_order = sorted(frame["text_band"].unique())
    image_order = sorted(frame["image_band"].unique(), reverse=True)
    base = alt.Chart(frame).encode(
        x=alt.X("text_band:O", title="caption-to-synset similarity", sort=text_order),
        y=alt.Y("image_band:O", title="image-to-synset similarity", sort=image_order),
    )
    cells = (
        base.mark_rect()
        .encode(
            color=alt.Color("samples:Q", title="samples", scale=alt.Scale(scheme="blues")),
            opacity=highlight_selection(click, 1.0, 0.4),
            tooltip=[
                alt.Tooltip("text_band:N", title="caption similarity"),
                alt.Tooltip("image_band:N", title="image similarity"),
                alt.Tooltip("samples"),
            ],
        )
        .add_params(click)
    )
    labels = base.mark_text(baseline="middle").encode(text=alt.Text("samples:Q"))
    return (cells + labels).properties(height=320)
