"""AlpacaEval 2.0 on scripted backends: logprob-weighted preferences, answer orders, the
discrete fallback, unreadable verdicts, and the win rates written to results.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from evals.backends.mock import MockBackend
from evals.benchmarks.alignment.alpaca_eval import AlpacaEval, AlpacaItem, p_first
from evals.benchmarks.base import BenchmarkContext
from evals.config import EvalsConfig, JudgeConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    Mode,
    ModelKind,
    SampleResult,
)
from evals.results.rundir import RunDir
from evals.run.runner import run_model

BENCH = AlpacaEval()
MODEL = ModelSpec(name="m", path="mock", kind="chat")


def _ctx(data: Path, order: str | None = None) -> BenchmarkContext:
    return BenchmarkContext(data, ModelKind.CHAT, Mode.GEN, 0,
                            judge_order=order)  # type: ignore[arg-type]


def _verdict(text: str, tops: tuple[tuple[str, float], ...] = ()) -> GenerateResponse:
    return GenerateResponse(text, 100, 1, "length", (tops,) if tops else ())


def test_loads_805_instructions_with_the_gpt4_turbo_baseline(data_dir: Path) -> None:
    items = BENCH.load(_ctx(data_dir))
    assert len(items) == 805
    assert {i.baseline for i in items} == {"gpt4_1106_preview"}
    assert items[0].id == "0" and items[0].target  # the baseline's answer is the target


def test_preference_from_logprobs_discrete_fallback_and_unreadable() -> None:
    p = p_first(_verdict("M", (("M", -0.1), ("m", -2.5), ("The", -9.0))))
    assert p == pytest.approx(math.exp(-2.5) / (math.exp(-2.5) + math.exp(-0.1)))
    assert p_first(_verdict("m", (("m", -0.01),))) == pytest.approx(1.0)  # M absent: P(M)=0
    assert p_first(_verdict("Both", (("Both", -0.1), ("The", -1.0)))) is None
    assert p_first(_verdict("m")) == 1.0 and p_first(_verdict("M\n")) == 0.0
    assert p_first(_verdict("Model m is better")) is None  # not read as "M"


def test_judge_prompt_puts_outputs_in_the_order_it_says(data_dir: Path) -> None:
    item = AlpacaItem("7", "BASELINE ANSWER", "Say hi.", "oasst", "gpt4_1106_preview")
    answer = GenerateResponse("MODEL ANSWER", 5, 2, "stop")
    ab, ba = BENCH.judge_requests(item, [answer], _ctx(data_dir, "both"))
    for req, first in ((ab, "MODEL ANSWER"), (ba, "BASELINE ANSWER")):
        assert isinstance(req.prompt, ChatPrompt)
        assert req.params.max_tokens == 1 and req.params.logprobs == 5
        user = req.prompt.messages[-1].content
        assert user.index(first) < user.index('"model_identifier": "M"')
        assert '"instruction": """Say hi.""",' in user
    (one,) = BENCH.judge_requests(item, [answer], _ctx(data_dir))
    assert one in (ab, ba)  # seeded: the same order on every run
    assert BENCH.judge_requests(item, [answer], _ctx(data_dir)) == [one]


def test_both_orders_average_and_reveal_position_bias(data_dir: Path) -> None:
    item = AlpacaItem("7", "b", "Say hi.", "oasst", "gpt4_1106_preview")
    ctx = _ctx(data_dir, "both")
    always_first = [_verdict("m", (("m", -0.05), ("M", -3.0)))] * 2
    score = BENCH.score_judged(item, [], always_first, ctx)
    p = math.exp(-0.05) / (math.exp(-0.05) + math.exp(-3.0))
    assert [j.value for j in score.judgements] == pytest.approx([p, 1 - p])
    assert score.value == pytest.approx(0.5)


def _judge_prefers_longer(r: GenerateRequest) -> GenerateResponse:
    """Prefers the longer output, with confidence growing with the length gap."""
    assert isinstance(r.prompt, ChatPrompt)
    user = r.prompt.messages[-1].content
    first = user.split('"output": """', 2)[1].split('"""')[0]
    second = user.split('"output": """', 2)[2].split('"""')[0]
    gap = (len(first) - len(second)) / 500
    return _verdict("m" if gap > 0 else "M", (("m", -math.log1p(math.exp(-gap))),
                                              ("M", -math.log1p(math.exp(gap)))))


def test_run_writes_weighted_discrete_and_length_controlled_win_rates(
        data_dir: Path, tmp_path: Path) -> None:
    def answer(r: GenerateRequest) -> str:
        return "x" * (len(str(r.prompt)) * 7 % 3000 + 10)  # answers of varied lengths

    config = EvalsConfig(data_dir=str(data_dir), output_dir=str(tmp_path), models=[MODEL],
                         runner=RunnerConfig(backend="mock"),
                         judge=JudgeConfig(name="judge", backend="mock"))
    suite = SuiteSpec.model_validate({"name": "s", "benchmarks": [
        {"name": "alpaca_eval", "limit": 60, "judge_order": "both"}]})
    (outcome,) = run_model(config, tmp_path, MODEL, [suite],
                           backend_builder=lambda spec: MockBackend(generate_fn=answer),
                           judge_builder=lambda spec: MockBackend(
                               generate_fn=_judge_prefers_longer))
    (res,) = list(RunDir(outcome.run_dir).results)
    names = {m.name: m.value for m in res.secondary}
    assert set(names) == {"discrete_win_rate", "lc_win_rate_minimal"}
    assert res.judge is not None and res.judge.calls == 120
    assert res.judge.flip_rate == 0.0 and res.judge.flip_pairs == 60  # consistent judge
    lines = (outcome.run_dir / "predictions" / "alpaca_eval.jsonl").read_text().splitlines()
    preds = [SampleResult.from_json(json.loads(x)) for x in lines]
    longer = [p.score.value > 0.5 for p in preds]
    assert longer == [len(p.outputs[0]) > len(p.target) for p in preds]
    # the judge only rewards length, so controlling for it must pull the win rate to the middle
    assert abs(names["lc_win_rate_minimal"] - 50) < abs(res.primary.value - 50)
