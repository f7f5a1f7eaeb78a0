"""Per-class sufficient statistics at every grid threshold, so a threshold move is a lookup.

A selection of a thresholded dataset keeps, in each class, the samples whose flags it
keeps (four combinations of the NSFW and multi-label filters) and whose similarity bin
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
is over the embedded rows, as the live computation is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from laionet_core.selection import N_BINS, SelectionParams, threshold_index
from laionet_core.stats import DEFAULT_CONFIDENCE, compute_normal_quantile, compute_wilson_interval

# Filter combinations (drop_nsfw, drop_multi_label), in the order their codes use.
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


def _kept(combo: int, nsfw: np.ndarray, multi: np.ndarray) -> np.ndarray:
    drop_nsfw, drop_multi = FLAG_COMBOS[combo]
    return ~((nsfw & drop_nsfw) | (multi & drop_multi))


def select_subset(n_rows: int, class_code: int, *, seed: int = 0) -> np.ndarray:
    """Positions of a class's zeta2 subset: ``SUBSET_ROWS`` random rows, sorted (or all)."""
    if n_rows <= SUBSET_ROWS:
        return np.arange(n_rows)
    rng = np.random.default_rng([seed, class_code])
    return np.sort(rng.choice(n_rows, size=SUBSET_ROWS, replace=False))


