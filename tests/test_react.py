"""The ReAct code-interpreter loop (``gsm8k_react``) on the scripted mock backend: each of five
GSM8K items gets its own scripted behaviour (code then answer, direct answer, an error and a
recovery, code forever, state kept across rounds), run through the real runner and sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from evals.backends.mock import MockBackend
from evals.benchmarks.code_interpreter._react import (
    MAX_TOOL_CALLS,
    OBSERVATION_CHARS,
    OBSERVATION_PREFIX,
    clip,
    format_observation,
    parse_reply,
)
from evals.config import EvalsConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.errors import ConfigError
from evals.records import ChatPrompt, GenerateRequest, Message, SampleResult
from evals.run.runner import run_model
from evals.sandbox.tools import CellResult

N = 5
CHAT = ModelSpec(name="m", path="mock", kind="chat")
Script = Callable[[int, str, list[str]], str]
"""(sample id, reference, observations so far) -> the model's next reply."""


def _code(src: str) -> str:
    return f"Let me compute.\n```python\n{src}\n```"


def _code_then_answer(ref: str, obs: list[str]) -> str:
    return _code(f"print({ref})") if not obs else f"Final Answer: {obs[-1]}"


def _direct(ref: str, obs: list[str]) -> str:
    return f"No tool needed.\nFinal Answer: {ref}"


def _error_then_recover(ref: str, obs: list[str]) -> str:
    if not obs:
        return _code("x = 1 / 0")
    if len(obs) == 1:
        assert "ZeroDivisionError" in obs[0]
        return _code(f"x = {ref}\nx")
    return f"Final Answer: {obs[-1]}"


def _loop(ref: str, obs: list[str]) -> str:
    return _code(f"print({len(obs)})")


def _stateful(ref: str, obs: list[str]) -> str:
    if not obs:
        return _code(f"base = {ref} - 1")  # no output
    if len(obs) == 1:
        return _code("print(base + 1)")  # a fresh process: the cell before must be replayed
    return f"Final Answer: {obs[-1]}"


BEHAVIOUR = {0: _code_then_answer, 1: _direct, 2: _error_then_recover, 3: _loop, 4: _stateful}


def _generate(refs: dict[str, tuple[int, str]], seen: list[GenerateRequest]
              ) -> Callable[[GenerateRequest], str]:
    def generate(r: GenerateRequest) -> str:
        seen.append(r)
        assert isinstance(r.prompt, ChatPrompt)
        msgs = r.prompt.messages
        start = next(i for i, m in enumerate(msgs) if m.content in refs)
        sid, ref = refs[msgs[start].content]
        obs = [m.content.removeprefix(OBSERVATION_PREFIX) for m in msgs[start + 1:]
               if m.role == "user"]
        return BEHAVIOUR[sid](ref, obs)
    return generate


