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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from evals import benchmarks as _benchmarks  # noqa: F401  (registers the benchmarks)
from evals.backends import BACKENDS, Backend, BackendSpec
from evals.backends.base import LazyBackend, load_identity
from evals.backends.engine_log import engine_logs
from evals.benchmarks.base import (
    BENCHMARKS,
    Benchmark,
    BenchmarkContext,
    Judged,
    MultiTurn,
    OffersJudgeScorer,
    WritesArtifacts,
    select,
    spec_of,
    summarize,
)
from evals.config import (
    EvalsConfig,
    ModelSpec,
    SuiteSpec,
    cache_path,
    data_root,
    resolve_path,
)
from evals.data_sources import MissingDataError
from evals.embedded import resolve_model_path
from evals.errors import ConfigError, DataError
from evals.fetch import fetch_command
from evals.files import write_json
from evals.judging.judge import Judge, JudgeRun, build_judge
from evals.records import (
    RESULTS_SCHEMA,
    BenchmarkResult,
    DimensionScore,
    GenerateRequest,
    GenerateResponse,
    LoglikelihoodRequest,
    Mode,
    ModelKind,
    Request,
    Response,
    Sample,
    SampleResult,
    Score,
    SkippedBenchmark,
    prompt_to_json,
    request_key,
)
from evals.run.engine import Engine, ProgressSink, ResponseCache
from evals.run.manifest import build_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedBenchmark:
    benchmark: Benchmark[Any]
    ctx: BenchmarkContext
    samples: list[Sample]
    requests: list[list[Request]]
    """Round one; multi-turn benchmarks add later rounds as answers arrive."""
    max_tokens: int | None = None
    total: int | None = None
    """Items of the full set, before the limit's slice."""

    def prompt_hash(self) -> str:
        h = hashlib.sha256()
        for reqs in self.requests:
            for r in reqs:
                h.update(request_key(r).encode())
        return h.hexdigest()[:16]

    def sampling(self) -> list[dict[str, Any]]:
        """The distinct generation settings of this benchmark's requests (usually one)."""
        seen: dict[str, dict[str, Any]] = {}
        for reqs in self.requests:
            for r in reqs:
                if isinstance(r, GenerateRequest):
                    params = asdict(r.params)
                    seen.setdefault(json.dumps(params, sort_keys=True), params)
        return list(seen.values())


@dataclass(frozen=True)
class PlannedSuite:
    suite: SuiteSpec
    run_dir: Path
    benchmarks: list[PlannedBenchmark]
    skipped: tuple[SkippedBenchmark, ...] = ()
    """Benchmarks whose data is missing (run with ``skip_missing``): recorded as not run."""


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
               limit: int | None = None, max_tokens: int | None = None, *,
               model_path: str | None = None, max_model_len: int | None = None) -> PlannedSuite:
    """``limit`` and ``max_tokens`` override every line (smoke runs): at most ``limit``
    samples per benchmark and ``max_tokens`` new tokens per generation. ``model_path`` (a
    local folder or hub id) lets tests sized in the model's own tokens load its tokenizer."""
    planned, skipped = [], []
    for line in suite.benchmarks:
        bench = _scored_by(BENCHMARKS.get(line.name), line.scorer, suite.name)
        ctx = BenchmarkContext(
            data_dir=data_dir,
            kind=model.kind,
            mode=_mode(bench, line.mode, model.kind, f"suite {suite.name}"),
            shots=bench.default_shots if line.shots is None else line.shots,
            limit=limit if limit is not None else line.limit,
            max_tokens=line.max_tokens,
            judge_order=line.judge_order,
            model_path=model_path,
            max_model_len=max_model_len,
            lengths=tuple(line.lengths) if line.lengths else None,
            repeats=line.repeats,
        )
        try:
            loaded = bench.load(ctx)
        except MissingDataError as err:
            skipped.append(SkippedBenchmark(line.name, " ".join(str(err).split())))
            continue
        samples = select(loaded, ctx.limit)
        requests = [[_cap(r, max_tokens) for r in bench.requests(s, ctx)] for s in samples]
        planned.append(PlannedBenchmark(bench, ctx, samples, requests, max_tokens, len(loaded)))
    return PlannedSuite(suite, run_dir, planned, tuple(skipped))


def _scored_by(bench: Benchmark[Any], scorer: str | None, suite: str) -> Benchmark[Any]:
    if scorer != "judge" or isinstance(bench, Judged):
        return bench
    if not isinstance(bench, OffersJudgeScorer):
        raise ConfigError(f"suite {suite}: {bench.name} has no judge scorer; remove "
                          "'scorer: judge' from its line")
    return bench.with_judge()


