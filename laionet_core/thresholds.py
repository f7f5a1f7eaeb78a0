"""The threshold of each dataset kind: one definition for the CLI, the export and the app.

A dataset is kept by a threshold on ``samples.text_similarity`` when its kind says what
that similarity means: caption-to-synset for a text-selected dataset (LAIONet, 0.82),
caption-to-ImageNet-Captions-text for a text-matched one (Section 4.3, 0.7). Other kinds
(image-selected references, captions) are used whole. The bounds and step of every
threshold are ``laionet_core.selection``'s grid.
"""

from __future__ import annotations

from dataclasses import dataclass

from laionet_core.schema import KIND_TEXT_MATCHED, KIND_TEXT_SELECTED
from laionet_core.selection import (
    DEFAULT_TEXT_MATCH_THRESHOLD,
    DEFAULT_THRESHOLD,
    THRESHOLD_MAX,
    THRESHOLD_MIN,
    THRESHOLD_STEP,
)

# Figure 16b: the text-matched selection compared with ImageNet at each of these.
SHARE_SWEEP_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
# Similarity bands of the class browser: coarser than the threshold grid, so band edges
# read as two decimals.
BAND_STEP = 0.01
# The band range the class browser opens on: where both senses of an ambiguous lemma
# (PUMA the brand, the cougar) show up for CLIP-like encoders.
DEFAULT_BAND_RANGE = (0.5, 1.0)


@dataclass(frozen=True)
class ThresholdSpec:
    """How one dataset kind is thresholded, and how a control names it.

    Attributes:
        default: The paper's threshold for the kind (keep ``text_similarity >`` it).
        param: The parameter's name: the CLI option, widget key and URL parameter.
        quantity: What ``text_similarity`` compares, for axis titles.
        label: A control's label.
        help: One line on where the default comes from.
        low, high, step: The threshold's bounds and step.
    """

    default: float
    param: str
    quantity: str
    label: str
    help: str
    low: float = THRESHOLD_MIN
    high: float = THRESHOLD_MAX
    step: float = THRESHOLD_STEP


CAPTION_THRESHOLD = ThresholdSpec(
    default=DEFAULT_THRESHOLD,
    param="threshold",
    quantity="caption-to-synset similarity",
    label="Caption-to-synset similarity threshold (keep >)",
    help=f"The paper keeps captions with CLIP similarity above {DEFAULT_THRESHOLD} to "
    "'<name> which is <definition>'.",
)
# Text-matched datasets hold the similarity of each LAION caption to the ImageNet-Captions
# text that chose it (Section 4.3), a different quantity with its own threshold.
TEXT_MATCH_THRESHOLD = ThresholdSpec(
    default=DEFAULT_TEXT_MATCH_THRESHOLD,
    param="text_match_threshold",
    quantity="similarity to the ImageNet-Captions text",
    label="Text-to-text similarity threshold (keep >)",
    help="The paper keeps a LAION caption when its CLIP similarity to the ImageNet-Captions "
    f"text is above {DEFAULT_TEXT_MATCH_THRESHOLD} (Section 4.3).",
)
# Kinds whose samples are kept by a threshold on text_similarity (the rest are used whole).
THRESHOLD_SPECS = {KIND_TEXT_SELECTED: CAPTION_THRESHOLD, KIND_TEXT_MATCHED: TEXT_MATCH_THRESHOLD}
THRESHOLDED_KINDS = tuple(THRESHOLD_SPECS)


def read_threshold_spec(kind: str | None) -> ThresholdSpec | None:
    """The threshold of a dataset kind; None for kinds used whole (or an unknown dataset)."""
    return THRESHOLD_SPECS.get(kind) if kind is not None else None
