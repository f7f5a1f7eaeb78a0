"""The synset-text embeddings a build scores shipped caption embeddings against."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from laionet_core.validation import require_unit_rows
from laionet_core.vocabulary import Vocabulary
from precompute.build.plan import BuildPlan


def load_synset_embedding_file(
    path: Path, vocabulary: Vocabulary, *, wnids_file: Path | None = None
) -> np.ndarray:
    """Synset-text embeddings aligned with ``vocabulary``.

    Args:
        path: (C', D) .npy of L2-normalised embeddings.
        vocabulary: The classes to align to.
        wnids_file: One wnid per row of ``path``; when omitted, rows are taken to be in
            ImageNet-1k class-index order.

    Returns:
        (C, D) float32 in vocabulary order.

    Raises:
        ValueError: A class of the vocabulary has no row, or the rows are not unit-norm.
    """
    try:
        array = np.load(path)
    except (ValueError, OSError, EOFError) as error:  # np.load's messages name no file
        raise ValueError(f"{path}: not a readable synset-embedding .npy ({error})") from error
    matrix = require_unit_rows(array, name=str(path))
    if wnids_file is not None:
        row_wnids = wnids_file.read_text(encoding="utf-8").split()
    else:
        from laionet_core.vocabulary import load_imagenet_vocabulary

        row_wnids = list(load_imagenet_vocabulary().wnids)
    if len(row_wnids) != len(matrix):
        raise ValueError(f"{path}: {len(matrix)} rows but {len(row_wnids)} wnids")
    index = {w: i for i, w in enumerate(row_wnids)}
    missing = [w for w in vocabulary.wnids if w not in index]
    if missing:
        raise ValueError(f"{path}: no embedding for {len(missing)} classes, e.g. {missing[0]}")
    return matrix[[index[w] for w in vocabulary.wnids]]


def load_plan_synset_embeddings(plan: BuildPlan, vocabulary: Vocabulary) -> np.ndarray:
    """The plan's synset-text file, aligned with ``vocabulary`` and as wide as the captions.

    Returns:
        (C, D) float32, L2-normalised, in vocabulary order.

    Raises:
        ValueError: A class has no row, or the width is not the caption embeddings'.
    """
    path = plan.synset_embeddings
    assert path is not None  # plan_build names a file whenever captions are not encoded
    wnids_file = path.parent / "wnids.txt"
    matrix = load_synset_embedding_file(
        path, vocabulary, wnids_file=wnids_file if wnids_file.is_file() else None
    )
    widths = plan.summary.dims("text")
    if widths and widths != {matrix.shape[1]}:
        raise ValueError(
            f"{path}: synset embeddings are {matrix.shape[1]}-d but the caption embeddings "
            f"are {', '.join(str(w) for w in sorted(widths))}-d: pass the synset texts "
            f"encoded by the release's model ({plan.encoder}) with --synset-embeddings"
        )
    return matrix
