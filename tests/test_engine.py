"""The engine: de-duplication, the response cache, retries, and resuming a killed run."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.backends.mock import MockBackend
from evals.errors import BackendError, TransientBackendError
from evals.records import (
    GenerateRequest,
    GenerateResponse,
    GenerationParams,
    LoglikelihoodRequest,
    TextPrompt,
    request_key,
)
from evals.run.engine import Engine, ResponseCache


def _gen(i: int) -> GenerateRequest:
    return GenerateRequest(TextPrompt(f"prompt {i}"), GenerationParams(max_tokens=8))


def test_duplicates_are_asked_once(tmp_path: Path) -> None:
    backend = MockBackend()
    engine = Engine(backend, ResponseCache(tmp_path / "c.sqlite"), batch_size=3)
    reqs = [_gen(i % 4) for i in range(10)] + [LoglikelihoodRequest(TextPrompt("a"), " b")] * 3
    out = engine.run(reqs)
    assert backend.calls == 5
    assert set(out) == {request_key(r) for r in reqs}


def test_cache_survives_a_new_engine(tmp_path: Path) -> None:
    reqs = [_gen(i) for i in range(6)]
    first = Engine(MockBackend(), ResponseCache(tmp_path / "c.sqlite")).run(reqs)
    again_backend = MockBackend()
    second = Engine(again_backend, ResponseCache(tmp_path / "c.sqlite")).run(reqs)
    assert again_backend.calls == 0
    assert first == second


def test_killed_run_keeps_finished_batches(tmp_path: Path) -> None:
    reqs = [_gen(i) for i in range(10)]
    killed = MockBackend(fail_after=7)
    with pytest.raises(KeyboardInterrupt):
        Engine(killed, ResponseCache(tmp_path / "c.sqlite"), batch_size=3).run(reqs)
    resumed = MockBackend()
    out = Engine(resumed, ResponseCache(tmp_path / "c.sqlite"), batch_size=3).run(reqs)
    assert resumed.calls == 4  # two batches of 3 were committed before the kill
    assert out == Engine(MockBackend(), None).run(reqs)


class Flaky(MockBackend):
    """Fails the first ``failures`` calls for odd positions, with the even ones completed."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.sizes: list[int] = []

    def generate(self, requests):  # type: ignore[no-untyped-def]
        self.sizes.append(len(requests))
        out = super().generate(requests)
        if self.failures:
            self.failures -= 1
            done = {i: r for i, r in enumerate(out) if i % 2 == 0}
            raise TransientBackendError("HTTP 503", completed=done)
        return out


def test_transient_failures_retry_only_the_rest() -> None:
    backend = Flaky(failures=1)
    engine = Engine(backend, None, batch_size=10, max_retries=2, retry_backoff_s=0)
    out = engine.run([_gen(i) for i in range(6)])
    assert backend.sizes == [6, 3]
    assert all(isinstance(r, GenerateResponse) for r in out.values())
    assert engine.stats.retries == 1


def test_persistent_failures_raise_after_max_retries() -> None:
    engine = Engine(Flaky(failures=99), None, max_retries=2, retry_backoff_s=0)
    with pytest.raises(BackendError, match="after 2 retries"):
        engine.run([_gen(i) for i in range(4)])


def test_middle_truncation_keeps_head_and_tail() -> None:
    from evals.backends.base import PromptEncoder
    from evals.records import TextPrompt

    class Tok:
        def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
            return {"input_ids": [int(w) for w in text.split()]}

    enc = PromptEncoder(Tok(), max_len=10)
    prompt = TextPrompt(" ".join(str(i) for i in range(20)))
    assert enc.encode_prompt(prompt, reserve=4) == list(range(14, 20))
    assert enc.encode_prompt(prompt, reserve=4, middle=True) == [0, 1, 2, 17, 18, 19]
    short = TextPrompt("1 2 3")
    assert enc.encode_prompt(short, reserve=4, middle=True) == [1, 2, 3]


def test_scored_sequences_leave_one_position_for_vllm() -> None:
    """vLLM refuses a prompt that fills the window (it must generate one token to score)."""
    from evals.backends.base import PromptEncoder
    from evals.records import TextPrompt

    class Tok:
        bos_token_id = 0
        eos_token_id = 0

        def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
            return {"input_ids": [int(w) for w in text.split()]}

    enc = PromptEncoder(Tok(), max_len=10)
    ctx, cont = enc.encode_pair(TextPrompt(" ".join(str(i) for i in range(1, 20))), " 7")
    assert len(ctx) + len(cont) == 9 and cont == [7] and ctx[-1] == 19
