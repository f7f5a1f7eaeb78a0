"""The latent world behind the simulated corpus: classes, prototypes and draws.

The paper's causal story (its Figure 2) is built into one shared embedding space:
a class ``Y`` has a concept direction; its caption ``T`` and its image ``X`` are drawn
around a text prototype and an image prototype near that concept, independently of
each other given the class but for one scalar: the picture's specificity (how clearly
it shows what sets the class apart from its siblings), which also makes the caption
describe the class better. LAION-like selection looks at ``T`` only, so it biases
``X`` through that scalar alone; ImageNet-like selection
(``precompute.simulate.references``) looks at ``X``. Concepts of neighbouring ILSVRC
classes share a parent, so every class has confusable siblings.

All arrays are float32 until they are written; every draw takes an explicit
``np.random.Generator`` so the corpus is a pure function of the config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from laionet_core.vocabulary import Vocabulary, build_lemma_dictionary
from precompute.simulate.config import SimulationConfig

logger = logging.getLogger(__name__)

# The paper's showcase classes, always in the world (Appendix A and Section 2).
COUGAR, ORANGE, COMPUTER_MOUSE, JAGUAR = "n02125311", "n07747607", "n03793489", "n02128925"
# Classes with multi-word lemmas, so matching must handle spaces.
MULTI_WORD_CLASSES = ("n02099601", "n04146614", "n04285008", "n04399382", "n07742313")
SHOWCASE_WNIDS = (COUGAR, ORANGE, COMPUTER_MOUSE, JAGUAR, *MULTI_WORD_CLASSES)
# Lemma used in another sense, and that sense's name; captions with it show the other concept.
OTHER_SENSES: dict[str, tuple[str, str]] = {
    COUGAR: ("puma", "puma (sportswear brand)"),
    ORANGE: ("orange", "orange (the colour)"),
    COMPUTER_MOUSE: ("mouse", "mouse (the rodent)"),
    JAGUAR: ("jaguar", "jaguar (car brand)"),
}
# A lemma shared by two world classes: written on purpose, dropped by a paper-style matcher.
SHARED_LEMMA = ("panther", (COUGAR, JAGUAR))
# Weight of the concept in each prototype; the rest is a modality direction, giving
# a CLIP-like gap (image-to-synset cosines near 0.3, text-to-synset near 0.8).
CONCEPT_WEIGHT = 0.75
# Spread of per-class modality offsets around the shared modality direction.
MODALITY_JITTER = 0.5
# Weight of the concept in an image embedding; it falls slightly as images get unusual,
# so image-to-synset cosines barely depend on how stereotyped a picture is.
IMAGE_CONCEPT_WEIGHT = 0.65
IMAGE_CONCEPT_SLOPE = 0.03
# ILSVRC class indices follow WordNet order, so neighbours are often related (dog breeds
# 151-268, birds, snakes, ...; artifacts are closer to alphabetical). Concepts of each
# block of ``sibling_block`` neighbours share a parent; the sibling cosine of a block is
# drawn uniformly within +- SIBLING_SPREAD of ``sibling_similarity``, so some groups are
# fine-grained (hard to tell apart) and others coarse.
SIBLING_SPREAD = 0.06
# Bound on the change of a picture's non-family weight, so no picture loses it entirely.
SPECIFICITY_LIMIT = 0.9
# Web text repeats itself: captions of a class are drawn around a few "phrasing"
# directions, chosen with Zipf-like probabilities (rank ** -PHRASING_ZIPF).
PHRASING_ZIPF = 1.0
# Caption kinds, stored as small ints.
KIND_UNMATCHED, KIND_SINGLE, KIND_WRONG_SENSE, KIND_MULTI, KIND_SHARED = 0, 1, 2, 3, 4
KIND_NAMES = ("unmatched", "single", "wrong_sense", "multi_label", "shared_lemma")


@dataclass(frozen=True)
class World:
    """The latent model: world classes, their lemmas and the geometry of the space.

    Concept rows ``0..C-1`` are the world classes; rows ``C..C+S-1`` are the other
    senses of ambiguous lemmas (the puma brand, the orange colour, ...).

    Attributes:
        vocabulary: All 1,000 ILSVRC classes.
        class_indices: (C,) ILSVRC class index of each world class.
        wnids: The world classes' wnids.
        lemmas: Per world class, lemmas that name it alone (usable in captions).
        frequencies: (C,) class probabilities of a matched caption (Zipf-like).
        synset_emb: (1000, D) float32, L2-normalised synset-text embeddings.
        text_proto: (C+S, D) float32 text prototypes (row c < C equals the synset text).
        image_proto: (C+S, D) float32 image prototypes.
        concepts: (C+S, D) float32 concept directions.
        specific: (C+S, D) float32 part of each concept that sets it apart from its
            siblings (zero for the other senses, which have no family).
        image_style: (C+S, D) float32 image-only direction of each concept, orthogonal to it.
        similarity_mean: (C,) mean caption-to-synset cosine per class.
        diversity: (C+S,) image variation scale per concept.
        sense_class: (S,) world-class row that each other sense borrows a lemma from.
        sense_lemmas: The borrowed lemma of each other sense.
        sense_names: Human names of the other senses.
        phrasings: (C+S, K, D) float32 unit phrasing directions of each concept.
        phrasing_p: (K,) probabilities of the phrasings (Zipf-like, the first most used).
        phrasing_weight: See ``SimulationConfig.phrasing_weight``.
        specificity_sd: See ``SimulationConfig.specificity_sd``.
        specificity_corr: See ``SimulationConfig.specificity_caption_corr``.
    """

    vocabulary: Vocabulary
    class_indices: np.ndarray
    wnids: tuple[str, ...]
    lemmas: tuple[tuple[str, ...], ...]
    frequencies: np.ndarray
    synset_emb: np.ndarray
    text_proto: np.ndarray
    image_proto: np.ndarray
    concepts: np.ndarray
    specific: np.ndarray
    image_style: np.ndarray
    similarity_mean: np.ndarray
    diversity: np.ndarray
    sense_class: np.ndarray
    sense_lemmas: tuple[str, ...]
    sense_names: tuple[str, ...]
    phrasings: np.ndarray
    phrasing_p: np.ndarray
    phrasing_weight: float
    specificity_sd: float
    specificity_corr: float

    @property
    def n_classes(self) -> int:
        return len(self.wnids)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm, as float32."""
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def compute_unit_normal(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Random unit vectors, (n, dim) float32, uniform on the sphere."""
    return unit_rows(rng.standard_normal((n, dim), dtype=np.float32))


def compute_at_cosine(anchor: np.ndarray, cosine: np.ndarray, toward: np.ndarray) -> np.ndarray:
    """Unit vectors with an exact cosine to their anchors.

    ``t = a * s + sqrt(1 - a^2) * u`` with ``u`` the unit part of ``toward`` orthogonal to ``s``.

    Args:
        anchor: (N, D) unit vectors ``s``.
        cosine: (N,) target cosines ``a`` in [-1, 1].
        toward: (N, D) directions giving the orthogonal part (need not be unit).

    Returns:
        (N, D) float32, L2-normalised, with ``t . s == a`` up to rounding.
    """
    ortho = toward - np.sum(toward * anchor, axis=1, keepdims=True) * anchor
    ortho = unit_rows(ortho)
    a = np.clip(cosine, -1.0, 1.0)[:, None].astype(np.float32)
    return unit_rows(a * anchor + np.sqrt(1.0 - a * a) * ortho)


def compute_family_concepts(
    own: np.ndarray, rng: np.random.Generator, *, block: int, sibling_similarity: float
) -> tuple[np.ndarray, np.ndarray]:
    """Concepts of the 1,000 ILSVRC classes with parents shared by neighbouring indices.

    Class ``i`` has parent ``i // block``; its concept is ``normalise(b p + sqrt(1 - b^2)
    o)`` with ``p`` the parent, ``o`` its own direction and ``b^2`` its block's sibling
    cosine, drawn uniformly within ``SIBLING_SPREAD`` of ``sibling_similarity``.

    Args:
        own: (N, D) float32 unit own directions in class-index order (N = 1,000).
        rng: Random generator of the parents and the blocks' sibling cosines.
        block: Classes per parent.
        sibling_similarity: Mean cosine of two siblings' concepts, in [0, 1].

    Returns:
        ``(concepts, specific)``: (N, D) float32 L2-normalised concepts (siblings
        have cosine about ``b^2``) and the part of each that is not its parent's,
        ``sqrt(1 - b^2) o`` scaled like the concept, so ``concept - specific`` is the
        family's share.
    """
    n, dim = own.shape
    n_blocks = -(-n // block)
    parent_of = np.arange(n) // block
    parents = compute_unit_normal(rng, n_blocks, dim)
    spread = rng.uniform(-SIBLING_SPREAD, SIBLING_SPREAD, size=n_blocks)
    b2 = np.clip(sibling_similarity + spread, 0.0, 0.99)[parent_of, None]
    specific = np.sqrt(1.0 - b2) * own
    raw = np.sqrt(b2) * parents[parent_of] + specific
    norm = np.linalg.norm(raw, axis=1, keepdims=True)
    return (raw / norm).astype(np.float32), (specific / norm).astype(np.float32)


def _choose_classes(vocabulary: Vocabulary, n_classes: int, rng: np.random.Generator) -> list[int]:
    lemma_dict = build_lemma_dictionary(vocabulary)
    named = set(lemma_dict.lemma_to_wnid.values())
    by_wnid = vocabulary.by_wnid()
    chosen = [by_wnid[w].class_index for w in SHOWCASE_WNIDS]
    pool = np.array(
        [
            s.class_index
            for s in vocabulary.synsets
            if s.wnid in named and s.class_index not in chosen
        ]
    )
    extra = rng.choice(pool, size=n_classes - len(chosen), replace=False)
    return sorted(chosen + [int(i) for i in extra])


def _rank_frequencies(
    synsets: list, n_c: int, zipf_exponent: float, rng: np.random.Generator
) -> tuple[list[int], np.ndarray]:
    """Zipf frequencies over a seeded ranking; showcase classes sit in the head.

    Returns:
        ``(ranking, frequencies)``: world rows from most to least frequent, and (C,)
        class probabilities.
    """
    order = rng.permutation(n_c)
    showcase_rows = [r for r, s in enumerate(synsets) if s.wnid in SHOWCASE_WNIDS]
    rest = [int(r) for r in order if r not in showcase_rows]
    head = rest[: 3 * len(showcase_rows)] + showcase_rows
    ranking = [int(r) for r in rng.permutation(head)] + rest[3 * len(showcase_rows) :]
    weights = np.empty(n_c)
    weights[ranking] = 1.0 / np.arange(1, n_c + 1) ** zipf_exponent
    return ranking, weights / weights.sum()


@dataclass(frozen=True)
class _Geometry:
    synset_emb: np.ndarray
    text_proto: np.ndarray
    image_proto: np.ndarray
    concepts: np.ndarray
    specific: np.ndarray
    image_style: np.ndarray


def _draw_geometry(
    config: SimulationConfig, class_indices: np.ndarray, n_s: int, rng: np.random.Generator
) -> _Geometry:
    """Concepts, modality directions and prototypes (the draws of ``build_world``, in order)."""
    dim, n_c = config.dim, class_indices.size
    concepts = compute_unit_normal(rng, 1000 + n_s, dim)
    modality = compute_unit_normal(rng, 2, dim)
    text_mod = unit_rows(modality[0] + MODALITY_JITTER * compute_unit_normal(rng, n_c + n_s, dim))
    image_mod = unit_rows(modality[1] + MODALITY_JITTER * compute_unit_normal(rng, n_c + n_s, dim))
    # Own stream for the hierarchy and for the synset texts of the classes outside the world.
    family_rng = np.random.default_rng(np.random.SeedSequence([config.seed, 6]))
    concepts[:1000], specific = compute_family_concepts(
        concepts[:1000],
        family_rng,
        block=config.sibling_block,
        sibling_similarity=config.sibling_similarity,
    )
    w_mod = np.sqrt(1.0 - CONCEPT_WEIGHT**2)
    concept_rows = np.concatenate([class_indices, 1000 + np.arange(n_s)])
    text_proto = unit_rows(CONCEPT_WEIGHT * concepts[concept_rows] + w_mod * text_mod)
    g = concepts[concept_rows]
    image_style = unit_rows(image_mod - np.sum(image_mod * g, axis=1, keepdims=True) * g)
    w_style = np.sqrt(1.0 - IMAGE_CONCEPT_WEIGHT**2)
    image_proto = unit_rows(IMAGE_CONCEPT_WEIGHT * g + w_style * image_style)
    # Classes outside the world have synset texts built the same way; they are the
    # distractors (often siblings) of CLIP zero-shot classification.
    other_mod = unit_rows(
        modality[0] + MODALITY_JITTER * compute_unit_normal(family_rng, 1000, dim)
    )
    synset_emb = unit_rows(CONCEPT_WEIGHT * concepts[:1000] + w_mod * other_mod)
    synset_emb[class_indices] = text_proto[:n_c]
    specific = np.concatenate([specific[class_indices], np.zeros((n_s, dim), np.float32)])
    return _Geometry(synset_emb, text_proto, image_proto, g, specific, image_style)


def _similarity_means(
    config: SimulationConfig, ranking: list[int], rng: np.random.Generator
) -> np.ndarray:
    """Per-class mean caption similarity, mixed with the normal score of its frequency rank."""
    n_c = len(ranking)
    head_score = np.empty(n_c)
    head_score[ranking] = [NormalDist().inv_cdf(1.0 - (i + 0.5) / n_c) for i in range(n_c)]
    rho = config.similarity_frequency_corr
    spread = -rho * head_score + np.sqrt(1.0 - rho * rho) * rng.standard_normal(n_c)
    return config.similarity_mean + config.similarity_class_sd * spread


def build_world(config: SimulationConfig, vocabulary: Vocabulary) -> World:
    """Draw the world of a config: classes, prototypes, frequencies and similarity levels.

    Args:
        config: The simulation config.
        vocabulary: The 1,000 ILSVRC classes (class-index order).

    Returns:
        The world; deterministic in ``config.seed``.

    Raises:
        ValueError: The vocabulary lacks a showcase class.
    """
    missing = [w for w in SHOWCASE_WNIDS if w not in vocabulary.by_wnid()]
    if missing:
        raise ValueError(f"vocabulary {vocabulary.source!r} lacks showcase classes {missing}")
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
    class_indices = np.array(_choose_classes(vocabulary, config.n_classes, rng))
    synsets = [vocabulary.synsets[i] for i in class_indices]
    lemma_dict = build_lemma_dictionary(vocabulary)
    lemmas = tuple(
        tuple(x for x in s.lemmas if lemma_dict.lemma_to_wnid.get(x) == s.wnid) for s in synsets
    )
    n_c = len(synsets)
    sense_rows = [r for r, s in enumerate(synsets) if s.wnid in OTHER_SENSES]
    n_s = len(sense_rows)
    ranking, frequencies = _rank_frequencies(synsets, n_c, config.zipf_exponent, rng)
    geo = _draw_geometry(config, class_indices, n_s, rng)
    similarity_mean = _similarity_means(config, ranking, rng)
    diversity = config.image_spread * rng.uniform(0.8, 1.25, size=n_c + n_s)
    # Own stream, so adding phrasings left every other draw of the world as it was.
    phrasing_rng = np.random.default_rng(np.random.SeedSequence([config.seed, 5]))
    k = config.phrasings_per_class
    phrasings = compute_unit_normal(phrasing_rng, (n_c + n_s) * k, config.dim)
    phrasing_p = 1.0 / np.arange(1, k + 1) ** PHRASING_ZIPF
    logger.info("simulated world: %d classes, %d other senses, dim %d", n_c, n_s, config.dim)
    return World(
        vocabulary=vocabulary,
        class_indices=class_indices,
        wnids=tuple(s.wnid for s in synsets),
        lemmas=lemmas,
        frequencies=frequencies,
        synset_emb=geo.synset_emb,
        text_proto=geo.text_proto,
        image_proto=geo.image_proto,
        concepts=geo.concepts,
        specific=geo.specific,
        image_style=geo.image_style,
        similarity_mean=similarity_mean.astype(np.float32),
        diversity=diversity.astype(np.float32),
        sense_class=np.array(sense_rows, dtype=np.int64),
        sense_lemmas=tuple(OTHER_SENSES[synsets[r].wnid][0] for r in sense_rows),
        sense_names=tuple(OTHER_SENSES[synsets[r].wnid][1] for r in sense_rows),
        phrasings=phrasings.reshape(n_c + n_s, k, config.dim),
        phrasing_p=phrasing_p / phrasing_p.sum(),
        phrasing_weight=float(config.phrasing_weight),
        specificity_sd=float(config.specificity_sd),
        specificity_corr=float(config.specificity_caption_corr),
    )
