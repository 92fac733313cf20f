"""Data-parallel shards of one checkpoint's evaluation, and how they merge back.

A shard is every n-th sample of the checkpoint's run (counted across all its suites and
benchmarks, so each shard gets a share of every benchmark), run through its own engine with
all the rounds multi-turn samples need. A shard writes one file only: its own response
cache, so two workers never write the same file, and a shard that is re-run (its worker
died) finds what it already answered there.

Merging does not combine scores: the shards' caches are copied into the checkpoint's cache
and the ordinary local runner evaluates the checkpoint again with a backend that only
replays them. Planning, scoring, predictions, results and manifests are therefore written by
the same code as a local run, and equal a local run's.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from evals.backends import BACKENDS, BackendSpec
from evals.config import EvalsConfig, ModelSpec, SuiteSpec, cache_path
from evals.errors import EvalsError
from evals.records import (
    GenerateRequest,
    GenerateResponse,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
)
from evals.run.engine import Engine, ProgressSink, ResponseCache
from evals.run.runner import PlannedBenchmark, converse, plan_model


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @property
    def label(self) -> str:
        return f"shard {self.index + 1}/{self.count}"


@dataclass(frozen=True)
class ShardReport:
    """What a finished shard tells the driver: enough to replay its answers."""

    model: str
    shard: Shard
    backend: str
    fingerprint: str
    requests: int
    generated: int
    """Requests the engine sent to the model (the rest came from the shard's cache)."""
    seconds: float
    host: str
    pid: int
    node: str = ""
    """The Ray node that ran it (empty outside Ray)."""


def shard_cache(config: EvalsConfig, config_dir: Path, model: ModelSpec, shard: Shard) -> Path:
    return (cache_path(config, config_dir).parent / "shards" / model.name
            / f"shard-{shard.index + 1}-of-{shard.count}.sqlite")


def select(planned: Sequence[PlannedBenchmark], shard: Shard) -> list[PlannedBenchmark]:
    """The shard's samples: whole samples, so a multi-turn conversation stays in one shard."""
    out, offset = [], 0
    for pb in planned:
        keep = [j for j in range(len(pb.samples)) if (offset + j) % shard.count == shard.index]
        offset += len(pb.samples)
        out.append(replace(pb, samples=[pb.samples[j] for j in keep],
                           requests=[pb.requests[j] for j in keep]))
    return out


def run_shard(config: EvalsConfig, config_dir: Path, model: ModelSpec,
              suites: Sequence[SuiteSpec], shard: Shard, *, limit: int | None = None,
              max_tokens: int | None = None, progress: ProgressSink | None = None
              ) -> ShardReport:
    """Answer every request of the shard's samples (all rounds) into its own cache."""
    started = time.time()
    runner = config.runner.model_copy(update={"data_parallel_size": 1})  # one replica here
    model_path, plans = plan_model(config, config_dir, model, suites, limit, max_tokens)
    backend = BACKENDS.get(runner.backend)(BackendSpec(model, model_path, runner))
    cache = ResponseCache(shard_cache(config, config_dir, model, shard))
    engine = Engine(backend, cache, runner.batch_size, runner.max_retries, 1.0, progress)
    try:
        converse(engine, select([b for p in plans for b in p.benchmarks], shard),
                 runner.tool_workers)
    finally:
        backend.close()
        cache.close()
    return ShardReport(model.name, shard, backend.name, backend.fingerprint(),
                       engine.stats.unique, engine.stats.unique - engine.stats.cached,
                       round(time.time() - started, 2), socket.gethostname(), os.getpid())


def merge_shards(config: EvalsConfig, config_dir: Path, model: ModelSpec, count: int) -> int:
    """Copy the shards' answers into the checkpoint's cache; returns how many were new."""
    cache = ResponseCache(cache_path(config, config_dir))
    try:
        return sum(cache.absorb(shard_cache(config, config_dir, model, Shard(i, count)))
                   for i in range(count))
    finally:
        cache.close()


class ShardMissing(EvalsError):
    pass


class Replay:
    """A backend that answers only from the cache: the engine asks it for nothing the
    shards answered, so any request reaching it is one no shard made."""

    def __init__(self, report: ShardReport) -> None:
        self.name = report.backend
        self._fingerprint = report.fingerprint
        self._model = report.model

    def fingerprint(self) -> str:
        return self._fingerprint

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResponse]:
        raise self._missing(len(requests))

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]
                      ) -> list[LoglikelihoodResponse]:
        raise self._missing(len(requests))

    def close(self) -> None:
        pass

    def _missing(self, n: int) -> ShardMissing:
        return ShardMissing(f"{self._model}: {n} request(s) are in no shard's cache; the "
                            "shards and the merge planned different work (data or suite "
                            "files changed during the run?); re-run to redo them")
