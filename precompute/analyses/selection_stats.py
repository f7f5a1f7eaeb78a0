"""Selection statistics of one dataset into ``selection_stats`` (``laionet_core.selection_stats``).

Run by ``python -m precompute metrics`` (and wherever a dataset's class metrics are
written) for every dataset with image embeddings. Classes are read in batches of about
``BATCH_ROWS`` embedded rows, so memory is bounded by a batch, not by the dataset.
"""

from __future__ import annotations

import logging
import time

import duckdb
import numpy as np
import pandas as pd

from laionet_core import queries, schema
from laionet_core.queries_lab import (
    LAB_MAX_CANDIDATES,
    compute_draw_cut,
    read_lab_candidates,
)
from laionet_core.queries_stats import read_embedded_class_counts, read_embedded_rows
from laionet_core.ranking import compute_true_class_ranks
from laionet_core.selection import compute_similarity_bins
from laionet_core.selection_sums import compute_class_stats
from laionet_core.storage_selection import write_lab_candidates, write_selection_stats
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT

logger = logging.getLogger(__name__)

# Embedded rows read at once: 131,072 x 512 float32 = 256 MiB (plus the per-class work).
BATCH_ROWS = 131_072


def _class_batches(counts: pd.Series) -> list[tuple[str, str]]:
    """(first, last) wnid ranges of consecutive classes holding about BATCH_ROWS rows."""
    batches, first, total = [], None, 0
    for wnid, n in counts.items():
        first = wnid if first is None else first
        total += int(n)
        if total >= BATCH_ROWS:
            batches.append((first, wnid))
            first, total = None, 0
    if first is not None:
        batches.append((first, counts.index[-1]))
    return batches


def write_dataset_selection_stats(con: duckdb.DuckDBPyConnection, dataset: str) -> int:
    """Compute and replace one dataset's selection statistics.

    Args:
        con: A writable connection.
        dataset: A dataset of the database.

    Returns:
        The number of statistics rows written (0 without image embeddings).

    Raises:
        ValueError: Unknown dataset, or its encoder has no synset embeddings.
    """
    info = queries.read_dataset_info(con, dataset)
    if info is None:
        raise ValueError(f"no dataset {dataset!r} in the database")
    counts = read_embedded_class_counts(con, dataset)
    if counts.empty:
        write_selection_stats(con, dataset, pd.DataFrame(), {})
        con.execute(f"DELETE FROM {schema.LAB_CANDIDATES} WHERE dataset = ?", [dataset])
        return 0
    fmt = queries.read_meta(con).get("synset_format", DEFAULT_SYNSET_TEXT_FORMAT)
    synset_wnids, synsets = queries.read_synset_embeddings(con, info["encoder"], fmt)
    if not synset_wnids:
        raise ValueError(
            f"no synset embeddings for encoder {info['encoder']!r} and format {fmt!r} "
            f"(dataset {dataset!r})"
        )
    codes = {w: i for i, w in enumerate(synset_wnids)}
    started = time.perf_counter()
    parts, subsets = [], {}
    for first, last in _class_batches(counts):
        rows, x = read_embedded_rows(con, dataset, first, last)
        _, rank = compute_true_class_ranks(x, rows["wnid"], synsets, synset_wnids)
        sample = rows.assign(
            bin=compute_similarity_bins(rows["text_similarity"].to_numpy(np.float64)),
            rank=rank,
            filtered=rows["filtered"].fillna(False).astype(bool),
        )
        labels = sample["wnid"].to_numpy()
        bounds = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            wnid = str(labels[a])
            stats, subset = compute_class_stats(
                x[a:b], sample.iloc[a:b], class_code=codes.get(wnid, -1) + 1
            )
            parts.append(stats.assign(wnid=wnid))
            subsets[wnid] = subset
    stats = pd.concat(parts, ignore_index=True)
    write_selection_stats(con, dataset, stats, subsets)
    if info["kind"] == schema.KIND_TEXT_SELECTED:
        write_dataset_lab_candidates(con, dataset, synsets, synset_wnids)
    logger.info(
        "%s: %d selection statistics rows over %d classes in %.1f s",
        dataset,
        len(stats),
        len(subsets),
        time.perf_counter() - started,
    )
    return len(stats)


def write_dataset_lab_candidates(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    synsets: np.ndarray,
    synset_wnids: list[str],
    *,
    seed: int = 0,
) -> int:
    """Store the selection lab's candidates of ``dataset`` with their true-class ranks,
    so the lab opens without the join over every sample and the ranking (about 3 s at
    LAIONet's scale).

    Returns:
        The number of candidates stored.
    """
    pool = read_lab_candidates(con, dataset, seed=seed)
    ranks = np.zeros(0, np.int64)
    if len(pool.rows):
        _, ranks = compute_true_class_ranks(
            pool.embeddings, pool.rows["wnid"].to_numpy(), synsets, synset_wnids
        )
    cut = compute_draw_cut(pool.embedded, LAB_MAX_CANDIDATES)
    write_lab_candidates(con, dataset, pool, ranks, draw_cut=cut, draw_seed=seed)
    return len(pool.rows)