def run_dir_for(config: EvalsConfig, config_dir: Path, model: ModelSpec, suite: str) -> Path:
    return resolve_path(config_dir, config.output_dir) / model.name / suite


BackendBuilder = Callable[[BackendSpec], Backend]
Conversations = dict[int, list[list[Request]]]
"""Every request of every sample, all rounds, keyed by ``id()`` of its PlannedBenchmark."""


def run_model(
    config: EvalsConfig,
    config_dir: Path,
    model: ModelSpec,
    suites: Sequence[SuiteSpec],
    *,
    limit: int | None = None,
    max_tokens: int | None = None,
    backend_builder: BackendBuilder | None = None,
    judge_builder: BackendBuilder | None = None,
    progress: ProgressSink | None = None,
    retry_backoff_s: float = 1.0,
) -> list[RunOutcome]:
    """Evaluate one checkpoint on several suites with a single engine; then, if any
    benchmark is judged, unload it and let the judge score the answers."""
    model_path, plans = plan_model(config, config_dir, model, suites, limit, max_tokens)
    _check_judge(config, plans)
    build = backend_builder or BACKENDS.get(config.runner.backend)
    started = time.time()
    spec = BackendSpec(model, model_path, config.runner)
    cache = ResponseCache(cache_path(config, config_dir))
    identity = load_identity(spec)
    backend = LazyBackend(build, spec, cache.fingerprint_of(identity))
    manifests: dict[Path, dict[str, Any]] = {}
    for plan in plans:
        plan.run_dir.mkdir(parents=True, exist_ok=True)
    with engine_logs([p.run_dir for p in plans]):  # a fingerprint may load the model
        engine = Engine(backend, cache, config.runner.batch_size, config.runner.max_retries,
                        retry_backoff_s, progress)
        try:
            for plan in plans:
                manifests[plan.run_dir] = build_manifest(config, model, model_path, plan,
                                                         backend, status="running")
                write_json(plan.run_dir / "manifest.json", manifests[plan.run_dir])
            outcomes, judge = _answer_and_score(config, plans, engine, cache, identity,
                                                judge_builder, progress)
        except BaseException as exc:
            _mark_unfinished(manifests, exc, started)
            raise
    for plan in plans:
        manifest = manifests[plan.run_dir]
        manifest.update(status="complete", wall_seconds=round(time.time() - started, 2),
                        engine=engine.stats.__dict__)
        if judge is not None and _judged(plan):
            manifest["judge"] = {**judge.identity(), "engine": judge.engine.stats.__dict__}
        write_json(plan.run_dir / "manifest.json", manifest)
    return outcomes


def _answer_and_score(config: EvalsConfig, plans: Sequence[PlannedSuite], engine: Engine,
                      cache: ResponseCache, identity: str, judge_builder: BackendBuilder | None,
                      progress: ProgressSink | None) -> tuple[list[RunOutcome], Judge | None]:
    """Every request through the one engine, the engine closed, then judging and scoring."""
    backend = engine.backend
    judge: Judge | None = None
    try:
        try:
            answers, convs = converse(engine, [b for p in plans for b in p.benchmarks],
                                       config.runner.tool_workers)
        finally:
            if isinstance(backend, LazyBackend) and backend.loaded is not None:
                cache.remember_fingerprint(identity, backend.loaded.fingerprint())
            backend.close()  # before a local judge loads into the same memory
        if config.judge is not None and any(_judged(p) for p in plans):
            judge = build_judge(config.judge, config.runner, cache, judge_builder, progress)
        return [_score_suite(p, answers, convs, judge) for p in plans], judge
    finally:
        cache.close()
        if judge is not None:
            judge.close()


def _mark_unfinished(manifests: dict[Path, dict[str, Any]], exc: BaseException,
                     started: float) -> None:
    """A run that stops early says so on disk: ``interrupted`` (Ctrl-C, SIGTERM) or
    ``failed`` with the error, never ``running`` forever; a re-run resumes from the cache
    and writes ``complete``."""
    interrupted = isinstance(exc, KeyboardInterrupt | SystemExit)
    for run_dir, manifest in manifests.items():
        manifest.update(status="interrupted" if interrupted else "failed",
                        wall_seconds=round(time.time() - started, 2))
        if not interrupted:
            manifest["error"] = " ".join(str(exc).split())[:500] or type(exc).__name__
        try:
            write_json(run_dir / "manifest.json", manifest)
        except OSError:
            continue


