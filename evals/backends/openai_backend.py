"""Any OpenAI-compatible server (vLLM's, SGLang's, a hosted API): completions and chat.

Requests of a batch go out concurrently. Failures worth retrying (429, 5xx, timeouts,
connection errors, bodies that are not the JSON promised) are collected and raised as one
``TransientBackendError`` carrying what did finish; the engine caches those and retries the
rest with backoff. Other 4xx answers are the user's to fix and fail at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from evals.backends.base import BACKENDS, Backend, BackendSpec
from evals.errors import BackendError, ModelError, TransientBackendError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
    TextPrompt,
    TokenLogprobs,
)

T = TypeVar("T")
Q = TypeVar("Q")


class _Transient(Exception):
    pass


class OpenAIBackend:
    name = "openai"

    def __init__(self, spec: BackendSpec) -> None:
        cfg = spec.runner.openai
        self.base_url = cfg.base_url.rstrip("/")
        self.model = cfg.served_model or spec.model.path
        self.concurrency = cfg.concurrency
        key = os.environ.get(cfg.api_key_env, "EMPTY")
        self.client = httpx.Client(
            timeout=cfg.timeout_s,
            headers={"Authorization": f"Bearer {key}"},
            limits=httpx.Limits(max_connections=cfg.concurrency),
        )

    def fingerprint(self) -> str:
        return f"openai:{self.base_url}:{self.model}"

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = self.client.post(f"{self.base_url}{path}", json={"model": self.model, **body})
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Transient(f"HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise BackendError(
                f"{self.base_url}{path}: HTTP {resp.status_code}: {resp.text[:200]}"
            )
        try:
            data = resp.json()
            if not isinstance(data, dict) or not data.get("choices"):
                raise ValueError("no choices")
            return data
        except ValueError as exc:
            raise _Transient(f"unreadable body ({exc})") from None

    def _fan_out(self, items: Sequence[Q], fn: Callable[[Q], T]) -> list[T]:
        results: dict[int, T] = {}
        errors: list[str] = []

        def run(i: int) -> None:
            try:
                results[i] = fn(items[i])
            except _Transient as exc:
                errors.append(str(exc))

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            list(pool.map(run, range(len(items))))
        if errors:
            raise TransientBackendError(
                f"{len(errors)} of {len(items)} requests failed, e.g. {errors[0]}",
                completed=dict(results),
            )
        return [results[i] for i in range(len(items))]

    def _generate_one(self, r: GenerateRequest) -> GenerateResponse:
        p = r.params
        body: dict[str, Any] = {"max_tokens": p.max_tokens, "temperature": p.temperature,
                                "top_p": p.top_p, "seed": p.seed}
        if p.stop:
            body["stop"] = list(p.stop)
        chat = isinstance(r.prompt, ChatPrompt)
        if p.logprobs:
            body.update({"logprobs": True, "top_logprobs": p.logprobs} if chat
                        else {"logprobs": p.logprobs})
        if isinstance(r.prompt, ChatPrompt):
            body["messages"] = [{"role": m.role, "content": m.content} for m in r.prompt.messages]
            data = self._post("/chat/completions", body)
            choice = data["choices"][0]
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else None
            if not isinstance(text, str):
                raise _Transient("chat completion without message content")
        else:
            body["prompt"] = r.prompt.text
            data = self._post("/completions", body)
            choice = data["choices"][0]
            text = choice.get("text") or ""
        usage = data.get("usage") or {}
        return GenerateResponse(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=str(choice.get("finish_reason")),
            top_logprobs=_tops(choice.get("logprobs"), chat) if p.logprobs else (),
        )

    def _loglikelihood_one(self, r: LoglikelihoodRequest) -> LoglikelihoodResponse:
        if not isinstance(r.context, TextPrompt):
            raise BackendError("openai backend: loglikelihood needs text prompts (use mode: gen "
                               "for chat models on an OpenAI-compatible server)")
        ctx = r.context.text
        data = self._post("/completions", {"prompt": ctx + r.continuation, "max_tokens": 1,
                                           "temperature": 0.0, "echo": True, "logprobs": 1})
        lp = data["choices"][0].get("logprobs") or {}
        try:
            n_prompt = int(data["usage"]["prompt_tokens"])
            offsets = lp["text_offset"][:n_prompt]
            token_lps = lp["token_logprobs"][:n_prompt]
            tokens = lp["tokens"][:n_prompt]
            tops = lp["top_logprobs"][:n_prompt]
        except (KeyError, TypeError) as exc:
            raise _Transient(f"completion without echoed logprobs ({exc})") from None
        split = next((i for i, off in enumerate(offsets) if off >= len(ctx)), n_prompt)
        split = max(split, 1)
        cont = [float(x) for x in token_lps[split:]]
        greedy = all(
            top and max(top, key=top.get) == tok
            for tok, top in zip(tokens[split:], tops[split:], strict=True)
        )
        return LoglikelihoodResponse(
            logprob=sum(cont),
            tokens=len(cont),
            is_greedy=bool(greedy),
            context_logprob=float(sum(x for x in token_lps[1:split] if x is not None)),
            context_tokens=split,
        )

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResponse]:
        return self._fan_out(requests, self._generate_one)

    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResponse]:
        return self._fan_out(requests, self._loglikelihood_one)

    def close(self) -> None:
        self.client.close()


def _tops(logprobs: Any, chat: bool) -> tuple[TokenLogprobs, ...]:
    """Chat: ``content[i].top_logprobs[j] = {token, logprob}``; completions:
    ``top_logprobs[i] = {token: logprob}``. A server that ignores the option yields ()."""
    if not isinstance(logprobs, dict):
        return ()
    try:
        if chat:
            return tuple(tuple((str(t["token"]), float(t["logprob"])) for t in pos["top_logprobs"])
                         for pos in logprobs.get("content") or ())
        return tuple(tuple((str(t), float(v)) for t, v in pos.items())
                     for pos in logprobs.get("top_logprobs") or ())
    except (KeyError, TypeError, ValueError) as exc:
        raise _Transient(f"unreadable logprobs ({exc})") from None


@BACKENDS.register("openai")
def _make(spec: BackendSpec) -> Backend:
    if not spec.runner.openai.base_url.startswith(("http://", "https://")):
        raise ModelError(
            "evals.yaml: field 'runner.openai.base_url' must start with http:// or https://"
        )
    return OpenAIBackend(spec)
