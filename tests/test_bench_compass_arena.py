"""CompassArena on its fixture set with scripted mock backends: data mapping and errors,
OpenCompass's judge prompts and verdict regex, both answer orders (position bias shows up as
the flip rate), the pooled half_add win rate, and a whole run through ``run_model``."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from evals.backends.mock import MockBackend
from evals.benchmarks.alignment.compass_arena import (
    DEFAULT_REF,
    ArenaItem,
    CompassArena,
    judge_prompt,
    judgement,
    parse_choice,
)
from evals.benchmarks.base import BENCHMARKS, BenchmarkContext
from evals.config import EvalsConfig, JudgeConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.errors import DataError
from evals.records import (
    BenchmarkResult,
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    Judgement,
    Mode,
    ModelKind,
    SampleResult,
    Score,
)
from evals.results.rundir import RunDir
from evals.run.runner import run_model

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODEL = ModelSpec(name="m", path="mock", kind=ModelKind.CHAT)
BENCH = CompassArena()


def _ctx(data: Path = FIXTURES, max_tokens: int | None = None) -> BenchmarkContext:
    return BenchmarkContext(data, ModelKind.CHAT, Mode.GEN, 0, max_tokens=max_tokens)


def _items() -> list[ArenaItem]:
    return BENCH.load(_ctx())


# --- data ----------------------------------------------------------------------------------


def test_fixture_set_loads_in_opencompass_layout() -> None:
    items = _items()
    assert BENCHMARKS.get("compass_arena") is not None
    assert len(items) == 15
    assert [i.id for i in items[:3]] == ["knowledge/0", "knowledge/1", "knowledge/2"]
    assert {i.subset for i in items} == {"knowledge", "language", "math_v2", "reason_v2",
                                        "creationv2_zh"}
    first, by_text, no_ref = items[:3]
    assert first.ref == "造纸术、指南针、火药和印刷术。" and first.target == first.ref
    assert first.baseline == "四大发明是造纸术、印刷术、火药和指南针。"
    assert by_text.baseline.startswith("在标准大气压下")  # matched by question text
    assert no_ref.ref == DEFAULT_REF and no_ref.target == ""  # null reference -> OC's placeholder
    assert all(i.generator == "fixture-baseline" for i in items)
    assert BENCH.group(first) == "knowledge/知识-历史"
    assert all(i.ref == DEFAULT_REF for i in items if i.subset == "creationv2_zh")
    assert len(BENCH.data_files(_ctx())) == 10


def _copy(tmp: Path) -> Path:
    shutil.copytree(FIXTURES / "compass_arena", tmp / "compass_arena")
    return tmp / "compass_arena"


def test_missing_folder_says_the_data_is_internal(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="internal to OpenCompass") as err:
        BENCH.load(_ctx(tmp_path))
    msg = str(err.value)
    assert str(tmp_path / "compass_arena") in msg and "baseline/<subset>.jsonl" in msg
    assert "\n" not in msg


def test_missing_baseline_file_and_answer_are_named(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    lines = (root / "baseline" / "math_v2.jsonl").read_text(encoding="utf-8").splitlines()
    (root / "baseline" / "math_v2.jsonl").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"no baseline answer for math_v2 question 2"):
        BENCH.load(_ctx(tmp_path))
    (root / "baseline" / "math_v2.jsonl").unlink()
    with pytest.raises(DataError, match=r"baseline answers not found at .*math_v2\.jsonl"):
        BENCH.load(_ctx(tmp_path))


def test_unknown_subset_file_and_bad_baseline_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "baseline" / "language.jsonl").write_text('{"question_id": 0, "answer": "x"}\n',
                                                      encoding="utf-8")
    with pytest.raises(DataError, match=r"language\.jsonl:1: not a baseline answer"):
        BENCH.load(_ctx(tmp_path))
    (root / "math.json").write_text("[]", encoding="utf-8")
    with pytest.raises(DataError, match=r"math\.json is not a CompassArena subset"):
        BENCH.load(_ctx(tmp_path))


def test_a_set_with_some_subsets_loads_only_those(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    for s in ("language", "math_v2", "reason_v2", "creationv2_zh"):
        (root / f"{s}.json").unlink()
    assert [i.subset for i in BENCH.load(_ctx(tmp_path))] == ["knowledge"] * 3
    (root / "knowledge.json").unlink()
    with pytest.raises(DataError, match="no subset file"):
        BENCH.load(_ctx(tmp_path))


# --- prompts and verdicts -------------------------------------------------------------------


def test_answer_request_is_one_greedy_user_turn() -> None:
    item = _items()[0]
    (req,) = BENCH.requests(item, _ctx())
    assert isinstance(req, GenerateRequest) and isinstance(req.prompt, ChatPrompt)
    assert [(m.role, m.content) for m in req.prompt.messages] == [("user", item.question)]
    assert (req.params.max_tokens, req.params.temperature) == (2048, 0.0)
    (short,) = BENCH.requests(item, _ctx(max_tokens=300))
    assert isinstance(short, GenerateRequest) and short.params.max_tokens == 300
    with pytest.raises(DataError, match="judge"):
        BENCH.score(item, [], _ctx())


def _slot(prompt: str, n: int) -> str:
    return prompt.split(f"[回答{n}开始]\n", 1)[1].split(f"\n[回答{n}结束]", 1)[0]


def test_orders_put_the_model_in_either_slot() -> None:
    items = _items()
    math = next(i for i in items if i.id == "math_v2/2")
    ab = judge_prompt(math, "MODEL", "AB")
    ba = judge_prompt(math, "MODEL", "BA")
    assert (_slot(ab, 1), _slot(ab, 2)) == ("MODEL", math.baseline)
    assert (_slot(ba, 1), _slot(ba, 2)) == (math.baseline, "MODEL")
    assert "写出 {x} 的值" in ab  # braces outside the four fields are left alone, as safe_format
    assert f"[参考答案]\n{math.ref}\n" in ab and "更好的回答的答案能和参考答案一致" in ab
    creation = next(i for i in items if i.subset == "creationv2_zh")
    assert "[参考答案]" not in judge_prompt(creation, "x", "AB")
    reqs = BENCH.judge_requests(math, [GenerateResponse("MODEL", 1, 1, "stop")], _ctx())
    assert len(reqs) == 2 and all(r.params.temperature == 0 for r in reqs)
    assert all(isinstance(r.prompt, ChatPrompt) and len(r.prompt.messages) == 1 for r in reqs)
    assert reqs[0].params.max_tokens == 1024


# sha256 of the judge prompt of each subset's first fixture item with answer "MODEL" in order
# AB; tests/fidelity/test_compass_arena_ref.py checks the same texts against OpenCompass 0.5.4.
PINNED = {
    "knowledge": "92e7db8d1544f95f070fba3288e4f1a27a3a2f7971ab22a8c20c117e49082c23",
    "language": "f634d0eb9c11a13d86f005c84bd97716a21e7ba11c6c19ae8076879cf491db64",
    "math_v2": "63e0502bd961cfb5af888e69704ee63a09d00b5f2f8f8696094801473a8958de",
    "reason_v2": "7f51c3560acdb059af270b9539c24b2b204b3e2bef95d16694b871f0981c57e1",
    "creationv2_zh": "1253d25080931245ce9b2793136b2854f8e475672eaed6a24e2636ebba912074",
}


def test_judge_prompts_pinned() -> None:
    firsts = {i.subset: i for i in reversed(_items())}
    got = {s: hashlib.sha256(judge_prompt(i, "MODEL", "AB").encode()).hexdigest()
           for s, i in firsts.items()}
    assert got == PINNED


@pytest.mark.parametrize(("text", "letter"), [
    ("选择：A\n原因：回答1更贴近参考答案。", "A"),
    ("Choice: B\nReason: ...", "B"),
    ("经过比较，选择：C\n原因：两者相当。", "C"),
    ("选择：C 然后又说 选择：A", "C"),  # the first match, as findall(...)[0]
    ("选择: A", None),  # an ASCII colon is not OpenCompass's pattern
    ("选择：D", None),
    ("我认为回答1更好。", None),
    ("", None),
])
def test_verdict_regex(text: str, letter: str | None) -> None:
    assert parse_choice(text) == letter


def test_verdict_value_is_the_models_share_in_either_order() -> None:
    assert [judgement("AB", f"选择：{x}").value for x in "ABC"] == [1.0, 0.0, 0.5]
    assert [judgement("BA", f"选择：{x}").value for x in "ABC"] == [0.0, 1.0, 0.5]
    bad = judgement("BA", "无法判断")
    assert bad == Judgement("BA", "无法判断", None, None) and bad.parse_failed


# --- the win rate ------------------------------------------------------------------------------


def _result(sid: str, *values: float | None) -> SampleResult:
    js = tuple(Judgement(o, "", None if v is None else "x", v)
               for o, v in zip(("AB", "BA"), values, strict=False))
    readable = [v for v in values if v is not None]
    score = Score(value=sum(readable) / len(readable) if readable else 0.0, extracted=None,
                  parse_failed=len(readable) < len(values), weight=float(bool(readable)),
                  judgements=js)
    return SampleResult(sid, sid.split("/")[0], "", "", (), score)


def test_win_rate_pools_readable_judgements_as_opencompass() -> None:
    results = [_result("knowledge/0", 1.0, None), _result("knowledge/1", 0.0, 0.0),
               _result("language/0", 0.5, 1.0), _result("math_v2/0", None, None)]
    primary = BENCH.metric.aggregate(results)
    # 5 readable judgements: 1 + 0 + 0 + 0.5 + 1 -> 50%; a per-question mean would give 58.3%
    assert primary.value == pytest.approx(50.0)
    secondary = {m.name: m.value for m in BENCH.metric.secondary(results)}
    assert secondary["knowledge"] == pytest.approx(100 / 3)
    assert secondary["language"] == pytest.approx(75.0)
    assert "math_v2" not in secondary  # no readable verdict: no rate, not a 0
    assert secondary["subset_mean"] == pytest.approx((100 / 3 + 75) / 2)
    assert secondary["discrete_win_rate"] == pytest.approx(100 * (1 + 0 + 1) / 3)


def test_win_rate_stderr_is_the_per_question_one_when_all_are_readable() -> None:
    results = [_result(f"knowledge/{i}", a, b) for i, (a, b) in
               enumerate([(1.0, 1.0), (0.0, 0.5), (1.0, 0.0), (0.5, 0.5)])]
    means = [1.0, 0.25, 0.5, 0.5]
    m = sum(means) / 4
    se = (sum((x - m) ** 2 for x in means) / 3 / 4) ** 0.5
    primary = BENCH.metric.aggregate(results)
    assert primary.value == pytest.approx(100 * m)
    assert primary.stderr == pytest.approx(100 * se)


# --- through the runner ------------------------------------------------------------------------


def _answer(r: GenerateRequest) -> str:
    assert isinstance(r.prompt, ChatPrompt)
    return "MODEL ANSWER: " + r.prompt.messages[-1].content


def _model_slot(r: GenerateRequest) -> str:
    assert isinstance(r.prompt, ChatPrompt)
    return "A" if "MODEL ANSWER" in _slot(r.prompt.messages[-1].content, 1) else "B"


def _run(tmp: Path, data: Path, verdict: Callable[[GenerateRequest], str],
         order: str | None = None) -> tuple[BenchmarkResult, list[SampleResult], MockBackend]:
    judge = MockBackend(generate_fn=verdict)
    config = EvalsConfig(data_dir=str(data), output_dir=str(tmp), models=[MODEL],
                         runner=RunnerConfig(backend="mock"),
                         judge=JudgeConfig(name="scripted-judge", backend="mock"))
    line: dict[str, object] = {"name": "compass_arena"}
    if order:
        line["judge_order"] = order
    suite = SuiteSpec.model_validate({"name": "subjective", "benchmarks": [line]})
    (outcome,) = run_model(config, tmp, MODEL, [suite],
                           backend_builder=lambda spec: MockBackend(generate_fn=_answer),
                           judge_builder=lambda spec: judge)
    lines = (outcome.run_dir / "predictions" / "compass_arena.jsonl").read_text().splitlines()
    (res,) = list(RunDir(outcome.run_dir).results)
    return res, [SampleResult.from_json(json.loads(x)) for x in lines], judge


@pytest.mark.parametrize(("verdict", "win", "flip"), [
    (lambda r: "选择：A\n原因：第一个更好。", 50.0, 100.0),  # pure position bias
    (lambda r: f"选择：{_model_slot(r)}\n原因：模型更好。", 100.0, 0.0),
    (lambda r: "选择：C\n原因：平局。", 50.0, 0.0),
    (lambda r: f"选择：{'AB'[_model_slot(r) == 'A']}\n原因：基线更好。", 0.0, 0.0),
])
def test_orders_through_the_runner(tmp_path: Path, verdict: Callable[[GenerateRequest], str],
                                   win: float, flip: float) -> None:
    res, results, judge = _run(tmp_path, FIXTURES, verdict)
    assert judge.calls == 30 and res.n == 15
    assert all([j.label for j in r.score.judgements] == ["AB", "BA"] for r in results)
    assert res.primary.value == pytest.approx(win)
    assert res.judge is not None and res.judge.flip_pairs == 15
    assert res.judge.flip_rate == pytest.approx(flip)
    assert res.parse_failures == 0 and res.judge.parse_failures == 0


def test_run_writes_capability_groups_and_counts_parse_failures(merged_data_dir: Path,
                                                               tmp_path: Path) -> None:
    def verdict(r: GenerateRequest) -> str:
        assert isinstance(r.prompt, ChatPrompt)
        text = r.prompt.messages[-1].content
        if "四大发明" in text:
            return "I think the first answer is better."  # no 选择 line: unreadable
        if "月亮" in text and _model_slot(r) == "B":
            return "回答2更好"  # unreadable in one order only
        return f"选择：{_model_slot(r)}\n原因：模型更好。"

    res, results, _ = _run(tmp_path, merged_data_dir, verdict)
    assert res.parse_failures == 2 and res.judge is not None
    assert res.judge.parse_failures == 3 and res.judge.flip_pairs == 13
    assert res.judge.flip_rate == 0.0
    assert res.primary.value == pytest.approx(100.0)  # 27 readable judgements, all wins
    groups = {g: (v, n) for g, v, n in res.groups}
    assert groups["knowledge/知识-科学"] == (100.0, 2)
    assert {g.split("/")[0] for g in groups} == {"knowledge", "language", "math_v2",
                                                 "reason_v2", "creationv2_zh"}
    secondary = {m.name: m.value for m in res.secondary}
    assert secondary["knowledge"] == pytest.approx(100.0) and "subset_mean" in secondary
    blind = next(r for r in results if r.sample_id == "knowledge/0")
    assert blind.score.parse_failed and [j.value for j in blind.score.judgements] == [None, None]
    data = json.loads((tmp_path / "m" / "subjective" / "results.json").read_text())
    (bench,) = data["benchmarks"]
    assert bench["judge"]["flip_rate"] == 0.0 and bench["judge"]["calls"] == 30


def test_random_order_judges_once_per_question_stably(tmp_path: Path) -> None:
    always_a: Callable[[GenerateRequest], str] = lambda r: "选择：A"  # noqa: E731
    first, results1, judge1 = _run(tmp_path / "one", FIXTURES, always_a, order="random")
    _, results2, _ = _run(tmp_path / "two", FIXTURES, always_a, order="random")
    labels = [[j.label for j in r.score.judgements] for r in results1]
    assert judge1.calls == 15 and all(len(x) == 1 for x in labels)
    assert labels == [[j.label for j in r.score.judgements] for r in results2]
    assert {x[0] for x in labels} == {"AB", "BA"}
    # the model wins exactly where it was shown first
    assert first.primary.value == pytest.approx(100 * sum(x == ["AB"] for x in labels) / 15)
    assert first.judge is not None and first.judge.flip_rate is None
