"""``runner.executor: ray``: each (checkpoint, shard) is a Ray task asking for its engine's
GPUs; the driver shows one progress bar for all of them, then merges each checkpoint whose
shards all finished into its run directories (``evals.run.shards``).

Ray re-runs a task whose worker process or node died (``runner.ray.max_retries``); the new
attempt finds the requests the dead one finished in the shard's cache. A shard that fails
for a reason of its own (bad data, a model that does not load) is not retried; it is named
with its checkpoint and shard, and the other checkpoints still complete. The output and cache
directories must be on a file system every node and the driver see (as for any multi-node
run: NFS, Lustre, a shared volume).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evals.config import EvalsConfig, ModelSpec, SuiteSpec
from evals.errors import ConfigError, EvalsError
from evals.run.runner import RunOutcome, run_model
from evals.run.shards import Replay, Shard, ShardReport, merge_shards, run_shard

POLL_S = 0.5


@dataclass(frozen=True)
class Job:
    model: ModelSpec
    suites: tuple[SuiteSpec, ...]


@dataclass(frozen=True)
class JobOutcome:
    model: ModelSpec
    outcomes: tuple[RunOutcome, ...] = ()
    shards: tuple[ShardReport, ...] = ()
    failure: str | None = None
    """Which shard failed and why; the checkpoint's run directories are then not written."""


@dataclass
class Board:
    """Every shard's requests done and planned (a Ray actor); a re-run shard starts over."""

    totals: dict[str, int] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    tokens: int = 0

    def begin(self, key: str) -> None:
        self.totals[key] = self.done[key] = 0

    def start(self, key: str, total: int) -> None:
        self.totals[key] = self.totals.get(key, 0) + total

    def advance(self, key: str, requests: int, tokens: int) -> None:
        self.done[key] = self.done.get(key, 0) + requests
        self.tokens += tokens

    def snapshot(self) -> tuple[int, int, int]:
        return sum(self.done.values()), sum(self.totals.values()), self.tokens


class BoardSink:
    """The engine's progress sink inside a shard task: forwards to the board actor."""

    def __init__(self, board: Any, key: str) -> None:
        self.board, self.key = board, key

    def start(self, label: str, total: int) -> None:
        self.board.start.remote(self.key, total)

    def advance(self, requests: int, tokens: int) -> None:
        self.board.advance.remote(self.key, requests, tokens)

    def stop(self) -> None:
        pass


def shard_task(config_json: str, config_dir: str, model_json: str, suites_json: list[str],
               shard: Shard, limit: int | None, max_tokens: int | None, board: Any
               ) -> ShardReport:
    """The Ray task body (module level, so workers import it rather than unpickle code)."""
    config = EvalsConfig.model_validate_json(config_json)
    model = ModelSpec.model_validate_json(model_json)
    suites = [SuiteSpec.model_validate_json(s) for s in suites_json]
    key = f"{model.name} {shard.label}"
    board.begin.remote(key)
    _announce(config, Path(config_dir), model, shard)
    import ray

    report = run_shard(config, Path(config_dir), model, suites, shard, limit=limit,
                       max_tokens=max_tokens, progress=BoardSink(board, key))
    return replace(report, node=ray.get_runtime_context().get_node_id())


def _announce(config: EvalsConfig, config_dir: Path, model: ModelSpec, shard: Shard) -> None:
    """Which process runs the shard now (beside its cache): for operators, and for tests
    that kill it."""
    from evals.run.shards import shard_cache

    path = shard_cache(config, config_dir, model, shard).with_suffix(".pid")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")


Progress = Callable[[int, int, int], None]
"""(requests done, requests planned so far, tokens) for the driver's one bar."""


