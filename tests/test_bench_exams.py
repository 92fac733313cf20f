"""CMMLU, C-Eval, AGIEval and GAOKAO-Bench: loaders on the shared data, prompts, extraction
edge cases, parse-failure accounting, the weighted GAOKAO summary, and a mock end-to-end run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from evals.benchmarks.base import BENCHMARKS, BenchmarkContext, select
from evals.benchmarks.examination import agieval, gaokao
from evals.benchmarks.examination._exam_zh import first_capital, score_first_capital
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
    Mode,
    ModelKind,
    SampleResult,
    Score,
    TextPrompt,
)
from tests.oracle import score_with


def _ctx(data_dir: Path, mode: Mode, kind: ModelKind = ModelKind.BASE, shots: int = 5) -> BenchmarkContext:
    return BenchmarkContext(data_dir, kind, mode, shots)


@pytest.mark.parametrize(
    ("name", "n", "groups"),
    [("cmmlu", 11582, 67), ("ceval", 1346, 52), ("agieval", 8269, 21), ("gaokao", 1781, 14)],
)
def test_loaders_match_manifest(data_dir: Path, name: str, n: int, groups: int) -> None:
    bench = BENCHMARKS.get(name)
    items = bench.load(_ctx(data_dir, Mode.PPL))
    assert len(items) == n
    assert len({bench.group(i) for i in items}) == groups
    assert len({i.id for i in items}) == n
    assert bench.data_files(_ctx(data_dir, Mode.PPL))


def test_cmmlu_ppl_prompt_pinned(data_dir: Path) -> None:
    bench = BENCHMARKS.get("cmmlu")
    item = bench.load(_ctx(data_dir, Mode.PPL))[0]
    reqs = bench.requests(item, _ctx(data_dir, Mode.PPL))
    assert [r.continuation for r in reqs] == list("ABCD")
    text = reqs[0].context.text
    assert text.startswith("以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：")
    assert text.count("\n答案是: ") == 6 and text.count("答案是: B\n\n\n以下") >= 1
    assert text.endswith(
        "\n\n\n\n\n以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：在农业生产中被当作极其重要"
        "的劳动对象发挥作用，最主要的不可替代的基本生产资料是\nA. 农业生产工具\nB. 土地\nC. 劳动力\n"
        "D. 资金\n答案是: "
    )
    assert item.target == "B"


def test_exam_gen_prompts(data_dir: Path) -> None:
    cmmlu, ceval = BENCHMARKS.get("cmmlu"), BENCHMARKS.get("ceval")
    item = cmmlu.load(_ctx(data_dir, Mode.GEN))[0]
    (base,) = cmmlu.requests(item, _ctx(data_dir, Mode.GEN))
    assert isinstance(base, GenerateRequest) and isinstance(base.prompt, TextPrompt)
    assert "\n\n" not in base.prompt.text and base.prompt.text.endswith("D. 资金\n答案是: ")
    (chat,) = cmmlu.requests(item, _ctx(data_dir, Mode.GEN, ModelKind.CHAT))
    assert isinstance(chat.prompt, ChatPrompt) and len(chat.prompt.messages) == 11
    assert chat.prompt.messages[1].content.startswith("答案是: ")
    citem = ceval.load(_ctx(data_dir, Mode.GEN))[0]
    (cbase,) = ceval.requests(citem, _ctx(data_dir, Mode.GEN))
    assert cbase.prompt.text.endswith("\nD. 100Mbps\n答案: \nC\n以下是中国关于计算机网络考试的单项选择题，"
                                      "请选出其中的正确答案。\n使用位填充方法，以01111110为位首flag，数据为"
                                      "011011111111111111110010，求问传送时要添加几个0____\nA. 1\nB. 2\n"
                                      "C. 3\nD. 4\n答案: ")


def test_first_capital_edge_cases() -> None:
    assert first_capital("答案是：B") == "B"
    assert first_capital("the answer is b, i.e. (C)") == "C"
    assert first_capital("Ｂ") == "Ｂ"  # full-width capitals are upper case too
    assert first_capital("无法确定") == ""
    failed = score_first_capital("无法确定", "A")
    assert failed.parse_failed and failed.value == 0.0 and failed.extracted is None
    wrong = score_first_capital("The answer is A", "A")  # upstream reads "T"
    assert wrong.extracted == "T" and wrong.value == 0.0 and wrong.parse_failed


def test_agieval_mixed_requests(data_dir: Path) -> None:
    bench = BENCHMARKS.get("agieval")
    ctx = _ctx(data_dir, Mode.PPL, shots=0)
    items = bench.load(ctx)
    kinds = Counter((i.task, type(bench.requests(i, ctx)[0]).__name__) for i in items)
    assert all(k == "LoglikelihoodRequest" for (t, k) in kinds if t in agieval.SINGLE)
    assert all(k == "GenerateRequest" for (t, k) in kinds if t not in agieval.SINGLE)
    lsat = next(i for i in items if i.task == "lsat-ar")
    reqs = bench.requests(lsat, ctx)
    assert [r.continuation for r in reqs] == list("ABCDE")
    assert reqs[0].context.text.startswith(agieval.INTRO["lsat-ar"] + "\n")
    assert reqs[0].context.text.endswith("\nThe answer is ")
    cloze = next(i for i in items if i.task == "gaokao-mathcloze")
    (gen,) = bench.requests(cloze, ctx)
    assert gen.prompt.text.endswith("则 $a=(\\quad)$答案是：") and gen.params.max_tokens == 1024
    (chat,) = bench.requests(cloze, _ctx(data_dir, Mode.GEN, ModelKind.CHAT, 0))
    assert chat.prompt.messages[0].content.endswith("则 $a=(\\quad)$\n答案是： ")
    jec = [i for i in items if i.task == "jec-qa-kd"]
    assert sum(1 for i in jec if len(i.target) > 1) > 100 and any(i.target == "" for i in jec)


@pytest.mark.parametrize(
    ("task", "text", "target", "value", "failed"),
    [
        ("gaokao-physics", "答案是： AC", "AC", 1.0, False),
        ("gaokao-physics", "答案是： A和C", "AC", 0.0, False),
        ("jec-qa-kd", "无法作答", "AB", 0.0, True),
        ("math", "so the answer is $\\frac{1}{2}$.", "\\frac{1}{2}", 1.0, False),
        ("math", "The answer is 1/2", "\\frac{1}{2}", 0.0, False),  # upstream reads the last number, "2"
        ("math", "The answer is 0.5", "\\frac{1}{2}", 1.0, False),
        ("math", "x = \\boxed{3}", "3", 1.0, False),
        ("math", "I cannot solve it.", "3", 0.0, True),
        ("gaokao-mathcloze", "答案是：$\\dfrac{3}{4}$", "\\frac{3}{4}", 1.0, False),
        ("gaokao-mathcloze", "答案是：\\dfrac{3}{4}", "\\frac{3}{4}", 0.0, False),  # no $: last number, "4"
        ("logiqa-en", "The answer is (C).", "C", 1.0, False),
        ("logiqa-zh", "答案是：D", "B", 0.0, False),
        ("logiqa-zh", "不知道", "B", 0.0, True),
    ],
)
def test_agieval_generation_scoring(
    task: str, text: str, target: str, value: float, failed: bool
) -> None:
    item = agieval.AGIEvalItem("x", target, task, "q", "(A)a\n(B)b")
    score = agieval.score_generation(item, text, Mode.GEN)
    assert (score.value, score.parse_failed) == (value, failed)


def test_agieval_ppl_gold_outside_the_labels() -> None:
    """gaokao-mathqa has single-choice items whose label is several letters: never right."""
    item = agieval.AGIEvalItem("x", "A B D", "gaokao-mathqa", "q", "o")
    lls = [LoglikelihoodResponse(-1.0 * (i + 1), 1, False, -5.0, 10) for i in range(4)]
    ctx = BenchmarkContext(Path("."), ModelKind.BASE, Mode.PPL, 0)
    score = BENCHMARKS.get("agieval").score(item, lls, ctx)
    assert score.value == 0.0 and score.extracted == "A"


def test_gaokao_prompts_and_types(data_dir: Path) -> None:
    bench = BENCHMARKS.get("gaokao")
    ctx = _ctx(data_dir, Mode.PPL, shots=0)
    items = bench.load(ctx)
    single = next(i for i in items if i.qtype == "single_choice")
    reqs = bench.requests(single, ctx)
    assert all(isinstance(r, LoglikelihoodRequest) for r in reqs)
    assert reqs[0].context.text == gaokao.PROMPTS[single.keyword][1] + single.question + "\n【答案】"
    assert [r.continuation for r in reqs] == ["A <eoa>", "B <eoa>", "C <eoa>", "D <eoa>"]
    multi = next(i for i in items if i.qtype == "multi_question_choice")
    (gen,) = bench.requests(multi, ctx)
    assert isinstance(gen, GenerateRequest) and gen.prompt.text.startswith("请你做一道")
    counts = Counter(i.qtype for i in items)
    assert counts == {"single_choice": 1418, "multi_question_choice": 273, "multi_choice": 64,
                      "five_out_of_seven": 26}


@pytest.mark.parametrize(
    ("qtype", "text", "answer", "points", "failed"),
    [
        ("single_choice", "【解析】选项A错误……故选C。\n【答案】C <eoa>", ("C",), (1, 1), False),
        ("single_choice", "无法判断", ("C",), (0, 1), True),
        ("multi_choice", "【解析】……<eoe>\n【答案】 B D <eoa>", ("BD",), (2, 2), False),
        ("multi_choice", "【解析】……<eoe>\n【答案】B <eoa>", ("BD",), (1, 2), False),
        ("multi_choice", "【解析】……<eoe>\n【答案】AB <eoa>", ("BD",), (0, 2), False),
        ("multi_question_choice", "(1)【答案】A <eoa>\n(2)【答案】：C <eoa>", ("A", "C"), (2, 2), False),
        ("multi_question_choice", "A C D", ("A", "C"), (2, 2), False),
        ("multi_question_choice", "只有一个 A", ("A", "C"), (0, 2), True),
        ("five_out_of_seven", "【答案】 C F A E D <eoa>", ("C", "F", "A", "E", "D"), (5, 5), False),
    ],
)
def test_gaokao_points(qtype: str, text: str, answer: tuple[str, ...],
                       points: tuple[int, int], failed: bool) -> None:
    item = gaokao.GaokaoItem("x", ",".join(answer), "k", qtype, "q", answer)
    score = gaokao.score_output(item, text)
    assert f"points={points[0]}/{points[1]}" in score.detail
    assert score.parse_failed is failed


def _result(group: str, won: float, total: float) -> SampleResult:
    return SampleResult("i", group, "", "", (), Score(won / total, None, detail=f"points={won:g}/{total:g}"))


def test_gaokao_weighted_summary() -> None:
    """Subset score = points / possible points; overall = OpenCompass's weighted mean."""
    rs = [_result("2010-2022_Physics_MCQs", 1, 2), _result("2010-2022_Physics_MCQs", 2, 2),
          _result("2010-2022_Math_I_MCQs", 0, 1), _result("2010-2022_Math_I_MCQs", 1, 1),
          _result("2010-2022_Math_I_MCQs", 1, 1), _result("2010-2022_Math_I_MCQs", 1, 1)]
    value = BENCHMARKS.get("gaokao").metric.aggregate(rs)
    expected = (75.0 * 384 + 75.0 * 1070) / (384 + 1070)
    assert value.value == pytest.approx(expected) and value.stderr > 0


