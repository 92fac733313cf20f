"""CIBench (``cibench_en``/``cibench_zh``): the notebook parser on the staged task notebooks
and on our fixture task (tests/fixtures/cibench, its input file present), what is not
scorable and why, each metric on hand-made tool results, and one task run end to end through
the runner, the scripted mock backend and the real IPython sandbox."""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from evals.backends.mock import MockBackend
from evals.benchmarks.base import BENCHMARKS, BenchmarkContext
from evals.benchmarks.tool_use.cibench.data import build_task, load_tasks, not_scorable_counts
from evals.benchmarks.tool_use.cibench.react import (
    APOLOGY,
    SYSTEM_PROMPT,
    TRIM_OUTPUT,
    Action,
    Turn,
    extract_code,
    fold_system,
    format_result,
    parse_reply,
)
from evals.benchmarks.tool_use.cibench.scoring import step_score
from evals.config import EvalsConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.errors import ConfigError, DataError
from evals.records import (
    BenchmarkResult,
    ChatPrompt,
    GenerateRequest,
    Mode,
    ModelKind,
    SampleResult,
)
from evals.run.runner import run_model
from evals.sandbox.tools import CellResult

FIXTURE = Path(__file__).parent / "fixtures" / "cibench"
CHAT = ModelSpec(name="m", path="mock", kind="chat")
needs_ipython = pytest.mark.skipif(importlib.util.find_spec("IPython") is None,
                                   reason="IPython not installed")


def _ctx(data: Path, kind: ModelKind = ModelKind.CHAT) -> BenchmarkContext:
    return BenchmarkContext(data_dir=data, kind=kind, mode=Mode.GEN, shots=0)


# --- loading ---------------------------------------------------------------------------------


def test_staged_notebooks_parse_as_opencompass_loads_them(data_dir: Path) -> None:
    root = data_dir / "cibench"
    en = {t.id: t for t in load_tasks(data_dir, "cibench_template")}
    zh = {t.id: t for t in load_tasks(data_dir, "cibench_template_chinese")}
    assert len(en) == len(zh) == 73 and sum(len(t.questions) for t in en.values()) == 469
    task = en["matplotlib/matplotlib_exp01"]
    assert task.tags == ("exec", "vis", "vis", "vis", "vis", "vis", "vis") and task.gold is None
    assert len(task.questions) == len(task.codes) == 7
    assert task.questions[0].startswith("File Path: `data/matplotlib_dataset01.csv`\n\nLoad")
    assert task.questions[0].endswith("first 5 rows of the DataFrame.Please use pandas modules.\n")
    assert task.codes[1].startswith("import matplotlib.pyplot as plt\n\nplt.figure(figsize=(10,6))")
    assert zh["pandas/pandas_exp01"].questions[3].endswith("请用 seaborn 和 numpy 模块.\n")
    assert en["pandas/pandas_exp01"].questions[3].endswith("Please use seaborn and numpy modules.\n")
    assert task.blockers == ("input file missing: data/matplotlib_dataset01.csv",)
    again = build_task(root / "cibench_template" / "matplotlib" / "matplotlib_exp01.md",
                       root / "cibench_template", root / "datasources", chinese=False)
    assert again == task


def test_staged_tasks_are_blocked_exactly_by_what_is_missing(data_dir: Path) -> None:
    """Each task names the input files absent from the data folder, and only those: a file
    staged later (the shared data grows) unblocks its tasks without a test change."""
    datasources = data_dir / "cibench" / "datasources"
    tasks = load_tasks(data_dir, "cibench_template")
    assert len(tasks) == 73
    for task in tasks:
        missing = {b.removeprefix("input file missing: ") for b in task.blockers
                   if b.startswith("input file missing: ")}
        assert all(not (datasources / name).exists() for name in missing), task.id
        assert all(Path(source).is_file() for _, source in task.inputs), task.id
    counts = not_scorable_counts(data_dir, "cibench_template")
    assert counts["missing_files"] == sum(
        any(b.startswith("input file") for b in t.blockers) for t in tasks)


