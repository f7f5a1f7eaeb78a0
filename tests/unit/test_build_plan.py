"""The build plan's estimate, by hand, and the refusals that need no build."""

from __future__ import annotations

from pathlib import Path

import pytest

from precompute.build.plan import (
    BUILD_CAPTIONS_PER_SECOND,
    DB_BYTES_PER_SAMPLE,
    DRIVER_BYTES,
    ENCODER_CPU_CAPTIONS_PER_SECOND,
    MATCHED_SHARE,
    METADATA_BYTES_PER_ROW,
    SHARD_BYTES_PER_SAMPLE,
    WORKER_BASE_BYTES,
    estimate_build,
    format_corpus_report,
    plan_build,
)
from precompute.ingest.corpus_summary import summarize_corpus
from tests.laion_releases import write_deploy_layout, write_laion5b_embeddings


def test_estimate_by_hand(tmp_path: Path) -> None:
    summary = summarize_corpus(write_deploy_layout(tmp_path / "c", parts=3, rows=400, dim=768))
    estimate = estimate_build(summary, workers=2, encodes_captions=False)
    matched = int(1200 * MATCHED_SHARE)
    assert estimate.matched == matched
    assert estimate.seconds == pytest.approx(1200 / BUILD_CAPTIONS_PER_SECOND)
    assert estimate.database_bytes == matched * (2 * 768 * 4 + DB_BYTES_PER_SAMPLE)
    assert estimate.shard_bytes == matched * (2 * 768 * 2 + SHARD_BYTES_PER_SAMPLE)
    per_worker = WORKER_BASE_BYTES + 400 * (2 * 768 * 2 + METADATA_BYTES_PER_ROW)
    assert estimate.memory_bytes == DRIVER_BYTES + 2 * per_worker
    encoding = estimate_build(summary, workers=2, encodes_captions=True)
    assert encoding.seconds - estimate.seconds == pytest.approx(
        matched / ENCODER_CPU_CAPTIONS_PER_SECOND
    )


def test_report_names_layout_padding_and_refusal(tmp_path: Path) -> None:
    corpus = write_laion5b_embeddings(tmp_path / "laion2B-en", sibling=True)
    summary = summarize_corpus(corpus)
    with pytest.raises(ValueError, match="no synset-text embeddings") as refusal:
        plan_build(summary, text_encoder=None)
    lines = format_corpus_report(summary, plan=None, error=str(refusal.value))
    assert "part numbers padded to 4 digits" in lines[1]
    assert str(tmp_path / "laion2B-en-metadata") in lines[2]
    assert lines[-1].startswith("a build would stop: ") and "768-d" in lines[-1]
    plan = plan_build(summary, text_encoder="open_clip:ViT-L-14:laion2b_s32b_b82k")
    assert plan.encodes_captions and plan.synset_embeddings is None
    assert "are not used: captions are encoded with" in plan.warnings[0]