def plan_model(config: EvalsConfig, config_dir: Path, model: ModelSpec,
               suites: Sequence[SuiteSpec], limit: int | None = None,
               max_tokens: int | None = None) -> tuple[str, list[PlannedSuite]]:
    """Where the checkpoint's weights are, and every suite's samples and first requests."""
    data_dir = data_root(config, config_dir)
    model_path = model.path if config.runner.backend in ("openai", "mock") else (
        resolve_model_path(model.path)
    )
    plans = [
        plan_suite(s, model, data_dir, run_dir_for(config, config_dir, model, s.name), limit,
                   max_tokens,
                   model_path=_tokenizer_source(model, config.runner.backend, model_path),
                   max_model_len=config.runner.max_model_len)
        for s in suites
    ]
    if not config.skip_missing:
        _refuse_missing(plans, data_dir)
    return model_path, plans


def _refuse_missing(plans: Sequence[PlannedSuite], data_dir: Path) -> None:
    """Every missing set at once, before the model loads: the data folder looked in, the
    command that fetches those with a pinned source, and the sets a user gets by hand."""
    missing = list(dict.fromkeys(s.benchmark for p in plans for s in p.skipped))
    if not missing:
        return
    suites = ", ".join(p.suite.name for p in plans if p.skipped)
    fetchable = [m for m in missing if (spec := spec_of(m)) is not None and spec.remote]
    manual = [m for m in missing if m not in fetchable]
    how = [f"get {', '.join(fetchable)} with `{fetch_command(fetchable)}`"] if fetchable else []
    how += [f"{', '.join(manual)} by hand (no public source to fetch)"] if manual else []
    raise DataError(
        f"data missing under {data_dir} for {len(missing)} benchmark(s) of {suites}: "
        f"{', '.join(missing)}; {'; '.join(how)} (see `evals data status`), or run the rest "
        "with `evals run --skip-missing`")


def _tokenizer_source(model: ModelSpec, backend: str, model_path: str) -> str | None:
    """Where the model's tokenizer lives: its folder (or hub id) for local backends, and for
    mock/openai runs the model's path when that is an embedded name or a local folder."""
    if backend in ("vllm", "hf"):
        return model_path
    if model.path.startswith("embedded:"):
        return resolve_model_path(model.path)
    return model.path if Path(model.path).is_dir() else None


def _judged(plan: PlannedSuite) -> list[PlannedBenchmark]:
    return [b for b in plan.benchmarks if isinstance(b.benchmark, Judged)]


def _check_judge(config: EvalsConfig, plans: Sequence[PlannedSuite]) -> None:
    """Fail before the model loads, not after hours of generation."""
    names = sorted({b.benchmark.name for p in plans for b in _judged(p)})
    if names and config.judge is None:
        raise ConfigError(
            f"evals.yaml: benchmarks {', '.join(names)} are scored by a judge model; add a "
            "'judge:' section (name, backend, path; see README) or drop them from the suite"
        )


MAX_ROUNDS = 64


def converse(
    engine: Engine, planned: Sequence[PlannedBenchmark], workers: int = 1
) -> tuple[dict[str, Response], Conversations]:
    """All first-round requests in one engine call, then one call per further round, each
    batched across every multi-turn sample that still has something to ask. Between rounds,
    ``follow_up`` runs for ``workers`` samples at once: for tool-using benchmarks it runs the
    sample's sandboxed code, which waits on a child process, so threads overlap it."""
    convs: Conversations = {id(pb): [list(rs) for rs in pb.requests] for pb in planned}
    answers = engine.run([r for pb in planned for rs in convs[id(pb)] for r in rs])
    multi = [pb for pb in planned if isinstance(pb.benchmark, MultiTurn)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="follow-up") as pool:
        for _ in range(MAX_ROUNDS):
            new: list[Request] = []
            for pb in multi:
                for more in pool.map(partial(_follow_up, pb, answers),
                                     pb.samples, convs[id(pb)]):
                    new.extend(more)
            if not new:
                return answers, convs
            answers.update(engine.run(new))
    raise ConfigError(f"multi-turn benchmarks asked for more than {MAX_ROUNDS} rounds")


def _follow_up(pb: PlannedBenchmark, answers: dict[str, Response], sample: Sample,
               reqs: list[Request]) -> list[Request]:
    """The sample's next requests, appended to its conversation (each thread owns one)."""
    assert isinstance(pb.benchmark, MultiTurn)
    more = pb.benchmark.follow_up(sample, [answers[request_key(r)] for r in reqs], pb.ctx)
    more = [_cap(r, pb.max_tokens) for r in more]
    reqs.extend(more)
    return more


