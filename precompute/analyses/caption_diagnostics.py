"""Caption diagnostics (paper Section 4.2, Figure 9) of a dataset's captions, stored.

For every caption with a text embedding: its cosine similarity to its own class's synset
text, and the share of the other classes of the database whose synset text is strictly
more similar (``laionet_core.metrics.compute_caption_diagnostics``). Synset texts are
encoded by the caption's own text encoder: the dataset's ``parameters["text_encoder"]``
when the database holds its synset embeddings, else the dataset's ``encoder``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from laionet_core import queries, schema
from laionet_core.metrics import bin_caption_diagnostics, compute_caption_diagnostics
from laionet_core.storage_results import write_caption_diagnostics
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT

logger = logging.getLogger(__name__)


def compute_caption_diagnostic_rows(
    sample_ids: Sequence[str],
    wnids: Sequence[str],
    text_embeddings: np.ndarray,
    synsets: tuple[Sequence[str], np.ndarray],
) -> pd.DataFrame:
    """Rows of the ``caption_diagnostics`` table for N captions.

    Args:
        sample_ids: (N,) the captions' sample ids.
        wnids: (N,) their classes.
        text_embeddings: (N, D) L2-normalised caption embeddings.
        synsets: ``(wnids, (C, D) synset-text embeddings)`` of every class, same encoder.

    Returns:
        Columns sample_id, own_similarity, false_classes_more_similar.
    """
    diagnostics = compute_caption_diagnostics(
        text_embeddings, np.asarray(wnids), synsets[1], np.asarray(synsets[0])
    )
    return pd.DataFrame(
        {
            "sample_id": [str(s) for s in sample_ids],
            "own_similarity": diagnostics["similarity"].to_numpy(np.float32),
            "false_classes_more_similar": diagnostics["proportion_more_similar"].to_numpy(),
        }
    )


def read_text_synsets(
    con: duckdb.DuckDBPyConnection, dataset: str
) -> tuple[str, tuple[list[str], np.ndarray]]:
    """The text encoder of ``dataset``'s captions and its synset embeddings in the database.

    Returns:
        ``(encoder name, (wnids, (C, D) embeddings))`` in the database's synset format.

    Raises:
        ValueError: Unknown dataset, or no synset embeddings for its text encoder.
    """
    info = queries.read_dataset_info(con, dataset)
    if info is None:
        raise ValueError(f"no dataset {dataset!r} in the database")
    encoder, parameters = info["encoder"], info["parameters"]
    fmt = queries.read_meta(con).get("synset_format", DEFAULT_SYNSET_TEXT_FORMAT)
    tried = [e for e in (parameters.get("text_encoder"), encoder) if isinstance(e, str)]
    for name in tried:
        wnids, embeddings = queries.read_synset_embeddings(con, name, fmt)
        if wnids:
            return name, (wnids, embeddings)
    raise ValueError(
        f"dataset {dataset!r}: no synset embeddings in format {fmt!r} for its text encoder "
        f"({' or '.join(map(repr, tried))})"
    )


def write_dataset_caption_diagnostics(con: duckdb.DuckDBPyConnection, dataset: str) -> pd.DataFrame:
    """Compute and replace the caption diagnostics of every caption of ``dataset``.

    Args:
        con: A writable connection (inside ``open_database_for_update``).
        dataset: A dataset with caption embeddings in ``text_embeddings``.

    Returns:
        The rows written.

    Raises:
        ValueError: The dataset has no caption embeddings, or its text encoder's synset
            embeddings are missing or of another width.
    """
    ids, embeddings = queries.read_embeddings(con, dataset, table=schema.TEXT_EMBEDDINGS)
    if ids.empty:
        raise ValueError(f"dataset {dataset!r} has no caption embeddings (text_embeddings)")
    encoder, synsets = read_text_synsets(con, dataset)
    if synsets[1].shape[1] != embeddings.shape[1]:
        raise ValueError(
            f"dataset {dataset!r}: captions have width {embeddings.shape[1]} but the synset "
            f"embeddings of {encoder!r} have width {synsets[1].shape[1]}"
        )
    rows = compute_caption_diagnostic_rows(ids["sample_id"], ids["wnid"], embeddings, synsets)
    write_caption_diagnostics(con, dataset, rows)
    _log_bins(dataset, rows)
    return rows


def _log_bins(dataset: str, rows: pd.DataFrame) -> None:
    """Figure 9b in the log: mean share of more similar false classes per similarity bin."""
    binned = bin_caption_diagnostics(
        rows.rename(
            columns={
                "own_similarity": "similarity",
                "false_classes_more_similar": "proportion_more_similar",
            }
        ),
        bins=np.round(np.linspace(0.0, 1.0, 11), 1),
    )
    for row in binned[binned["n"] > 0].itertuples(index=False):
        logger.info(
            "%s captions with own similarity in [%.1f, %.1f): %d, mean share of more similar "
            "classes %.4f",
            dataset,
            row.bin_low,
            row.bin_high,
            row.n,
            row.mean,
        )
