"""The config of a simulated corpus: every knob of the world and of the draws.

See ``precompute.simulate.world`` for the model the fields parametrise and
``docs/SIMULATION.md`` for what each default reproduces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a simulated corpus; the same config gives the same bytes.

    Attributes:
        n_captions: Rows of LAION-style metadata over all parts.
        n_classes: World classes, drawn from the 1,000 ILSVRC classes (>= 100).
        n_parts: Metadata parts (LAION-400M has 32).
        dim: Dimension of the shared embedding space.
        reference_per_class: Images per class in each reference set.
        images: Write a 64x64 JPEG thumbnail per sample and reference image.
        seed: Seed of every random draw.
        zipf_exponent: Class frequencies fall as ``rank ** -zipf_exponent``.
        unmatched_fraction: Captions that name no class at all.
        multi_label_fraction: Captions that name two classes.
        wrong_sense_share: Share of an ambiguous class's captions using the other sense.
        shared_lemma_fraction: Captions naming a class by a lemma two classes share.
        similarity_mean: Mean caption-to-synset cosine over classes.
        similarity_class_sd: Spread of per-class means (drives the coverage drop).
        similarity_frequency_corr: Correlation of a class's mean with minus the normal
            score of its frequency rank: common class names are often used loosely
            (in passing, in product listings), rare ones mostly in captions about
            them, so the threshold does not hand the selection to a few head classes.
        similarity_sd: Spread of captions around their class mean.
        html_fraction: Captions wrapped in raw-web HTML.
        non_ascii_fraction: Captions with non-ASCII decoration.
        nsfw_fraction: Rows tagged ``NSFW``.
        unsure_fraction: Rows tagged ``UNSURE``.
        untagged_fraction: Rows without a tag (kept by the arXiv rule, dropped by TMLR's).
        ocr_fraction: Images with text on them (the ``ocr_text`` metadata column).
        ocr_class_share: Share of those whose text names the caption's class.
        image_spread: Mean per-sample image variation around the class prototype.
        phrasings_per_class: Phrasing directions per concept; captions of a class
            share one of them, so text-to-text nearest neighbours are meaningful.
        phrasing_weight: Weight of the phrasing in a caption's part orthogonal to its
            synset (0 = isotropic noise); two captions with the same phrasing and
            cosine ``a`` to the synset have cosine about ``a^2 + (1 - a^2) w^2``.
        sibling_block: ILSVRC classes per parent (neighbouring class indices).
        sibling_similarity: Mean cosine between the concepts of two siblings; it
            makes siblings' synset texts confusable for CLIP zero-shot (Figure 12).
        specificity_sd: Spread across pictures of how clearly they show what sets
            their class apart from its siblings (the weight of the concept's
            non-family part is ``1 + specificity_sd * z``, ``z`` standard normal).
        specificity_caption_corr: Correlation of ``z`` with the caption's own
            standardised cosine to the synset: a picture that shows its class
            clearly gets a caption that describes it well.
    """

    n_captions: int = 40_000
    n_classes: int = 150
    n_parts: int = 4
    dim: int = 128
    reference_per_class: int = 50
    images: bool = True
    seed: int = 0
    zipf_exponent: float = 0.8
    unmatched_fraction: float = 0.35
    multi_label_fraction: float = 0.05
    wrong_sense_share: float = 0.4
    shared_lemma_fraction: float = 0.005
    similarity_mean: float = 0.745
    similarity_class_sd: float = 0.045
    similarity_frequency_corr: float = 0.8
    similarity_sd: float = 0.055
    html_fraction: float = 0.04
    non_ascii_fraction: float = 0.05
    nsfw_fraction: float = 0.015
    unsure_fraction: float = 0.08
    untagged_fraction: float = 0.02
    ocr_fraction: float = 0.08
    ocr_class_share: float = 0.4
    image_spread: float = 1.1
    phrasings_per_class: int = 8
    phrasing_weight: float = 0.7
    sibling_block: int = 20
    sibling_similarity: float = 0.87
    specificity_sd: float = 0.3
    specificity_caption_corr: float = 0.5

    def __post_init__(self) -> None:
        checks = {
            "n_captions": self.n_captions >= 1,
            "n_classes": 100 <= self.n_classes <= 1000,
            "n_parts": 1 <= self.n_parts <= self.n_captions,
            "dim": self.dim >= 16,
            "reference_per_class": self.reference_per_class >= 2,
            "phrasings_per_class": self.phrasings_per_class >= 1,
            "sibling_block": 1 <= self.sibling_block <= 1000,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(
                    f"SimulationConfig.{name}={getattr(self, name)!r} is not allowed "
                    "(n_captions >= 1, 100 <= n_classes <= 1000, 1 <= n_parts <= n_captions, "
                    "dim >= 16, reference_per_class >= 2, phrasings_per_class >= 1, "
                    "1 <= sibling_block <= 1000)"
                )
        fractions = (
            "unmatched_fraction",
            "multi_label_fraction",
            "wrong_sense_share",
            "shared_lemma_fraction",
            "html_fraction",
            "non_ascii_fraction",
            "nsfw_fraction",
            "unsure_fraction",
            "untagged_fraction",
            "ocr_fraction",
            "ocr_class_share",
            "phrasing_weight",
            "sibling_similarity",
            "similarity_frequency_corr",
            "specificity_sd",
            "specificity_caption_corr",
        )
        for name in fractions:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SimulationConfig.{name}={getattr(self, name)!r}; allowed [0, 1]")
        if self.unmatched_fraction + self.multi_label_fraction + self.shared_lemma_fraction > 1:
            raise ValueError("unmatched + multi_label + shared_lemma fractions exceed 1")

    def to_dict(self) -> dict[str, object]:
        """The config as JSON-ready values."""
        return asdict(self)
