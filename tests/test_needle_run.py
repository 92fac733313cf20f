"""Needle tests through the runner and the CLI on the scripted mock backend, sized with the
embedded model's real tokenizer: cells become samples, heatmaps and the effective context
length land in the run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.backends.mock import MockBackend
from evals.cli import main
from evals.config import EvalsConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.records import ChatPrompt, GenerateRequest
from evals.runner import read_results, run_model

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
    (res,) = read_results(outcome.run_dir)
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
