"""Reference sets of the simulated world, selected by looking at the image.

ImageNet's pipeline (Section 3 of the paper): a search engine returns candidates,
then MTurk annotators keep those they judge to be of the class. Both steps favour
the stereotype, i.e. images near the class's image prototype. Here each image gets
a selection frequency, a logistic function of its standardised closeness to the
prototype; a set keeps, per class, the window of candidates whose mean frequency is
closest to its target (ImageNetV2 a, b, c: 0.85, 0.73, 0.93; ImageNet itself: the top).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from precompute.simulate.captions import build_imagenet_caption
from precompute.simulate.draws import (
    compute_images,
    compute_phrased_directions,
)
from precompute.simulate.world import (
    SimulationConfig,
    World,
    compute_at_cosine,
    compute_unit_normal,
)

logger = logging.getLogger(__name__)

# Target mean MTurk selection frequency per set (Section 3.2); None keeps the top images.
REFERENCE_TARGETS: dict[str, float | None] = {
    "imagenet-val": None,
    "imagenetv2-a": 0.85,
    "imagenetv2-b": 0.73,
    "imagenetv2-c": 0.93,
    "imagenet-captions": None,
}
REFERENCE_NAMES = tuple(REFERENCE_TARGETS)
CANDIDATES_PER_IMAGE = 16  # raw candidates drawn per kept image
SEARCH_KEEP = 0.5  # share of raw candidates a search engine ranks high enough to be shown
# Logistic selection frequency: sigmoid(FREQ_BIAS + FREQ_SLOPE * z), z = standardised closeness.
FREQ_BIAS, FREQ_SLOPE = 0.5, 1.5
# ImageNet-Captions: share of texts that explain their label varies by class in this range.
EXPLAINED_RANGE = (0.5, 0.9)
UNEXPLAINED_SIMILARITY = (0.25, 0.08)  # mean and sd of an unexplained text's synset cosine
N_DISTRACTOR_SYNSETS = 3  # other synsets an unexplained text leans toward
# Weight of that lean in an unexplained text's direction (the rest is unrelated text), so
# its nearest web caption is rarely as close as 0.7 (Section 4.3). Every synset text
# carries the text modality, so the three synsets' sum carries it threefold: a larger
# lean makes such a text closer than its own synset to most of the 999 other classes.
UNEXPLAINED_LEAN = 0.3


@dataclass(frozen=True)
class ReferenceSet:
    """One image-selected set, rows grouped by class.

    Attributes:
        name: One of ``REFERENCE_NAMES``.
        rows: Column name -> list of values for ``index.parquet``.
        img_emb: (N, D) float32, L2-normalised.
        text_emb: (N, D) float32 for imagenet-captions, else None.
        records: The ImageNet-Captions JSON list, else None.
    """

    name: str
    rows: dict[str, list]
    img_emb: np.ndarray
    text_emb: np.ndarray | None = None
    records: list[dict] | None = None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def select_by_image(
    world: World,
    k: int,
    target: float | None,
    rng: np.random.Generator,
    *,
    classes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw candidates per world class and keep ``k`` per class by image.

    Args:
        world: The world.
        k: Images kept per class.
        target: Mean selection frequency to match, or None to keep the top ``k``.
        rng: Random generator.
        classes: World-class rows to draw (default: all), so a caller can bound memory
            by drawing a block of classes at a time.

    Returns:
        ``(class_rows, img_emb, frequency)``: (C*k,) world-class rows, (C*k, D)
        float32 embeddings and (C*k,) float64 selection frequencies, grouped by class.
    """
    rows = np.arange(world.n_classes) if classes is None else np.asarray(classes)
    n_c, raw = rows.size, k * CANDIDATES_PER_IMAGE
    concept = np.repeat(rows, raw)
    x, _ = compute_images(world, concept, rng)
    q = np.sum(x * world.image_proto[concept], axis=1).reshape(n_c, raw)
    z = (q - q.mean(axis=1, keepdims=True)) / q.std(axis=1, keepdims=True)
    order = np.argsort(-z, axis=1, kind="stable")[:, : int(raw * SEARCH_KEEP)]
    freq = _sigmoid(FREQ_BIAS + FREQ_SLOPE * np.take_along_axis(z, order, axis=1))
    if target is None:
        offset = np.zeros(n_c, dtype=np.int64)
    else:
        csum = np.concatenate([np.zeros((n_c, 1)), np.cumsum(freq, axis=1)], axis=1)
        means = (csum[:, k:] - csum[:, :-k]) / k
        offset = np.argmin(np.abs(means - target), axis=1)
    cols = offset[:, None] + np.arange(k)[None, :]
    picked = np.take_along_axis(order, cols, axis=1)
    flat = (np.arange(n_c)[:, None] * raw + picked).ravel()
    frequency = np.take_along_axis(freq, cols, axis=1).ravel()
    return concept[flat], x[flat], frequency.astype(np.float64)


