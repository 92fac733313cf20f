"""The judge layer on the scripted mock backends: multi-turn answering, judging after the
model, parse-failure accounting, caching of verdicts, usage and manifest records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.backends.base import BackendSpec
from evals.backends.mock import MockBackend
from evals.config import EvalsConfig, JudgeConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.errors import ConfigError
from evals.records import ChatPrompt, GenerateRequest, SampleResult
from evals.results.rundir import RunDir
from evals.run.runner import run_model

MODEL = ModelSpec(name="m", path="mock", kind="chat")


def _suite(*lines: dict[str, object]) -> SuiteSpec:
    return SuiteSpec.model_validate({"name": "subjective", "benchmarks": list(lines)})


def _config(tmp: Path, data: Path, judge: bool = True) -> EvalsConfig:
    return EvalsConfig(
        data_dir=str(data), output_dir=str(tmp), models=[MODEL],
        runner=RunnerConfig(backend="mock"),
        judge=JudgeConfig(name="scripted-judge", backend="mock", price_prompt_per_mtok=10,
                          price_completion_per_mtok=30) if judge else None,
    )


def _answer(r: GenerateRequest) -> str:
    assert isinstance(r.prompt, ChatPrompt)
    return f"answer to turn {sum(m.role == 'user' for m in r.prompt.messages)}"


class Judge(MockBackend):
    """Grades turn 1 with 8 and turn 2 with 4, except that it rambles (no rating) for the
    writing questions' second turns."""

    def __init__(self) -> None:
        super().__init__(generate_fn=self._verdict)

    def _verdict(self, r: GenerateRequest) -> str:
        assert isinstance(r.prompt, ChatPrompt)
        text = r.prompt.messages[-1].content
        if "### Assistant A:" not in text:
            return "Good answer. Rating: [[8]]"
        if "Compose an engaging travel blog" in text:
            return "I cannot decide."
        return "Weaker follow-up. Rating: [[4]]"


def _run(tmp: Path, data: Path, judge: MockBackend, limit: int = 3,
         model: MockBackend | None = None) -> list[SampleResult]:
    config = _config(tmp, data)
    (outcome,) = run_model(
        config, tmp, MODEL, [_suite({"name": "mt_bench", "limit": limit})],
        backend_builder=lambda spec: model or MockBackend(generate_fn=_answer),
        judge_builder=lambda spec: judge,
    )
    lines = (outcome.run_dir / "predictions" / "mt_bench.jsonl").read_text().splitlines()
    return [SampleResult.from_json(json.loads(x)) for x in lines]


def test_mt_bench_two_turns_judged_per_turn(data_dir: Path, tmp_path: Path) -> None:
    judge = Judge()
    results = _run(tmp_path, data_dir, judge, limit=80)
    assert len(results) == 80
    assert all(r.outputs == ("answer to turn 1", "answer to turn 2") for r in results)
    assert judge.calls == 160
    blog = next(r for r in results if r.sample_id == "81")
    assert [j.label for j in blog.score.judgements] == ["turn1", "turn2"]
    assert blog.score.judgements[1].value is None and blog.score.parse_failed
    assert blog.score.value == 8.0  # the unreadable verdict is left out, not graded
    (res,) = list(RunDir(tmp_path / "m" / "subjective").results)
    # 80 turn-1 grades of 8, 79 turn-2 grades of 4: FastChat's turn-level mean
    assert res.primary.value == pytest.approx((80 * 8 + 79 * 4) / 159)
    assert {m.name: m.value for m in res.secondary}["turn2"] == pytest.approx(4.0)
    assert res.parse_failures == 1
    assert res.judge is not None
    assert (res.judge.calls, res.judge.parse_failures, res.judge.judge) == (160, 1,
                                                                           "scripted-judge")
    manifest = json.loads((tmp_path / "m" / "subjective" / "manifest.json").read_text())
    assert manifest["judge"]["name"] == "scripted-judge"
    assert manifest["judge"]["backend"] == "mock"


def test_turn_two_sees_turn_one_and_references_guide_math(data_dir: Path,
                                                         tmp_path: Path) -> None:
    seen: list[GenerateRequest] = []

    def record(r: GenerateRequest) -> str:
        seen.append(r)
        return "Rating: [[5]]"

    _run(tmp_path, data_dir, MockBackend(generate_fn=record), limit=80)
    math = [r for r in seen if "Reference Answer" in str(r.prompt) or "reference" in str(r.prompt)]
    assert len(math) == 2 * 30  # 30 math/reasoning/coding questions, both turns
    multi = [r for r in seen if "### Assistant A:" in str(r.prompt)]
    assert len(multi) == 80 and all("answer to turn 1" in str(r.prompt) for r in multi)
    assert all(r.params.temperature == 0 for r in seen)


def test_verdicts_are_cached_and_not_asked_again(data_dir: Path, tmp_path: Path) -> None:
    first, second = Judge(), Judge()
    _run(tmp_path, data_dir, first)
    _run(tmp_path, data_dir, second)
    assert first.calls == 6 and second.calls == 0
    (res,) = list(RunDir(tmp_path / "m" / "subjective").results)
    assert res.judge is not None and res.judge.cached == 6


def test_judged_benchmark_without_judge_fails_before_loading(data_dir: Path,
                                                            tmp_path: Path) -> None:
    built: list[BackendSpec] = []
    with pytest.raises(ConfigError, match="judge"):
        run_model(_config(tmp_path, data_dir, judge=False), tmp_path, MODEL,
                  [_suite({"name": "mt_bench"})],
                  backend_builder=lambda spec: built.append(spec) or MockBackend())
    assert built == []


def test_judge_failure_keeps_other_benchmarks(data_dir: Path, tmp_path: Path) -> None:
    class Broken(MockBackend):
        def generate(self, requests):  # type: ignore[no-untyped-def]
            raise RuntimeError("judge endpoint down")

    config = _config(tmp_path, data_dir)
    suite = _suite({"name": "mt_bench", "limit": 2}, {"name": "gsm8k", "limit": 2})
    with pytest.raises(RuntimeError):
        run_model(config, tmp_path, MODEL, [suite], judge_builder=lambda spec: Broken())
    (res,) = list(RunDir(tmp_path / "m" / "subjective").results)
    assert res.benchmark == "gsm8k"
