"""Encoder interface: what a text or image encoder offers, and how one is named.

Only the interface lives here (protocols and the spec parser), so importing this
module never imports torch, open_clip or sentence-transformers. The implementations
are in ``precompute.encode.models``.

Spec grammar (the string a user passes on the command line)::

    open_clip:MODEL:PRETRAINED       e.g. open_clip:ViT-B-32:laion400m_e32
                                          open_clip:ViT-B-32:/ckpt/epoch_32.pt
    open_clip:MODEL                  random weights (tests and benchmarks only)
    open_clip:local-dir:PATH         folder with open_clip_config.json + weights
    open_clip:hf-hub:ORG/REPO        open_clip's Hugging Face schema (needs network)
    sentence-transformers:NAME_OR_PATH   e.g. sentence-transformers:all-MiniLM-L6-v2
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

ENCODER_FAMILIES = ("open_clip", "sentence-transformers")  # the two libraries we load
OPEN_CLIP_SCHEMAS = ("local-dir:", "hf-hub:")  # open_clip's own model-name schemas
DEFAULT_TEXT_BATCH_SIZE = 256  # texts are short; 256 fills a GPU without padding waste
DEFAULT_IMAGE_BATCH_SIZE = 64  # ViT-B at 224 px: fits a small GPU and a CPU's cache

_SPEC_HELP = (
    "allowed: 'open_clip:MODEL:PRETRAINED' (PRETRAINED a tag, a checkpoint path or "
    "'local-dir:PATH'), 'open_clip:MODEL', 'open_clip:local-dir:PATH', "
    "'open_clip:hf-hub:ORG/REPO', 'sentence-transformers:NAME_OR_PATH'"
)


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed encoder spec.

    Attributes:
        family: One of ``ENCODER_FAMILIES``.
        model: open_clip architecture name or schema name (``local-dir:PATH``,
            ``hf-hub:ORG/REPO``); for sentence-transformers, the model name or folder.
        pretrained: open_clip weights (tag or checkpoint path); ``None`` for random
            weights, schema names and sentence-transformers.
    """

    family: str
    model: str
    pretrained: str | None = None

    @property
    def name(self) -> str:
        """Canonical name recorded per dataset, e.g. ``open_clip:ViT-B-32/laion400m_e32``."""
        if self.family == "open_clip" and self.pretrained:
            return f"open_clip:{self.model}/{self.pretrained}"
        return f"{self.family}:{self.model}"


def parse_encoder_spec(spec: str) -> EncoderSpec:
    """Parse an encoder spec string (grammar in the module docstring).

    Args:
        spec: e.g. ``"open_clip:ViT-B-32:laion400m_e32"``.

    Returns:
        The parsed spec.

    Raises:
        ValueError: The family is unknown or a part is empty; the message names the
            spec and the allowed forms.
    """
    if not isinstance(spec, str):
        raise TypeError(f"encoder spec must be a str, got {type(spec).__name__}")
    family, sep, rest = spec.strip().partition(":")
    if not sep or family not in ENCODER_FAMILIES:
        raise ValueError(f"bad encoder spec {spec!r}: unknown family {family!r}; {_SPEC_HELP}")
    if not rest.strip():
        raise ValueError(f"bad encoder spec {spec!r}: nothing after {family!r}; {_SPEC_HELP}")
    rest = rest.strip()
    if family == "sentence-transformers":
        return EncoderSpec(family, rest)
    if rest.startswith(OPEN_CLIP_SCHEMAS):
        if not rest.partition(":")[2]:
            raise ValueError(f"bad encoder spec {spec!r}: empty path after schema; {_SPEC_HELP}")
        return EncoderSpec(family, rest)
    model, _, pretrained = rest.partition(":")
    if not model:
        raise ValueError(f"bad encoder spec {spec!r}: empty model name; {_SPEC_HELP}")
    if pretrained.startswith("local-dir:"):
        # open_clip takes local-dir as the model name and ignores `pretrained`.
        if not pretrained.partition(":")[2]:
            raise ValueError(f"bad encoder spec {spec!r}: empty path after local-dir:")
        return EncoderSpec(family, pretrained)
    return EncoderSpec(family, model, pretrained or None)


@runtime_checkable
class TextEncoder(Protocol):
    """Maps texts to unit vectors.

    Attributes:
        name: Canonical spec name, recorded per dataset in the database.
        dim: Embedding width D.
    """

    name: str
    dim: int

    def encode_texts(
        self, texts: Sequence[str], *, batch_size: int = DEFAULT_TEXT_BATCH_SIZE
    ) -> np.ndarray:
        """Encode texts.

        Returns:
            (N, D) float32, L2-normalised; row i is ``texts[i]``.
        """
        ...


@runtime_checkable
class ImageEncoder(Protocol):
    """Maps images to unit vectors in two steps, so decoding can run in workers.

    ``preprocess`` (the model's own transform: PIL RGB image -> (3, H, W) tensor) is
    picklable and runs in DataLoader workers; ``encode_pixels`` runs the model on a
    stacked batch. ``encode_images`` chains both for in-memory PIL images.
    ``precompute.encode.image_batches.encode_image_sources`` does it for paths and bytes.
    """

    name: str
    dim: int
    preprocess: Callable[[Any], Any]

    def encode_pixels(self, pixels: Any) -> np.ndarray:
        """Encode a (B, 3, H, W) preprocessed tensor; returns (B, D) float32, L2-normalised."""
        ...

    def encode_images(
        self, images: Sequence[Any], *, batch_size: int = DEFAULT_IMAGE_BATCH_SIZE
    ) -> np.ndarray:
        """Encode PIL images; returns (N, D) float32, L2-normalised."""
        ...
