"""Chart builders of the pages: the data each chart draws (no browser needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from laionet_app.charts import build_class_frequency_chart
from laionet_app.charts_accuracy import build_accuracy_chart, build_model_scatter_chart
from laionet_app.charts_compare import build_variant_panel_chart


def _layer_data(chart) -> list[pd.DataFrame]:
    """Each layer's data (altair lifts data shared by all layers to the layer chart)."""
    return [
        layer.data if isinstance(layer.data, pd.DataFrame) else chart.data for layer in chart.layer
    ]


def test_class_frequencies_descend_and_names_are_spread_out() -> None:
    counts = np.array([0, 5, 40, 1, 12, 7, 0, 3])
    names = np.array([f"class {i}" for i in range(8)])
    chart = build_class_frequency_chart(counts, names, names, labelled=3)
    bars, labels, uniform = _layer_data(chart)
    assert bars["samples"].tolist() == [40, 12, 7, 5, 3, 1]
    assert bars["relative frequency"].sum() == pytest.approx(1.0)
    assert bars["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    assert labels["rank"].tolist() == [1, 3, 6]  # first, middle (2.5 rounds to even), last
    assert uniform["uniform"].iloc[0] == 1 / 6  # six classes present


def test_accuracy_bars_clip_intervals_and_grow_with_datasets() -> None:
    summary = pd.DataFrame(
        {
            "dataset": ["a", "a", "b", "b", "c", "c"],
            "k": [1, 5] * 3,
            "equal": [0.5, 0.99, 0.4, 0.8, 0.3, 0.7],
            "equal_se": [0.01, 0.02, 0.01, 0.01, 0.2, 0.01],
        }
    )
    chart = build_accuracy_chart(summary, value="equal", title="t", x_title="x")
    frame = _layer_data(chart)[0]
    assert frame["high"].max() == 1.0 and frame["low"].min() == 0.0  # clipped to [0, 1]
    two = build_accuracy_chart(
        summary[summary["dataset"] != "c"], value="equal", title="t", x_title="x"
    )
    assert chart.height > two.height


def test_variant_panel_draws_one_curve_per_side() -> None:
    panel = pd.DataFrame(
        {
            "reference": ["laionet"] * 4,
            "variant": ["imagenetv2-b", "imagenetv2-b", "imagenetv2-c", "imagenetv2-c"],
            "selection_frequency": [0.73, 0.73, 0.93, 0.93],
            "lower": ["laionet", "imagenetv2-b", "laionet", "imagenetv2-c"],
            "share": [0.3, 0.1, 0.9, 0.0],
            "n_classes": [10] * 4,
        }
    )
    chart = build_variant_panel_chart(panel, reference="laionet")
    curves = _layer_data(chart)[0]["curve"]
    assert sorted(curves.unique()) == ["ImageNetV2 lower", "laionet lower"]


def test_model_scatter_has_the_diagonal() -> None:
    models = pd.DataFrame(
        {"model": ["m", "m"], "k": [1, 5], "imagenet": [0.8, 0.95], "laion": [0.7, 0.9]}
    )
    diagonal, points = _layer_data(build_model_scatter_chart(models, laion="laionet"))
    assert diagonal["imagenet"].tolist() == diagonal["laion"].tolist() == [0.0, 1.0]
    assert points["top"].tolist() == ["top-1", "top-5"]


def test_typed_highlight_is_the_spec_alt_condition_gives() -> None:
    import altair as alt

    from laionet_app.charts import highlight_selection, select_class_on_click

    click = select_class_on_click()
    typed = highlight_selection(click, 1.0, 0.6).to_dict()
    assert typed == alt.condition(click, alt.value(1.0), alt.value(0.6))
