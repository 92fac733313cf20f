"""A deterministic, scripted backend for unit tests and dry runs of a suite."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence

from evals.backends.base import BACKENDS, Backend, BackendSpec, truncate_at_stop
from evals.records import (
    GenerateRequest,
    GenerateResponse,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
    Prompt,
    prompt_to_json,
)

GenerateScript = Callable[[GenerateRequest], str | GenerateResponse]
"""A script returns the text, or a whole response (a judge's logprobs, token counts)."""
LoglikelihoodScript = Callable[[LoglikelihoodRequest], float]


def _digest(*parts: object) -> int:
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16)


def scripted_reply(prompt: Prompt) -> str:
    """Same prompt, same answer: a short reply ending in a number and a letter. Public so
    that another harness's replay model (bench/fidelity) answers a prompt as this one does."""
    d = _digest(prompt_to_json(prompt))
    return f"Let me think.\nThe answer is {d % 100}\nThe answer is {'ABCD'[d % 4]}."


def default_generate(request: GenerateRequest) -> str:
    return scripted_reply(request.prompt)


def default_loglikelihood(request: LoglikelihoodRequest) -> float:
    d = _digest(prompt_to_json(request.context), request.continuation)
    return -(1 + d % 1000) / 100.0


class MockBackend:
    """Scripted outputs; counts every request it is asked so tests can prove caching."""

    name = "mock"

    def __init__(
        self,
        generate_fn: GenerateScript = default_generate,
        loglikelihood_fn: LoglikelihoodScript = default_loglikelihood,
        fail_after: int | None = None,
    ) -> None:
        self.generate_fn = generate_fn
        self.loglikelihood_fn = loglikelihood_fn
        self.fail_after = fail_after
        """Raise after this many requests, to simulate a run killed midway."""
        self.calls = 0
        self.delay_s = float(os.environ.get("EVALS_MOCK_DELAY_S", "0") or 0)
        """Seconds per request (``EVALS_MOCK_DELAY_S``): a dry run that takes as long as a
        slow engine, for trying out interrupts, progress displays and watchers."""

    def fingerprint(self) -> str:
        return "mock"

    def _tick(self) -> None:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("mock backend killed")
        if self.delay_s:
            time.sleep(self.delay_s)
        self.calls += 1

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResponse]:
        out = []
        for r in requests:
            self._tick()
            raw = self.generate_fn(r)
            if isinstance(raw, GenerateResponse):
                out.append(raw)
                continue
            text, stopped = truncate_at_stop(raw, r.params.stop)
            words = len(text.split())
            out.append(GenerateResponse(text, 0, words, "stop" if stopped else "length"))
        return out

    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResponse]:
        out = []
        for r in requests:
            self._tick()
            lp = self.loglikelihood_fn(r)
            n = max(1, len(r.continuation.split()))
            out.append(LoglikelihoodResponse(lp, n, False, -10.0, 10))
        return out

    def close(self) -> None:
        pass


@BACKENDS.register("mock")
def _make(spec: BackendSpec) -> Backend:
    return MockBackend()
