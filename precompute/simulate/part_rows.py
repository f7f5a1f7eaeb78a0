"""Rows of the simulated corpus: caption kinds, classes, captions and both embeddings.

``build_part_rows`` draws one chunk of LAION-style rows from the world
(``precompute.simulate.world``); ``precompute.simulate.corpus`` writes them in LAION's
layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from precompute.simulate.captions import build_captions
from precompute.simulate.config import SimulationConfig
from precompute.simulate.draws import (
    compute_caption_similarity,
    compute_images,
    compute_phrased_directions,
)
from precompute.simulate.world import (
    KIND_MULTI,
    KIND_SHARED,
    KIND_SINGLE,
    KIND_UNMATCHED,
    KIND_WRONG_SENSE,
    SHARED_LEMMA,
    World,
    compute_at_cosine,
    compute_unit_normal,
)

NAME_FIRST_LEMMA = 0.6  # a caption names a class by its first lemma this often
WRONG_SENSE_SIMILARITY = (0.6, 0.05, 0.45, 0.72)  # mean, sd, min, max of cosine to the synset
UNMATCHED_SIMILARITY = (0.4, 0.1)  # caption without lemma vs the synset of what it shows


@dataclass(frozen=True)
class PartRows:
    """One chunk of corpus rows with the latent truth behind them.

    Attributes:
        kind: (N,) caption kind (``KIND_*``).
        class_a: (N,) world-class row named (or shown, for unmatched captions).
        class_b: (N,) second class of multi-label rows, else -1.
        concept: (N,) concept the image shows (world class or other sense).
        captions: N caption strings.
        text_emb: (N, D) float16, L2-normalised.
        img_emb: (N, D) float16, L2-normalised.
    """

    kind: np.ndarray
    class_a: np.ndarray
    class_b: np.ndarray
    concept: np.ndarray
    captions: list[str]
    text_emb: np.ndarray
    img_emb: np.ndarray


def to_unit_f16(x: np.ndarray) -> np.ndarray:
    """``x`` as float16 rows renormalised after rounding."""
    x16 = x.astype(np.float16)
    norms = np.linalg.norm(x16.astype(np.float32), axis=1, keepdims=True)
    return (x16.astype(np.float32) / norms).astype(np.float16)


@dataclass(frozen=True)
class _Labels:
    kind: np.ndarray
    class_a: np.ndarray
    class_b: np.ndarray
    concept: np.ndarray
    wrong: np.ndarray
    sense_of: np.ndarray
    shared_rows: list[int]


def _draw_labels(
    world: World, config: SimulationConfig, n: int, rng: np.random.Generator
) -> _Labels:
    """Caption kinds, named classes and the concept each image shows."""
    n_c = world.n_classes
    u = rng.random(n)
    f_un, f_multi = config.unmatched_fraction, config.multi_label_fraction
    kind = np.full(n, KIND_SINGLE, dtype=np.int8)
    kind[u < f_un + f_multi + config.shared_lemma_fraction] = KIND_SHARED
    kind[u < f_un + f_multi] = KIND_MULTI
    kind[u < f_un] = KIND_UNMATCHED
    class_a = rng.choice(n_c, size=n, p=world.frequencies)
    class_b = rng.choice(n_c, size=n, p=world.frequencies)
    class_b = np.where(class_b == class_a, (class_b + 1) % n_c, class_b)
    class_b[kind != KIND_MULTI] = -1
    shared_rows = [world.wnids.index(w) for w in SHARED_LEMMA[1]]
    class_a[kind == KIND_SHARED] = rng.choice(shared_rows, size=int(np.sum(kind == KIND_SHARED)))
    sense_of = np.full(n_c, -1)
    sense_of[world.sense_class] = np.arange(world.sense_class.size)
    wrong = (kind == KIND_SINGLE) & (sense_of[class_a] >= 0)
    wrong &= rng.random(n) < config.wrong_sense_share
    kind[wrong] = KIND_WRONG_SENSE
    concept = np.where(wrong, n_c + sense_of[class_a], class_a)
    multi = kind == KIND_MULTI
    concept[multi] = np.where(rng.random(int(multi.sum())) < 0.5, class_a[multi], class_b[multi])
    return _Labels(kind, class_a, class_b, concept, wrong, sense_of, shared_rows)


def _draw_text(
    world: World, config: SimulationConfig, lab: _Labels, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Caption embeddings at a chosen cosine to the named synset, and the specificity.

    A caption is closer to its synset when its picture shows the class clearly
    (specificity, shared with the image).
    """
    n, kind, class_a, wrong = lab.kind.size, lab.kind, lab.class_a, lab.wrong
    specificity = rng.standard_normal(n, dtype=np.float32)
    anchor = world.synset_emb[world.class_indices[class_a]]
    a = compute_caption_similarity(
        world, class_a, rng, config.similarity_sd, specificity=specificity
    )
    mean, sd, lo, hi = WRONG_SENSE_SIMILARITY
    a[wrong] = np.clip(mean + sd * rng.standard_normal(int(wrong.sum())), lo, hi)
    unmatched = kind == KIND_UNMATCHED
    a[unmatched] = np.clip(
        UNMATCHED_SIMILARITY[0]
        + UNMATCHED_SIMILARITY[1] * rng.standard_normal(int(unmatched.sum())),
        0.0,
        0.9,
    )
    # Captions naming a concept share its phrasings; captions naming nothing are off-topic.
    toward = compute_phrased_directions(world, np.where(wrong, lab.concept, class_a), rng)
    toward[unmatched] = compute_unit_normal(rng, int(unmatched.sum()), config.dim)
    toward[wrong] += 1.5 * world.text_proto[lab.concept[wrong]]
    text = compute_at_cosine(anchor, a, toward)
    multi = kind == KIND_MULTI
    two = multi | (kind == KIND_SHARED)
    if two.any():
        shared = lab.shared_rows
        partner = np.where(class_a == shared[0], shared[1], shared[0])
        second = np.where(multi, lab.class_b, partner)[two]
        anchor_b = world.synset_emb[world.class_indices[second]]
        b = compute_caption_similarity(world, second, rng, config.similarity_sd)
        text_b = compute_at_cosine(anchor_b, b, compute_phrased_directions(world, second, rng))
        text[two] = text[two] + text_b
    return text, specificity


