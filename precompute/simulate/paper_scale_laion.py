"""The paper-scale preset's LAIONet: matched captions drawn chunk by chunk.

Each class has a caption count and a mean caption-to-synset similarity
(``paper_scale.compute_class_plan``); a chunk draws its captions' similarities around
their class means, the picture's specificity correlated with them as in the world model
(``precompute.simulate.world``), every image (for ``image_similarity``) and, above the
embedding floor only, the stored image and caption embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from precompute.simulate.captions import build_captions
from precompute.simulate.corpus import SAMPLE_ID_BASE, URL_PREFIX
from precompute.simulate.draws import (
    compute_image_similarity,
    compute_images,
    compute_phrased_directions,
    draw_nsfw_tags,
)
from precompute.simulate.paper_scale import PaperScaleConfig
from precompute.simulate.part_rows import NAME_FIRST_LEMMA
from precompute.simulate.world import (
    KIND_MULTI,
    KIND_SINGLE,
    World,
    compute_at_cosine,
)

# Images drawn at once above the floor (bounds the (rows, D) float32 temporaries).
IMAGE_BLOCK = 25_000
# A second class's similarity lies this far below the label's (mean, sd of a half-normal).
SECOND_CLASS_GAP = (0.04, 0.03)
HTML_FRACTION, NON_ASCII_FRACTION = 0.04, 0.05


@dataclass(frozen=True)
class LaionPlan:
    """Per world class: caption count, mean similarity and caption-draw probabilities."""

    n_captions: np.ndarray
    mean: np.ndarray
    labels: np.ndarray  # (n_samples,) int16 world row of each caption, shuffled


@dataclass(frozen=True)
class LaionChunk:
    """One chunk of matched captions.

    Attributes:
        index: (N,) global caption index (sample id = ``SAMPLE_ID_BASE + index``).
        rows: (N,) world-class row of the label.
        second: (N,) second matched class of multi-label captions, else -1.
        similarity: (N,) float32 caption-to-synset similarity of the label.
        second_similarity: (N,) float32 similarity to the second class (NaN if none).
        image_similarity: (N,) float32 image-to-synset similarity of the label.
        nsfw: (N,) LAION tags.
        captions: N caption strings.
        above: (N,) bool: above the embedding floor.
        img_emb, text_emb: (A, D) float32 embeddings of the rows above it.
    """

    index: np.ndarray
    rows: np.ndarray
    second: np.ndarray
    similarity: np.ndarray
    second_similarity: np.ndarray
    image_similarity: np.ndarray
    nsfw: np.ndarray
    captions: list[str]
    above: np.ndarray
    img_emb: np.ndarray
    text_emb: np.ndarray


def plan_laion(
    config: PaperScaleConfig, world: World, n_captions: np.ndarray, mean: np.ndarray
) -> LaionPlan:
    """Assign the class plan (in rank order) to world classes and shuffle the captions."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 21]))
    rank_of_row = rng.permutation(world.n_classes)
    counts, means = n_captions[rank_of_row], mean[rank_of_row]
    labels = np.repeat(np.arange(world.n_classes, dtype=np.int16), counts)
    rng.shuffle(labels)
    return LaionPlan(counts, means, labels)