def test_nothing_is_scorable_without_the_input_files(data_dir: Path, tmp_path: Path) -> None:
    """The notebooks without their datasources (built in a temporary folder: the shared data
    may hold any number of input files): a clear error naming where the files go."""
    (tmp_path / "cibench").mkdir()
    for subset in ("cibench_template", "cibench_template_chinese"):
        (tmp_path / "cibench" / subset).symlink_to(data_dir / "cibench" / subset)
    counts = not_scorable_counts(tmp_path, "cibench_template")
    assert counts["tasks"] == 73 and counts["missing_files"] == 63
    with pytest.raises(DataError, match=r"none of the 73 tasks can be scored.*datasources/data"):
        BENCHMARKS.get("cibench_en").load(_ctx(tmp_path))


def test_fixture_task_parses_with_its_input_present() -> None:
    tasks = {t.id: t for t in load_tasks(FIXTURE, "cibench_template")}
    task = tasks["fixture/fixture_exp01"]
    assert task.tags == ("exec", "num", "vis", "text") and task.target == "exec,num,vis,text"
    assert task.questions[1] == "How many members scored above 50? Show the count." \
                                "Please use pandas modules.\n"
    assert task.codes[1] == 'int((df["score"] > 50).sum())'
    assert task.inputs == (("data/club_scores.csv",
                            str(FIXTURE / "cibench/datasources/data/club_scores.csv")),)
    assert task.blockers == () and task.module == "fixture"


def test_not_scorable_tasks_are_counted_with_their_reasons() -> None:
    tasks = {t.id: t for t in load_tasks(FIXTURE, "cibench_template")}
    assert tasks["fixture/fixture_exp02"].blockers == ("input file missing: data/not_staged.csv",)
    assert tasks["fixture/fixture_exp03"].blockers == (
        "package not installed: absent_library_for_cibench_tests",)
    assert not_scorable_counts(FIXTURE, "cibench_template") == {
        "tasks": 2, "missing_files": 1, "missing_packages": 1, "nltk_data": 0}
    loaded = BENCHMARKS.get("cibench_en").load(_ctx(FIXTURE))
    assert [t.id for t in loaded] == ["fixture/fixture_exp01"]


def test_missing_notebooks_and_base_models_are_clear_errors(tmp_path: Path) -> None:
    want = r"no task notebooks at .*cibench_template_chinese; put .*evals data fetch -b cibench_zh"
    with pytest.raises(DataError, match=want):
        BENCHMARKS.get("cibench_zh").load(_ctx(tmp_path))
    with pytest.raises(ConfigError, match="chat models"):
        BENCHMARKS.get("cibench_en").load(_ctx(FIXTURE, ModelKind.BASE))


# --- protocol pieces -------------------------------------------------------------------------


def test_reply_parsing_follows_lagent() -> None:
    reply = ("Thought: count them\nAction: IPythonInterpreter\nAction Input: ```python\n"
             "len(df)\n```")
    assert parse_reply(reply) == Action("ipython", "```python\nlen(df)\n```", "len(df)\n")
    assert parse_reply("Thought: done\nFinal Answer: 3").kind == "finish"
    assert parse_reply("Just 3.").kind == "none"
    assert parse_reply("Action: python\nAction Input: ```python\n1\n```").kind == "invalid"
    assert extract_code("run `x + 1` please") == "x + 1"
    assert extract_code('{"code": "print(2)"}') == "print(2)"


def test_tool_results_are_formatted_and_trimmed_as_lagent_does() -> None:
    cell = CellResult("ok", "hi\n", "3", None, 0.1, stderr="warn\n", images=("AAAA",))
    ok, text = format_result(cell)
    assert ok and text == ("stdout:\n\n```\nhi\n\n```\n\nstderr:\n\n```\nwarn\n\n```\n\n"
                           "execute_result:\n\n```\n3\n```\n\n![fig-001](fig-001.png)")
    failed, error = format_result(CellResult("error", "", None, "ZeroDivisionError", 0.1))
    ended, why = format_result(CellResult("dead", "", None, "the session's process exited "
                                          "with code 0", 0.1))
    assert not ended and why == "error:\n\n```\nthe session's process exited with code 0\n```"
    assert not failed and error == "error:\n\n```\nZeroDivisionError\n```"
    long_ok, long = format_result(CellResult("ok", "x" * 5000 + "END", None, None, 0.1))
    assert long_ok and len(long) == TRIM_OUTPUT - 2 and "......" in long and long.endswith("END\n```")


