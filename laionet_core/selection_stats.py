"""Per-class sufficient statistics at every grid threshold, so a threshold move is a lookup.

A selection of a thresholded dataset keeps, in each class, the samples whose flags it
keeps (four combinations of the content-rule and multi-label filters) and whose similarity bin
is at least ``k + 1`` for grid threshold ``k`` (``selection``: ``s > grid[k]`` exactly
when ``bin > k``). Within one class and flag combination, sorting the rows by bin
(descending) makes every selection a prefix, and the selection only changes at bins
that hold a row. ``compute_class_stats`` stores, for each such bin ``b`` (the selection
``bin >= b``), the scalars every threshold-dependent metric needs; the app evaluates a
move in O(classes) with ``evaluate_metric_rows``.

Intra-class similarity (``metrics``) with ``n`` rows ``x_i``, their sum ``S``, squared
norms ``q_i`` and projections ``p_i = x_i.S``:

* mean ``(||S||^2 - sum q) / (n (n - 1))``;
* ``h_i = (p_i - q_i) / (n - 1)``, so ``zeta1 = var(h)`` needs ``sum p^2``,
  ``sum p q``, ``sum q`` and ``sum q^2``. ``p_i`` depends on the selection's ``S``, so
  those sums are computed per stored bin, by one product of the class's rows with the
  cumulative sums (rows x bins x D flops);
* ``zeta2`` (variance of one pair's similarity): exact, from all pairs, for selections
  of at most ``SUBSET_ROWS`` rows (``metrics.compute_intra_class_similarity`` is exact
  up to its ``zeta2_rows``); larger ones use the pairs of a fixed random subset of
  ``SUBSET_ROWS`` rows of the class that the selection keeps, a random subsample of it
  (the class's whole subset when it keeps fewer than ``ZETA2_MIN_ROWS``). zeta2 weighs
  a few percent of the variance at n = 128 and less beyond.

Image-to-synset similarity keeps count, sum and sum of squares of the finite values
(Student-t interval, as ``stats.compute_class_means``); zero-shot recall keeps the
counts of rows whose true class ranks below 1 and 5 (Wilson interval). Every statistic
is over the embedded rows, as the live computation is. ``selection_sums`` computes the
rows (precompute); this module evaluates them (the app).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from laionet_core.selection import N_BINS, SelectionParams, threshold_index
from laionet_core.stats import DEFAULT_CONFIDENCE, compute_normal_quantile, compute_wilson_interval

# Filter combinations (drop filtered, drop multi-label), in the order their codes use:
# ``SelectionParams.drop_nsfw`` drops the rows the content rules flag (``filtered``).
FLAG_COMBOS = ((False, False), (False, True), (True, False), (True, True))
# Rows per class whose pair similarities give zeta2 and Figure 6a's pairs: 128 rows give
# 8,128 distinct pairs (Figure 6a draws at most 1,225 per class) in 64 KiB per class.
SUBSET_ROWS = 128
# A selection keeping fewer subset rows than this (and fewer than its own size) takes
# zeta2 from the class's whole subset instead: 16 rows are 120 distinct pairs.
ZETA2_MIN_ROWS = 16
# Columns of the stored statistics, after dataset, wnid, combo and min_bin.
STAT_COLUMNS = (
    "n",
    "sum_sq",
    "sum_sq2",
    "s_norm2",
    "sum_p2",
    "sum_pq",
    "zeta2_n",
    "zeta2_sum",
    "zeta2_sum2",
    "image_n",
    "image_sum",
    "image_sum2",
    "correct_1",
    "correct_5",
)


def compute_combo(params: SelectionParams) -> int:
    """Code of a selection's filter combination (index into ``FLAG_COMBOS``)."""
    return FLAG_COMBOS.index((bool(params.drop_nsfw), bool(params.drop_multi_label)))


@dataclass(frozen=True)
class SelectionStats:
    """One dataset's statistics as dense arrays, for lookups at any grid threshold.

    Attributes:
        wnids: (C,) classes with at least one embedded row, sorted.
        values: Column name -> (R,) float64 values of the stored rows.
        lookup: (4, C, N_BINS + 1) int64: for combination, class and bin ``b``, the row
            of the smallest stored ``min_bin >= b`` (the selection ``bin >= b``), or -1.
    """

    wnids: np.ndarray
    values: dict[str, np.ndarray]
    lookup: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.lookup.nbytes + sum(v.nbytes for v in self.values.values()))


def build_selection_stats(rows: pd.DataFrame) -> SelectionStats:
    """Dense lookups from stored rows (``wnid``, ``combo``, ``min_bin``, ``STAT_COLUMNS``)."""
    wnids, codes = np.unique(rows["wnid"].to_numpy().astype(str), return_inverse=True)
    combo = rows["combo"].to_numpy(np.int64)
    bins = rows["min_bin"].to_numpy(np.int64)
    width = N_BINS + 1
    present = np.full((len(FLAG_COMBOS), wnids.size, width), -1, dtype=np.int64)
    present[combo, codes, bins] = np.arange(len(rows))
    # Nearest stored bin at or above b: a reverse running minimum over positions.
    positions = np.where(present >= 0, np.arange(width), width)
    nearest = np.minimum.accumulate(positions[..., ::-1], axis=-1)[..., ::-1]
    found = nearest < width
    lookup = np.where(
        found,
        np.take_along_axis(present, np.minimum(nearest, width - 1), axis=-1),
        -1,
    )
    values = {c: rows[c].to_numpy(np.float64) for c in STAT_COLUMNS}
    return SelectionStats(wnids=wnids, values=values, lookup=lookup)


