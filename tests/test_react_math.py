"""``math_react`` and ``mathbench_react`` through the runner on the scripted mock backend and
the real sandbox: the shared ReAct loop with each benchmark's data, exemplars and grading."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from evals.backends.mock import MockBackend
from evals.benchmarks.code_interpreter._react import OBSERVATION_PREFIX
from evals.benchmarks.code_interpreter.math_react import MATHReact, unwrap
from evals.config import EvalsConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.records import ChatPrompt, GenerateRequest, MetricValue, SampleResult
from evals.results.rundir import RunDir
from evals.run.runner import run_model

CHAT = ModelSpec(name="m", path="mock", kind="chat")
FIXTURES = Path(__file__).parent / "fixtures"
Reply = Callable[[GenerateRequest], str]


def _run(data: Path, out: Path, bench: str, reply: Reply
         ) -> tuple[list[SampleResult], dict[str, MetricValue]]:
    config = EvalsConfig(data_dir=str(data), output_dir=str(out), models=[CHAT],
                         runner=RunnerConfig(backend="mock"))
    suite = SuiteSpec.model_validate({"name": "tools", "benchmarks": [{"name": bench}]})
    (outcome,) = run_model(config, out, CHAT, [suite],
                           backend_builder=lambda spec: MockBackend(generate_fn=reply))
    run = RunDir(outcome.run_dir)
    result = run.result(bench)
    assert result is not None
    return run.predictions(bench), {m.name: m for m in (result.primary, *result.secondary)}


def _question(r: GenerateRequest) -> tuple[str, list[str]]:
    """The sample's question (the last user turn that is not an observation) and the
    observations after it."""
    assert isinstance(r.prompt, ChatPrompt)
    msgs = r.prompt.messages
    i = max(n for n, m in enumerate(msgs) if m.role == "user"
            and not m.content.startswith(OBSERVATION_PREFIX))
    return msgs[i].content, [m.content.removeprefix(OBSERVATION_PREFIX)
                             for m in msgs[i + 1:] if m.role == "user"]


@pytest.fixture(scope="module")
def math_data(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    (root / "math").mkdir()
    import gzip
    with gzip.open(data_dir / "math" / "test.json.gz", "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()[:3]
    (root / "math" / "test.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_math_react_computes_then_answers_in_latex(math_data: Path, tmp_path: Path) -> None:
    rows = [json.loads(x) for x in (math_data / "math" / "test.jsonl").read_text().splitlines()]
    answers = {r["problem"]: i for i, r in enumerate(rows)}
    # item 0: code printing the boxed answer, then "Final Answer: $<obs>$"; 1: a wrong direct
    # answer; 2: an empty final answer (a parse failure)
    refs = ["2", None, None]

    def reply(r: GenerateRequest) -> str:
        question, obs = _question(r)
        i = answers[question]
        if i == 0:
            return f"```python\nprint(1 + {refs[0]} - 1)\n```" if not obs else \
                f"So it is\nFinal Answer: ${obs[-1]}$."
        return "Final Answer: 12345" if i == 1 else "Final Answer:"

    results, metrics = _run(math_data, tmp_path, "math_react", reply)
    by_q = {r.sample_id: r for r in results}
    assert len(results) == 3
    first = by_q["0"]
    assert first.score.value == 1.0 and first.score.extracted == "2"
    assert dict(first.score.extras) == {"math_verify": 1.0, "tool_used": 1.0}
    assert by_q["1"].score.value == 0.0 and not by_q["1"].score.parse_failed
    assert by_q["2"].score.parse_failed
    assert metrics["accuracy"].value == pytest.approx(100 / 3)


def test_math_final_answer_unwrapping() -> None:
    assert unwrap(" $\\frac{5}{12}$.") == "\\frac{5}{12}"
    assert unwrap("The answer is \\boxed{8\\sqrt{2}}") == "8\\sqrt{2}"
    assert unwrap("[2,3]") == "[2,3]"
    bench = MATHReact()
    assert len(bench.exemplars) == 4 and all(e.answer.count("Final Answer:") == 1
                                             for e in bench.exemplars)


def test_mathbench_react_exemplars_grading_and_figure15_scores(tmp_path: Path) -> None:
    rows: dict[str, tuple[str, str, str]] = {}  # question -> (name, answer, first exemplar)
    for path in sorted((FIXTURES / "mathbench").glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows[row["question"].strip()] = (path.stem, row["answer"], "")
    asked: dict[str, str] = {}

    def reply(r: GenerateRequest) -> str:
        assert isinstance(r.prompt, ChatPrompt)
        question, obs = _question(r)
        stem = next(q for q in rows if question.startswith(q))
        name, answer, _ = rows[stem]
        asked[stem] = r.prompt.messages[1].content  # the first exemplar's question
        if "choice" in name:  # right on English sets, a letter that is not an option on CN
            return f"Final Answer: {answer}" if name.endswith("_en") else "Final Answer: none"
        if not obs:
            return f"```python\nprint({answer})\n```"
        return f"Final Answer: {obs[-1]}"

    data = tmp_path / "data"
    data.mkdir()
    (data / "mathbench").symlink_to(FIXTURES / "mathbench")
    results, metrics = _run(data, tmp_path / "out", "mathbench_react", reply)
    assert len(results) == len(rows)
    groups = {r.group for r in results}
    assert {"college_knowledge-single_choice_en", "primary_knowledge-single_choice_cn",
            "primary-cloze_cn", "high-single_choice_en"} <= groups
    for r in results:
        cn_choice = r.group.endswith("single_choice_cn")
        assert r.score.parse_failed == cn_choice
        assert r.score.value == (0.0 if cn_choice else 1.0)
    # the exemplars follow the set: Chinese choice questions see Chinese choice exemplars
    cn_q = next(q for q, (n, _, _) in rows.items() if n == "single_choice_cn")
    assert asked[cn_q].startswith("方程") and asked[next(
        q for q, (n, _, _) in rows.items() if n == "cloze_en")].startswith("A farmer")
    assert metrics["application_en"].value == 100.0 and metrics["knowledge_en"].value == 100.0
    assert metrics["knowledge_cn"].value == 0.0
    assert metrics["application_cn"].value == 25.0  # cloze_cn right, three choice sets not
