"""Figure 6a's subset pairs, prediction outcomes and the stored statistics' round trip,
each against the direct computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from laionet_core import queries, schema
from laionet_core.comparison import compute_accuracy_by_dataset
from laionet_core.prediction_outcomes import (
    compute_outcome_accuracy,
    prepare_outcomes,
    select_outcomes,
)
from laionet_core.queries_stats import (
    has_table,
    read_selection_stats,
    read_selection_subsets,
)
from laionet_core.selection import SelectionParams, compute_similarity_bins, select_mask
from laionet_core.selection_pairs import (
    PAIR_EDGES,
    build_subset_arrays,
    draw_matched_pair_histogram,
    draw_pair_similarities,
)
from laionet_core.selection_sums import compute_class_stats, select_subset
from laionet_core.storage import open_new_database
from laionet_core.storage_selection import write_selection_stats


def _class(n: int, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    sims = rng.uniform(0.6, 1.0, n)
    sample = pd.DataFrame(
        {
            "text_similarity": sims,
            "bin": compute_similarity_bins(sims),
            "filtered": rng.random(n) < 0.2,
            "multi_label": rng.random(n) < 0.2,
            "image_similarity": rng.uniform(0, 0.3, n),
            "rank": rng.integers(0, 8, n),
        }
    )
    return x, sample


def test_subset_pairs_are_dot_products_of_kept_subset_rows() -> None:
    subsets, rows, data = {}, {}, {}
    for code, (wnid, n) in enumerate({"n1": 5, "n2": 200, "n3": 60}.items()):
        x, sample = _class(n, seed=code)
        subsets[wnid] = compute_class_stats(x, sample, class_code=code)[1]
        rows[wnid], data[wnid] = select_subset(n, code), (x, sample)
    arrays = build_subset_arrays(subsets)
    params = SelectionParams(threshold=0.7)
    counts = pd.Series({"n2": 300, "n3": 200})
    drawn = draw_pair_similarities(arrays, params, counts, np.random.default_rng(0))
    assert drawn.size == 500
    for wnid, part in (("n2", drawn[:300]), ("n3", drawn[300:])):
        x, sample = data[wnid]
        mask = select_mask(
            sample["text_similarity"], sample["filtered"], sample["multi_label"], params
        )
        kept = [r for r in rows[wnid] if mask[r]]
        gram = x[kept].astype(np.float64) @ x[kept].astype(np.float64).T
        allowed = gram[~np.eye(len(kept), dtype=bool)]
        gaps = np.abs(part[:, None] - allowed[None, :]).min(axis=1)
        assert gaps.max() < 1e-6  # every draw is a pair of kept subset rows (float32)
        assert len({round(v, 5) for v in part}) > 20  # many distinct pairs, not one


def test_matched_histogram_draws_the_same_pairs_on_both_sides() -> None:
    sides, counts = [], pd.Series({"a": 10, "b": 3, "c": 7})
    for name, seed in (("left", 1), ("right", 2)):
        subsets = {}
        for wnid in counts.index:
            x, sample = _class(40, seed)
            subsets[wnid] = compute_class_stats(x, sample, class_code=seed)[1]
        if name == "right":
            del subsets["c"]  # a class missing on one side
        sides.append((name, build_subset_arrays(subsets), None))
    result = draw_matched_pair_histogram(sides, counts, seed=0)
    assert result.classes == 2 and result.pairs_each == 13
    totals = result.bins.groupby("dataset")["pairs"].sum()
    assert totals.to_dict() == {"left": 13, "right": 13}
    assert result.bins["bin_low"].isin(PAIR_EDGES).all()


def test_outcome_accuracy_equals_the_list_computation() -> None:
    rng = np.random.default_rng(4)
    n, wnids = 600, np.array([f"n{i:08d}" for i in range(7)])
    truth = wnids[rng.integers(0, 7, n)]
    top5 = [list(rng.choice(wnids, 5, replace=False)) for _ in range(n)]
    frame = pd.DataFrame(
        {
            "dataset": np.where(np.arange(n) < 400, "laionet", "imagenet-val"),
            "sample_id": [f"s{i}" for i in range(n)],
            "wnid": truth,
            "text_similarity": rng.uniform(0.7, 0.95, n),
            "filtered": rng.random(n) < 0.1,
            "multi_label": rng.random(n) < 0.1,
            "top5_wnids": top5,
        }
    )
    frame["position"] = [p.index(w) + 1 if w in p else 0 for p, w in zip(top5, truth, strict=True)]
    outcomes = prepare_outcomes(frame.drop(columns=["top5_wnids"]))
    params = SelectionParams(threshold=0.8)
    keep = (frame["dataset"] != "laionet").to_numpy() | select_outcomes(outcomes, params)
    mask = select_mask(frame["text_similarity"], frame["filtered"], frame["multi_label"], params)
    assert (keep == ((frame["dataset"] != "laionet").to_numpy() | mask)).all()
    weights = frame.loc[mask & (frame["dataset"] == "laionet"), "wnid"].value_counts().sort_index()
    fast = compute_outcome_accuracy(outcomes[keep], class_weights=weights)
    slow = compute_accuracy_by_dataset(frame[keep], class_weights=weights)
    assert fast.keys() == slow.keys()
    for name in fast:
        pd.testing.assert_frame_equal(fast[name].summary, slow[name].summary)
        pd.testing.assert_frame_equal(fast[name].per_class[1], slow[name].per_class[1])


def test_statistics_round_trip_and_an_older_database_has_none(tmp_path: Path) -> None:
    db = tmp_path / "stats.duckdb"
    x, sample = _class(30)
    stats, subset = compute_class_stats(x, sample, class_code=0)
    with open_new_database(db) as con:
        con.execute(f"DROP TABLE {schema.SELECTION_STATS}")  # as a database built before
        con.execute(f"DROP TABLE {schema.SELECTION_SUBSETS}")
        assert not has_table(con, schema.SELECTION_STATS)
        assert read_selection_stats(con, "d") is None and read_selection_subsets(con, "d") == {}
        write_selection_stats(con, "d", stats.assign(wnid="n1"), {"n1": subset})
    con = queries.connect(db)
    back = read_selection_stats(con, "d")
    assert len(back) == len(stats)
    np.testing.assert_allclose(back["sum_p2"], stats.sort_values(["combo", "min_bin"])["sum_p2"])
    stored = read_selection_subsets(con, "d")["n1"]
    np.testing.assert_array_equal(stored["gram"], subset["gram"])
    np.testing.assert_array_equal(stored["bins"], subset["bins"])
    assert read_selection_stats(con, "other") is None
