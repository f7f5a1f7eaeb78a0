"""Row-level writes of ``storage``: classes, synset embeddings, deletion.

``storage`` re-exports ``write_meta``, ``write_classes`` and ``write_synset_embeddings``.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from laionet_core import schema
from laionet_core.queries_stats import has_table
from laionet_core.storage_arrow import build_embedding_array, insert_arrow, insert_frame
from laionet_core.validation import require_unit_rows
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT, Vocabulary, format_synset_text


def write_meta(con: duckdb.DuckDBPyConnection, values: dict[str, str]) -> None:
    """Insert or replace key/value facts in the ``meta`` table."""
    for key, value in values.items():
        con.execute(
            f"INSERT OR REPLACE INTO {schema.META} (key, value) VALUES (?, ?)", [key, str(value)]
        )


def write_classes(
    con: duckdb.DuckDBPyConnection,
    vocabulary: Vocabulary,
    *,
    synset_format: str = DEFAULT_SYNSET_TEXT_FORMAT,
) -> None:
    """Write every class of ``vocabulary`` (matched by the data or not)."""
    frame = pd.DataFrame(
        {
            "wnid": [s.wnid for s in vocabulary.synsets],
            "class_index": [s.class_index for s in vocabulary.synsets],
            "name": [s.name for s in vocabulary.synsets],
            "lemmas": [list(s.lemmas) for s in vocabulary.synsets],
            "definition": [s.definition for s in vocabulary.synsets],
            "synset_text": [format_synset_text(s, synset_format) for s in vocabulary.synsets],
        }
    )
    insert_frame(con, schema.CLASSES, frame)
    write_meta(con, {"synset_format": synset_format, "vocabulary": vocabulary.source})


def write_synset_embeddings(
    con: duckdb.DuckDBPyConnection,
    *,
    encoder: str,
    synset_format: str,
    wnids: Sequence[str],
    embeddings: np.ndarray,
) -> None:
    """Store synset-text embeddings of one encoder.

    Args:
        encoder: Encoder name, as recorded in ``datasets.encoder``.
        synset_format: The synset-text format that was encoded.
        wnids: (C,) wnids, row-aligned with ``embeddings``.
        embeddings: (C, D) float, L2-normalised.
    """
    embeddings = require_unit_rows(embeddings, name=f"synset embeddings of {encoder}")
    if len(wnids) != len(embeddings):
        raise ValueError(f"{len(wnids)} wnids but {len(embeddings)} synset embeddings")
    table = pa.table(
        {
            "encoder": pa.array([encoder] * len(wnids)),
            "synset_format": pa.array([synset_format] * len(wnids)),
            "wnid": pa.array(list(wnids)),
            "embedding": build_embedding_array(embeddings),
        }
    )
    insert_arrow(con, schema.SYNSET_EMBEDDINGS, table)


def delete_dataset(con: duckdb.DuckDBPyConnection, dataset: str) -> None:
    """Remove every row of ``dataset`` from every table (its thumbnails included)."""
    con.execute(
        f"DELETE FROM {schema.THUMBNAILS} WHERE thumbnail_id IN "
        f"(SELECT thumbnail_id FROM {schema.SAMPLES} WHERE dataset = ?)",
        [dataset],
    )
    for table in (
        schema.SAMPLES,
        schema.CANDIDATES,
        schema.IMAGE_EMBEDDINGS,
        schema.TEXT_EMBEDDINGS,
        schema.SIMILARITY_HISTOGRAMS,
        schema.CLASS_METRICS,
        schema.REJECTED,
        schema.PREDICTIONS,
        schema.CAPTION_DIAGNOSTICS,
        schema.SELECTION_STATS,
        schema.SELECTION_SUBSETS,
        schema.LAB_CANDIDATES,
        schema.DATASETS,
    ):
        if has_table(con, table):  # the selection tables are optional in older databases
            con.execute(f"DELETE FROM {table} WHERE dataset = ?", [dataset])