def test_system_messages_fold_into_user_turns() -> None:
    folded = fold_system([("system", "S"), ("user", "q1"), ("assistant", "a1"),
                          ("system", "Response:r1\n"), ("user", "q2"), ("assistant", "a2"),
                          ("system", "Response:err\n")])
    assert [(m.role, m.content) for m in folded] == [
        ("user", "Sq1"), ("assistant", "a1"), ("user", "Response:r1\nq2"),
        ("assistant", "a2"), ("user", "Response:err\n")]


# --- metrics on hand-made results ------------------------------------------------------------


def make_turn(cell: CellResult) -> Turn:
    ok, text = format_result(cell)
    action = Action("ipython", "```python\npass\n```", "pass\n")
    return Turn("reply", action, cell, ok, text if ok else repr(text))


def _png(color: str) -> str:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 2), dpi=50)
    plt.bar([1, 2, 3], [3, 1, 2], color=color)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def test_numeric_step_prefers_execute_result_and_accepts_containment() -> None:
    both = make_turn(CellResult("ok", "7\n", "3", None, 0.1))
    assert step_score("num", [both], "3") == 1.0
    assert step_score("num", [both], "7") == 0.0  # the execute_result block wins
    printed = make_turn(CellResult("ok", "The count is 3 members\n", None, None, 0.1))
    assert step_score("num", [printed], "3 members") == 1.0
    error = make_turn(CellResult("error", "3\n", None, "NameError", 0.1))
    assert step_score("num", [error], "3") == 0.0  # a failed call has no result
    assert step_score("num", [make_turn(CellResult("ok", "", None, None, 0.1))], "3") == 0.0


def test_text_step_is_rouge1() -> None:
    turn = make_turn(CellResult("ok", "The top scorer is Dana\n", None, None, 0.1))
    assert step_score("text", [turn], "The top scorer is Dana") == pytest.approx(1.0)
    assert step_score("text", [turn], "Dana wins") == pytest.approx(2 * 0.2 * 0.5 / 0.7)


def test_vis_step_is_ssim_against_the_gold_figure() -> None:
    pytest.importorskip("skimage")
    gold = _png("tab:blue")
    same = make_turn(CellResult("ok", "", None, None, 0.1, images=(gold,)))
    other = make_turn(CellResult("ok", "", None, None, 0.1, images=(_png("black"),)))
    assert step_score("vis", [same], gold) == pytest.approx(1.0, abs=1e-3)  # uint8 rounding
    assert 0.0 < step_score("vis", [other], gold) < 0.95
    assert step_score("vis", [make_turn(CellResult("ok", "1\n", None, None, 0.1))], gold) == 0.0
    assert step_score("vis", [same], "not a png") == 0.0  # comparison failures score 0


# --- the whole loop through the runner -------------------------------------------------------


def _act(code: str) -> str:
    return f"Thought: one step.\nAction: IPythonInterpreter\nAction Input: ```python\n{code}\n```"


def _script(seen: list[GenerateRequest]) -> Callable[[GenerateRequest], str]:
    """Step 1 right; step 2 an error, then right; step 3 the reference chart; step 4 three
    replies without an action (the apology closes it)."""

    def generate(request: GenerateRequest) -> str:
        seen.append(request)
        assert isinstance(request.prompt, ChatPrompt)
        last = request.prompt.messages[-1].content
        if "Please follow the format" in last or "highest score" in last:
            return "The top scorer is Dana."
        if "bar chart" in last:
            return _act('import matplotlib.pyplot as plt\nplt.figure(figsize=(4,3))\n'
                        'plt.bar(df["name"], df["score"])\nplt.show()')
        if "ZeroDivisionError" in last:
            return _act('(df["score"] > 50).sum()')
        if "above 50" in last:
            return _act("1 / 0")
        assert "Read the file" in last
        return _act('import pandas as pd\ndf = pd.read_csv("data/club_scores.csv")')
    return generate


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory
        ) -> tuple[SampleResult, BenchmarkResult, list[GenerateRequest]]:
    if importlib.util.find_spec("IPython") is None:
        pytest.skip("IPython not installed")
    out = tmp_path_factory.mktemp("out")
    seen: list[GenerateRequest] = []
    config = EvalsConfig(data_dir=str(FIXTURE), output_dir=str(out), models=[CHAT],
                         runner=RunnerConfig(backend="mock"))
    suite = SuiteSpec.model_validate({"name": "tools", "benchmarks": [{"name": "cibench_en"}]})
    (outcome,) = run_model(config, out, CHAT, [suite], backend_builder=lambda spec: MockBackend(
        generate_fn=_script(seen)))
    (line,) = (outcome.run_dir / "predictions" / "cibench_en.jsonl").read_text().splitlines()
    (result,) = outcome.results
    return SampleResult.from_json(json.loads(line)), result, seen


