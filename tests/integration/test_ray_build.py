"""The Ray executor (local Ray on 2 CPUs) builds the same database as local processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from precompute.build.executors import IN_FLIGHT_PER_WORKER, RayExecutor, init_ray
from precompute.cli import main as precompute_main
from tests.db_content import assert_same_content
from tests.laion_corpus import write_laion_corpus
from tests.tiny_clip import build_tiny_clip_local_dir


@pytest.mark.slow
def test_a_ray_started_by_a_failed_executor_is_shut_down(monkeypatch) -> None:
    import ray

    if ray.is_initialized():
        pytest.skip("needs a process where Ray is not running yet")

    def fail() -> dict:
        raise RuntimeError("cluster unreachable")

    monkeypatch.setattr(ray, "cluster_resources", fail)  # fails after ray.init
    with pytest.raises(RuntimeError, match="cluster unreachable"):
        RayExecutor(workers=1)
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray on 2 CPUs, shared by the tests here (the executor joins it)."""
    import ray

    started = init_ray(num_cpus=2)
    yield
    if started:
        ray.shutdown()


def _build(corpus: Path, db: Path, *extra: str) -> None:
    argv = ["build", "--corpus", str(corpus), "--db", str(db), "--workers", "2", *extra]
    assert precompute_main(argv) == 0


@pytest.mark.slow
def test_ray_tasks_build_the_same_database(ray_session, tmp_path: Path) -> None:
    corpus = write_laion_corpus(tmp_path / "corpus", parts=4)
    _build(corpus, tmp_path / "local.duckdb")
    _build(corpus, tmp_path / "ray.duckdb", "--executor", "ray")
    assert_same_content(tmp_path / "local.duckdb", tmp_path / "ray.duckdb")


@pytest.mark.slow
def test_ray_encoder_actors_score_like_the_local_encoder(ray_session, tmp_path: Path) -> None:
    corpus = write_laion_corpus(tmp_path / "corpus", parts=3, text_emb=False)
    spec = f"open_clip:local-dir:{build_tiny_clip_local_dir(tmp_path / 'model')}"
    _build(corpus, tmp_path / "local.duckdb", "--encoder", spec)
    _build(corpus, tmp_path / "ray.duckdb", "--encoder", spec, "--executor", "ray")
    assert_same_content(tmp_path / "local.duckdb", tmp_path / "ray.duckdb")


@pytest.mark.slow
def test_shards_in_flight_follow_the_encoder_actors(ray_session, tmp_path: Path) -> None:
    spec = f"open_clip:local-dir:{build_tiny_clip_local_dir(tmp_path / 'model')}"
    with_actors, tasks = RayExecutor(workers=2, encoder_spec=spec), RayExecutor(workers=2)
    try:  # 2 CPUs, no GPU: one encoder actor
        assert with_actors.max_in_flight == 1 * IN_FLIGHT_PER_WORKER
        assert tasks.max_in_flight == 2 * IN_FLIGHT_PER_WORKER
    finally:
        with_actors.close()
        tasks.close()