def _draw_labels(
    config: PaperScaleConfig, plan: LaionPlan, lo: int, hi: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Label rows, second classes, both similarities and the label's standard score."""
    rows = plan.labels[lo:hi].astype(np.int64)
    n = rows.size
    score = rng.standard_normal(n, dtype=np.float32)
    sim = np.clip(plan.mean[rows] + config.similarity_sd * score, 0.3, 0.985).astype(np.float32)
    p = plan.n_captions / plan.n_captions.sum()
    second = np.where(
        rng.random(n) < config.multi_label_fraction, rng.choice(p.size, size=n, p=p), -1
    )
    second = np.where(second == rows, (second + 1) % p.size, second)
    gap = np.abs(SECOND_CLASS_GAP[0] + SECOND_CLASS_GAP[1] * rng.standard_normal(n))
    second_sim = np.where(second >= 0, sim - gap, np.nan).astype(np.float32)
    return rows, second, sim, second_sim, score


def _draw_captions(
    world: World, rows: np.ndarray, second: np.ndarray, rng: np.random.Generator
) -> list[str]:
    n = rows.size
    first = rng.random(n) < NAME_FIRST_LEMMA
    pick = rng.integers(0, 1 << 30, size=n)
    lemmas = world.lemmas
    lemma_a = [
        lemmas[r][0] if f else lemmas[r][k % len(lemmas[r])]
        for r, f, k in zip(rows.tolist(), first.tolist(), pick.tolist(), strict=True)
    ]
    lemma_b = [
        "" if s < 0 else lemmas[s][k % len(lemmas[s])]
        for s, k in zip(second.tolist(), pick.tolist(), strict=True)
    ]
    kind = np.where(second >= 0, KIND_MULTI, KIND_SINGLE).astype(np.int8)
    return build_captions(
        kind,
        lemma_a,
        lemma_b,
        rng,
        html_fraction=HTML_FRACTION,
        non_ascii_fraction=NON_ASCII_FRACTION,
    )


def _draw_images(
    world: World, rows: np.ndarray, score: np.ndarray, above: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Image-to-synset similarity of every row and the image embeddings of rows ``above``.

    Rows above the floor get their image (``compute_images``), the others only its
    similarity, drawn from the same distribution (``compute_image_similarity``).
    """
    rho = world.specificity_corr
    noise = rng.standard_normal(rows.size, dtype=np.float32)
    specificity = (rho * score + np.sqrt(1.0 - rho * rho) * noise).astype(np.float32)
    image_sim = compute_image_similarity(world, rows, rng, specificity=specificity)
    kept = np.flatnonzero(above)
    synset = world.synset_emb[world.class_indices]
    blocks = []
    for lo in range(0, kept.size, IMAGE_BLOCK):
        block = kept[lo : lo + IMAGE_BLOCK]
        x, _ = compute_images(world, rows[block], rng, specificity=specificity[block])
        image_sim[block] = np.einsum("nd,nd->n", x, synset[rows[block]])
        blocks.append(x)
    dim = world.concepts.shape[1]
    return image_sim, np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)


def draw_laion_chunk(
    config: PaperScaleConfig, world: World, plan: LaionPlan, lo: int, hi: int
) -> LaionChunk:
    """Draw captions ``lo:hi`` (deterministic in the seed and ``lo``)."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 22, lo]))
    rows, second, sim, second_sim, score = _draw_labels(config, plan, lo, hi, rng)
    u = rng.random(rows.size)
    nsfw = draw_nsfw_tags(u, config.nsfw_fraction, config.unsure_fraction, config.untagged_fraction)
    captions = _draw_captions(world, rows, second, rng)
    above = sim > config.threshold
    image_sim, img_emb = _draw_images(world, rows, score, above, rng)
    anchor = world.synset_emb[world.class_indices[rows[above]]]
    toward = compute_phrased_directions(world, rows[above], rng)
    text_emb = compute_at_cosine(anchor, sim[above], toward)
    index = np.arange(lo, hi, dtype=np.int64)
    return LaionChunk(
        index, rows, second, sim, second_sim, image_sim, nsfw, captions, above, img_emb, text_emb
    )


def laion_sample_ids(index: np.ndarray) -> pa.Array:
    """LAION-like sample ids (large integers, as text) of global caption indices."""
    return pa.array(SAMPLE_ID_BASE + index).cast(pa.string())


def laion_urls(index: np.ndarray, chunk_rows: int) -> pa.Array:
    """Fake ``.invalid`` URLs, one folder per chunk, as the simulated corpus writes them."""
    ids = laion_sample_ids(index)
    folders = pa.array([f"{URL_PREFIX}/{int(i) // chunk_rows:05d}/" for i in index[:1]] * len(ids))
    return pc.binary_join_element_wise(folders, ids, pa.scalar(".jpg"), "")