@pytest.mark.parametrize(("name", "mode", "kind"), [
    ("cmmlu", Mode.PPL, ModelKind.BASE), ("ceval", Mode.GEN, ModelKind.CHAT),
    ("agieval", Mode.PPL, ModelKind.BASE), ("agieval", Mode.GEN, ModelKind.CHAT),
    ("gaokao", Mode.PPL, ModelKind.BASE), ("gaokao", Mode.GEN, ModelKind.CHAT),
])
def test_mock_end_to_end(data_dir: Path, name: str, mode: Mode, kind: ModelKind) -> None:
    """Replies that are the answers (the gold option for PPL) score 100, empty replies (the
    worst option) 0. AGIEval's cloze items are left out: their targets are LaTeX that the
    OpenCompass extraction does not return verbatim."""
    bench = BENCHMARKS.get(name)
    ctx = BenchmarkContext(data_dir, kind, mode, bench.default_shots, limit=40)
    samples = [s for s in select(bench.load(ctx), 40) if len(s.target) == 1 or name != "agieval"]
    summary = score_with(bench, ctx, samples)
    wrong = score_with(bench, ctx, samples, right=False)
    assert summary.n == wrong.n == len(samples) > 30
    assert summary.primary.value == 100.0 and summary.parse_failures == 0
    assert wrong.primary.value == 0.0
    if name == "agieval":  # OpenCompass's sub-group averages, and no per-sample PPL extras
        assert {m.name for m in summary.secondary} == set(agieval.SUB_GROUPS)
    if name == "gaokao":
        assert summary.secondary == ()
