"""A tiny open_clip model (random weights) for offline tests of the real loading path.

Other tests import it as ``from tests.tiny_clip import ...``. The config is
registered with ``open_clip.add_model_config`` under ``TINY_CLIP_NAME``; weights are
saved with ``torch.save(state_dict)`` and loaded back through
``create_model_and_transforms(name, pretrained=path)`` or a ``local-dir:`` folder.
"""

from __future__ import annotations

import json
from pathlib import Path

TINY_CLIP_NAME = "laionet-tiny-vit"  # registered at test time, not an open_clip built-in
TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {
        "context_length": 32,
        "vocab_size": 49408,
        "width": 64,
        "heads": 2,
        "layers": 2,
    },
}
TINY_CLIP_SEED = 1234  # fixed so every test builds the same weights


def register_tiny_clip(config_dir: str | Path) -> str:
    """Write the tiny config as ``<config_dir>/<TINY_CLIP_NAME>.json`` and register it.

    Returns:
        The model name to pass to open_clip.
    """
    import open_clip

    path = Path(config_dir) / f"{TINY_CLIP_NAME}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(TINY_CLIP_CONFIG), encoding="utf-8")
    open_clip.add_model_config(path)
    return TINY_CLIP_NAME


def build_tiny_clip_checkpoint(folder: str | Path) -> Path:
    """Register the tiny config and save seeded random weights as ``tiny_clip.pt``.

    Returns:
        The checkpoint path, usable as ``open_clip:laionet-tiny-vit:<path>``.
    """
    import open_clip
    import torch

    folder = Path(folder)
    name = register_tiny_clip(folder / "configs")
    torch.manual_seed(TINY_CLIP_SEED)
    model = open_clip.create_model(name, pretrained=None)
    path = folder / "tiny_clip.pt"
    torch.save(model.state_dict(), path)
    return path


def build_tiny_clip_local_dir(folder: str | Path) -> Path:
    """Build a ``local-dir:`` folder (open_clip_config.json + open_clip_model.pt... weights).

    Works in any process, since nothing needs registering: spec
    ``open_clip:local-dir:<folder>``.

    Returns:
        The folder.
    """
    import shutil

    folder = Path(folder)
    checkpoint = build_tiny_clip_checkpoint(folder / "build")
    local = folder / "tiny_clip_local"
    local.mkdir(parents=True, exist_ok=True)
    config = {
        "model_cfg": TINY_CLIP_CONFIG,
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
        },
    }
    (local / "open_clip_config.json").write_text(json.dumps(config), encoding="utf-8")
    shutil.copy(checkpoint, local / "open_clip_pytorch_model.pth")
    return local
