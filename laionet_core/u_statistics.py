"""Intra-class U-statistics for every class at once (the arithmetic behind ``metrics``).

``metrics.compute_intra_class_similarity`` documents the estimator. Here the work is
arranged so that its cost is the arithmetic, not one Python round per class:

* rows are gathered in class order, in groups of whole classes of at most
  ``BLOCK_ROWS`` rows (a few MiB, so each group is read from memory once and then worked
  on in cache); a class larger than that is a group of its own, and one larger than
  ``chunk_rows`` is read twice in chunks of that many rows (sums first, projections next),
  so memory stays bounded;
* per group: row norms ``sq``, class sums ``s`` (float64), projections ``x_i.s_c``, and
  from them the means and ``zeta1`` of all its classes with ``np.bincount``;
* ``zeta2`` from Gram matrices batched by size: classes whose zeta2 rows number m share
  one ``(count, m, D) @ (count, D, m)`` product, in batches of at most
  ``GRAM_BATCH_BYTES``.

Groups and Gram batches are spread over ``workers`` threads (numpy releases the GIL),
each with its own buffers; every class's numbers are computed the same way in any
thread, so the results do not depend on it.

Class sums are one ``np.sum`` per class over rows already in cache: ``np.add.reduceat``
along rows measured six times slower (it walks each column with a stride).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Rows of whole classes gathered at once: 1,024 x 512 float32 = 2 MiB, stays in cache.
# Gathering class by class cost a Python round per class; one buffer of 65,536 rows
# left cache between the passes over it (measured 30% slower than 1,024).
BLOCK_ROWS = 1_024
# Rows gathered for one batched Gram product, in bytes as float64 (the products add m/D
# of that): 1,024 rows of 512, so they stay in cache (64 MiB measured 30% slower).
GRAM_BATCH_BYTES = 4 << 20

# float16 -> float32 by table lookup (every float16 bit pattern, 256 KiB): numpy's own
# half-precision cast is about twice as slow, and it was the largest cost at 880k x 512.
with np.errstate(invalid="ignore"):
    _HALF_TO_SINGLE = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)


def select_working_dtype(x: np.ndarray) -> type:
    """float64 for float64 input; float32 for float16/32 (products exact for float16)."""
    return np.float32 if x.dtype in (np.float16, np.float32) else np.float64


class _RowBuffers(threading.local):
    """Per-thread buffers that rows are gathered and widened into, reused across groups.

    A fresh multi-megabyte array per group is a fresh mmap and a page fault per 4 KiB
    page. float64 input is worked in float64; float16 and float32 input in float32
    (every sum over rows is accumulated in float64), about 1e-7 relative error.
    """

    def __init__(self, capacity: int, x: np.ndarray) -> None:
        self.capacity, self.width = capacity, x.shape[1]
        self.half = x.dtype == np.float16
        self.dtype = select_working_dtype(x)

    def load(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``x[rows]`` in the working precision, a view valid until the next call."""
        m = rows.size
        if not hasattr(self, "wide"):  # first use in this thread
            self.bits = np.empty((self.capacity, self.width), np.uint16) if self.half else None
            self.wide = np.empty((self.capacity, self.width), self.dtype)
        if self.half:
            np.take(x.view(np.uint16), rows, axis=0, out=self.bits[:m], mode="clip")
            return np.take(_HALF_TO_SINGLE, self.bits[:m], out=self.wide[:m], mode="clip")
        if x.dtype == self.dtype:
            return np.take(x, rows, axis=0, out=self.wide[:m], mode="clip")
        self.wide[:m] = x[rows]
        return self.wide[:m]


def _list_groups(n: np.ndarray, block: int) -> list[np.ndarray]:
    """Consecutive classes packed into groups of at most ``block`` rows (or one class)."""
    groups, current, rows = [], [], 0
    for c in range(n.size):
        if current and rows + n[c] > block:
            groups.append(np.array(current))
            current, rows = [], 0
        current.append(c)
        rows += int(n[c])
    if current:
        groups.append(np.array(current))
    return groups