def _pick(stats: SelectionStats, rows: np.ndarray, column: str) -> np.ndarray:
    return np.where(rows >= 0, stats.values[column][np.maximum(rows, 0)], 0.0)


def compute_selection_rows(stats: SelectionStats, params: SelectionParams | None) -> np.ndarray:
    """(C,) stored row of each class's selection under ``params`` (-1: nothing kept);
    None selects every embedded row."""
    if params is None:
        return stats.lookup[0, :, 0]
    return stats.lookup[compute_combo(params), :, threshold_index(params.threshold) + 1]


def count_selected_rows(stats: SelectionStats, params: SelectionParams | None) -> pd.Series:
    """Embedded rows per class that ``params`` keeps (wnid -> count, kept classes only)."""
    rows = compute_selection_rows(stats, params)
    n = _pick(stats, rows, "n").astype(np.int64)
    return pd.Series(n[rows >= 0], index=stats.wnids[rows >= 0])


def _zeta2(stats: SelectionStats, rows: np.ndarray, whole: np.ndarray) -> np.ndarray:
    n = _pick(stats, rows, "n")
    r = _pick(stats, rows, "zeta2_n")
    short = r < np.minimum(n, ZETA2_MIN_ROWS)
    use = np.where(short, whole, rows)
    r = _pick(stats, use, "zeta2_n")
    pairs = r * (r - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = _pick(stats, use, "zeta2_sum") / pairs
        second = _pick(stats, use, "zeta2_sum2") / pairs
    return np.where(pairs > 0, np.maximum(second - mean * mean, 0.0), np.nan)


def _intra(stats: SelectionStats, rows: np.ndarray, whole: np.ndarray, z: float) -> tuple:
    n = _pick(stats, rows, "n")
    sq, norm2 = _pick(stats, rows, "sum_sq"), _pick(stats, rows, "s_norm2")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n >= 2, (norm2 - sq) / (n * (n - 1)), np.nan)
        h_sum = (norm2 - sq) / (n - 1)
        h_sq = (
            _pick(stats, rows, "sum_p2")
            - 2 * _pick(stats, rows, "sum_pq")
            + _pick(stats, rows, "sum_sq2")
        ) / (n - 1) ** 2
        zeta1 = np.maximum(h_sq - h_sum * h_sum / n, 0.0) / (n - 1)
        var = (4.0 * (n - 2) * zeta1 + 2.0 * _zeta2(stats, rows, whole)) / (n * (n - 1))
    se = np.where(n >= 3, np.sqrt(var), np.nan)
    return n, mean, mean - z * se, mean + z * se


def _image(stats: SelectionStats, rows: np.ndarray, confidence: float) -> tuple:
    n = _pick(stats, rows, "image_n")
    total, total2 = _pick(stats, rows, "image_sum"), _pick(stats, rows, "image_sum2")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        dev2 = np.maximum(total2 - total * mean, 0.0)
        se = np.where(n >= 2, np.sqrt(dev2 / (n - 1.0) / n), np.nan)
        tq = stdtrit(np.maximum(n - 1.0, 1.0), 0.5 + confidence / 2.0)  # Student's t quantile
    return n, mean, mean - tq * se, mean + tq * se


def evaluate_metric_rows(
    stats: SelectionStats,
    params: SelectionParams,
    dataset: str,
    *,
    metrics: tuple[str, str, str, str],
    confidence: float = DEFAULT_CONFIDENCE,
) -> pd.DataFrame:
    """class_metrics rows of one selection, from the statistics alone (O(classes)).

    Args:
        stats: ``build_selection_stats`` of the dataset.
        params: The selection (threshold on the grid, filters).
        dataset: Name written into the rows.
        metrics: Names of intra-class similarity, image-to-synset similarity and
            zero-shot recall@1 and @5, in that order (``comparison.METRICS``).
        confidence: Two-sided level of every interval.

    Returns:
        Rows ``dataset, threshold, wnid, metric, n, value, ci_low, ci_high`` for every
        class the selection keeps an embedded row of, as
        ``comparison.compute_class_metric_rows``.
    """
    z = compute_normal_quantile(confidence)
    rows = compute_selection_rows(stats, params)
    whole = stats.lookup[compute_combo(params), :, 0]
    present = rows >= 0
    rows, whole, wnids = rows[present], whole[present], stats.wnids[present]
    n = _pick(stats, rows, "n")
    parts = [_intra(stats, rows, whole, z), _image(stats, rows, confidence)]
    for column in ("correct_1", "correct_5"):
        hits = _pick(stats, rows, column)
        low, high = compute_wilson_interval(hits, n, confidence=confidence)
        with np.errstate(invalid="ignore", divide="ignore"):
            parts.append((n, hits / n, low, high))
    frames = [
        pd.DataFrame(
            {
                "dataset": dataset,
                "threshold": params.threshold,
                "wnid": wnids,
                "metric": metric,
                "n": count.astype(np.int64),
                "value": value,
                "ci_low": low,
                "ci_high": high,
            }
        )
        for metric, (count, value, low, high) in zip(metrics, parts, strict=True)
    ]
    return pd.concat(frames, ignore_index=True)
