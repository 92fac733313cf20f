"""Sweeps a training team can trust (mock backend): a run is current only for the plan that
made it, each stage runs its own suites, run directories never collide, an interrupted run
says so and resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evals.config import EvalsConfig, ModelSpec
from evals.records import ModelKind
from evals.results.rundir import RunDir
from tests.cli_helpers import default_sigint, run_cli


def _suite(tmp: Path, name: str, lines: str) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(f"name: {name}\nbenchmarks:\n{lines}")
    return path


MODELS = ("models:\n"
          "  - {name: step-1000, path: /ckpt/step-1000, stage: pretrain, step: 1000}\n"
          "  - {name: sft, path: /ckpt/sft, stage: sft}\n")


def _config(tmp: Path, data: Path, suites: str, models: str = MODELS, extra: str = "") -> Path:
    cfg = tmp / "evals.yaml"
    cfg.write_text(f"data_dir: {data}\noutput_dir: {tmp / 'out'}\n{models}{suites}"
                   f"runner: {{backend: mock}}\n{extra}")
    return cfg


def _mtimes(out: Path) -> dict[str, int]:
    return {f"{p.parent.parent.name}/{p.parent.name}": p.stat().st_mtime_ns
            for p in out.glob("*/*/results.json")}


def test_an_edited_suite_is_rerun_by_a_sweep(data_dir: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, "tiny", "  - {name: gsm8k, limit: 3, max_tokens: 16}\n")
    cfg = _config(tmp_path, data_dir, f"suites: [{suite}]\n")
    assert run_cli(["run", "-c", str(cfg), "--all"], capsys)[0] == 0
    first = _mtimes(tmp_path / "out")
    code, _, err = run_cli(["run", "-c", str(cfg), "--all"], capsys)
    assert code == 0 and "step-1000: tiny current (made by the same plan), skipped" in err
    assert _mtimes(tmp_path / "out") == first

    # the suite gains a benchmark and a limit rises: both checkpoints re-run, saying why
    _suite(tmp_path, "tiny", "  - {name: gsm8k, limit: 5, max_tokens: 16}\n"
                             "  - {name: mmlu, mode: ppl, shots: 0, limit: 2}\n")
    code, _, err = run_cli(["run", "-c", str(cfg), "--all"], capsys)
    assert code == 0, err
    for name in ("step-1000", "sft"):
        assert f"{name} · tiny: to run: mmlu: added; gsm8k: limit 3→5, n 3→5" in err
    results = json.loads((tmp_path / "out" / "sft" / "tiny" / "results.json").read_text())
    assert {b["benchmark"]: b["n"] for b in results["benchmarks"]} == {"gsm8k": 5, "mmlu": 2}
    code, _, err = run_cli(["run", "-c", str(cfg), "--all"], capsys)
    assert "sft: tiny current" in err and "to run" not in err

    # a data file the run read changes: the checkpoint re-runs (same names, other identity)
    data = tmp_path / "data"
    data.mkdir()
    for entry in data_dir.iterdir():
        if entry.name != "gsm8k":
            (data / entry.name).symlink_to(entry)
    (data / "gsm8k").mkdir()
    lines = (data_dir / "gsm8k" / "test.jsonl").read_text().splitlines()
    (data / "gsm8k" / "test.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    cfg = _config(tmp_path, data, f"suites: [{suite}]\n")
    code, _, err = run_cli(["run", "-c", str(cfg), "--all"], capsys)
    assert code == 0 and "gsm8k: data files changed" in err


def test_each_stage_runs_its_own_suites(data_dir: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    base = _suite(tmp_path, "base_suite", "  - {name: mmlu, shots: 0, limit: 2}\n")
    chat = _suite(tmp_path, "chat_suite", "  - {name: mmlu, shots: 0, limit: 2}\n")
    cfg = _config(tmp_path, data_dir, "stage_suites:\n"
                  f"  pretrain: [{base}]\n  base: [{base}]\n  sft: [{chat}]\n  rlhf: [{chat}]\n")
    code, _, err = run_cli(["run", "-c", str(cfg), "--all"], capsys)
    assert code == 0, err
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*/results.json")) == [
        "sft/chat_suite/results.json", "step-1000/base_suite/results.json"]
    pretrain = RunDir(out / "step-1000" / "base_suite")
    assert pretrain.checkpoint.kind is ModelKind.BASE  # kind follows the stage
    assert pretrain.results[0].mode.value == "ppl"
    assert RunDir(out / "sft" / "chat_suite").results[0].mode.value == "gen"


def test_kind_follows_the_stage_unless_given() -> None:
    assert ModelSpec(name="a", path="/a", stage="pretrain").kind is ModelKind.BASE
    assert ModelSpec(name="a", path="/a", stage="base").kind is ModelKind.BASE
    assert ModelSpec(name="a", path="/a", stage="rlhf").kind is ModelKind.CHAT
    assert ModelSpec(name="a", path="/a", stage="pretrain", kind="chat").kind is ModelKind.CHAT
    config = EvalsConfig.model_validate({"models": [{"name": "a", "path": "/a"}]})
    assert config.suites_for(config.models[0]) == ["internlm2_base"]
    config = EvalsConfig.model_validate({"models": [{"name": "a", "path": "/a", "stage": "sft",
                                                     "suites": ["quick"]}],
                                         "suites": ["needlebench"]})
    assert config.suites_for(config.models[0]) == ["quick"]


def test_two_checkpoints_never_share_a_run_directory(data_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, "tiny", "  - {name: gsm8k, limit: 2, max_tokens: 16}\n")
    for run in ("runA", "runB"):
        (tmp_path / run / "step-1").mkdir(parents=True)
    a, b = str(tmp_path / "runA" / "step-1"), str(tmp_path / "runB" / "step-1")
    base = ["run", "--backend", "mock", "--suite", str(suite), "--kind", "base",
            "--output-dir", str(tmp_path / "out"), "-c", str(tmp_path / "none.yaml")]
    # in one invocation: told apart by their parent folders
    cfg = tmp_path / "evals.yaml"
    cfg.write_text(f"data_dir: {data_dir}\nmodels: [{{name: x, path: /x}}]\n")
    code, _, err = run_cli([*base[:-1], str(cfg), "-m", a, "-m", b], capsys)
    assert code == 0, err
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir() if p.is_dir()} >= {"runA-step-1", "runB-step-1"}
    # across invocations: the second one is refused, naming both, and nothing is written
    code, _, err = run_cli([*base[:-1], str(cfg), "-m", a], capsys)
    assert code == 0
    stamp = (out / "step-1" / "tiny" / "results.json").stat().st_mtime_ns
    code, _, err = run_cli([*base[:-1], str(cfg), "-m", b], capsys)
    line = [x for x in err.splitlines() if x.startswith("error:")]
    assert code == 2 and len(line) == 1
    assert f"holds the results of {a}; {b} has the same name 'step-1'" in line[0]
    assert (out / "step-1" / "tiny" / "results.json").stat().st_mtime_ns == stamp
    # in evals.yaml: two paths under one name is a config error
    cfg.write_text(f"data_dir: {data_dir}\nmodels:\n  - {{name: s, path: {a}}}\n"
                   f"  - {{name: s, path: {b}}}\n")
    code, _, err = run_cli(["run", "-c", str(cfg)], capsys)
    assert code == 2 and "'s' names both" in err


def test_a_sweep_ends_with_one_summary(data_dir: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, "tiny", "  - {name: gsm8k, limit: 2, max_tokens: 16}\n")
    cfg = _config(tmp_path, data_dir, f"suites: [{suite}]\n")
    code, _, err = run_cli(["run", "-c", str(cfg), "--all"], capsys)
    assert code == 0
    # headers as each checkpoint starts, not all at once before any work
    first, second = err.index("step-1000 [1/2]"), err.index("sft [2/2]")
    assert first < err.index("run directory:", first) < second
    summary = err[err.index("sweep"):]
    assert "step-1000" in summary and "complete" in summary and "tiny: gsm8k 0.0" in summary


SLOW_SUITE = "  - {name: gsm8k, limit: 40, max_tokens: 16}\n"


def test_sigint_marks_the_run_interrupted_and_a_rerun_completes(
        data_dir: Path, tmp_path: Path) -> None:
    """A real ``evals run`` process, interrupted while it answers (the mock backend slowed by
    EVALS_MOCK_DELAY_S): the manifest says ``interrupted``, ``show`` and the index say so,
    and the same command completes it."""
    suite = _suite(tmp_path, "tiny", SLOW_SUITE)
    cfg = _config(tmp_path, data_dir, f"suites: [{suite}]\n",
                  models="models:\n  - {name: sft, path: /ckpt/sft, stage: sft}\n",
                  extra="")
    cfg.write_text(cfg.read_text().replace("runner: {backend: mock}",
                                           "runner: {backend: mock, batch_size: 2}"))
    env = {**os.environ, "EVALS_MOCK_DELAY_S": "1.0"}  # 40 s unless interrupted: loaded CI
    evals = str(Path(sys.executable).parent / "evals")
    proc = subprocess.Popen([evals, "run", "-c", str(cfg)], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    manifest = tmp_path / "out" / "sft" / "tiny" / "manifest.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (
            manifest.is_file() and '"running"' in manifest.read_text()):
        time.sleep(0.2)
    time.sleep(1.5)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: the run directories say so" in err and "Traceback" not in err
    assert json.loads(manifest.read_text())["status"] == "interrupted"
    show = subprocess.run([evals, "show", str(manifest.parent)], capture_output=True,
                          text=True, env=env)
    assert "interrupted" in show.stdout + show.stderr
    done = subprocess.run([evals, "run", "-c", str(cfg)], capture_output=True, text=True,
                          env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert json.loads(manifest.read_text())["status"] == "complete"