def _prefix_pair_sums(gram: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums of off-diagonal entries and their squares over each leading ``r x r`` block."""
    g = gram.copy()
    np.fill_diagonal(g, 0.0)
    first = np.cumsum(np.cumsum(g, axis=0), axis=1)
    second = np.cumsum(np.cumsum(g * g, axis=0), axis=1)
    r = np.asarray(counts, dtype=np.int64)
    safe = np.maximum(r - 1, 0)
    s1 = np.where(r > 0, first[safe, safe] if g.size else 0.0, 0.0)
    s2 = np.where(r > 0, second[safe, safe] if g.size else 0.0, 0.0)
    return s1, s2


def _combo_rows(
    rows: _SortedClass, subset: np.ndarray, gram: np.ndarray, combo: int
) -> dict[str, np.ndarray] | None:
    """The statistics of one class and flag combination at each bin that holds a row."""
    keep = rows.kept[combo]
    idx = np.flatnonzero(keep)  # the combination's rows, bin descending
    if idx.size == 0:
        return None
    kept_bins = rows.bins[idx]
    starts = np.flatnonzero(np.r_[True, kept_bins[1:] != kept_bins[:-1]])
    ends = np.r_[starts[1:], idx.size]  # prefix lengths m_j among the kept rows
    columns = rows.columns[combo]
    last = ends - 1

    def prefix(values: np.ndarray) -> np.ndarray:
        return np.cumsum(values[idx])[last]

    q, image, finite = rows.q, rows.image, rows.finite
    # The subset rows this combination keeps, by bin descending: each selection a prefix.
    sub_keep = subset[_kept(combo, rows.sample_nsfw[subset], rows.sample_multi[subset])]
    sub_order = np.argsort(-rows.sample_bins[sub_keep], kind="stable")
    sub_pos = np.searchsorted(subset, sub_keep[sub_order])
    sub_bins = rows.sample_bins[sub_keep[sub_order]]
    r = np.searchsorted(-sub_bins, -kept_bins[starts], side="right")
    z1, z2 = _prefix_pair_sums(gram[np.ix_(sub_pos, sub_pos)], r)
    # Selections of at most SUBSET_ROWS rows: zeta2 from all their pairs (exact).
    top = rows.x[idx[:SUBSET_ROWS]].astype(np.float64)
    small = ends <= SUBSET_ROWS
    e1, e2 = _prefix_pair_sums(top @ top.T, np.where(small, ends, 0))
    return {
        "min_bin": kept_bins[starts],
        "n": ends,
        "sum_sq": prefix(q),
        "sum_sq2": prefix(q * q),
        "s_norm2": np.einsum("ij,ij->i", rows.sums[columns], rows.sums[columns]),
        "sum_p2": rows.sum_p2[columns],
        "sum_pq": rows.sum_pq[columns],
        "zeta2_n": np.where(small, ends, r),
        "zeta2_sum": np.where(small, e1, z1),
        "zeta2_sum2": np.where(small, e2, z2),
        "image_n": prefix(finite),
        "image_sum": prefix(image),
        "image_sum2": prefix(image * image),
        "correct_1": prefix(rows.rank < 1),
        "correct_5": prefix(rows.rank < 5),
    }


# Rows whose projections are masked and summed at once: 8,192 x (4 x 402) float32 = 52 MB.
PROJECTION_ROWS = 8_192


class _SortedClass:
    """One class's rows sorted by bin (descending), with what every combination shares:
    the cumulative sums of each combination's selections (one ``reduceat`` over runs of
    equal bin and flags) and, from one product of the rows with all of them, the sums
    of ``p^2`` and ``p q`` over each selection."""

    def __init__(self, x: np.ndarray, sample: pd.DataFrame) -> None:
        self.sample_bins = sample["bin"].to_numpy(np.int64)
        self.sample_nsfw = sample["nsfw"].to_numpy(bool)
        self.sample_multi = sample["multi_label"].to_numpy(bool)
        group = self.sample_nsfw * 2 + self.sample_multi
        order = np.lexsort((group, -self.sample_bins))
        self.x = x[order]
        self.bins, group = self.sample_bins[order], group[order]
        self.q = np.einsum("ij,ij->i", self.x, self.x, dtype=np.float64)
        image = sample["image_similarity"].to_numpy(np.float64)[order]
        self.finite = np.isfinite(image)
        self.image = np.where(self.finite, image, 0.0)
        self.rank = sample["rank"].to_numpy(np.int64)[order]
        nsfw, multi = group >= 2, (group % 2) == 1
        self.kept = [_kept(c, nsfw, multi) for c in range(len(FLAG_COMBOS))]
        runs = np.flatnonzero(
            np.r_[True, (self.bins[1:] != self.bins[:-1]) | (group[1:] != group[:-1])]
        )
        run_sums = np.add.reduceat(self.x, runs, axis=0, dtype=np.float64)
        self.columns, sums, ends, masks = [], [], [], []
        for c in range(len(FLAG_COMBOS)):
            kept_runs = runs[self.kept[c][runs]]
            run_bins = self.bins[kept_runs]
            firsts = np.flatnonzero(np.r_[True, run_bins[1:] != run_bins[:-1]])
            per_bin = (
                np.add.reduceat(run_sums[self.kept[c][runs]], firsts, axis=0)
                if firsts.size
                else np.zeros((0, x.shape[1]))
            )
            start = sum(len(v) for v in ends)
            self.columns.append(np.arange(start, start + firsts.size))
            sums.append(np.cumsum(per_bin, axis=0))
            # rows of any flags with bin >= the stored bin: a prefix of the sorted rows
            ends.append(np.searchsorted(-self.bins, -run_bins[firsts], side="right"))
            masks.append(np.full(firsts.size, c))
        self.sums = np.concatenate(sums) if sums else np.zeros((0, x.shape[1]))
        self._project(np.concatenate(ends), np.concatenate(masks))

    def _project(self, ends: np.ndarray, combos: np.ndarray) -> None:
        """``sum p^2`` and ``sum p q`` of every stored selection, in row chunks."""
        self.sum_p2 = np.zeros(ends.size)
        self.sum_pq = np.zeros(ends.size)
        if ends.size == 0:
            return
        s32 = self.sums.astype(self.x.dtype).T
        kept = np.stack(self.kept)  # (4, m): each combination's flags
        for a in range(0, self.x.shape[0], PROJECTION_ROWS):
            b = min(a + PROJECTION_ROWS, self.x.shape[0])
            inside = (np.arange(a, b)[:, None] < ends[None, :]) & kept[:, a:b][combos].T
            p = np.where(inside, self.x[a:b] @ s32, 0.0).astype(np.float64)
            self.sum_p2 += np.einsum("ij,ij->j", p, p)
            self.sum_pq += self.q[a:b] @ p


def compute_class_stats(
    x: np.ndarray, sample: pd.DataFrame, *, class_code: int, seed: int = 0
) -> tuple[pd.DataFrame, dict]:
    """Statistics of one class at every bin holding a row, for each flag combination.

    Args:
        x: (m, D) float32 L2-normalised image embeddings of the class's rows, in a
            canonical order (e.g. by sample id), so the subset is reproducible.
        sample: m rows, row-aligned: ``bin`` (``selection.compute_similarity_bins``),
            ``nsfw`` and ``multi_label`` (bool), ``image_similarity`` (float, NaN
            allowed), ``rank`` (classes scoring above the true class, zero-shot).
        class_code: The class's index, seeding its subset.
        seed: Seed of the subset.

    Returns:
        ``(stats, subset)``: stats has ``combo``, ``min_bin`` and ``STAT_COLUMNS`` (one
        row per combination and stored bin); subset has ``bins``, ``nsfw``,
        ``multi_label`` (the subset rows') and ``gram`` (the upper triangle, ``i < j``
        row by row, of their pair similarities, float32).
    """
    subset = select_subset(len(sample), class_code, seed=seed)
    xs = x[subset].astype(np.float64)
    gram = xs @ xs.T
    rows = _SortedClass(x, sample)
    parts = []
    for combo in range(len(FLAG_COMBOS)):
        found = _combo_rows(rows, subset, gram, combo)
        if found is not None:
            parts.append(pd.DataFrame({"combo": combo, **found}))
    upper = np.triu_indices(subset.size, k=1)
    chosen = {
        "bins": sample["bin"].to_numpy(np.int16)[subset],
        "nsfw": sample["nsfw"].to_numpy(bool)[subset],
        "multi_label": sample["multi_label"].to_numpy(bool)[subset],
        "gram": gram[upper].astype(np.float32),
    }
    stats = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return stats, chosen


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
        tq = sps.t.ppf(0.5 + confidence / 2.0, np.maximum(n - 1.0, 1.0))
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
