"""Where shards run: a local process pool, or Ray tasks with encoder actors.

Both executors offer the same three calls: ``describe_encoder`` and ``encode_texts``
(the caption encoder, when there is one, for the synset texts) and ``run_shards``,
which yields a ``ShardSummary`` per shard as shards finish (in any order).

* ``local``: shards run in ``workers`` spawned processes (in this process when
  ``workers`` is 1), which end when this process ends (``lifetime.die_with_parent``).
  With an encoder, the pool only matches; the captions are encoded in this process,
  where the model is loaded once.
* ``ray``: shards run as Ray tasks. With an encoder, matching runs as tasks and
  encoding + writing in a ``ray.util.ActorPool`` of encoder actors, one per GPU
  (``num_gpus=1`` each), or one CPU actor when the cluster has no GPU. Ray is imported
  only here, only when chosen. Locally ``ray.init(num_cpus=workers)``; with an address,
  the project travels as the job's ``working_dir`` (the corpus and the work folder
  must then be on a file system every node sees).

At most ``IN_FLIGHT_PER_WORKER`` shards per worker are in flight (submitted and not
yet consumed) at a time, so finished but unconsumed shards cannot pile up in memory. A
worker is a process, a CPU of the Ray cluster, or, with an encoder, an encoder actor
(the bottleneck then). The shard context (with the (C, D) synset embeddings) travels
once per worker: a pool ``initializer`` locally, ``ray.put`` on Ray.
"""

from __future__ import annotations

import logging
import os
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from functools import partial
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tqdm import tqdm

from precompute.build.lifetime import die_with_parent
from precompute.build.manifests import (
    ShardContext,
    clean_work_dir,
    read_manifest,
    shard_folder,
    verify_shard,
)
from precompute.build.shards import ShardEncoder, ShardSummary, build_shard, match_shard
from precompute.ingest.laion import LaionPart

logger = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
DEFAULT_EXECUTOR = "local"
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)  # the shared 2-core machine; raise on a big one
IN_FLIGHT_PER_WORKER = 2  # one shard running and one waiting keeps a worker busy
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Left out of the Ray job's working_dir upload: environments, data, history, caches.
RAY_EXCLUDES = [".venv", "data", ".git", "**/__pycache__", "*.duckdb", "*.npy", "*.parquet"]


