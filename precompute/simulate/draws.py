"""Per-sample draws of the simulated world: images, caption similarities, phrasings.

``compute_images`` draws image embeddings around the concepts of ``precompute.simulate.world``;
``compute_image_similarity`` draws only their cosine to the synset text, from the same
distribution, for the paper-scale preset's 21M captions; the caption helpers place
captions at a chosen cosine to their synset.
"""

from __future__ import annotations

import numpy as np

from precompute.simulate.world import (
    IMAGE_CONCEPT_SLOPE,
    IMAGE_CONCEPT_WEIGHT,
    SPECIFICITY_LIMIT,
    World,
    compute_unit_normal,
    unit_rows,
)


def compute_images(
    world: World,
    concept: np.ndarray,
    rng: np.random.Generator,
    *,
    spread: np.ndarray | None = None,
    specificity: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw image embeddings around concept prototypes.

    ``x = w * g' + sqrt(1 - w^2) * normalise(m + r * d_c * z)`` with ``g'`` the concept
    whose non-family part is weighted ``1 + specificity_sd * s`` (``s`` the picture's
    specificity: how clearly it shows what sets the class apart from its siblings),
    ``m`` the concept's image-only style direction, ``z`` a random unit vector
    orthogonal to the concept, ``d_c`` the concept's diversity and ``r`` a per-sample
    atypicality (log-normal, mean ~1): small ``r`` is a stereotypical picture, large
    ``r`` an unusual one. The concept weight ``w`` falls only slightly with ``r``, so
    all images stay about as close to their synset text while varying widely among
    themselves; specificity moves an image toward its own synset and away from its
    siblings' without changing either much.

    Args:
        world: The world.
        concept: (N,) concept rows (world class or other sense).
        rng: Random generator.
        spread: Optional (N,) atypicality to use instead of drawing it.
        specificity: Optional (N,) standard-normal specificity (drawn when None).

    Returns:
        ``(x, r)``: (N, D) float32 L2-normalised embeddings and (N,) atypicality.
    """
    n = concept.size
    r = rng.lognormal(-0.125, 0.5, size=n).astype(np.float32) if spread is None else spread
    if specificity is None:
        specificity = rng.standard_normal(n, dtype=np.float32)
    scale = np.clip(world.specificity_sd * specificity, -SPECIFICITY_LIMIT, SPECIFICITY_LIMIT)
    g = unit_rows(world.concepts[concept] + scale[:, None] * world.specific[concept])
    z = compute_unit_normal(rng, n, g.shape[1])
    z -= np.sum(z * g, axis=1, keepdims=True) * g
    style = unit_rows(
        world.image_style[concept] + (r * world.diversity[concept])[:, None] * unit_rows(z)
    )
    w = np.clip(IMAGE_CONCEPT_WEIGHT - IMAGE_CONCEPT_SLOPE * (r - 1.0), 0.4, 0.9)[:, None]
    return unit_rows(w * g + np.sqrt(1.0 - w * w) * style), r


def _class_frames(world: World, rows: np.ndarray) -> np.ndarray:
    """(C, 4, 4) coordinates of concept, specific, image style and synset text of each class.

    Column ``j`` of ``frames[c]`` is the ``j``-th vector in an orthonormal basis of their span.
    """
    vectors = np.stack(
        [
            world.concepts[rows],
            world.specific[rows],
            world.image_style[rows],
            world.synset_emb[world.class_indices[rows]],
        ],
        axis=2,
    ).astype(np.float64)
    q, _ = np.linalg.qr(vectors)
    return np.einsum("cdi,cdj->cij", q, vectors)


def compute_image_similarity(
    world: World, rows: np.ndarray, rng: np.random.Generator, *, specificity: np.ndarray
) -> np.ndarray:
    """Cosine of ``compute_images``' image with its class's synset text, without the image.

    The image depends on its random direction ``z`` only through ``z``'s coordinates in
    the span of the class's concept, specific part, image style and synset text (4
    normals) and the squared norm of the rest (chi-square with ``D - 4`` degrees of
    freedom), so drawing those gives the same distribution as ``compute_images`` in
    O(N) instead of O(N D): the paper-scale preset's 21M images.

    Args:
        world: The world.
        rows: (N,) world-class rows (not other senses).
        rng: Random generator.
        specificity: (N,) standard-normal specificity of each picture.

    Returns:
        (N,) float32 image-to-synset cosines.
    """
    n, dim = rows.size, world.concepts.shape[1]
    unique, inverse = np.unique(rows, return_inverse=True)
    frame = _class_frames(world, unique)[inverse]  # (N, 4, 4)
    concept, specific, style, synset = (frame[:, :, j] for j in range(4))
    r = rng.lognormal(-0.125, 0.5, size=n)
    scale = np.clip(world.specificity_sd * specificity, -SPECIFICITY_LIMIT, SPECIFICITY_LIMIT)
    g = concept + scale[:, None] * specific
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    z = rng.standard_normal((n, 4))
    z -= np.sum(z * g, axis=1, keepdims=True) * g
    u = z / np.sqrt(np.sum(z * z, axis=1) + rng.chisquare(dim - 4, size=n))[:, None]
    a = r * world.diversity[rows]
    style_norm = np.sqrt(1.0 + a * a + 2.0 * a * np.sum(style * u, axis=1))
    style_synset = (np.sum(style * synset, axis=1) + a * np.sum(u * synset, axis=1)) / style_norm
    g_style = np.sum(g * style, axis=1) / style_norm  # g is orthogonal to u
    w = np.clip(IMAGE_CONCEPT_WEIGHT - IMAGE_CONCEPT_SLOPE * (r - 1.0), 0.4, 0.9)
    v = np.sqrt(1.0 - w * w)
    cosine = (w * np.sum(g * synset, axis=1) + v * style_synset) / np.sqrt(
        1.0 + 2.0 * w * v * g_style
    )
    return cosine.astype(np.float32)


def compute_caption_similarity(
    world: World,
    rows: np.ndarray,
    rng: np.random.Generator,
    sd: float,
    *,
    specificity: np.ndarray | None = None,
) -> np.ndarray:
    """Target caption-to-synset cosines, (N,) float32, drawn around each class's mean.

    With ``specificity`` ((N,) standard normal, the pictures' own), a caption's
    standardised deviation from its class mean has correlation
    ``world.specificity_corr`` with it; the distribution of the cosines is unchanged.
    """
    noise = rng.standard_normal(rows.size, dtype=np.float32)
    if specificity is not None:
        rho = world.specificity_corr
        noise = rho * specificity + np.sqrt(1.0 - rho * rho) * noise
    a = world.similarity_mean[rows] + sd * noise
    return np.clip(a, 0.3, 0.985).astype(np.float32)


def compute_phrased_directions(
    world: World, concept: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Directions of captions' non-synset part: one of the concept's phrasings plus noise.

    ``toward = w p + sqrt(1 - w^2) z`` with ``p`` a phrasing of the concept drawn with
    ``world.phrasing_p``, ``w = world.phrasing_weight`` and ``z`` a random unit vector.
    Passed to ``compute_at_cosine``, which keeps the exact cosine to the synset, so two
    captions of a class with the same phrasing are near each other (web text repeats
    itself) while the caption-to-synset distribution is unchanged.

    Args:
        world: The world.
        concept: (N,) concept rows (world class or other sense).
        rng: Random generator.

    Returns:
        (N, D) float32 directions (not unit; ``compute_at_cosine`` normalises).
    """
    k = rng.choice(world.phrasing_p.size, size=concept.size, p=world.phrasing_p)
    z = compute_unit_normal(rng, concept.size, world.phrasings.shape[2])
    w = world.phrasing_weight
    return (w * world.phrasings[concept, k] + np.sqrt(1.0 - w * w) * z).astype(np.float32)


def draw_nsfw_tags(u: np.ndarray, nsfw: float, unsure: float, untagged: float) -> np.ndarray:
    """LAION-style NSFW tags from uniform draws ``u``: ``NSFW``, ``UNSURE``, missing
    (None) and ``UNLIKELY`` for the rest, in that order of ``u``, so the TMLR rule (keep
    ``UNLIKELY`` only) visibly differs from the arXiv rule (drop ``NSFW``).

    Args:
        u: (N,) uniform draws in [0, 1).
        nsfw, unsure, untagged: Shares of each tag.

    Returns:
        (N,) object array of str or None.
    """
    tags = np.full(u.shape, "UNLIKELY", dtype=object)
    tags[u < nsfw + unsure + untagged] = None
    tags[u < nsfw + unsure] = "UNSURE"
    tags[u < nsfw] = "NSFW"
    return tags
