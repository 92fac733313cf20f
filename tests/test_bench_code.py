"""MBPP, MBPP-CN and HumanEval-X: loaders, prompts, program assembly and execution."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.coding.humaneval_x import (
    HumanEvalX,
    HumanEvalXItem,
    assemble_program,
    clean_up_code,
    execute,
)
from evals.benchmarks.coding.mbpp import MBPP, MBPPItem, load_sanitized, outcome
from evals.benchmarks.coding.mbpp_cn import MBPPCN
from evals.records import ChatPrompt, GenerateResponse, Mode, ModelKind, TextPrompt
from evals.sandbox.process import SandboxLimits

FIXTURES = Path(__file__).parent / "fixtures"
FAST = SandboxLimits(timeout_s=3.0)
TOOLS = {"python": "python3", "cpp": "g++", "java": "javac", "js": "node", "go": "go"}


def _ctx(data_dir: Path, kind: ModelKind = ModelKind.BASE, shots: int = 3) -> BenchmarkContext:
    return BenchmarkContext(data_dir, kind, Mode.GEN, shots)


# ---------------------------------------------------------------- MBPP

def test_mbpp_falls_back_to_the_full_test_split_loudly(
    data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Only the full set present (built in a temporary folder; the shared data has the
    sanitized file too)."""
    (tmp_path / "mbpp").mkdir()
    (tmp_path / "mbpp/mbpp.jsonl").symlink_to(data_dir / "mbpp/mbpp.jsonl")
    with caplog.at_level(logging.WARNING):
        items = MBPP().load(_ctx(tmp_path))
    assert len(items) == 500
    assert items[0].id == "full/11" and items[-1].id == "full/510"
    assert {MBPP().group(i) for i in items} == {"full-set-fallback"}
    assert "FALLING BACK" in caplog.text


def test_mbpp_sanitized_file_gives_records_7_to_263(tmp_path: Path) -> None:
    rows = [{"source_file": "x", "task_id": i, "prompt": f"Write f{i}.", "code": "pass",
             "test_imports": [], "test_list": [f"assert {i} == {i}"]} for i in range(300)]
    (tmp_path / "mbpp").mkdir()
    (tmp_path / "mbpp/sanitized-mbpp.json").write_text(json.dumps(rows))
    items = MBPP().load(_ctx(tmp_path))
    assert len(items) == 257 and items[0].id == "7" and items[-1].id == "263"
    assert items[0].text == "Write f7." and MBPP().group(items[0]) == ""
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    assert load_sanitized(jsonl) == items


def test_mbpp_prompt_matches_the_config(data_dir: Path) -> None:
    bench = MBPP()
    item = bench.load(_ctx(data_dir))[0]
    (req,) = bench.requests(item, _ctx(data_dir))
    assert isinstance(req.prompt, TextPrompt) and req.params.max_tokens == 512
    assert req.params.stop == ()
    text = req.prompt.text
    assert text.startswith("You are an expert Python programmer, and here is your task: Write a "
                           "function to find the similar elements from the given two tuple lists."
                           " Your code should pass these tests:\n\n assert similar_elements(")
    assert text.endswith(
        "[DONE] \n\n \nYou are an expert Python programmer, and here is your task: Write a python "
        "function to remove first and last occurrence of a given character from the string. Your "
        'code should pass these tests:\n\n assert remove_Occ("hello","l") == "heo"\nassert '
        'remove_Occ("abcda","a") == "bcd"\nassert remove_Occ("PHP","P") == "H"  \n\n[BEGIN]\n')
    (chat,) = bench.requests(item, _ctx(data_dir, ModelKind.CHAT))
    assert isinstance(chat.prompt, ChatPrompt)
    roles = [m.role for m in chat.prompt.messages]
    assert roles == ["user", "assistant"] * 3 + ["user"]


def test_mbpp_outcomes() -> None:
    tests = "assert f(2) == 4\nassert f(3) == 9"
    assert outcome("def f(x):\n    return x * x", tests, limits=FAST) == ("pass", "")
    assert outcome("def f(x):\n    return x + x", tests, limits=FAST)[0] == "wrong_answer"
    assert outcome("def f(x)\n    return x", tests, limits=FAST)[0] == "failed"
    assert outcome("import sys\nsys.exit(0)", tests, limits=FAST)[0] == "failed"
    assert outcome("import os\nos.remove('/etc/passwd')", tests, limits=FAST)[0] == "failed"
    assert outcome("def f(x):\n    while True:\n        pass", tests, limits=FAST)[0] == "timeout"


def test_mbpp_scores_the_dataset_solution_and_counts_the_failure(data_dir: Path) -> None:
    bench, ctx = MBPP(), _ctx(data_dir)
    item = bench.load(ctx)[0]
    good = f"[BEGIN]\n '{item.target}' \n[DONE]"
    assert bench.score(item, [GenerateResponse(good, 0, 0, "stop")], ctx).value == 1.0
    bad = bench.score(item, [GenerateResponse("no code here", 0, 0, "stop")], ctx)
    assert bad.value == 0.0 and bad.detail.startswith("failed")