def run_jobs(config: EvalsConfig, config_dir: Path, jobs: Sequence[Job], *,
             limit: int | None = None, max_tokens: int | None = None,
             progress: Progress | None = None) -> list[JobOutcome]:
    ray = _connect(config)
    board = ray.remote(Board).options(num_cpus=0).remote()
    count = config.runner.data_parallel_size
    task = ray.remote(shard_task).options(
        num_cpus=config.runner.ray.num_cpus, num_gpus=_gpus(ray, config),
        max_retries=config.runner.ray.max_retries, retry_exceptions=False,
        scheduling_strategy="SPREAD")  # replicas on different nodes where there is room
    refs: dict[Any, tuple[Job, Shard]] = {}
    for job in jobs:
        for i in range(count):
            ref = task.remote(config.model_dump_json(), str(config_dir),
                              job.model.model_dump_json(),
                              [s.model_dump_json() for s in job.suites], Shard(i, count),
                              limit, max_tokens, board)
            refs[ref] = (job, Shard(i, count))
    reports, failures = _gather(ray, refs, board, progress)
    outcomes = []
    for job in jobs:
        if job.model.name in failures:
            outcomes.append(JobOutcome(job.model, failure=failures[job.model.name]))
            continue
        outcomes.append(_merge(config, config_dir, job, reports[job.model.name], limit,
                               max_tokens))
    return outcomes


def _gather(ray: Any, refs: dict[Any, tuple[Job, Shard]], board: Any,
            progress: Progress | None) -> tuple[dict[str, list[ShardReport]], dict[str, str]]:
    reports: dict[str, list[ShardReport]] = {}
    failures: dict[str, str] = {}
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_S)
        for ref in ready:
            job, shard = refs[ref]
            try:
                report: ShardReport = ray.get(ref)
            except Exception as err:  # a RayTaskError wrapping the shard's own error
                failures.setdefault(job.model.name, f"{shard.label}: {_reason(err)}")
                continue
            first = reports.setdefault(job.model.name, [report])[0]
            if report is not first:
                reports[job.model.name].append(report)
            if first.fingerprint != report.fingerprint:
                failures.setdefault(job.model.name, (
                    f"{shard.label} on {report.host} loaded a different model (fingerprint "
                    f"{report.fingerprint}) than {first.shard.label} on {first.host} "
                    f"({first.fingerprint}); check that every node sees the same files"))
        if progress is not None:
            progress(*ray.get(board.snapshot.remote()))
    return reports, failures


def _merge(config: EvalsConfig, config_dir: Path, job: Job, reports: Sequence[ShardReport],
           limit: int | None, max_tokens: int | None) -> JobOutcome:
    """The local runner over the merged cache: it writes the run directories."""
    shards = tuple(sorted(reports, key=lambda r: r.shard.index))
    merge_shards(config, config_dir, job.model, config.runner.data_parallel_size)
    try:
        outcomes = run_model(config, config_dir, job.model, list(job.suites), limit=limit,
                             max_tokens=max_tokens,
                             backend_builder=lambda spec: Replay(shards[0]))
    except EvalsError as err:
        return JobOutcome(job.model, shards=shards, failure=f"merge: {_reason(err)}")
    return JobOutcome(job.model, tuple(outcomes), shards)


def _reason(err: BaseException) -> str:
    cause = getattr(err, "cause", None) or err
    return " ".join(f"{type(cause).__name__}: {cause}".split())[:500]


def _gpus(ray: Any, config: EvalsConfig) -> float:
    """The engine's GPUs (tensor x pipeline parallel) on a cluster that has GPUs; none on
    a CPU-only one (and for the openai and mock backends, which hold no model)."""
    runner = config.runner
    if runner.backend in ("openai", "mock") or not ray.cluster_resources().get("GPU"):
        return 0
    return float(runner.tensor_parallel_size * runner.pipeline_parallel_size)


def _connect(config: EvalsConfig) -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("evals.yaml: field 'runner.executor' is ray, but ray is not "
                          "installed; pip install 'evals[ray]' or set executor: local") from None
    if not ray.is_initialized():
        address = config.runner.ray.address
        ray.init(address=address, log_to_driver=False, include_dashboard=False,
                 configure_logging=False)
    return ray

