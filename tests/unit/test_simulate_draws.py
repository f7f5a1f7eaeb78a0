"""Fast paths of the simulator and of the SIMULATED model against their brute-force forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

import laionet_core.nearest_class_mean as ncm
from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.simulate.config import SimulationConfig
from precompute.simulate.draws import compute_image_similarity, compute_images
from precompute.simulate.world import build_world


@pytest.fixture(scope="module")
def world():
    return build_world(SimulationConfig(n_classes=100, dim=48), load_imagenet_vocabulary())


def test_image_similarity_without_the_image_has_the_images_distribution(world) -> None:
    rng = np.random.default_rng(1)
    rows = np.repeat(np.arange(world.n_classes), 300)
    spec = rng.standard_normal(rows.size).astype(np.float32)
    images, _ = compute_images(world, rows, rng, specificity=spec)
    exact = np.einsum("nd,nd->n", images, world.synset_emb[world.class_indices[rows]])
    fast = compute_image_similarity(world, rows, rng, specificity=spec)
    assert ks_2samp(exact, fast).pvalue > 0.01
    per_class_exact = np.bincount(rows, exact) / 300
    per_class_fast = np.bincount(rows, fast) / 300
    assert np.abs(per_class_exact - per_class_fast).max() < 0.02  # class means agree
    # The specificity moves both the same way.
    high = spec > 1
    assert exact[high].mean() - exact[~high].mean() == pytest.approx(
        fast[high].mean() - fast[~high].mean(), abs=0.01
    )


def test_chunked_predictions_equal_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(12), 9)
    fit = rng.normal(size=(labels.size, 8)).astype(np.float32)
    queries = np.vstack([fit, rng.normal(size=(30, 8)).astype(np.float32)])
    leave_out = np.concatenate([np.arange(labels.size), -np.ones(30, np.int64)])
    whole = ncm.compute_nearest_class_mean_predictions(
        fit, labels, queries, k=3, leave_out=leave_out, noise=0.3, seed=4
    )
    monkeypatch.setattr(ncm, "PREDICTION_CHUNK_ROWS", 7)
    chunked = ncm.compute_nearest_class_mean_predictions(
        fit, labels, queries, k=3, leave_out=leave_out, noise=0.3, seed=4
    )
    assert chunked.tolist() == whole.tolist()