def _score_suite(plan: PlannedSuite, answers: dict[str, Response], convs: Conversations,
                 judge: Judge | None) -> RunOutcome:
    """Benchmarks without a judge are scored and written first, so a judge that fails
    (endpoint down, quota) loses nothing that was already computed."""
    pred_dir = plan.run_dir / "predictions"
    pred_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, BenchmarkResult] = {}
    order = sorted(plan.benchmarks, key=lambda pb: isinstance(pb.benchmark, Judged))
    for pb in order:
        responses = [[answers[request_key(r)] for r in reqs] for reqs in convs[id(pb)]]
        judge_run: JudgeRun | None = None
        if isinstance(pb.benchmark, Judged):
            assert judge is not None
            scores, judge_run = _score_judged(pb, responses, judge)
        else:
            scores = [pb.benchmark.score(s, rs, pb.ctx) for s, rs in zip(pb.samples, responses,
                                                                         strict=True)]
        sample_results = _write_predictions(pb, convs[id(pb)], responses, scores, pred_dir)
        result = replace(summarize(pb.benchmark, pb.ctx, sample_results), limit=pb.ctx.limit,
                         total=pb.total)
        if judge and judge_run:
            result = replace(result, judge=judge.usage(judge_run, sample_results))
        results[pb.benchmark.name] = result
        if isinstance(pb.benchmark, WritesArtifacts):
            pb.benchmark.write_artifacts(sample_results, pb.ctx, plan.run_dir)
        _write_results(plan, [results[b.benchmark.name] for b in plan.benchmarks
                              if b.benchmark.name in results])
    return RunOutcome(plan.run_dir, [results[b.benchmark.name] for b in plan.benchmarks])


def _score_judged(pb: PlannedBenchmark, responses: list[list[Response]], judge: Judge
                  ) -> tuple[list[Score], JudgeRun]:
    bench = pb.benchmark
    assert isinstance(bench, Judged)
    asks = [bench.judge_requests(s, rs, pb.ctx) for s, rs in zip(pb.samples, responses,
                                                                 strict=True)]
    run = judge.run([r for rs in asks for r in rs])
    scores = []
    for sample, rs, jreqs in zip(pb.samples, responses, asks, strict=True):
        verdicts = [run.answers[request_key(r)] for r in jreqs]
        scores.append(bench.score_judged(
            sample, rs, [v for v in verdicts if isinstance(v, GenerateResponse)], pb.ctx))
    return scores, run


def _write_predictions(pb: PlannedBenchmark, convs: list[list[Request]],
                       responses: list[list[Response]], scores: list[Any],
                       pred_dir: Path) -> list[SampleResult]:
    sample_results = []
    with (pred_dir / f"{pb.benchmark.name}.jsonl").open("w", encoding="utf-8") as f:
        for sample, reqs, rs, score in zip(pb.samples, convs, responses, scores, strict=True):
            sr = SampleResult(
                sample_id=sample.id,
                group=pb.benchmark.group(sample),
                prompt=_prompt_of(reqs),
                target=sample.target,
                outputs=tuple(r.text if isinstance(r, GenerateResponse) else
                              f"{r.logprob:.4f}" for r in rs),
                score=score,
            )
            f.write(json.dumps(sr.to_json(), ensure_ascii=False) + "\n")
            sample_results.append(sr)
    return sample_results


def _prompt_of(reqs: Sequence[Request]) -> str | list[dict[str, str]]:
    first = reqs[0]
    if isinstance(first, GenerateRequest):
        return prompt_to_json(first.prompt)
    assert isinstance(first, LoglikelihoodRequest)
    return prompt_to_json(first.context)


def dimension_scores(plan: PlannedSuite, results: Sequence[BenchmarkResult]
                     ) -> list[DimensionScore]:
    # a suite line's name, or its judged twin's ("single_needle_en_judge") when it ran so
    skipped = {s.benchmark for s in plan.skipped}
    ran = [line for line in plan.suite.benchmarks if line.name not in skipped]
    line_of = {pb.benchmark.name: line.name
               for line, pb in zip(ran, plan.benchmarks, strict=True)}
    by_name = {line_of.get(r.benchmark, r.benchmark): r.primary.value for r in results}
    out = []
    for name, members in plan.suite.dimensions.items():
        weights = members if isinstance(members, dict) else dict.fromkeys(members, 1.0)
        missing = tuple(m for m in weights if m not in by_name)
        value = None if missing else (sum(w * by_name[m] for m, w in weights.items())
                                      / sum(weights.values()))
        out.append(DimensionScore(name, value, tuple(weights), missing,
                                  tuple(weights.values()) if isinstance(members, dict) else ()))
    return out


def _write_results(plan: PlannedSuite, results: Sequence[BenchmarkResult]) -> None:
    write_json(plan.run_dir / "results.json", {
        "schema": RESULTS_SCHEMA,
        "suite": plan.suite.name,
        "benchmarks": [r.to_json() for r in results],
        "dimensions": [d.to_json() for d in dimension_scores(plan, results)],
        "skipped": [s.to_json() for s in plan.skipped],
    })


