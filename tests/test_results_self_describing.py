"""results.json describes its own metrics, so the results path needs no benchmark code.

Reports, gates, leaderboards, diffs and the index read run directories only; the metric's
scale, direction, grouping and pairing come from the file (schema 2), or for files of
schema 1 from that version's definitions kept as data. Checked here in a fresh interpreter
in which importing any benchmark or backend module fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from evals.backends.mock import MockBackend
from evals.benchmarks import BENCHMARKS
from evals.config import EvalsConfig, JudgeConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.records import RESULTS_SCHEMA, MetricDefinition
from evals.results.rundir import RunDir
from evals.run.runner import run_model

REPO = Path(__file__).resolve().parents[1]
SUITE = """name: tiny
benchmarks:
  - {name: gsm8k, limit: 6, max_tokens: 16}
  - {name: mmlu, limit: 6}
  - {name: mt_bench, limit: 2}
"""
BLOCKED = ("evals.benchmarks", "evals.backends")
BLOCKER = textwrap.dedent("""
    import sys

    class Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[:2] in (["evals", "benchmarks"], ["evals", "backends"]):
                raise ImportError(f"{name} is not importable here")
            return None

    sys.meta_path.insert(0, Blocked())
    from evals.cli.commands import main

    main(sys.argv[1:])
    loaded = [m for m in sys.modules if m.startswith(("evals.benchmarks", "evals.backends"))]
    assert not loaded, loaded
""")


@pytest.fixture(scope="module")
def runs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two checkpoints' runs on the mock, MT-Bench graded by a scripted judge."""
    tmp = tmp_path_factory.mktemp("runs")
    suite = SuiteSpec.model_validate(yaml.safe_load(SUITE))
    out = []
    for name, stage in (("a", "sft"), ("b", "rlhf")):
        model = ModelSpec(name=name, path=f"/ckpt/{name}", kind="chat", stage=stage)
        config = EvalsConfig(data_dir=str(data_dir), output_dir=str(tmp / "out"),
                             models=[model], runner=RunnerConfig(backend="mock"),
                             judge=JudgeConfig(name="scripted-judge", backend="mock"))
        (outcome,) = run_model(config, tmp, model, [suite],
                               backend_builder=lambda spec: MockBackend(),
                               judge_builder=lambda spec: MockBackend(
                                   generate_fn=lambda r: "Fine. Rating: [[7]]"))
        out.append(outcome.run_dir)
    return out[0], out[1]


def test_results_carry_each_metric_definition(runs: tuple[Path, Path]) -> None:
    data = json.loads((runs[0] / "results.json").read_text(encoding="utf-8"))
    assert data["schema"] == RESULTS_SCHEMA == 2
    written = {b["benchmark"]: b["metric"] for b in data["benchmarks"]}
    for name in ("gsm8k", "mmlu", "mt_bench"):
        assert written[name] == json.loads(json.dumps(
            BENCHMARKS.get(name).metric.definition().__dict__))
    assert written["mt_bench"]["scale"] == 1.0
    assert written["mmlu"]["by_group"] is True
    assert written["mmlu"]["aggregation"] == "mean of group means"


def test_a_schema_1_file_is_read_with_that_versions_definitions(
        runs: tuple[Path, Path], tmp_path: Path) -> None:
    old = tmp_path / "old"
    subprocess.run(["cp", "-r", str(runs[0]), str(old)], check=True)
    data = json.loads((old / "results.json").read_text(encoding="utf-8"))
    data["schema"] = 1
    for b in data["benchmarks"]:
        del b["metric"]
    (old / "results.json").write_text(json.dumps(data), encoding="utf-8")
    results = {r.benchmark: r.metric for r in RunDir(old).results}
    assert results["mt_bench"] == MetricDefinition("score", scale=1.0,
                                                   aggregation="mean of readable judge grades")
    assert results["mmlu"] == MetricDefinition("accuracy", by_group=True,
                                               aggregation="mean of group means")
    assert results["gsm8k"] == MetricDefinition("accuracy")
    assert {r.benchmark: r.metric for r in RunDir(runs[0]).results} == results


def _without_benchmarks(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", BLOCKER, *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300, check=False)


@pytest.mark.slow
def test_gate_report_leaderboard_diff_and_index_need_no_benchmark_code(
        runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = runs
    html = tmp_path / "report.html"
    cases = [
        ("gate", "--baseline", str(a), "--candidate", str(b), "--lenient",
         "--markdown", str(tmp_path / "gate.md")),
        ("report", str(a.parent.parent), "-o", str(html)),
        ("leaderboard", str(a.parent.parent), "-o", str(tmp_path / "lb")),
        ("diff", str(a), str(b)),
        ("index", str(a.parent.parent)),
    ]
    for args in cases:
        done = _without_benchmarks(*args, cwd=tmp_path)
        assert done.returncode == 0, (args, done.stdout[-1500:], done.stderr[-1500:])
    gate = (tmp_path / "gate.md").read_text(encoding="utf-8")
    assert "| mt_bench |" in gate and "| mmlu |" in gate
    assert "mt_bench" in html.read_text(encoding="utf-8")


def test_the_blocker_blocks(tmp_path: Path) -> None:
    """The hook is real: a command that needs benchmark code fails under it."""
    done = _without_benchmarks("ls", cwd=tmp_path)
    assert done.returncode != 0 and "not importable here" in done.stdout + done.stderr