def test_mbpp_cn_fixture_and_prompt() -> None:
    bench, ctx = MBPPCN(), _ctx(FIXTURES)
    items = bench.load(ctx)
    assert [i.id for i in items] == ["11", "12", "13", "14"]
    (req,) = bench.requests(items[0], ctx)
    assert isinstance(req.prompt, TextPrompt)
    assert req.prompt.text.startswith(
        "你是一名专业的 Python 程序员，你的任务是：编写一个函数，从给定的两个元组")
    assert req.prompt.text.endswith(
        "\n你是一名专业的 Python 程序员，你的任务是: 编写一个函数，计算列表中所有数字的和。 你的代码应该通过"
        "这些测试:\n\n assert list_sum([1, 2, 3]) == 6\nassert list_sum([]) == 0\nassert "
        "list_sum([-1, 1]) == 0  \n\n[BEGIN]\n")
    scores = [bench.score(i, [GenerateResponse(f"[BEGIN]\n '{i.target}' \n[DONE]", 0, 0, "stop")],
                          ctx).value for i in items]
    assert scores == [1.0] * 4


# ---------------------------------------------------------------- HumanEval-X

@pytest.fixture(scope="module")
def hx(data_dir: Path) -> dict[str, HumanEvalXItem]:
    items = HumanEvalX().load(_ctx(data_dir, shots=0))
    assert len(items) == 820
    return {i.id: i for i in items}


def _need(lang: str) -> None:
    if not shutil.which(TOOLS[lang]):
        pytest.skip(f"{TOOLS[lang]} not installed (bash .ci/install installs it)")


def test_humaneval_x_groups_and_prompt(hx: dict[str, HumanEvalXItem], data_dir: Path) -> None:
    bench = HumanEvalX()
    assert sorted({bench.group(i) for i in hx.values()}) == ["cpp", "go", "java", "js", "python"]
    (req,) = bench.requests(hx["CPP/0"], _ctx(data_dir, shots=0))
    assert isinstance(req.prompt, TextPrompt) and req.prompt.text == hx["CPP/0"].prompt
    assert req.params.max_tokens == 1024 and req.params.stop == ()


def test_go_program_moves_imports_and_adds_used_packages(hx: dict[str, HumanEvalXItem]) -> None:
    item = hx["Go/0"]
    program = assemble_program(item, item.target)
    assert program.startswith('package main\n\nimport (\n    "testing"\n    "github.com/stretchr/'
                              'testify/assert"\n)\n\nimport (\n"math"\n)\n')
    assert item.imports not in program
    assert "\nfunc TestHasCloseElements(t *testing.T)" in program


@pytest.mark.parametrize("lang,task", [(lang, n) for lang in ("python", "cpp", "java", "js", "go")
                                       for n in (0, 17)])
def test_canonical_solutions_pass(hx: dict[str, HumanEvalXItem], lang: str, task: int) -> None:
    _need(lang)
    prefix = {"python": "Python", "cpp": "CPP", "java": "Java", "js": "JavaScript", "go": "Go"}
    item = hx[f"{prefix[lang]}/{task}"]
    result = execute(item, item.target)
    assert result.status == "passed", result.detail


WRONG = {
    "CPP/17": ("    return {};\n}\n", "run:"),
    "Java/17": ("        return new ArrayList<>();\n    }\n}", "run:"),
    "JavaScript/17": ("  return []\n}\n", "run: output:"),
    "Go/17": ("    return []int{}\n}\n", "run: --- FAIL"),
    "Python/17": ("    return []\n", "AssertionError"),
}


@pytest.mark.parametrize("task", sorted(WRONG))
def test_wrong_solutions_fail(hx: dict[str, HumanEvalXItem], task: str) -> None:
    item = hx[task]
    _need(item.language)
    code, reason = WRONG[task]
    result = execute(item, code)
    assert result.status == "failed" and reason in result.detail, result.detail


@pytest.mark.parametrize("task", ["CPP/17", "Java/17", "Go/17"])
def test_compile_errors_fail_with_a_reason(hx: dict[str, HumanEvalXItem], task: str) -> None:
    item = hx[task]
    _need(item.language)
    result = execute(item, "    return undefined_thing(;\n}\n")
    assert result.status == "failed"
    assert result.detail.startswith("compile:")
    assert len(result.detail) > len("compile: ")


@pytest.mark.parametrize("task,loop", [
    ("CPP/17", "    while (true) {}\n}\n"),
    ("Java/17", "        while (true) {}\n    }\n}"),
    ("JavaScript/17", "  while (true) {}\n}\n"),
    ("Python/17", "    while True:\n        pass\n"),
])
def test_infinite_loops_are_killed(hx: dict[str, HumanEvalXItem], task: str, loop: str) -> None:
    item = hx[task]
    _need(item.language)
    result = execute(item, loop, run_timeout=2.0)
    assert result.status == "timeout", result.detail


def test_score_goes_through_cleanup(hx: dict[str, HumanEvalXItem], data_dir: Path) -> None:
    _need("cpp")
    item = hx["CPP/0"]
    text = f"```cpp\n{item.declaration}{item.target}\nint main() {{ return 1; }}\n```"
    assert clean_up_code(text, "cpp", item.declaration).startswith(item.target.split("\n")[0])
    score = HumanEvalX().score(item, [GenerateResponse(text, 0, 0, "stop")],
                               _ctx(data_dir, shots=0))
    assert score.value == 1.0, score.detail


def test_mbpp_item_is_a_sample() -> None:
    item = MBPPItem("1", "pass", "t", ("assert True",))
    assert item.test_list == "assert True"