@pytest.fixture(scope="module")
def small_data(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first five GSM8K test items, as a data directory of their own."""
    root = tmp_path_factory.mktemp("data")
    (root / "gsm8k").mkdir()
    lines = (data_dir / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()[:N]
    (root / "gsm8k" / "test.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _refs(data: Path) -> dict[str, tuple[int, str]]:
    rows = [json.loads(x) for x in (data / "gsm8k" / "test.jsonl").read_text().splitlines()]
    return {r["question"]: (i, r["answer"].split("#### ")[1].strip()) for i, r in enumerate(rows)}


def _run(data: Path, out: Path, model: ModelSpec, seen: list[GenerateRequest]
         ) -> list[SampleResult]:
    config = EvalsConfig(data_dir=str(data), output_dir=str(out), models=[model],
                         runner=RunnerConfig(backend="mock"))
    suite = SuiteSpec.model_validate({"name": "tools", "benchmarks": [{"name": "gsm8k_react"}]})
    (outcome,) = run_model(config, out, model, [suite], backend_builder=lambda spec: MockBackend(
        generate_fn=_generate(_refs(data), seen)))
    lines = (outcome.run_dir / "predictions" / "gsm8k_react.jsonl").read_text().splitlines()
    return sorted((SampleResult.from_json(json.loads(x)) for x in lines),
                  key=lambda r: int(r.sample_id))


@pytest.fixture(scope="module")
def run(small_data: Path, tmp_path_factory: pytest.TempPathFactory
        ) -> tuple[list[SampleResult], list[GenerateRequest]]:
    seen: list[GenerateRequest] = []
    return _run(small_data, tmp_path_factory.mktemp("out"), CHAT, seen), seen


def _asked(seen: list[GenerateRequest], question_start: str) -> list[tuple[Message, ...]]:
    out = []
    for r in seen:
        assert isinstance(r.prompt, ChatPrompt)
        if any(m.content.startswith(question_start) for m in r.prompt.messages):
            out.append(r.prompt.messages)
    return out


def test_code_then_answer_from_the_observation(run: tuple[list[SampleResult], list[
        GenerateRequest]]) -> None:
    results, _ = run
    r = results[0]
    assert len(r.outputs) == 2 and r.score.value == 1.0 and not r.score.parse_failed
    assert r.score.extracted == r.target == "18"
    assert dict(r.score.extras)["tool_used"] == 1.0
    assert "[cell 1]\nprint(18)\n[observation 1]\n18\n[final answer] 18" in r.score.detail


def test_direct_answer_uses_no_tool(run: tuple[list[SampleResult], list[GenerateRequest]]
                                    ) -> None:
    r = run[0][1]
    assert len(r.outputs) == 1 and r.score.value == 1.0
    assert dict(r.score.extras)["tool_used"] == 0.0
    assert "[cell" not in r.score.detail


def test_error_is_observed_and_the_model_recovers(run: tuple[list[SampleResult], list[
        GenerateRequest]]) -> None:
    results, seen = run
    r = results[2]
    assert len(r.outputs) == 3 and r.score.value == 1.0
    *_, last = _asked(seen, "Josh decides to try flipping")
    observations = [m.content for m in last[-4:] if m.role == "user"]
    assert observations[0].startswith(OBSERVATION_PREFIX + "Error:\nTraceback")
    assert "ZeroDivisionError: division by zero" in observations[0]
    assert observations[1] == OBSERVATION_PREFIX + r.target  # the trailing expression's value
    assert "ZeroDivisionError" in r.score.detail


def test_endless_code_stops_at_the_cap_as_a_parse_failure(run: tuple[list[SampleResult], list[
        GenerateRequest]]) -> None:
    r = run[0][3]
    assert len(r.outputs) == MAX_TOOL_CALLS + 1  # five cells run, the sixth never is
    assert r.score.parse_failed and r.score.value == 0.0 and r.score.extracted is None
    assert "still writing code after 5 tool calls" in r.score.detail
    assert r.score.detail.count("[observation") == MAX_TOOL_CALLS
    assert "[observation 5]\n4\n[no final answer]" in r.score.detail


def test_state_persists_across_rounds(run: tuple[list[SampleResult], list[GenerateRequest]]
                                      ) -> None:
    r = run[0][4]
    assert (len(r.outputs), r.score.value, r.score.extracted) == (3, 1.0, r.target)
    assert f"[observation 1]\n(no output)\n[cell 2]\nprint(base + 1)\n[observation 2]\n" \
           f"{r.target}\n" in r.score.detail


def test_prompt_has_instruction_four_shots_and_stops_at_observations(
        run: tuple[list[SampleResult], list[GenerateRequest]]) -> None:
    results, seen = run
    first = _asked(seen, "Janet")[0]
    assert first[0].role == "system" and "Final Answer:" in first[0].content
    assert sum(m.content.startswith("Final Answer:") or "\nFinal Answer:" in m.content
               for m in first if m.role == "assistant") == 4
    assert first[-1].role == "user" and first[-1].content.startswith("Janet")
    assert all(r.params.stop == ("Observation:",) for r in seen)
    assert len(seen) == sum(len(r.outputs) for r in results)


def test_base_models_are_refused(small_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chat models"):
        _run(small_data, tmp_path, ModelSpec(name="b", path="mock", kind="base"), [])


def test_reply_parsing_and_observation_format() -> None:
    both = "```python\nprint(1)\n```\nObservation: 1\nFinal Answer: 1"
    assert parse_reply(both).final == "1" and parse_reply(both).code is None  # answer wins
    assert parse_reply("```py\nx = 2\n```").code == "x = 2\n"
    assert parse_reply("I think it is 4.") == parse_reply("```\nprint(4)\n```")  # not python
    long = CellResult("ok", "a" * 5000 + "END", None, None, 0.1)
    shown = format_observation(long)
    assert len(shown) < OBSERVATION_CHARS + 50 and shown.endswith("END")
    assert clip("short", 10) == "short"
    timeout = CellResult("timeout", "partial\n", None, "call timed out after 10 s", 10.0)
    assert format_observation(timeout) == "partial\nTimed out:\ncall timed out after 10 s"