def _group_sums(
    x: np.ndarray, rows: np.ndarray, local: np.ndarray, chunk: int, buffers: _RowBuffers
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class sums (G, D) float64, and ``sq`` and ``proj`` (M,) float64, of one group.

    ``rows`` are the group's rows in class order; ``local`` (G + 1,) their class bounds.
    """
    s = np.zeros((local.size - 1, x.shape[1]))
    if rows.size <= chunk:  # one read: sums, then projections on rows still in cache
        xc = buffers.load(x, rows)
        sq = np.einsum("ij,ij->i", xc, xc).astype(np.float64)
        for g in range(local.size - 1):
            np.sum(xc[local[g] : local[g + 1]], axis=0, dtype=np.float64, out=s[g])
        if s.shape[0] == 1:
            proj = np.einsum("ij,j->i", xc, s[0].astype(xc.dtype))
        else:
            per_row = np.repeat(s.astype(xc.dtype), np.diff(local), axis=0)
            proj = np.einsum("ij,ij->i", xc, per_row)
        return s, sq, proj.astype(np.float64)
    # One class above ``chunk`` rows: two passes over chunks so memory stays bounded.
    sq, proj = np.empty(rows.size), np.empty(rows.size)
    for a in range(0, rows.size, chunk):
        xc = buffers.load(x, rows[a : a + chunk])
        sq[a : a + xc.shape[0]] = np.einsum("ij,ij->i", xc, xc)
        s[0] += xc.sum(axis=0, dtype=np.float64)
    for a in range(0, rows.size, chunk):
        xc = buffers.load(x, rows[a : a + chunk])
        proj[a : a + xc.shape[0]] = np.einsum("ij,j->i", xc, s[0].astype(xc.dtype))
    return s, sq, proj


def _group_moments(
    x: np.ndarray, rows: np.ndarray, local: np.ndarray, chunk: int, buffers: _RowBuffers
) -> tuple[np.ndarray, np.ndarray]:
    """Means and zeta1 (G,) of a group's classes (NaN zeta1 for n < 3).

    Raises:
        ValueError: a row is not finite (the message names it).
    """
    s, sq, proj = _group_sums(x, rows, local, chunk, buffers)
    if not np.isfinite(sq).all():
        bad = int(rows[np.flatnonzero(~np.isfinite(sq))[0]])
        raise ValueError(f"embeddings row {bad} is not finite (NaN or inf)")
    n = np.diff(local).astype(np.float64)
    cls = np.repeat(np.arange(n.size), np.diff(local))
    sq_sum = np.bincount(cls, sq, minlength=n.size)
    mean = (np.einsum("ij,ij->i", s, s) - sq_sum) / (n * (n - 1))
    h = (proj - sq) / (n - 1)[cls]
    dev = h - (np.bincount(cls, h, minlength=n.size) / n)[cls]  # two passes: no cancellation
    with np.errstate(invalid="ignore", divide="ignore"):
        zeta1 = np.where(n >= 3, np.bincount(cls, dev * dev, minlength=n.size) / (n - 1), np.nan)
    return mean, zeta1


def _zeta2_rows(
    order: np.ndarray, starts: np.ndarray, c: int, zeta2_rows: int, seed: int
) -> np.ndarray:
    """The rows whose Gram matrix gives class ``c``'s zeta2: all, or a seeded draw."""
    rows = order[starts[c] : starts[c + 1]]
    if rows.size <= zeta2_rows:
        return rows
    rng = np.random.default_rng([seed, c])  # per class: the same rows in any order
    return np.sort(rng.choice(rows, size=zeta2_rows, replace=False))


def _batched_pair_variance(g: np.ndarray) -> np.ndarray:
    """(B,) variance (ddof 0) of the off-diagonal entries of each (m, m) Gram matrix."""
    m = g.shape[1]
    d = np.diagonal(g, axis1=1, axis2=2).astype(np.float64)
    pairs = m * (m - 1)
    mean = (g.sum(axis=(1, 2), dtype=np.float64) - d.sum(axis=1)) / pairs
    second = (np.einsum("bij,bij->b", g, g, dtype=np.float64) - (d * d).sum(axis=1)) / pairs
    return np.maximum(second - mean * mean, 0.0)


def _compute_zeta2(
    x: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    zeta2_rows: int,
    seed: int,
    workers: int,
) -> np.ndarray:
    """(K,) zeta2 of every class with n >= 3 (NaN otherwise), Grams batched by size."""
    n = np.diff(starts)
    zeta2 = np.full(n.size, np.nan)
    todo = np.flatnonzero(n >= 3)
    sub = np.minimum(n[todo], zeta2_rows)
    # Rows of one batch; the gathered rows (and the products, m/D of them) stay bounded.
    capacity = int(min(sub.sum(), max(zeta2_rows, GRAM_BATCH_BYTES // (max(x.shape[1], 1) * 8))))
    buffers = _RowBuffers(capacity, x)
    batches = []
    for m in np.unique(sub).tolist():
        classes = todo[sub == m]
        per_batch = max(1, capacity // m)
        batches += [classes[a : a + per_batch] for a in range(0, classes.size, per_batch)]

    def run(batch: np.ndarray) -> np.ndarray:
        rows = np.concatenate([_zeta2_rows(order, starts, c, zeta2_rows, seed) for c in batch])
        xs = buffers.load(x, rows).reshape(batch.size, -1, x.shape[1])
        return _batched_pair_variance(xs @ xs.transpose(0, 2, 1))

    for batch, values in zip(batches, _map(run, batches, workers), strict=True):
        zeta2[batch] = values
    return zeta2


def compute_class_u_statistics(
    x: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    *,
    zeta2_rows: int,
    seed: int,
    chunk_rows: int,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean pair similarity and its U-statistic variance of every class.

    Args:
        x: (N, D) float16/32/64 embeddings.
        order: Row positions in class order (``stats.compute_class_slices``).
        starts: (K + 1,) class bounds in ``order``; each class's rows ascending.
        zeta2_rows: Classes larger than this estimate zeta2 from this many rows:
            ``np.sort(numpy.random.default_rng([seed, c]).choice(rows, zeta2_rows,
            replace=False))``, c the class position and ``rows`` its rows.
        seed: Seed of those draws.
        chunk_rows: Most rows gathered at once (per thread).
        workers: Threads the groups of classes and the Gram batches are spread over.

    Returns:
        ``(mean, var)``, each (K,) float64: NaN mean for n < 2, NaN var for n < 3.

    Raises:
        ValueError: a row of a class of two or more is not finite (the message names it).
    """
    n = np.diff(starts)
    mean, zeta1 = np.full(n.size, np.nan), np.full(n.size, np.nan)
    live = np.flatnonzero(n >= 2)  # classes of one row have no pair: their rows are skipped
    live_order = order[np.repeat(n >= 2, n)]
    live_starts = np.concatenate([[0], np.cumsum(n[live])])
    block = max(1, min(BLOCK_ROWS, int(chunk_rows)))
    buffers = _RowBuffers(int(min(max(n.max(initial=0), block), chunk_rows)), x)
    groups = _list_groups(n[live], block)

    def run(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = live_order[live_starts[classes[0]] : live_starts[classes[-1] + 1]]
        local = live_starts[classes[0] : classes[-1] + 2] - live_starts[classes[0]]
        return _group_moments(x, rows, local, int(chunk_rows), buffers)

    for classes, (m, z) in zip(groups, _map(run, groups, workers), strict=True):
        mean[live[classes]], zeta1[live[classes]] = m, z
    zeta2 = _compute_zeta2(x, order, starts, int(zeta2_rows), seed, workers)
    with np.errstate(invalid="ignore"):
        var = (4.0 * (n - 2) * zeta1 + 2.0 * zeta2) / (n * (n - 1))
    return mean, var


def _map(run: Callable, items: list, workers: int) -> Iterable:
    """``map(run, items)``, over ``workers`` threads when that is more than one."""
    if int(workers) > 1 and len(items) > 1:
        with ThreadPoolExecutor(max_workers=int(workers)) as pool:
            return list(pool.map(run, items))
    return [run(item) for item in items]
