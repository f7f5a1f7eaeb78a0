"""``laionet_core.validation.check_embeddings``: the public check the math modules share."""

from __future__ import annotations

import numpy as np
import pytest

from laionet_core.metrics import compute_intra_class_similarity
from laionet_core.ranking import compute_true_class_ranks
from laionet_core.validation import check_embeddings


def test_check_embeddings_names_the_argument_and_keeps_the_array() -> None:
    x = np.eye(3, dtype=np.float16)
    assert check_embeddings(x) is x
    with pytest.raises(ValueError, match=r"queries must be 2-D \(N, D\), got shape \(3,\)"):
        check_embeddings(np.ones(3), name="queries")
    with pytest.raises(TypeError, match="embeddings must be float16/32/64, got int64"):
        check_embeddings(np.ones((2, 2), dtype=np.int64))


def test_ranking_and_metrics_use_it() -> None:
    with pytest.raises(TypeError, match="class_text_embeddings must be float16/32/64"):
        compute_true_class_ranks(np.eye(2), ["a", "b"], np.eye(2, dtype=int), ["a", "b"])
    with pytest.raises(TypeError, match="embeddings must be float16/32/64"):
        compute_intra_class_similarity(np.eye(2, dtype=int), ["a", "b"])
