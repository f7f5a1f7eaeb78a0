"""Tests of the simulated world's geometry: class families, specificity, frequencies."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from laionet_core.accuracy import compute_zero_shot_accuracy
from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.simulate.config import SimulationConfig
from precompute.simulate.draws import (
    compute_caption_similarity,
    compute_images,
)
from precompute.simulate.world import (
    SIBLING_SPREAD,
    build_world,
    compute_family_concepts,
    compute_unit_normal,
)

DEFAULT = SimulationConfig()


@pytest.fixture(scope="module")
def world():
    return build_world(DEFAULT, load_imagenet_vocabulary())


def test_family_concepts_share_a_parent_within_a_block() -> None:
    rng = np.random.default_rng(0)
    own = compute_unit_normal(rng, 40, 256)
    concepts, specific = compute_family_concepts(own, rng, block=10, sibling_similarity=0.8)
    np.testing.assert_allclose(np.linalg.norm(concepts, axis=1), 1.0, atol=1e-5)
    gram = concepts @ concepts.T
    for i in range(40):
        siblings = [j for j in range(40) if j // 10 == i // 10 and j != i]
        others = [j for j in range(40) if j // 10 != i // 10]
        assert abs(gram[i, siblings].mean() - 0.8) < SIBLING_SPREAD + 0.1
        assert abs(gram[i, others].mean()) < 0.1
    # What is left after the specific part is the block's parent, the same for all siblings.
    family = concepts - specific
    family /= np.linalg.norm(family, axis=1, keepdims=True)
    np.testing.assert_allclose(family[:10] @ family[0], 1.0, atol=1e-5)
    # Specific parts of siblings are the own directions, nearly orthogonal to each other.
    unit = specific / np.linalg.norm(specific, axis=1, keepdims=True)
    np.testing.assert_allclose(unit, own, atol=1e-5)


def test_classes_outside_the_world_are_siblings_and_distractors(world) -> None:
    syn = world.synset_emb
    np.testing.assert_allclose(np.linalg.norm(syn, axis=1), 1.0, atol=1e-5)
    block = DEFAULT.sibling_block
    inside = set(world.class_indices.tolist())
    near, far = [], []
    for i in world.class_indices[:20]:
        outside = [j for j in range(1000) if j not in inside]
        near += [syn[i] @ syn[j] for j in outside if j // block == i // block]
        far += [syn[i] @ syn[j] for j in outside if j // block != i // block]
    # A sibling's synset text is much closer than an unrelated one's (which still
    # shares the text modality), as for world classes among themselves.
    assert np.mean(near) > np.mean(far) + 0.3 and 0.2 < np.mean(far) < 0.5


def test_zero_shot_confuses_siblings_but_is_far_above_chance(world) -> None:
    rng = np.random.default_rng(1)
    rows = np.repeat(np.arange(world.n_classes), 40)
    x, _ = compute_images(world, rows, rng)
    labels = world.class_indices[rows]
    zero = compute_zero_shot_accuracy(x, labels, world.synset_emb, np.arange(1000), k=(1, 5))
    assert 0.4 < zero.accuracy[1] < 0.9 and zero.accuracy[5] > zero.accuracy[1] + 0.1
    # Errors go to siblings.
    scores = x @ world.synset_emb.T
    wrong = scores.argmax(axis=1) != labels
    block = DEFAULT.sibling_block
    assert np.mean(scores.argmax(axis=1)[wrong] // block == labels[wrong] // block) > 0.9


def test_specificity_is_shared_by_caption_and_picture(world) -> None:
    rng = np.random.default_rng(2)
    n = 20_000
    rows = rng.integers(0, world.n_classes, size=n)
    specificity = rng.standard_normal(n).astype(np.float32)
    a = compute_caption_similarity(world, rows, rng, 0.055, specificity=specificity)
    deviation = (a - world.similarity_mean[rows]) / 0.055
    assert abs(np.corrcoef(deviation, specificity)[0, 1] - world.specificity_corr) < 0.03
    # The marginal of the cosines is what it was without specificity.
    plain = compute_caption_similarity(world, rows, rng, 0.055)
    assert abs(a.std() - plain.std()) < 0.003 and abs(a.mean() - plain.mean()) < 0.003
    # A specific picture is further from its siblings' synsets, about as close to its own.
    x_hi, _ = compute_images(world, rows, rng, specificity=np.full(n, 2.0, np.float32))
    x_lo, _ = compute_images(world, rows, rng, specificity=np.full(n, -2.0, np.float32))
    own = world.class_indices[rows]
    block = DEFAULT.sibling_block
    siblings = np.arange(1000)[None, :] // block == own[:, None] // block
    siblings[np.arange(n), own] = False

    def margin(x: np.ndarray) -> float:
        scores = x @ world.synset_emb.T
        best_sibling = np.where(siblings, scores, -np.inf).max(axis=1)
        return float(np.mean(scores[np.arange(n), own] - best_sibling))

    assert margin(x_hi) > margin(x_lo) + 0.02
    to_own_hi = np.sum(x_hi * world.synset_emb[own], axis=1).mean()
    to_own_lo = np.sum(x_lo * world.synset_emb[own], axis=1).mean()
    assert abs(to_own_hi - to_own_lo) < 0.02


def test_common_classes_are_captioned_more_loosely() -> None:
    vocab = load_imagenet_vocabulary()
    linked = build_world(DEFAULT, vocab)
    free = build_world(SimulationConfig(similarity_frequency_corr=0.0), vocab)

    def rank_correlation(w) -> float:
        ranks = [np.argsort(np.argsort(v)) for v in (w.frequencies, w.similarity_mean)]
        return float(np.corrcoef(*ranks)[0, 1])

    assert rank_correlation(linked) < -0.6 and abs(rank_correlation(free)) < 0.25
    # Same spread of class means either way (what Figure 3's coverage curve depends on).
    assert abs(linked.similarity_mean.std() - free.similarity_mean.std()) < 0.01
    # Frequent class names no longer carry the selection: expected shares above 0.82.
    p = linked.frequencies * _pass_rate(linked.similarity_mean, 0.82, DEFAULT.similarity_sd)
    p = np.sort(p / p.sum())[::-1]
    assert p[0] <= 0.10 and p[:10].sum() <= 0.5


def _pass_rate(mean: np.ndarray, threshold: float, sd: float) -> np.ndarray:
    return np.array([1.0 - NormalDist(m, sd).cdf(threshold) for m in mean])


def test_config_rejects_bad_family_values() -> None:
    with pytest.raises(ValueError, match="sibling_block"):
        SimulationConfig(sibling_block=0)
    with pytest.raises(ValueError, match="sibling_similarity"):
        SimulationConfig(sibling_similarity=1.5)
    with pytest.raises(ValueError, match="specificity_caption_corr"):
        SimulationConfig(specificity_caption_corr=-0.1)
