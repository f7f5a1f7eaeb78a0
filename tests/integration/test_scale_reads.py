"""The app's fast reads on the demo database equal the plain queries they replace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from laionet_core import queries
from laionet_core.queries_stats import (
    read_bin_samples,
    read_class_summaries,
    read_value_histogram,
    select_band_samples,
    select_class_counts,
)
from laionet_core.selection import (
    GRID_MIN,
    THRESHOLD_STEP,
    SelectionParams,
    compute_band_edges,
)


@pytest.fixture(scope="module")
def con(demo_db: Path):
    connection = queries.connect(demo_db)
    yield connection
    connection.close()


def _busiest_class(con, dataset: str) -> str:
    return con.execute(
        "SELECT wnid FROM samples WHERE dataset = ? GROUP BY wnid ORDER BY count(*) DESC, wnid "
        "LIMIT 1",
        [dataset],
    ).fetchone()[0]


@pytest.mark.parametrize("dataset", ["laionet", "text-matched"])
@pytest.mark.parametrize("seed", [0, 7])
def test_bands_from_bin_samples_equal_the_band_query(con, dataset: str, seed: int) -> None:
    wnid = _busiest_class(con, dataset)
    bins = read_bin_samples(
        con, dataset, wnid, limit=4, seed=seed, grid_min=GRID_MIN, step=THRESHOLD_STEP
    )
    for low, high in compute_band_edges(0.5, 1.0, 5) + [(0.8, 0.82), (0.0, 1.0)]:
        fast = select_band_samples(bins, low=low, high=high, limit=4)
        slow = queries.read_samples_in_band(
            con, dataset, wnid, low=low, high=high, limit=4, seed=seed
        )
        assert fast["sample_id"].tolist() == slow["sample_id"].tolist()
        assert list(fast.columns) == list(slow.columns)


def test_class_summaries_equal_the_per_class_counts(con) -> None:
    summaries = read_class_summaries(con)
    datasets = queries.read_datasets(con)[["dataset", "kind"]]
    for wnid in [_busiest_class(con, "laionet"), "n99999999"]:
        slow = queries.read_class_counts(con, wnid)
        fast = select_class_counts(summaries, datasets, wnid)
        pd.testing.assert_frame_equal(fast, slow, check_dtype=False, check_exact=False)


@pytest.mark.parametrize("params", [None, SelectionParams(threshold=0.75, drop_nsfw=False)])
def test_value_histogram_counts_the_selected_values(con, params) -> None:
    hist = read_value_histogram(con, "laionet", params, "image_similarity")
    samples = (
        queries.read_samples(con, "laionet")
        if params is None
        else queries.read_selected_samples(con, "laionet", params)
    )
    values = samples["image_similarity"].dropna().to_numpy(np.float64)
    edges = np.round(np.arange(-1.0, 1.0 + 0.01, 0.02), 6)
    expected, _ = np.histogram(values, bins=edges)
    shown = dict(zip(np.round(hist["bin_low"], 6), hist["n"], strict=True))
    assert sum(shown.values()) == values.size
    for low, count in zip(edges[:-1], expected, strict=True):
        # floor vs numpy's edges may move a value lying exactly on an edge: allow 1
        assert abs(shown.get(round(low, 6), 0) - count) <= 1
    with pytest.raises(ValueError, match="column must be one of"):
        read_value_histogram(con, "laionet", None, "url")


def test_outcomes_of_every_model_at_once_equal_the_prediction_lists(con) -> None:
    """One join for all models: each model's true-class positions, as the stored lists say."""
    from laionet_core.queries_stats import read_prediction_outcomes

    models = queries.list_prediction_models(con)
    assert models
    outcomes = read_prediction_outcomes(con, [*models, "no-such-model"])
    assert list(outcomes) == [*models, "no-such-model"]
    assert outcomes["no-such-model"].empty
    for model in models:
        lists = queries.read_predictions(con, model)
        position = [
            (list(top).index(w) + 1) if w in list(top) else 0
            for top, w in zip(lists["top5_wnids"], lists["wnid"], strict=True)
        ]
        oracle = (
            lists.assign(position=np.array(position, np.int8))
            .groupby(["dataset", "wnid", "position"])
            .size()
        )
        got = outcomes[model].groupby(["dataset", "wnid", "position"]).size()
        pd.testing.assert_series_equal(got.sort_index(), oracle.sort_index(), check_names=False)
