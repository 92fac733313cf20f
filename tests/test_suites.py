"""The report's suites plan and score end to end on real data through the mock backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.config import REPO_ROOT, EvalsConfig, ModelSpec, RunnerConfig, load_suite
from evals.records import ModelKind
from evals.results.rundir import RunDir
from evals.run.runner import run_model

SUITES = {"internlm2_base": ModelKind.BASE, "internlm2_chat": ModelKind.CHAT}


@pytest.mark.parametrize("suite_name", sorted(SUITES))
def test_report_suite_runs_on_every_benchmark(suite_name: str, merged_data_dir: Path,
                                              tmp_path: Path) -> None:
    suite = load_suite(REPO_ROOT / "suites" / f"{suite_name}.yaml")
    model = ModelSpec(name="m", path="mock", kind=SUITES[suite_name])
    config = EvalsConfig(data_dir=str(merged_data_dir), output_dir=str(tmp_path), models=[model],
                         runner=RunnerConfig(backend="mock"))
    (outcome,) = run_model(config, tmp_path, model, [suite], limit=3)
    names = [b.name for b in suite.benchmarks]
    assert [r.benchmark for r in outcome.results] == names
    assert len(names) == 23
    for r in outcome.results:
        assert (r.n, r.limit) == (3, 3), r.benchmark  # the limit's slice, every benchmark
        lines = (outcome.run_dir / "predictions" / f"{r.benchmark}.jsonl").read_text().splitlines()
        assert len(lines) == r.n
        assert all(json.loads(x)["schema"] == 1 for x in lines)
    dims = list(RunDir(outcome.run_dir).dimensions)
    assert [d.name for d in dims] == ["examination", "language_knowledge", "reasoning_math",
                                      "coding", "long_context"]
    assert all(d.value is not None for d in dims)
    covered = {b for d in dims for b in d.benchmarks}
    assert covered == set(names)


def tool_data_dir(merged: Path, tmp: Path) -> Path:
    """The merged data with CIBench's fixture task in both languages (none of the staged
    template tasks can run: their input files are missing)."""
    fixture = Path(__file__).parent / "fixtures" / "cibench" / "cibench"
    root = tmp / "data"
    root.mkdir()
    for entry in merged.iterdir():
        if entry.name != "cibench":
            (root / entry.name).symlink_to(entry.resolve())
    (root / "cibench").mkdir()
    for name in ("cibench_template", "cibench_template_chinese"):
        (root / "cibench" / name).symlink_to(fixture / "cibench_template")
    (root / "cibench" / "datasources").symlink_to(fixture / "datasources")
    return root


def test_tool_suite_runs_on_every_benchmark(merged_data_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALS_TEVAL_SIMILARITY", "lexical")
    suite = load_suite(REPO_ROOT / "suites" / "internlm2_tools.yaml")
    model = ModelSpec(name="m", path="mock", kind=ModelKind.CHAT)
    data = tool_data_dir(merged_data_dir, tmp_path)
    config = EvalsConfig(data_dir=str(data), output_dir=str(tmp_path / "out"), models=[model],
                         runner=RunnerConfig(backend="mock"))
    (outcome,) = run_model(config, tmp_path / "out", model, [suite], limit=2)
    assert [r.benchmark for r in outcome.results] == [b.name for b in suite.benchmarks]
    fixture_tasks = {"cibench_en": 1, "cibench_zh": 1}  # the CIBench fixture has one task
    assert {r.benchmark: (r.n, r.limit) for r in outcome.results} == {
        b.name: (fixture_tasks.get(b.name, 2), 2) for b in suite.benchmarks}
    dims = {d.name: d for d in list(RunDir(outcome.run_dir).dimensions)}
    assert set(dims) == {"tool_use", "code_interpreter"}
    assert all(d.value is not None for d in dims.values())
