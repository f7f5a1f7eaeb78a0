"""Figure 6a's within-class pair similarities from the precomputed class subsets.

``selection_stats`` keeps, per class, up to ``SUBSET_ROWS`` random embedded rows with
their bins, flags and pair similarities. The rows of that subset a selection keeps are
a uniform random subset of the selection, so a pair drawn uniformly among them is a
uniform random pair of the selection: the same distribution the live path draws from,
without reading a single embedding. Pairs are binned before they reach a chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from laionet_core.selection import SelectionParams, threshold_index

# Figure 6a's histogram: 0.02 wide bins over the whole cosine range (100 bars a side).
PAIR_BIN_WIDTH = 0.02
PAIR_EDGES = np.round(np.arange(-1.0, 1.0 + PAIR_BIN_WIDTH / 2, PAIR_BIN_WIDTH), 6)


@dataclass(frozen=True)
class PairHistogram:
    """Binned pair similarities of two datasets with matched pairs per class.

    Attributes:
        bins: Rows ``dataset``, ``bin_low``, ``bin_high``, ``pairs`` (non-empty bins).
        classes: Classes that gave pairs on both sides.
        pairs_each: Pairs drawn on each side.
    """

    bins: pd.DataFrame
    classes: int
    pairs_each: int


def select_subset_rows(subset: dict, params: SelectionParams | None) -> np.ndarray:
    """Positions of a class subset's rows that ``params`` keeps (all when None)."""
    bins = np.asarray(subset["bins"], dtype=np.int64)
    if params is None:
        return np.arange(bins.size)
    keep = bins >= threshold_index(params.threshold) + 1
    if params.drop_nsfw:
        keep &= ~np.asarray(subset["nsfw"], dtype=bool)
    if params.drop_multi_label:
        keep &= ~np.asarray(subset["multi_label"], dtype=bool)
    return np.flatnonzero(keep)


def draw_subset_pairs(
    subset: dict, rows: np.ndarray, n_pairs: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_pairs`` similarities of random distinct pairs among ``rows`` (with replacement).

    Args:
        subset: One class's subset (``gram``: upper triangle, ``i < j`` row by row).
        rows: Positions of the kept subset rows, at least two.
        n_pairs: Pairs to draw.
        rng: Random generator.

    Returns:
        (n_pairs,) float64 similarities.
    """
    size = int(np.asarray(subset["bins"]).size)
    m = rows.size
    i = rng.integers(0, m, n_pairs)
    j = rng.integers(0, m - 1, n_pairs)
    j += j >= i
    a, b = np.minimum(rows[i], rows[j]), np.maximum(rows[i], rows[j])
    flat = a * size - a * (a + 1) // 2 + (b - a - 1)
    return np.asarray(subset["gram"], dtype=np.float64)[flat]


def bin_pair_similarities(similarities: dict[str, np.ndarray]) -> pd.DataFrame:
    """Dataset -> similarities as histogram rows (``dataset``, ``bin_low``, ``bin_high``,
    ``pairs``) over ``PAIR_EDGES``, empty bins left out."""
    frames = []
    for name, values in similarities.items():
        counts, _ = np.histogram(np.clip(values, -1.0, 1.0), bins=PAIR_EDGES)
        frames.append(
            pd.DataFrame(
                {
                    "dataset": name,
                    "bin_low": PAIR_EDGES[:-1],
                    "bin_high": PAIR_EDGES[1:],
                    "pairs": counts.astype(np.int64),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["dataset", "bin_low", "bin_high", "pairs"])
    out = pd.concat(frames, ignore_index=True)
    return out[out["pairs"] > 0].reset_index(drop=True)


def draw_matched_pair_histogram(
    sides: list[tuple[str, dict[str, dict], SelectionParams | None]],
    pair_counts: pd.Series,
    *,
    seed: int,
) -> PairHistogram:
    """Pairs per class from each side's subsets, the same number on both (Figure 6a).

    Args:
        sides: Two ``(name, subsets, params)``: subsets wnid -> subset arrays, params
            the side's selection (None: whole).
        pair_counts: wnid -> pairs to draw (``comparison.compute_matched_pair_counts``).
        seed: Seed, so the histogram does not move on every rerun.

    Returns:
        The binned similarities; a class counts only when both sides keep at least two
        of its subset rows.
    """
    rng = np.random.default_rng(seed)
    kept = {}
    for wnid in pair_counts.index:
        rows = []
        for _, subsets, params in sides:
            subset = subsets.get(wnid)
            rows.append(None if subset is None else select_subset_rows(subset, params))
        if all(r is not None and r.size >= 2 for r in rows):
            kept[wnid] = rows
    drawn: dict[str, list[np.ndarray]] = {name: [] for name, *_ in sides}
    for wnid, rows in kept.items():
        for (name, subsets, _), chosen in zip(sides, rows, strict=True):
            drawn[name].append(
                draw_subset_pairs(subsets[wnid], chosen, int(pair_counts[wnid]), rng)
            )
    values = {name: np.concatenate(v) if v else np.zeros(0) for name, v in drawn.items()}
    total = int(sum(int(pair_counts[w]) for w in kept))
    return PairHistogram(bin_pair_similarities(values), classes=len(kept), pairs_each=total)
