"""Needle tests through the runner and the CLI on the scripted mock backend, sized with the
embedded model's real tokenizer: cells become samples, heatmaps and the effective context
length land in the run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.backends.mock import MockBackend
from evals.cli.commands import main
from evals.config import EvalsConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.records import ChatPrompt, GenerateRequest
from evals.results.rundir import RunDir
from evals.run.runner import run_model

MODEL = ModelSpec(name="m", path="embedded:smollm2-135m-instruct", kind="chat")
KEYWORDS = [json.loads(x)["arg2"] for x in
            (Path(__file__).parents[1] / "needle_haystack/needlebench/needles.jsonl")
            .read_text().splitlines()]


def _short_memory(r: GenerateRequest) -> str:
    """Finds the needle only in short contexts: a model whose effective length is 1000."""
    assert isinstance(r.prompt, ChatPrompt)
    text = r.prompt.messages[-1].content
    found = [k for k in KEYWORDS if k in text]
    return found[0] if found and len(text) < 7000 else "I do not know."


def test_single_needle_run_writes_heatmap_and_effective_length(data_dir: Path,
                                                               tmp_path: Path) -> None:
    config = EvalsConfig(data_dir=str(data_dir), output_dir=str(tmp_path), models=[MODEL],
                         runner=RunnerConfig(backend="mock", max_model_len=8192))
    suite = SuiteSpec.model_validate({"name": "needle", "benchmarks": [
        {"name": "single_needle_en", "lengths": [1000, 3000]}]})
    (outcome,) = run_model(config, tmp_path, MODEL, [suite],
                           backend_builder=lambda spec: MockBackend(generate_fn=_short_memory))
    (res,) = list(RunDir(outcome.run_dir).results)
    assert res.n == 2 * 20 * 10  # lengths x depths x repeats of the definition
    assert {g: v for g, v, _ in res.groups} == {"1000": 100.0, "3000": pytest.approx(
        res.groups[1][1])}
    assert res.groups[0][1] > res.groups[1][1]
    assert {m.name: m.value for m in res.secondary}["effective_length"] == 1000
    folder = outcome.run_dir / "needle"
    assert (folder / "single_needle_en.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "single_needle_en.svg").stat().st_size > 1000
    summary = json.loads((folder / "single_needle_en.json").read_text())
    assert summary["effective_length"] == 1000 and len(summary["cells"]) == 400


def test_needle_command(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "evals.yaml"
    cfg.write_text(f"data_dir: {data_dir}\noutput_dir: {tmp_path / 'out'}\n"
                   "models: [{name: m, path: 'embedded:smollm2-135m-instruct', kind: chat}]\n"
                   "runner: {backend: mock, max_model_len: 8192}\n")
    main(["needle", "-c", str(cfg), "-t", "single_needle_en", "-t", "ancestral_trace_en",
          "--lengths", "1000", "--limit", "6"])
    captured = capsys.readouterr()
    assert "single_needle_en: effective context length" in captured.out + captured.err
    run_dir = tmp_path / "out" / "m" / "needle"
    assert (run_dir / "needle" / "ancestral_trace_en.png").is_file()


class NeedleGrader(MockBackend):
    """Grades "A" when the reply names the gold answer, "B" otherwise, and rambles (no
    verdict) for replies that say they do not know."""

    def __init__(self) -> None:
        super().__init__(generate_fn=self._verdict)

    @staticmethod
    def _verdict(r: GenerateRequest) -> str:
        assert isinstance(r.prompt, ChatPrompt)
        text = r.prompt.messages[-1].content
        gold = text.split("<Gold Target Begin>:\n")[1].split("\n<Gold Target End>")[0]
        reply = text.split("<Predicted Answer Begin>:\n")[1].split("\n<Predicted Answer End>")[0]
        if "do not know" in reply:
            return "Hmm, hard to say."
        return "A" if gold in reply else "B"


def _judged_setup(data_dir: Path, tmp_path: Path) -> tuple[EvalsConfig, SuiteSpec]:
    from evals.config import JudgeConfig

    config = EvalsConfig(data_dir=str(data_dir), output_dir=str(tmp_path), models=[MODEL],
                         runner=RunnerConfig(backend="mock", max_model_len=8192),
                         judge=JudgeConfig(name="grader", backend="mock"))
    suite = SuiteSpec.model_validate({"name": "needle", "benchmarks": [
        {"name": "single_needle_en", "lengths": [1000, 3000], "repeats": 1,
         "scorer": "judge"}]})
    return config, suite


def test_needle_scored_by_judge(data_dir: Path, tmp_path: Path) -> None:
    config, suite = _judged_setup(data_dir, tmp_path)

    def reply(r: GenerateRequest) -> str:
        # right in short contexts, a wrong city in long ones
        return _short_memory(r).replace("I do not know.", "Paris") if len(
            r.prompt.messages[-1].content) > 7000 else _short_memory(r)  # type: ignore[union-attr]

    (outcome,) = run_model(config, tmp_path, MODEL, [suite],
                           backend_builder=lambda spec: MockBackend(generate_fn=reply),
                           judge_builder=lambda spec: NeedleGrader())
    (res,) = list(RunDir(outcome.run_dir).results)
    assert res.benchmark == "single_needle_en_judge" and res.n == 40
    assert {g: v for g, v, _ in res.groups} == {"1000": 100.0, "3000": 0.0}
    # one needle per repeat: the 20 depths of a length ask the judge one identical question
    assert res.judge is not None and res.judge.calls == 2 and res.judge.parse_failures == 0
    summary = json.loads((outcome.run_dir / "needle" / "single_needle_en_judge.json").read_text())
    assert summary["effective_length"] == 1000 and summary["unreadable"] == 0


def test_needle_judge_unreadable_verdicts_are_left_out(data_dir: Path, tmp_path: Path) -> None:
    config, suite = _judged_setup(data_dir, tmp_path)
    (outcome,) = run_model(config, tmp_path, MODEL, [suite],
                           backend_builder=lambda spec: MockBackend(generate_fn=_short_memory),
                           judge_builder=lambda spec: NeedleGrader())
    (res,) = list(RunDir(outcome.run_dir).results)
    # the 3000-token row got no readable verdict: it is missing, not scored 0
    assert res.judge is not None and res.judge.parse_failures == 20
    assert res.primary.value == 100.0
    summary = json.loads((outcome.run_dir / "needle" / "single_needle_en_judge.json").read_text())
    assert summary["unreadable"] == 20 and [m["length"] for m in summary["by_length"]] == [1000]


def test_judge_scorer_refused_where_a_benchmark_has_none(data_dir: Path, tmp_path: Path) -> None:
    from evals.errors import ConfigError

    config = EvalsConfig(data_dir=str(data_dir), output_dir=str(tmp_path),
                         models=[ModelSpec(name="m", path="mock", kind="chat")],
                         runner=RunnerConfig(backend="mock"))
    suite = SuiteSpec.model_validate({"name": "s", "benchmarks": [
        {"name": "gsm8k", "limit": 1, "scorer": "judge"}]})
    with pytest.raises(ConfigError, match="gsm8k has no judge scorer"):
        run_model(config, tmp_path, config.models[0], [suite])


def test_needlebench_suite_overall_is_weighted(data_dir: Path, tmp_path: Path) -> None:
    import yaml

    raw = yaml.safe_load((Path(__file__).parents[1] / "suites/needlebench.yaml").read_text())
    for line in raw["benchmarks"]:
        line.update(lengths=[1000], limit=4, repeats=1)
    suite = SuiteSpec.model_validate(raw)
    config = EvalsConfig(data_dir=str(data_dir), output_dir=str(tmp_path), models=[MODEL],
                         runner=RunnerConfig(backend="mock", max_model_len=8192))
    (outcome,) = run_model(config, tmp_path, MODEL, [suite],
                           backend_builder=lambda spec: MockBackend(generate_fn=_short_memory))
    scores = {r.benchmark: r.primary.value for r in list(RunDir(outcome.run_dir).results)}
    assert scores["single_needle_en"] == 100.0  # the scripted model finds short needles

    (dim,) = list(RunDir(outcome.run_dir).dimensions)
    assert dim.name == "needlebench_overall" and dim.weights == (0.4, 0.3, 0.3)
    assert dim.value == pytest.approx(0.4 * scores["single_needle_en"] + 0.3 * scores[
        "multi_retrieval_en"] + 0.3 * scores["multi_reasoning_en"])