def test_the_loop_runs_each_step_and_retries_errors(
        run: tuple[SampleResult, BenchmarkResult, list[GenerateRequest]]) -> None:
    sample, _, seen = run
    assert len(sample.outputs) == 1 + 2 + 1 + 3 == len(seen)
    first = seen[0].prompt
    assert isinstance(first, ChatPrompt) and len(first.messages) == 1
    assert first.messages[0].content.startswith(SYSTEM_PROMPT) and "Read the file" in \
        first.messages[0].content
    retry = seen[2].prompt  # step 2, second try: the error came back as a user turn
    assert isinstance(retry, ChatPrompt)
    assert retry.messages[-1].content.startswith("Response:'error:")
    assert "ZeroDivisionError" in retry.messages[-1].content
    step3 = seen[3].prompt  # the failed try is gone from the history, the success stays
    assert isinstance(step3, ChatPrompt)
    contents = [m.content for m in step3.messages]
    assert not any("1 / 0" in c for c in contents)
    assert any(c.startswith("Response:execute_result:\n\n```\nnp.int64(3)\n```\nDraw")
               for c in contents)
    last = seen[-1].prompt  # third try: OpenCompass's adapter holds both error responses
    assert isinstance(last, ChatPrompt)  # back until after both replies, as we do
    assert [m.role for m in last.messages[-3:]] == ["assistant", "assistant", "user"]
    assert last.messages[-1].content == "Response:Please follow the format\n" * 2
    assert APOLOGY not in " ".join(m.content for m in last.messages)  # step 4 is the last


def test_scores_per_metric_and_the_summary(
        run: tuple[SampleResult, BenchmarkResult, list[GenerateRequest]]) -> None:
    sample, result, _ = run
    extras = dict(sample.score.extras)
    assert extras["tool_rate"] == extras["executable"] == 0.75  # step 4 called no tool
    assert extras["numeric_correct"] == 1.0  # "np.int64(3)" contains the gold "3"
    assert extras["vis_sim"] == pytest.approx(1.0, abs=1e-3)  # the chart, redrawn
    assert extras["text_score"] == 0.0 and extras["text_score_steps"] == 1.0
    assert "[step 2 (num) try 1: ipython, failed]" in sample.score.detail
    secondary = {m.name: m.value for m in result.secondary}
    assert result.primary.value == pytest.approx(100 * (0.75 + 1 + 1 + 0) / 4, abs=0.1)
    assert secondary["executable"] == 75.0 and secondary["vis_sim"] == pytest.approx(100.0, abs=0.1)
    assert secondary["not_scorable"] == 2 and secondary["not_scorable_missing_files"] == 1
    assert secondary["not_scorable_missing_packages"] == 1
    assert secondary["not_scorable_reference_fails"] == 0 and result.n == 1
    assert result.groups == (("fixture", pytest.approx(100 * 2.75 / 4, abs=0.1), 1),)


@needs_ipython
def test_a_failing_reference_makes_the_task_not_scorable(tmp_path: Path) -> None:
    """Gold outputs come from running the reference cells; if they fail here the task is
    left out of the metrics, not scored as the model's failure."""
    bench = BENCHMARKS.get("cibench_en")
    (task,) = [t for t in load_tasks(FIXTURE, "cibench_template") if not t.blockers]
    broken = replace(task, id="broken", codes=(*task.codes[:3], "undefined_name"))
    score = bench.score(broken, [], _ctx(FIXTURE))
    assert score.weight == 0.0 and "reference step 4 fails here: NameError" in score.detail
