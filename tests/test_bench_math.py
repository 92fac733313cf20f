"""MATH and MathBench: loaders, prompts, extraction edge cases, parse failures, end to end."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evals.benchmarks.base import BENCHMARKS, BenchmarkContext, select
from evals.benchmarks.reasoning_math.math import EXEMPLARS, HendrycksMATH, MATHItem, score_text
from evals.benchmarks.reasoning_math.mathbench import (
    CIRCULAR_PATTERNS,
    MathBench,
    MathBenchItem,
    prompts_for,
    rotation,
    score_cloze,
)
from evals.errors import DataError
from evals.records import ChatPrompt, GenerateRequest, Mode, ModelKind, TextPrompt
from tests.oracle import score_with

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _ctx(data_dir: Path, kind: ModelKind = ModelKind.CHAT, shots: int = 4) -> BenchmarkContext:
    return BenchmarkContext(data_dir, kind, Mode.GEN, shots)


def test_registered_names() -> None:
    assert isinstance(BENCHMARKS.get("math"), HendrycksMATH)
    assert isinstance(BENCHMARKS.get("mathbench"), MathBench)


def test_math_loads_shared_data(data_dir: Path) -> None:
    items = HendrycksMATH().load(_ctx(data_dir))
    assert len(items) == 5000
    assert Counter(i.subject for i in items) == {
        "Algebra": 1187, "Intermediate Algebra": 903, "Prealgebra": 871, "Precalculus": 546,
        "Number Theory": 540, "Geometry": 479, "Counting & Probability": 474}
    assert items[0].target == "2" and all(i.target for i in items)


def test_math_upstream_layout(tmp_path: Path) -> None:
    """hendrycks/math's test/<type>/<n>.json, one problem per file."""
    for sub, n, ans in (("algebra", 1, "3"), ("algebra", 10, "\\frac{1}{2}"), ("geometry", 2, "5")):
        d = tmp_path / "math/test" / sub
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{n}.json").write_text(json.dumps({
            "problem": f"p{n}", "level": "Level 1", "type": sub.title(),
            "solution": f"So it is $\\boxed{{{ans}}}$."}))
    items = HendrycksMATH().load(_ctx(tmp_path))
    assert [(i.id, i.target) for i in items] == [
        ("algebra/1", "3"), ("algebra/10", "\\frac{1}{2}"), ("geometry/2", "5")]


def test_math_missing_data_names_the_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"math/test\.json\.gz"):
        HendrycksMATH().load(_ctx(tmp_path))


def test_math_chat_prompt_pinned() -> None:
    prompt = HendrycksMATH().requests(MATHItem("0", "2", "What is $1+1$?", "", "", ""),
                                      _ctx(Path(".")))[0]
    assert isinstance(prompt, GenerateRequest) and isinstance(prompt.prompt, ChatPrompt)
    msgs = prompt.prompt.messages
    assert len(msgs) == 9 and msgs[-1].content == "Problem:\nWhat is $1+1$?\nSolution:\n"
    # OpenCompass's safe_format keeps the config's doubled braces (and the stray "}}")
    assert msgs[0].content == ("Problem:\nFind the domain of the expression "
                               "$\\frac{{\\sqrt{{x-2}}}}{{\\sqrt{{5-x}}}}$.}}\nSolution:")
    assert msgs[1].role == "assistant" and msgs[1].content.endswith("I hope it is correct.\n")
    assert prompt.params.max_tokens == 512 and prompt.params.stop == ()


def test_math_base_prompt_is_newline_joined() -> None:
    req = HendrycksMATH().requests(MATHItem("0", "2", "Q?", "", "", ""),
                                   _ctx(Path("."), ModelKind.BASE, shots=1))[0]
    assert isinstance(req, GenerateRequest) and isinstance(req.prompt, TextPrompt)
    assert req.prompt.text == f"{EXEMPLARS[0][0]}\n{EXEMPLARS[0][1]}\nProblem:\nQ?\nSolution:\n"


@pytest.mark.parametrize(("text", "ref", "version", "value", "failed"), [
    ("Final Answer: The final answer is $1,000$. I hope it is correct.", "1000", "v1", 1, False),
    ("Thus $\\boxed{\\frac34}$.", "\\frac{3}{4}", "v2", 1, False),
    ("\\[ \\boxed{\\frac{\\sqrt{3}}{2}} \\]", "\\frac{\\sqrt{3}}{2}", "v2", 1, False),
    ("\\boxed{10\\text{ inches}}", "10", "v2", 1, False),
    ("\\boxed{90^\\circ}", "90", "v2", 1, False),
    ("\\boxed{25\\%}", "25", "v2", 1, False),
    ("\\boxed{-5}", "-5", "v2", 1, False),
    ("The answer is -5.", "-5", "v2", 1, False),
    ("\\boxed{4}", "5", "v2", 0, False),
    ("I have no idea", "5", "v2", 0, True),
    ("", "5", "v1", 0, True),
    ("5", "5", "v1", 1, False),  # upstream's first-sentence fallback finds it
])
def test_math_scoring(text: str, ref: str, version: str, value: int, failed: bool) -> None:
    score = score_text(text, ref, version)  # type: ignore[arg-type]
    assert (score.value, score.parse_failed) == (value, failed)