def draw_hex_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` random 40-digit hex ids, as ImageNetV2 names its files."""
    raw = rng.integers(0, 256, size=(n, 20), dtype=np.uint8)
    return [row.tobytes().hex() for row in raw]


def build_reference_sets(world: World, config: SimulationConfig) -> list[ReferenceSet]:
    """All five reference sets of a world (deterministic in ``config.seed``)."""
    k = config.reference_per_class
    sets = []
    for number, (name, target) in enumerate(REFERENCE_TARGETS.items()):
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3, number]))
        rows_c, emb, freq = select_by_image(world, k, target, rng)
        wnids = [world.wnids[r] for r in rows_c]
        class_index = world.class_indices[rows_c]
        if name == "imagenet-val":
            numbers = rng.permutation(len(rows_c)) + 1
            ids = [f"ILSVRC2012_val_{n:08d}" for n in numbers]
            rows = {
                "sample_id": ids,
                "wnid": wnids,
                "path": [f"{w}/{i}.jpg" for w, i in zip(wnids, ids, strict=True)],
            }
            sets.append(ReferenceSet(name, rows, emb))
        elif name.startswith("imagenetv2-"):
            ids = draw_hex_ids(rng, len(rows_c))
            rows = {
                "sample_id": ids,
                "wnid": wnids,
                "path": [f"{c}/{i}.jpg" for c, i in zip(class_index, ids, strict=True)],
                "selection_frequency": freq.tolist(),
            }
            sets.append(ReferenceSet(name, rows, emb))
            logger.info("%s: mean selection frequency %.3f", name, freq.mean())
        else:
            sets.append(build_captions_set(world, rows_c, emb, rng))
    return sets


def build_captions_set(
    world: World, rows_c: np.ndarray, emb: np.ndarray, rng: np.random.Generator
) -> ReferenceSet:
    """The ImageNet-Captions-like set: a title, description and tags per image (Section 4.2).

    Args:
        world: The world.
        rows_c: (N,) world-class rows of the images.
        emb: (N, D) their image embeddings.
        rng: Random generator.
    """
    n = rows_c.size
    explained_share = rng.uniform(*EXPLAINED_RANGE, size=world.n_classes)
    explained = rng.random(n) < explained_share[rows_c]
    numbers = rng.choice(np.arange(1, 100_000), size=n, replace=False)
    records, texts = [], []
    for i in range(n):
        lemmas = world.lemmas[rows_c[i]]
        lemma = lemmas[0] if rng.random() < 0.7 else lemmas[rng.integers(len(lemmas))]
        title, desc, tags = build_imagenet_caption(lemma, bool(explained[i]), rng)
        wnid = world.wnids[rows_c[i]]
        records.append(
            {
                "filename": f"{wnid}_{numbers[i]}.JPEG",
                "title": title,
                "description": desc,
                "tags": tags,
                "wnid": wnid,
            }
        )
        texts.append(" ".join(part for part in (title, desc, *tags) if part))
    anchor = world.synset_emb[world.class_indices[rows_c]]
    mean_ok = world.similarity_mean[rows_c] + 0.03
    a = np.where(
        explained,
        mean_ok + 0.06 * rng.standard_normal(n),
        UNEXPLAINED_SIMILARITY[0] + UNEXPLAINED_SIMILARITY[1] * rng.standard_normal(n),
    )
    a = np.clip(a, 0.0, 0.98)
    others = rng.integers(0, world.n_classes, size=(n, N_DISTRACTOR_SYNSETS))
    lean = world.synset_emb[world.class_indices[others]].sum(axis=1)
    lean = UNEXPLAINED_LEAN * lean / np.linalg.norm(lean, axis=1, keepdims=True)
    lean += np.sqrt(1.0 - UNEXPLAINED_LEAN**2) * compute_unit_normal(rng, n, lean.shape[1])
    # Texts that explain their label are phrased like the web captions of their class.
    toward = np.where(explained[:, None], compute_phrased_directions(world, rows_c, rng), lean)
    text_emb = compute_at_cosine(anchor, a, toward.astype(np.float32))
    ids = [r["filename"].rsplit(".", 1)[0] for r in records]
    rows = {
        "sample_id": ids,
        "wnid": [r["wnid"] for r in records],
        "path": [f"train/{r['wnid']}/{r['filename']}" for r in records],
        "text": texts,
    }
    return ReferenceSet("imagenet-captions", rows, emb, text_emb, records)