@contextmanager
def _hidden_main_module() -> Iterator[None]:
    """Start processes that do not re-import this process's ``__main__``.

    A spawned process normally re-runs the parent's main script or module first: a
    script without a ``__name__`` guard, a Streamlit page under test, or the whole
    command line with every command's imports. Shard functions are imported by module
    name, so workers need none of it.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


_worker_context: ShardContext | None = None  # set once in each pool process


def _set_worker_context(context: ShardContext, parent_pid: int) -> None:
    """Pool initializer: end with the parent; keep the shard context for every shard."""
    global _worker_context
    die_with_parent(parent_pid)
    _worker_context = context


def _run_with_worker_context(fn: Callable[[LaionPart, ShardContext], Any], part: LaionPart) -> Any:
    """Run a shard function in a pool process with the context its initializer kept."""
    assert _worker_context is not None, "the pool was started without a shard context"
    return fn(part, _worker_context)


class LocalExecutor:
    """Shards in a local process pool; the caption encoder in this process.

    Args:
        workers: Processes (1: everything runs in this process).
        encoder_spec: Caption encoder, or None when the parts ship caption embeddings.
    """

    def __init__(self, *, workers: int, encoder_spec: str | None = None) -> None:
        self.workers = workers
        self._encoder = ShardEncoder(encoder_spec) if encoder_spec else None
        self._pool: ProcessPoolExecutor | None = None  # started by the first shard
        self._pool_context: ShardContext | None = None  # what its processes were given

    def describe_encoder(self) -> dict[str, Any]:
        """Name, dimension and precision of the caption encoder."""
        assert self._encoder is not None, "no encoder"
        return self._encoder.describe()

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """(N, D) float32 L2-normalised embeddings, from the caption encoder."""
        assert self._encoder is not None, "no encoder"
        return self._encoder.encode_texts(texts)

    def run_shards(self, parts: list[LaionPart], context: ShardContext) -> Iterator[ShardSummary]:
        """Build every part's shard; yields summaries as shards finish."""
        if self._encoder is None:
            yield from self._map(build_shard, parts, context)
            return
        for matched in self._map(match_shard, parts, context):
            yield self._encoder.finish_shard(matched, context)

    def _map(
        self,
        fn: Callable[[LaionPart, ShardContext], Any],
        parts: list[LaionPart],
        context: ShardContext,
    ) -> Iterator[Any]:
        if self.workers == 1 or not parts:
            yield from (fn(part, context) for part in parts)
            return
        pool = self._start_pool(context)
        call = partial(_run_with_worker_context, fn)  # pickled per shard: names only
        todo = iter(parts)
        running: set[Future] = {pool.submit(call, p) for p in islice(todo, self.max_in_flight)}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            running |= {pool.submit(call, p) for p in islice(todo, len(done))}
            for future in done:
                yield future.result()

    def _start_pool(self, context: ShardContext) -> ProcessPoolExecutor:
        """The process pool, its processes started with ``context`` (restarted for another)."""
        if self._pool is not None and self._pool_context is not context:
            self.close()
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=get_context("spawn"),
                initializer=_set_worker_context,
                initargs=(context, os.getpid()),
            )
            self._pool_context = context
            with _hidden_main_module():  # start every worker now, without our __main__
                for started in [self._pool.submit(os.getpid) for _ in range(self.workers)]:
                    started.result()
        return self._pool

    @property
    def max_in_flight(self) -> int:
        """Shards submitted to the pool and not yet consumed, at most."""
        return self.workers * IN_FLIGHT_PER_WORKER

    def close(self) -> None:
        """Stop the worker processes (queued shards are cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = self._pool_context = None


def init_ray(*, address: str | None = None, num_cpus: int | None = None) -> bool:
    """Start (or join) Ray so that its workers can import this project.

    Args:
        address: A cluster's address (``ray://host:10001`` or ``host:6379``); None starts
            a local Ray with ``num_cpus`` CPUs.
        num_cpus: CPUs of the local Ray.

    Returns:
        True when this call started Ray (the caller then shuts it down), False when
        Ray was already running.
    """
    import ray

    if ray.is_initialized():
        return False
    if address:
        runtime_env = {"working_dir": str(PROJECT_ROOT), "excludes": RAY_EXCLUDES}
        ray.init(address=address, runtime_env=runtime_env, logging_level=logging.WARNING)
    else:
        path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        ray.init(
            num_cpus=num_cpus,
            runtime_env={"env_vars": {"PYTHONPATH": path}},
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    return True


class RayExecutor:
    """Shards as Ray tasks; caption encoding in an ActorPool of encoder actors.

    Args:
        workers: CPUs of a local Ray (ignored with ``address``).
        address: Ray cluster address, or None for a local Ray.
        encoder_spec: Caption encoder, or None when the parts ship caption embeddings.
    """

    def __init__(
        self, *, workers: int, address: str | None = None, encoder_spec: str | None = None
    ) -> None:
        import ray
        from ray.util import ActorPool

        self._ray = ray
        self._owns_ray = init_ray(address=address, num_cpus=workers)
        self._actors: list[Any] = []
        try:
            resources = ray.cluster_resources()
            cpus = max(1, int(resources.get("CPU", 1)))
            if encoder_spec:
                gpus = int(resources.get("GPU", 0))
                # An actor holds a CPU for its lifetime; on a 1-CPU Ray it would starve matching.
                options = {"num_cpus": 1 if cpus > 1 else 0} | ({"num_gpus": 1} if gpus else {})
                actor_class = ray.remote(**options)(ShardEncoder)
                self._actors = [actor_class.remote(encoder_spec) for _ in range(max(gpus, 1))]
                where = "GPU" if gpus else "CPU"
                logger.info("%d encoder actor(s) on %s", len(self._actors), where)
            self._pool = ActorPool(self._actors) if self._actors else None
        except BaseException:
            self.close()  # a Ray this build started does not outlive it
            raise
        # The encoder actors are the bottleneck when there are any: more shards in flight
        # would only wait, matched, in the object store.
        self.max_in_flight = (len(self._actors) or cpus) * IN_FLIGHT_PER_WORKER

    def _get(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking Ray call; a task's ValueError/TypeError/OSError is re-raised as is."""
        try:
            return call(*args)
        except self._ray.exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, ValueError | TypeError | OSError):
                raise cause from None
            raise

    def describe_encoder(self) -> dict[str, Any]:
        """Name, dimension and precision of the caption encoder (from the first actor)."""
        return self._get(self._ray.get, self._actors[0].describe.remote())

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """(N, D) float32 L2-normalised embeddings, from the first encoder actor."""
        return self._get(self._ray.get, self._actors[0].encode_texts.remote(texts))

    def run_shards(self, parts: list[LaionPart], context: ShardContext) -> Iterator[ShardSummary]:
        """Build every part's shard; yields summaries as shards finish."""
        ray = self._ray
        shared = ray.put(context)
        todo = iter(parts)
        if self._pool is None:
            task = ray.remote(build_shard)
            running = [task.remote(p, shared) for p in islice(todo, self.max_in_flight)]
            while running:
                done, running = ray.wait(running, num_returns=1)
                running += [task.remote(p, shared) for p in islice(todo, 1)]
                yield self._get(ray.get, done[0])
            return
        match = ray.remote(match_shard)
        pool = self._pool

        def submit(batch: Iterable[LaionPart]) -> None:
            for part in batch:
                matched = match.remote(part, shared)
                pool.submit(lambda actor, ref: actor.finish_shard.remote(ref, shared), matched)

        submit(islice(todo, self.max_in_flight))
        while pool.has_next():
            summary = self._get(pool.get_next_unordered)
            submit(islice(todo, 1))
            yield summary

    def close(self) -> None:
        """Stop the encoder actors, and Ray itself when this executor started it."""
        for actor in self._actors:
            self._ray.kill(actor)
        if self._owns_ray:
            self._ray.shutdown()


