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


@dataclass(frozen=True)
class SubsetArrays:
    """Every class's subset of one dataset in flat arrays (``build_subset_arrays``).

    Attributes:
        wnids: (C,) classes, sorted.
        starts: (C + 1,) rows of class c are ``starts[c]:starts[c + 1]``.
        bins, filtered, multi_label: (R,) each subset row's bin and flags.
        gram_starts: (C,) where each class's upper triangle starts in ``gram``.
        gram: (P,) float32 pair similarities, class by class.
    """

    wnids: np.ndarray
    starts: np.ndarray
    bins: np.ndarray
    filtered: np.ndarray
    multi_label: np.ndarray
    gram_starts: np.ndarray
    gram: np.ndarray


def build_subset_arrays(subsets: dict[str, dict]) -> SubsetArrays:
    """Flat arrays of ``queries_stats.read_selection_subsets``' per-class subsets."""
    wnids = np.array(sorted(subsets), dtype=object)
    parts = [subsets[w] for w in wnids]
    sizes = np.array([np.asarray(p["bins"]).size for p in parts], dtype=np.int64)
    grams = np.array([np.asarray(p["gram"]).size for p in parts], dtype=np.int64)

    def flat(key: str, dtype: type) -> np.ndarray:
        return np.concatenate([np.asarray(p[key], dtype) for p in parts]) if parts else np.zeros(0)

    return SubsetArrays(
        wnids=wnids,
        starts=np.concatenate([[0], np.cumsum(sizes)]),
        bins=flat("bins", np.int64),
        filtered=flat("filtered", bool),
        multi_label=flat("multi_label", bool),
        gram_starts=np.concatenate([[0], np.cumsum(grams)[:-1]]) if parts else grams,
        gram=flat("gram", np.float32),
    )


def _kept_rows(arrays: SubsetArrays, params: SelectionParams | None) -> np.ndarray:
    """(R,) bool: the subset rows ``params`` keeps (all when None)."""
    keep = np.ones(arrays.bins.size, dtype=bool)
    if params is None:
        return keep
    keep &= arrays.bins >= threshold_index(params.threshold) + 1
    if params.drop_nsfw:
        keep &= ~arrays.filtered.astype(bool)
    if params.drop_multi_label:
        keep &= ~arrays.multi_label.astype(bool)
    return keep


def draw_pair_similarities(
    arrays: SubsetArrays,
    params: SelectionParams | None,
    pair_counts: pd.Series,
    rng: np.random.Generator,
) -> np.ndarray:
    """Similarities of random distinct pairs (with replacement) among the subset rows
    ``params`` keeps, ``pair_counts[wnid]`` for each class, class after class.

    Every class of ``pair_counts`` must keep at least two subset rows.
    """
    classes = pd.Index(arrays.wnids).get_indexer(pair_counts.index)
    counts = pair_counts.to_numpy(np.int64)
    keep = _kept_rows(arrays, params)
    kept = np.flatnonzero(keep)  # kept rows, grouped by class in class order
    per_class = np.add.reduceat(keep, arrays.starts[:-1]) if keep.size else np.zeros(0, int)
    first = np.concatenate([[0], np.cumsum(per_class)])[classes]
    m = np.repeat(per_class[classes], counts)
    i = rng.integers(0, m)
    j = rng.integers(0, m - 1)
    j += j >= i
    base = np.repeat(first, counts)
    c = np.repeat(classes, counts)
    local_i = kept[base + i] - arrays.starts[c]
    local_j = kept[base + j] - arrays.starts[c]
    a, b = np.minimum(local_i, local_j), np.maximum(local_i, local_j)
    size = arrays.starts[c + 1] - arrays.starts[c]
    flat = arrays.gram_starts[c] + a * size - a * (a + 1) // 2 + (b - a - 1)
    return arrays.gram[flat].astype(np.float64)


def _kept_counts(arrays: SubsetArrays, params: SelectionParams | None) -> pd.Series:
    keep = _kept_rows(arrays, params)
    counts = np.add.reduceat(keep, arrays.starts[:-1]) if keep.size else np.zeros(0, int)
    return pd.Series(counts, index=arrays.wnids)


def draw_matched_pair_histogram(
    sides: list[tuple[str, SubsetArrays, SelectionParams | None]],
    pair_counts: pd.Series,
    *,
    seed: int,
) -> PairHistogram:
    """Pairs per class from each side's subsets, the same number on both (Figure 6a).

    Args:
        sides: Two ``(name, subset arrays, params)``: params the side's selection (None:
            whole).
        pair_counts: wnid -> pairs to draw (``comparison.compute_matched_pair_counts``).
        seed: Seed, so the histogram does not move on every rerun.

    Returns:
        The binned similarities; a class counts only when both sides keep at least two
        of its subset rows.
    """
    rng = np.random.default_rng(seed)
    ok = pd.Series(True, index=pair_counts.index)
    for _, arrays, params in sides:
        ok &= _kept_counts(arrays, params).reindex(pair_counts.index).fillna(0) >= 2
    chosen = pair_counts[ok]
    values = {
        name: draw_pair_similarities(arrays, params, chosen, rng) for name, arrays, params in sides
    }
    return PairHistogram(
        bin_pair_similarities(values), classes=int(chosen.size), pairs_each=int(chosen.sum())
    )