def test_math_verify_extra() -> None:
    score = score_text("So $\\boxed{0.75}$", "\\frac{3}{4}", "v2")
    assert score.value == 0.0 and dict(score.extras)["math_verify"] == 1.0


def test_mathbench_fixture_loads_all_subsets() -> None:
    items = MathBench().load(_ctx(FIXTURES, shots=8))
    groups = Counter(MathBench().group(i) for i in items)
    assert set(groups) == {"college-single_choice_cn", "college-single_choice_en",
                           "high-single_choice_cn", "high-single_choice_en",
                           "middle-single_choice_cn", "middle-single_choice_en",
                           "primary-cloze_cn", "primary-cloze_en", "calculate-cloze_en"}
    assert len(items) == 23


def test_mathbench_arithmetic_alias_and_bad_record(tmp_path: Path) -> None:
    root = tmp_path / "mathbench_v1"
    root.symlink_to(FIXTURES / "mathbench")
    assert len(MathBench().load(_ctx(tmp_path, shots=8))) == 23
    bad = tmp_path / "b/mathbench"
    for p in (FIXTURES / "mathbench").glob("*/*.jsonl"):
        (bad / p.parent.name).mkdir(parents=True, exist_ok=True)
        (bad / p.parent.name / p.name).write_text(p.read_text())
    (bad / "high/single_choice_en.jsonl").write_text(
        json.dumps({"question": "q", "options": ["1", "2", "3"], "answer": "A"}) + "\n")
    with pytest.raises(DataError, match="4 options"):
        MathBench().load(_ctx(tmp_path / "b", shots=8))


def test_mathbench_prompts() -> None:
    item = MathBenchItem("x", "B", "high", "single_choice_en", "Pick.", ("1", "2", "3", "4"))
    prompts = prompts_for(item, 8, ModelKind.CHAT)
    assert len(prompts) == 4
    first = prompts[1]
    assert isinstance(first, ChatPrompt)
    assert first.messages[0].content.endswith(
        "answer:\nPick.\nA. 2\nB. 3\nC. 4\nD. 1\n\nLet's think step by step:")
    cloze = MathBenchItem("y", "3", "primary", "cloze_cn", "1+2=?", ())
    (base,) = prompts_for(cloze, 8, ModelKind.BASE)
    assert isinstance(base, TextPrompt) and base.text.endswith("\nQ: 1+2=?\nA: ")
    (chat,) = prompts_for(cloze, 0, ModelKind.CHAT)
    assert isinstance(chat, ChatPrompt) and [m.content for m in chat.messages] == ["Q: 1+2=?"]


def test_mathbench_cloze_parse_failure() -> None:
    item = MathBenchItem("y", "3", "primary", "cloze_en", "1+2=?", ())
    assert score_cloze(item, "no idea").parse_failed
    assert score_cloze(item, "1 + 2 = 3. The answer is 3.").value == 1.0


def _right(sample: Any, k: int) -> str:
    """MATH's and MathBench's right replies: the boxed answer; a circular question's letter
    under the k-th rotation; a cloze question's number after "The answer is"."""
    if isinstance(sample, MathBenchItem):
        if sample.options:
            return f"The answer is {rotation(sample, CIRCULAR_PATTERNS[k])[1]}"
        return f"The answer is {sample.target}"
    return f"The final answer is $\\boxed{{{sample.target}}}$."


@pytest.mark.parametrize("name", ["math", "mathbench"])
def test_end_to_end_with_mock_backend(name: str, merged_data_dir: Path) -> None:
    """Right replies score 100 in every group (all four rotations of a circular question),
    empty ones 0 with every item unparsed."""
    bench = BENCHMARKS.get(name)
    ctx = _ctx(merged_data_dir, shots=bench.default_shots)
    samples = select(bench.load(ctx), 20)
    summary = score_with(bench, ctx, samples, _right)
    wrong = score_with(bench, ctx, samples, _right, right=False)
    assert summary.n == wrong.n == 20
    assert summary.primary.value == 100.0 and summary.parse_failures == 0
    assert summary.groups and all(v == 100.0 for _, v, _ in summary.groups)
    assert wrong.primary.value == 0.0 and wrong.parse_failures == 20