def open_executor(
    kind: str, *, workers: int, address: str | None = None, encoder_spec: str | None = None
) -> LocalExecutor | RayExecutor:
    """The executor named ``kind`` (one of ``EXECUTORS``); call ``close`` when done.

    Args:
        kind: ``local`` or ``ray``.
        workers: Processes, or CPUs of a local Ray; >= 1 (checked by ``BuildConfig``).
        address: Ray cluster address (``ray`` only).
        encoder_spec: Caption encoder, or None when the parts ship caption embeddings.

    Raises:
        ValueError: Unknown kind, or an address with the local executor.
    """
    if kind not in EXECUTORS:
        raise ValueError(f"unknown executor {kind!r}; allowed: {', '.join(EXECUTORS)}")
    if kind == "local":
        if address:
            raise ValueError("--ray-address needs --executor ray")
        return LocalExecutor(workers=workers, encoder_spec=encoder_spec)
    return RayExecutor(workers=workers, address=address, encoder_spec=encoder_spec)


def _count_rows(path: Path) -> int:
    try:
        return pq.read_metadata(path).num_rows
    except Exception:  # a bad file is reported by its shard, with the reason
        return 0


def build_shards(
    parts: list[LaionPart],
    context: ShardContext,
    executor: LocalExecutor | RayExecutor,
    *,
    verify_inputs: bool = False,
) -> tuple[list[tuple[Path, dict]], int, int]:
    """Reuse every shard whose manifest verifies and build the others.

    Args:
        parts: The input parts.
        context: Parameters and synset embeddings (``context.work_dir`` holds the shards).
        executor: From ``precompute.build.executors.open_executor``.
        verify_inputs: Re-hash inputs instead of trusting size and mtime.

    Returns:
        ``(folder, manifest)`` per part in part order, the number of shards built and
        the captions read by this run.
    """
    context.work_dir.mkdir(parents=True, exist_ok=True)
    clean_work_dir(context.work_dir)
    manifests: dict[int, dict] = {}
    pending = []
    for part in parts:
        manifest, why = verify_shard(part, context, verify_inputs=verify_inputs)
        if manifest is not None:
            manifests[part.index] = manifest
            continue
        pending.append(part)
        log = logger.debug if why == "no manifest" else logger.info
        log("%s: rebuilt (%s)", shard_folder(context.work_dir, part).name, why)
    logger.info(
        "%s: %d of %d shards verified and reused, %d to build",
        context.work_dir,
        len(manifests),
        len(parts),
        len(pending),
    )
    captions, peak = 0, 0.0
    rows = sum(_count_rows(p.metadata) for p in pending)
    shard_bar = tqdm(total=len(parts), initial=len(manifests), desc="shards", unit="shard")
    caption_bar = tqdm(total=rows, desc="captions", unit="caption", unit_scale=True)
    with shard_bar, caption_bar:
        for summary in executor.run_shards(pending, context):
            shard_bar.update()
            caption_bar.update(summary.rows_in)
            captions += summary.rows_in
            peak = max(peak, summary.peak_rss_mib or 0.0)
    if pending:
        logger.info("largest peak RSS of a process that built shards: %.0f MiB", peak)
    for part in pending:
        folder = shard_folder(context.work_dir, part)
        manifest = read_manifest(folder)
        if manifest is None:  # the shard functions write it last; a crash would have raised
            raise RuntimeError(f"{folder}: no manifest after building")
        manifests[part.index] = manifest
    shards = [(shard_folder(context.work_dir, p), manifests[p.index]) for p in parts]
    return shards, len(pending), captions
