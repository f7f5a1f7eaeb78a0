"""Bulk rows of the paper-scale preset: Arrow tables, thumbnail pools, dataset writers.

Rows go into DuckDB through ``laionet_core.storage_arrow.insert_arrow`` with the column
names of ``laionet_core.schema``; the ``datasets`` row comes from
``laionet_core.storage.DatasetWriter``, which also applies the recorded recipe's content
rules (``samples.filtered``) and counts the histograms from the stored rows, as a build does.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from laionet_core import schema
from laionet_core.storage import DatasetInfo, DatasetWriter
from laionet_core.storage_arrow import build_embedding_array, insert_arrow
from precompute.simulate.images import compute_motifs, compute_render_params, render_thumbnails
from precompute.simulate.world import World


def build_wnid_lists(first: np.ndarray, second: np.ndarray | None = None) -> pa.Array:
    """Arrow ``list<string>`` of one wnid per row, or two (sorted) where ``second`` is set.

    Args:
        first: (N,) wnids (str).
        second: (N,) second wnids, "" where a row has one class; None for none.
    """
    n = first.size
    if second is None:
        two = np.zeros(n, dtype=bool)
        second = np.full(n, "", dtype=object)
    else:
        two = second != ""
    low = np.where(two & (second < first), second, first)
    high = np.where(two & (second < first), first, second)
    lengths = 1 + two.astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    values = np.empty(int(offsets[-1]), dtype=object)
    values[offsets[:-1]] = low
    values[offsets[:-1][two] + 1] = high[two]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.string()))


@dataclass
class BulkDataset:
    """One dataset written in bulk: rows and embeddings, then its row and histograms.

    Create it before inserting (``DatasetWriter`` clears a dataset of the same name),
    call ``insert`` per batch and ``finish`` once.
    """

    con: duckdb.DuckDBPyConnection
    info: DatasetInfo
    n_samples: int = 0

    def __post_init__(self) -> None:
        self._writer = DatasetWriter(self.con, self.info)

    def insert(
        self,
        samples: dict[str, object],
        *,
        image_embeddings: tuple[np.ndarray, np.ndarray] | None = None,
        text_embeddings: tuple[np.ndarray, np.ndarray] | None = None,
        candidates: dict[str, object] | None = None,
    ) -> None:
        """Insert one batch.

        Args:
            samples: Columns of ``samples`` except ``dataset`` (arrays or Arrow arrays).
            image_embeddings: ``(rows, (n, D))``: positions in the batch and their embeddings.
            text_embeddings: The same for caption embeddings.
            candidates: Columns sample_id, wnid, text_similarity.
        """
        name = self.info.dataset
        table = pa.table({"dataset": pa.array([name] * len(samples["sample_id"])), **samples})
        insert_arrow(self.con, schema.SAMPLES, table)
        ids = table["sample_id"]
        for target, pair in (
            (schema.IMAGE_EMBEDDINGS, image_embeddings),
            (schema.TEXT_EMBEDDINGS, text_embeddings),
        ):
            if pair is not None and len(pair[0]):
                rows, emb = pair
                data = {
                    "dataset": pa.array([name] * len(rows)),
                    "sample_id": ids.take(pa.array(rows)),
                    "embedding": build_embedding_array(emb),
                }
                insert_arrow(self.con, target, pa.table(data))
        if candidates is not None:
            n = len(candidates["sample_id"])
            insert_arrow(
                self.con,
                schema.CANDIDATES,
                pa.table({"dataset": pa.array([name] * n), **candidates}),
            )
        self.n_samples += len(table)

    def finish(self, parameters: dict | None = None) -> None:
        """Write the ``datasets`` row, the content flags and the histograms."""
        self._writer.n_samples = self.n_samples
        self._writer.finish(parameters=parameters)


class ThumbnailPools:
    """Bounded thumbnail pools: ``per_class`` pictures per dataset and world class.

    A sample shows picture ``position % per_class`` of its class's pool, so the
    database holds ``datasets x classes x per_class`` thumbnails however many samples.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, world: World, per_class: int, seed: int):
        self.con, self.world, self.per_class, self.seed = con, world, per_class, seed
        self.motifs = compute_motifs(world.image_proto.shape[0], seed)
        self.next_id = 0
        self.bases: dict[str, int] = {}

    def add_pool(self, name: str, embeddings: np.ndarray) -> int:
        """Render dataset ``name``'s pool from (C * per_class, D) embeddings grouped by class.

        Returns:
            The pool's first thumbnail id.
        """
        params = compute_render_params(embeddings, self.world.image_proto, self.motifs, self.seed)
        data = render_thumbnails(params)
        base = self.next_id
        ids = np.arange(base, base + len(data), dtype=np.int64)
        table = pa.table(
            {
                "thumbnail_id": pa.array(ids),
                "mime": pa.array(["image/jpeg"] * len(data)),
                "data": pa.array(data, pa.binary()),
            }
        )
        insert_arrow(self.con, schema.THUMBNAILS, table)
        self.next_id += len(data)
        self.bases[name] = base
        return base

    def ids(self, base: int, class_rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Thumbnail id of each sample of a pool starting at ``base``."""
        return base + class_rows.astype(np.int64) * self.per_class + positions % self.per_class
