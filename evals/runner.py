"""A run: plan every benchmark of every suite, load the model once, answer, score, write.

Data and settings are checked before the model loads, so a typo costs seconds, not a model
load. All requests of all suites go to one engine in one call; responses land in the cache
as batches finish, predictions are written as samples are scored, ``results.json`` after
each benchmark. Rerunning a killed run recomputes nothing that finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evals import benchmarks as _benchmarks  # noqa: F401  (registers the benchmarks)
from evals.backends import BACKENDS, Backend, BackendSpec
from evals.benchmarks.base import BENCHMARKS, Benchmark, BenchmarkContext, select, summarize
from evals.config import EvalsConfig, ModelSpec, SuiteSpec, data_root, resolve_path
from evals.embedded import resolve_model_path
from evals.engine import Engine, ProgressSink, ResponseCache
from evals.errors import ConfigError
from evals.manifest import build_manifest, write_json
from evals.records import (
    SCHEMA_VERSION,
    BenchmarkResult,
    DimensionScore,
    GenerateRequest,
    GenerateResponse,
    LoglikelihoodRequest,
    Mode,
    ModelKind,
    Request,
    Sample,
    SampleResult,
    prompt_to_json,
    request_key,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedBenchmark:
    benchmark: Benchmark[Any]
    ctx: BenchmarkContext
    samples: list[Sample]
    requests: list[list[Request]]

    def prompt_hash(self) -> str:
        h = hashlib.sha256()
        for reqs in self.requests:
            for r in reqs:
                h.update(request_key(r).encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class PlannedSuite:
    suite: SuiteSpec
    run_dir: Path
    benchmarks: list[PlannedBenchmark]


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    results: list[BenchmarkResult]


def _mode(benchmark: Benchmark[Any], requested: Mode | None, kind: ModelKind, where: str) -> Mode:
    if requested is None:
        return Mode.PPL if kind is ModelKind.BASE and Mode.PPL in benchmark.modes else Mode.GEN
    if requested not in benchmark.modes:
        supported = ", ".join(m.value for m in benchmark.modes)
        raise ConfigError(
            f"{where}: benchmark {benchmark.name}: mode {requested.value} unsupported "
            f"(supported: {supported})"
        )
    return requested


def _cap(request: Request, max_tokens: int | None) -> Request:
    if max_tokens is None or not isinstance(request, GenerateRequest):
        return request
    if request.params.max_tokens <= max_tokens:
        return request
    return replace(request, params=replace(request.params, max_tokens=max_tokens))


def plan_suite(suite: SuiteSpec, model: ModelSpec, data_dir: Path, run_dir: Path,
               limit: int | None = None, max_tokens: int | None = None) -> PlannedSuite:
    """``limit`` and ``max_tokens`` override every line (smoke runs): at most ``limit``
    samples per benchmark and ``max_tokens`` new tokens per generation."""
    planned = []
    for line in suite.benchmarks:
        bench = BENCHMARKS.get(line.name)
        ctx = BenchmarkContext(
            data_dir=data_dir,
            kind=model.kind,
            mode=_mode(bench, line.mode, model.kind, f"suite {suite.name}"),
            shots=bench.default_shots if line.shots is None else line.shots,
            limit=limit if limit is not None else line.limit,
            max_tokens=line.max_tokens,
        )
        samples = select(bench.load(ctx), ctx.limit)
        requests = [[_cap(r, max_tokens) for r in bench.requests(s, ctx)] for s in samples]
        planned.append(PlannedBenchmark(bench, ctx, samples, requests))
    return PlannedSuite(suite, run_dir, planned)


def run_dir_for(config: EvalsConfig, config_dir: Path, model: ModelSpec, suite: str) -> Path:
    return resolve_path(config_dir, config.output_dir) / model.name / suite


def cache_path(config: EvalsConfig, config_dir: Path) -> Path:
    root = config.cache_dir or str(Path(config.output_dir) / ".cache")
    return resolve_path(config_dir, root) / "responses.sqlite"


BackendBuilder = Callable[[BackendSpec], Backend]


def run_model(
    config: EvalsConfig,
    config_dir: Path,
    model: ModelSpec,
    suites: Sequence[SuiteSpec],
    *,
    limit: int | None = None,
    max_tokens: int | None = None,
    backend_builder: BackendBuilder | None = None,
    progress: ProgressSink | None = None,
    retry_backoff_s: float = 1.0,
) -> list[RunOutcome]:
    """Evaluate one checkpoint on several suites with a single engine."""
    data_dir = data_root(config, config_dir)
    plans = [
        plan_suite(s, model, data_dir, run_dir_for(config, config_dir, model, s.name), limit,
                   max_tokens)
        for s in suites
    ]
    model_path = model.path if config.runner.backend in ("openai", "mock") else (
        resolve_model_path(model.path)
    )
    build = backend_builder or BACKENDS.get(config.runner.backend)
    started = time.time()
    backend = build(BackendSpec(model, model_path, config.runner))
    cache = ResponseCache(cache_path(config, config_dir))
    engine = Engine(backend, cache, config.runner.batch_size, config.runner.max_retries,
                    retry_backoff_s, progress)
    manifests = {}
    for plan in plans:
        plan.run_dir.mkdir(parents=True, exist_ok=True)
        manifests[plan.run_dir] = build_manifest(config, model, model_path, plan, backend,
                                                 status="running")
        write_json(plan.run_dir / "manifest.json", manifests[plan.run_dir])
    try:
        answers = engine.run([r for p in plans for b in p.benchmarks for rs in b.requests
                              for r in rs])
        outcomes = [_score_suite(p, answers) for p in plans]
    finally:
        cache.close()
        backend.close()
    for plan in plans:
        manifest = manifests[plan.run_dir]
        manifest.update(status="complete", wall_seconds=round(time.time() - started, 2),
                        engine=engine.stats.__dict__)
        write_json(plan.run_dir / "manifest.json", manifest)
    return outcomes


def _score_suite(plan: PlannedSuite, answers: dict[str, Any]) -> RunOutcome:
    pred_dir = plan.run_dir / "predictions"
    pred_dir.mkdir(parents=True, exist_ok=True)
    results: list[BenchmarkResult] = []
    for pb in plan.benchmarks:
        sample_results = []
        with (pred_dir / f"{pb.benchmark.name}.jsonl").open("w", encoding="utf-8") as f:
            for sample, reqs in zip(pb.samples, pb.requests, strict=True):
                responses = [answers[request_key(r)] for r in reqs]
                score = pb.benchmark.score(sample, responses, pb.ctx)
                sr = SampleResult(
                    sample_id=sample.id,
                    group=pb.benchmark.group(sample),
                    prompt=_prompt_of(reqs),
                    target=sample.target,
                    outputs=tuple(r.text if isinstance(r, GenerateResponse) else
                                  f"{r.logprob:.4f}" for r in responses),
                    score=score,
                )
                f.write(json.dumps(sr.to_json(), ensure_ascii=False) + "\n")
                sample_results.append(sr)
        results.append(summarize(pb.benchmark, pb.ctx, sample_results))
        _write_results(plan, results)
    return RunOutcome(plan.run_dir, results)


def _prompt_of(reqs: Sequence[Request]) -> str | list[dict[str, str]]:
    first = reqs[0]
    if isinstance(first, GenerateRequest):
        return prompt_to_json(first.prompt)
    assert isinstance(first, LoglikelihoodRequest)
    return prompt_to_json(first.context)


def dimension_scores(suite: SuiteSpec, results: Sequence[BenchmarkResult]) -> list[DimensionScore]:
    by_name = {r.benchmark: r.primary.value for r in results}
    out = []
    for name, members in suite.dimensions.items():
        missing = tuple(m for m in members if m not in by_name)
        value = None if missing else sum(by_name[m] for m in members) / len(members)
        out.append(DimensionScore(name, value, tuple(members), missing))
    return out


def _write_results(plan: PlannedSuite, results: Sequence[BenchmarkResult]) -> None:
    write_json(plan.run_dir / "results.json", {
        "schema": SCHEMA_VERSION,
        "suite": plan.suite.name,
        "benchmarks": [r.to_json() for r in results],
        "dimensions": [d.to_json() for d in dimension_scores(plan.suite, results)],
    })


def _results_json(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "results.json"
    if not path.is_file():
        raise ConfigError(f"{path}: not found; is {run_dir} a finished run directory?")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if data.get("schema") != SCHEMA_VERSION:
        raise ConfigError(f"{path}: schema {data.get('schema')} (this evals reads {SCHEMA_VERSION})")
    return data


def read_results(run_dir: Path) -> list[BenchmarkResult]:
    return [BenchmarkResult.from_json(b) for b in _results_json(run_dir)["benchmarks"]]


def read_dimensions(run_dir: Path) -> list[DimensionScore]:
    return [DimensionScore.from_json(d) for d in _results_json(run_dir).get("dimensions", [])]
