"""Selection lab and drop reasons: top-k at a matched size against a naive loop, matched
sizes, pool filters, and per-class outcomes against per-sample reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from laionet_core.selection import SelectionParams, threshold_grid
from laionet_core.selection_lab import (
    MECHANISM_TEXT,
    MECHANISM_TEXT_IMAGE,
    MECHANISMS,
    LabParams,
    build_lab_summary,
    compute_lab_selections,
    summarize_class_values,
)
from laionet_core.selection_matched import select_top_k_to_size
from laionet_core.selection_reasons import (
    REASON_BELOW,
    REASON_MULTI_LABEL,
    REASON_NSFW,
    count_class_outcomes,
    list_drop_reasons,
)


def _naive_top_k_to_size(scores: np.ndarray, labels: np.ndarray, size: int) -> set[int]:
    """Round robin: each class gives its best remaining sample, rounds ordered by score."""
    by_class: dict[str, list[int]] = {}
    scored = [i for i in range(scores.size) if not np.isnan(scores[i])]  # NaN breaks sorting
    for i in sorted(scored, key=lambda i: (-scores[i], i)):
        by_class.setdefault(labels[i], []).append(i)
    chosen: list[int] = []
    depth = 0
    while len(chosen) < size and any(len(v) > depth for v in by_class.values()):
        tier = [v[depth] for v in by_class.values() if len(v) > depth]
        chosen += sorted(tier, key=lambda i: (-scores[i], i))[: size - len(chosen)]
        depth += 1
    return set(chosen)


@pytest.mark.parametrize("seed", range(5))
def test_top_k_to_size_matches_a_round_robin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    scores = np.round(rng.random(n), 1)  # ties on purpose
    scores[rng.random(n) < 0.1] = np.nan
    labels = rng.choice(["a", "b", "c", "d"], size=n, p=[0.5, 0.3, 0.15, 0.05])
    for size in (0, 1, 7, 30, 59, 100):
        mask = select_top_k_to_size(scores, labels, size=size)
        assert set(np.flatnonzero(mask)) == _naive_top_k_to_size(scores, labels, size)
        assert mask.sum() == min(size, int((~np.isnan(scores)).sum()))


def test_top_k_to_size_rejects_a_negative_size() -> None:
    with pytest.raises(ValueError, match="size must be >= 0"):
        select_top_k_to_size([0.1], ["a"], size=-1)


def _candidates(seed: int = 0, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "wnid": rng.choice([f"n{i}" for i in range(8)], size=n),
            "text_similarity": rng.uniform(0.5, 1.0, n),
            "image_similarity": rng.uniform(0.2, 0.8, n),
            "nsfw": rng.choice(["UNLIKELY", "UNSURE", "NSFW", None], size=n),
            "multi_label": rng.random(n) < 0.2,
        }
    ).assign(filtered=lambda f: f["nsfw"] != "UNLIKELY")  # the TMLR rule's verdict


def test_every_mechanism_keeps_the_text_thresholds_size_from_the_pool() -> None:
    candidates = _candidates()
    selection = SelectionParams(threshold=0.8)
    masks = compute_lab_selections(candidates, LabParams(selection, 0.6))
    text = masks[MECHANISM_TEXT]
    expected = (
        (candidates["text_similarity"] > 0.8)
        & (candidates["nsfw"] == "UNLIKELY")
        & ~candidates["multi_label"]
    )
    assert (text == expected.to_numpy()).all()
    for mechanism in MECHANISMS:
        mask = masks[mechanism]
        assert mask.sum() == text.sum(), mechanism
        assert (candidates["nsfw"] == "UNLIKELY").to_numpy()[mask].all()
        assert not candidates["multi_label"].to_numpy()[mask].any()
    multimodal = masks[MECHANISM_TEXT_IMAGE]
    assert (candidates["text_similarity"].to_numpy()[multimodal] > 0.6).all()


def test_lab_params_name_an_unknown_mechanism() -> None:
    with pytest.raises(ValueError, match="unknown mechanism 'random'"):
        LabParams(mechanisms=("random",))


def test_summary_of_class_values_by_hand() -> None:
    mean, low, high, n = summarize_class_values(pd.Series([0.2, 0.4, np.nan, 0.6]))
    assert (mean, n) == (pytest.approx(0.4), 3)
    half = 1.959964 * 0.2 / np.sqrt(3)
    assert (low, high) == (pytest.approx(0.4 - half, abs=1e-5), pytest.approx(0.4 + half, abs=1e-5))
    assert np.isnan(summarize_class_values(pd.Series([0.5]))[1])


def test_lab_summary_counts_size_and_coverage() -> None:
    labels = np.array(["a", "a", "b", "c"])
    masks = {"m": np.array([True, True, True, False])}
    rows = pd.DataFrame(
        {"dataset": ["m", "m"], "metric": ["x", "x"], "wnid": ["a", "b"], "value": [0.5, 0.7]}
    )
    summary = build_lab_summary(masks, labels, rows, metrics=("x",), min_samples_per_class=2)
    assert summary.loc[0, "size"] == 3
    assert summary.loc[0, "classes covered"] == 1  # only "a" has two samples
    assert summary.loc[0, "x"] == pytest.approx(0.6)


def test_drop_reasons_by_hand() -> None:
    samples = pd.DataFrame(
        {
            "text_similarity": [0.9, 0.82, 0.95, 0.95, np.nan],
            "filtered": [False, True, True, False, True],
            "multi_label": [False, False, False, True, True],
        }
    )
    reasons = list_drop_reasons(samples, SelectionParams(threshold=0.82))
    assert reasons.tolist() == [
        "",
        f"{REASON_BELOW}, {REASON_NSFW}",  # strictly above the threshold is kept
        REASON_NSFW,
        REASON_MULTI_LABEL,
        f"{REASON_BELOW}, {REASON_MULTI_LABEL}, {REASON_NSFW}",
    ]
    kept_all = list_drop_reasons(
        samples, SelectionParams(0.0, drop_nsfw=False, drop_multi_label=False)
    )
    assert kept_all.tolist()[:4] == ["", "", "", ""]


@pytest.mark.parametrize("params", [SelectionParams(0.8), SelectionParams(0.7, drop_nsfw=False)])
def test_class_outcomes_agree_with_per_sample_reasons(params: SelectionParams) -> None:
    samples = _candidates(seed=3)
    grid = threshold_grid()
    bins = np.searchsorted(grid, samples["text_similarity"].to_numpy(), side="left")
    filtered = samples["filtered"].to_numpy().astype(int)
    multi = samples["multi_label"].to_numpy().astype(int)
    histogram = np.zeros((2, 2, grid.size + 1), dtype=np.int64)
    np.add.at(histogram, (filtered, multi, bins), 1)
    outcome = count_class_outcomes(histogram, params)
    reasons = list_drop_reasons(samples, params)
    assert outcome["candidates"] == len(samples)
    assert outcome["selected"] == int((reasons == "").sum())
    for reason in (REASON_BELOW, REASON_MULTI_LABEL, REASON_NSFW):
        assert outcome[reason] == int(reasons.str.contains(reason).sum()), reason