def _caption_lemmas(
    world: World, lab: _Labels, rng: np.random.Generator
) -> tuple[list[str], list[str]]:
    """The lemma each caption names, and the second one of multi-label captions."""
    n = lab.kind.size
    first = rng.random(n) < NAME_FIRST_LEMMA
    pick = rng.integers(0, 1 << 30, size=n)
    lemma_a, lemma_b = [], []
    for i in range(n):
        k, c = int(lab.kind[i]), lab.class_a[i]
        if k == KIND_UNMATCHED:
            lemma_a.append("")
        elif k == KIND_WRONG_SENSE:
            lemma_a.append(world.sense_lemmas[lab.sense_of[c]])
        elif k == KIND_SHARED:
            lemma_a.append(SHARED_LEMMA[0])
        else:
            lemmas = world.lemmas[c]
            lemma_a.append(lemmas[0] if first[i] else lemmas[pick[i] % len(lemmas)])
        if k == KIND_MULTI:
            lemmas = world.lemmas[lab.class_b[i]]
            lemma_b.append(lemmas[pick[i] % len(lemmas)])
        else:
            lemma_b.append("")
    return lemma_a, lemma_b


def build_part_rows(
    world: World, config: SimulationConfig, n: int, rng: np.random.Generator
) -> PartRows:
    """Draw ``n`` corpus rows: kinds, classes, captions and both embeddings."""
    lab = _draw_labels(world, config, n, rng)
    text, specificity = _draw_text(world, config, lab, rng)
    image, _ = compute_images(world, lab.concept, rng, specificity=specificity)
    lemma_a, lemma_b = _caption_lemmas(world, lab, rng)
    captions = build_captions(
        lab.kind,
        lemma_a,
        lemma_b,
        rng,
        html_fraction=config.html_fraction,
        non_ascii_fraction=config.non_ascii_fraction,
    )
    return PartRows(
        lab.kind,
        lab.class_a,
        lab.class_b,
        lab.concept,
        captions,
        to_unit_f16(text),
        to_unit_f16(image),
    )
