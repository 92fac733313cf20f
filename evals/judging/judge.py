"""A judge is a scorer with an injected, named model.

The judge gets the same engine as an evaluated model: de-duplication, the on-disk response
cache (so every verdict survives a killed run and a re-run costs nothing), batches committed
as they finish, and retries with exponential backoff on 429/5xx/timeouts/unreadable bodies
(the openai backend raises those as transient, keeping what did finish). On top of that this
module adds what only a judge needs: its identity for the manifest, token and cost accounting
per benchmark, and the position-bias (flip) statistic of pairwise protocols.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from evals.backends.base import BACKENDS, Backend, BackendSpec
from evals.config import JudgeConfig, ModelSpec, RunnerConfig
from evals.embedded import resolve_model_path
from evals.records import (
    GenerateRequest,
    GenerateResponse,
    JudgeUsage,
    ModelKind,
    Response,
    SampleResult,
    request_key,
)
from evals.run.engine import Engine, ProgressSink, ResponseCache

BackendBuilder = Callable[[BackendSpec], Backend]


def judge_spec(cfg: JudgeConfig, runner: RunnerConfig) -> BackendSpec:
    """The judge as a model spec: a local judge shares the runner's engine options (dtype,
    window, parallelism); a remote one only needs its endpoint."""
    path = cfg.path or cfg.name
    model = ModelSpec(name=cfg.name, path=path, kind=ModelKind.CHAT)
    judge_runner = runner.model_copy(
        update={"backend": cfg.backend, "openai": cfg.openai, "max_retries": cfg.max_retries}
    )
    local = cfg.backend in ("vllm", "hf")
    return BackendSpec(model, resolve_model_path(path) if local else path, judge_runner)


@dataclass(frozen=True)
class JudgeRun:
    """The judge's answers for one benchmark and what they took."""

    answers: dict[str, Response]
    calls: int
    cached: int
    seconds: float
    prompt_tokens: int
    output_tokens: int


class Judge:
    def __init__(self, cfg: JudgeConfig, backend: Backend, cache: ResponseCache | None,
                 progress: ProgressSink | None = None) -> None:
        self.cfg = cfg
        self.backend = backend
        self.engine = Engine(backend, cache, cfg.batch_size, cfg.max_retries,
                             cfg.retry_backoff_s, progress)

    def identity(self) -> dict[str, Any]:
        """What the manifest records, so two runs judged differently can be told apart."""
        out: dict[str, Any] = {
            "name": self.cfg.name,
            "backend": self.cfg.backend,
            "path": self.cfg.path or self.cfg.name,
            "fingerprint": self.engine.fingerprint,
            "price_prompt_per_mtok": self.cfg.price_prompt_per_mtok,
            "price_completion_per_mtok": self.cfg.price_completion_per_mtok,
        }
        if self.cfg.backend == "openai":
            out["base_url"] = self.cfg.openai.base_url
        return out

    def run(self, requests: Sequence[GenerateRequest]) -> JudgeRun:
        """Answers keyed by the requests as the benchmark made them (before any cap)."""
        sent = {request_key(r): _cap(r, self.cfg.max_tokens) for r in requests}
        cached_before = self.engine.stats.cached
        t0 = time.perf_counter()
        got = self.engine.run(list(sent.values()))
        answers = {k: got[request_key(r)] for k, r in sent.items()}
        gen = [a for a in answers.values() if isinstance(a, GenerateResponse)]
        return JudgeRun(
            answers=answers,
            calls=len(sent),
            cached=self.engine.stats.cached - cached_before,
            seconds=time.perf_counter() - t0,
            prompt_tokens=sum(a.prompt_tokens for a in gen),
            output_tokens=sum(a.output_tokens for a in gen),
        )

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return (prompt_tokens * self.cfg.price_prompt_per_mtok
                + output_tokens * self.cfg.price_completion_per_mtok) / 1e6

    def usage(self, run: JudgeRun, results: Sequence[SampleResult]) -> JudgeUsage:
        rate, pairs = flip_rate(results)
        return JudgeUsage(
            judge=self.cfg.name,
            calls=run.calls,
            cached=run.cached,
            parse_failures=sum(j.parse_failed for r in results for j in r.score.judgements),
            prompt_tokens=run.prompt_tokens,
            output_tokens=run.output_tokens,
            cost_usd=round(self.cost(run.prompt_tokens, run.output_tokens), 6),
            seconds=round(run.seconds, 3),
            flip_rate=rate,
            flip_pairs=pairs,
        )

    def close(self) -> None:
        self.backend.close()


def build_judge(cfg: JudgeConfig, runner: RunnerConfig, cache: ResponseCache | None,
                builder: BackendBuilder | None = None,
                progress: ProgressSink | None = None) -> Judge:
    spec = judge_spec(cfg, runner)
    backend = (builder or BACKENDS.get(cfg.backend))(spec)
    return Judge(cfg, backend, cache, progress)


def _cap(request: GenerateRequest, max_tokens: int | None) -> GenerateRequest:
    if max_tokens is None or request.params.max_tokens <= max_tokens:
        return request
    return replace(request, params=replace(request.params, max_tokens=max_tokens))


Side = Literal["model", "baseline", "tie"]

# Labels of the two answer orders: the evaluated model's answer shown first, or second.
MODEL_FIRST = "AB"
MODEL_SECOND = "BA"


def winner(value: float) -> Side:
    """The side a pairwise verdict favours; ``value`` is the model's share of the win."""
    if value > 0.5:
        return "model"
    return "baseline" if value < 0.5 else "tie"


def flip_rate(results: Sequence[SampleResult]) -> tuple[float | None, int]:
    """Position bias: of the samples judged in both orders with both verdicts readable, the
    share whose winner changes with the order (a tie in one order and a win in the other
    counts as a flip). Returns (rate in %, number of such samples)."""
    pairs = flips = 0
    for r in results:
        by_order = {j.label: j.value for j in r.score.judgements}
        first, second = by_order.get(MODEL_FIRST), by_order.get(MODEL_SECOND)
        if first is None or second is None:
            continue
        pairs += 1
        flips += winner(first) != winner(second)
    return (100 * flips / pairs if pairs else None), pairs
