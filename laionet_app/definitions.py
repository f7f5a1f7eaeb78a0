"""One-sentence definitions shown beside each statistic, one wording for every page."""

from laionet_core.comparison import (
    METRIC_IMAGE_SIMILARITY,
    METRIC_INTRA,
    METRIC_ZERO_SHOT_1,
    METRIC_ZERO_SHOT_5,
)

# Metric -> (short label, one-sentence definition).
METRIC_LABELS = {
    METRIC_INTRA: "intra-class similarity",
    METRIC_IMAGE_SIMILARITY: "image-to-synset similarity",
    METRIC_ZERO_SHOT_1: "zero-shot recall@1",
    METRIC_ZERO_SHOT_5: "zero-shot recall@5",
}
DEFINITIONS = {
    METRIC_INTRA: "Mean cosine similarity between the image embeddings of two different "
    "samples of the same class: higher means the images of a class look more alike.",
    METRIC_IMAGE_SIMILARITY: "Cosine similarity between a sample's image embedding and its "
    "class's synset text ('<name> which is <definition>').",
    METRIC_ZERO_SHOT_1: "Share of a class's images whose most similar synset text, among "
    "all classes, is their own class's (CLIP zero-shot classification).",
    METRIC_ZERO_SHOT_5: "Share of a class's images whose own synset text is among the five "
    "most similar ones.",
    "coverage": "Classes with at least the chosen minimum number of selected samples.",
    "size": "Samples the selection keeps.",
    "significance": "A class is significantly lower (higher) when the 95% interval of its "
    "difference lies wholly below (above) zero.",
}
