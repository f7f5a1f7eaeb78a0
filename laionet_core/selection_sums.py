"""Computing ``selection_stats``' rows from one class's rows (the precompute side).

``laionet_core.selection_stats`` describes the statistics and evaluates them; this
module computes them: per class, one sort by bin, one ``reduceat`` and one product of
the rows with every stored selection's sum, shared by the four filter combinations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laionet_core.selection_stats import FLAG_COMBOS, SUBSET_ROWS


def _kept(combo: int, filtered: np.ndarray, multi: np.ndarray) -> np.ndarray:
    drop_filtered, drop_multi = FLAG_COMBOS[combo]
    return ~((filtered & drop_filtered) | (multi & drop_multi))


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
    sub_keep = subset[_kept(combo, rows.sample_filtered[subset], rows.sample_multi[subset])]
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
        self.sample_filtered = sample["filtered"].to_numpy(bool)
        self.sample_multi = sample["multi_label"].to_numpy(bool)
        group = self.sample_filtered * 2 + self.sample_multi
        order = np.lexsort((group, -self.sample_bins))
        self.x = x[order]
        self.bins, group = self.sample_bins[order], group[order]
        self.q = np.einsum("ij,ij->i", self.x, self.x, dtype=np.float64)
        image = sample["image_similarity"].to_numpy(np.float64)[order]
        self.finite = np.isfinite(image)
        self.image = np.where(self.finite, image, 0.0)
        self.rank = sample["rank"].to_numpy(np.int64)[order]
        filtered, multi = group >= 2, (group % 2) == 1
        self.kept = [_kept(c, filtered, multi) for c in range(len(FLAG_COMBOS))]
        runs = np.flatnonzero(
            np.r_[True, (self.bins[1:] != self.bins[:-1]) | (group[1:] != group[:-1])]
        )
        run_sums = np.add.reduceat(self.x, runs, axis=0, dtype=np.float64)
        self.columns, sums, ends, masks = [], [], [], []
        for c in range(len(FLAG_COMBOS)):
            kept_runs = runs[self.kept[c][runs]]
            run_bins = self.bins[kept_runs]
            firsts = np.flatnonzero(np.r_[True, run_bins[1:] != run_bins[:-1]])
            firsts = firsts[: kept_runs.size]  # none when the combination keeps no row
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
            ``filtered`` (the content rules drop it) and ``multi_label`` (bool),
            ``image_similarity`` (float, NaN allowed), ``rank`` (classes scoring above
            the true class, zero-shot).
        class_code: The class's index, seeding its subset.
        seed: Seed of the subset.

    Returns:
        ``(stats, subset)``: stats has ``combo``, ``min_bin`` and ``STAT_COLUMNS`` (one
        row per combination and stored bin); subset has ``bins``, ``filtered``,
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
        "filtered": sample["filtered"].to_numpy(bool)[subset],
        "multi_label": sample["multi_label"].to_numpy(bool)[subset],
        "gram": gram[upper].astype(np.float32),
    }
    stats = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return stats, chosen
