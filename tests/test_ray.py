"""``runner.executor: ray`` on a real local Ray cluster started by the tests: a head on
loopback and a second raylet with its own resources standing in for a second node. Sweeps
across it must write what the local executor writes; a shard whose worker is killed is
re-run by Ray and resumes from its cache."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evals.config import EvalsConfig, ModelSpec, RayConfig, RunnerConfig, SuiteSpec
from evals.records import GenerateResponse
from evals.run.engine import ResponseCache
from evals.run.runner import plan_model, run_model
from evals.run.shards import Shard, select, shard_cache

ray = pytest.importorskip("ray")
RAY = Path(sys.executable).with_name("ray")
SUITE = SuiteSpec.model_validate({"name": "mini", "benchmarks": [
    {"name": "mmlu", "mode": "ppl", "limit": 6},
    {"name": "gsm8k", "limit": 5, "max_tokens": 24},
    {"name": "gsm8k_react", "limit": 3, "max_tokens": 48},  # multi-turn: shards keep samples whole
]})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """``ray start --head`` on loopback plus a second node (another raylet) on this host."""
    temp = Path(f"/tmp/rayt{os.getpid()}")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
    common = ["--node-ip-address=127.0.0.1", "--num-gpus=0", "--disable-usage-stats"]
    subprocess.run([str(RAY), "start", "--head", f"--port={port}", "--num-cpus=2",
                    "--resources={\"head\": 1}", "--include-dashboard=false",
                    f"--temp-dir={temp}", *common], env=env, check=True, capture_output=True)
    try:
        subprocess.run([str(RAY), "start", f"--address={address}", "--num-cpus=2",
                        "--resources={\"second\": 1}", *common], env=env, check=True,
                       capture_output=True)
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True)
        shutil.rmtree(temp, ignore_errors=True)


def _without_race(data_dir: Path, root: Path) -> Path:
    """A data folder holding what ``SUITE`` reads and no RACE (links, no copies): the broken
    suite below fails for missing data whatever arrives in the shared folder."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("mmlu", "gsm8k"):
        (root / name).symlink_to(data_dir / name, target_is_directory=True)
    return root


def _config(root: Path, data: Path, executor: str, shards: int, address: str | None = None,
            backend: str = "mock") -> EvalsConfig:
    models = [ModelSpec(name=f"step-{i}", path="mock", kind="chat", stage="pretrain", step=i)
              for i in (1000, 2000, 3000)]
    runner = RunnerConfig(backend=backend, executor=executor,  # type: ignore[arg-type]
                          data_parallel_size=shards, batch_size=4,
                          ray=RayConfig(address=address))
    return EvalsConfig(data_dir=str(data), output_dir=str(root / "out"), models=models,
                       cache_dir=str(root / "cache"), runner=runner)


def _results(run_dir: Path) -> tuple[object, list[object]]:
    results = json.loads((run_dir / "results.json").read_text())
    preds = []
    for f in sorted((run_dir / "predictions").glob("*.jsonl")):
        preds += [json.loads(x) for x in f.read_text().splitlines()]
    return results["benchmarks"], preds


# --- without a cluster ------------------------------------------------------------------------


def test_shards_partition_whole_samples(data_dir: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, data_dir, "local", 1)
    _, plans = plan_model(config, tmp_path, config.models[0], [SUITE])
    planned = [b for p in plans for b in p.benchmarks]
    parts = [select(planned, Shard(i, 3)) for i in range(3)]
    for j, pb in enumerate(planned):
        ids = [s.id for part in parts for s in part[j].samples]
        assert sorted(ids) == sorted(s.id for s in pb.samples)  # each sample in one shard
        for part in parts:
            assert all(reqs == pb.requests[pb.samples.index(s)]
                       for s, reqs in zip(part[j].samples, part[j].requests, strict=True))
    sizes = [sum(len(b.samples) for b in part) for part in parts]
    assert max(sizes) - min(sizes) <= 1  # counted across benchmarks: balanced


def test_cache_absorbs_a_shard_without_overwriting(tmp_path: Path) -> None:
    main, shard = ResponseCache(tmp_path / "a.sqlite"), ResponseCache(tmp_path / "b.sqlite")
    def text(t: str) -> GenerateResponse:
        return GenerateResponse(t, 3, 1, "stop")

    main.put_many("m", [("k1", text("mine"))])
    shard.put_many("m", [("k1", text("theirs")), ("k2", text("new"))])
    shard.close()
    assert main.absorb(tmp_path / "b.sqlite") == 1
    got = main.get_many("m", ["k1", "k2"])
    assert got["k1"] == text("mine") and got["k2"] == text("new")


def test_local_executor_refuses_shards(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from evals.cli.commands import cli

    result = CliRunner().invoke(cli, ["run", "-m", "mock", "--backend", "mock", "--shards", "2",
                                      "-s", "quick", "--output-dir", str(tmp_path)])
    assert result.exit_code != 0 and "runner.executor: ray" in str(result.exception)


# --- on the cluster ---------------------------------------------------------------------------


def _local_reference(tmp: Path, data: Path) -> EvalsConfig:
    config = _config(tmp / "local", data, "local", 1)
    for model in config.models:
        run_model(config, tmp / "local", model, [SUITE])
    return config


def test_sweep_on_ray_equals_local(cluster: str, data_dir: Path, tmp_path: Path) -> None:
    from evals.run.ray_executor import Job, run_jobs

    local = _local_reference(tmp_path, data_dir)
    config = _config(tmp_path / "ray", data_dir, "ray", 2, cluster)
    seen: list[tuple[int, int, int]] = []
    outcomes = run_jobs(config, tmp_path / "ray", [Job(m, (SUITE,)) for m in config.models],
                        progress=lambda *p: seen.append(p))
    assert [o.failure for o in outcomes] == [None] * 3
    nodes = ray.nodes()
    assert len([n for n in nodes if n["Alive"]]) == 2
    for model, outcome in zip(config.models, outcomes, strict=True):
        (run,) = outcome.outcomes
        ref = Path(local.output_dir) / model.name / "mini"
        assert _results(run.run_dir) == _results(ref)
        assert [r.shard.index for r in outcome.shards] == [0, 1]
        manifest = json.loads((run.run_dir / "manifest.json").read_text())
        assert manifest["status"] == "complete"
        for shard in (Shard(0, 2), Shard(1, 2)):  # each shard wrote its own cache only
            assert shard_cache(config, tmp_path / "ray", model, shard).is_file()
    assert len({r.node for o in outcomes for r in o.shards}) == 2  # both nodes worked
    assert seen and seen[-1][0] == seen[-1][1] > 0  # one bar: every planned request done


def test_a_failing_checkpoint_is_named_with_its_shard(cluster: str, data_dir: Path,
                                                       tmp_path: Path) -> None:
    from evals.run.ray_executor import Job, run_jobs

    config = _config(tmp_path, _without_race(data_dir, tmp_path / "data"), "ray", 2, cluster)
    broken = SuiteSpec.model_validate({"name": "b", "benchmarks": [{"name": "race_high"}]})
    outcomes = run_jobs(config, tmp_path, [Job(config.models[0], (SUITE,)),
                                           Job(config.models[1], (broken,))])
    assert outcomes[0].failure is None and outcomes[0].outcomes
    assert outcomes[1].failure is not None and outcomes[1].failure.startswith("shard ")
    assert "race" in outcomes[1].failure and not outcomes[1].outcomes


@pytest.mark.slow
def test_embedded_model_sweep_on_ray_equals_local_and_survives_a_killed_worker(
        cluster: str, data_dir: Path, tmp_path: Path) -> None:
    """Three checkpoints of the embedded model (hf backend) across both nodes; one shard's
    worker is killed after its first batch: Ray re-runs it and it resumes from its cache."""
    from evals.embedded import resolve_embedded
    from evals.run.ray_executor import Job, run_jobs

    path = str(resolve_embedded("smollm2-135m-instruct"))
    suite = SuiteSpec.model_validate({"name": "mini", "benchmarks": [  # short prompts: CI time
        {"name": "mmlu", "mode": "ppl", "shots": 0, "limit": 4},
        {"name": "gsm8k", "shots": 0, "limit": 3, "max_tokens": 16}]})

    def configured(root: Path, executor: str, shards: int) -> EvalsConfig:
        config = _config(root, data_dir, executor, shards, cluster, backend="hf")
        runner = config.runner.model_copy(update={
            "dtype": "float32", "max_model_len": 2048, "hf_batch_size": 2, "batch_size": 2,
            "ray": RayConfig(address=cluster, num_cpus=2)})
        models = [m.model_copy(update={"path": path}) for m in config.models]
        return config.model_copy(update={"runner": runner, "models": models})

    local = configured(tmp_path / "local", "local", 1)
    for model in local.models:
        run_model(local, tmp_path / "local", model, [suite])
    config = configured(tmp_path / "ray", "ray", 2)
    victim = shard_cache(config, tmp_path / "ray", config.models[0], Shard(0, 2))
    killer = _kill_after_first_batch(victim)
    outcomes = run_jobs(config, tmp_path / "ray", [Job(m, (suite,)) for m in config.models])
    assert killer() is True, "the shard finished before it could be killed"
    assert [o.failure for o in outcomes] == [None] * 3
    for model, outcome in zip(config.models, outcomes, strict=True):
        (run,) = outcome.outcomes
        assert _results(run.run_dir) == _results(Path(local.output_dir) / model.name / "mini")
    resumed = outcomes[0].shards[0]
    assert 0 < resumed.generated < resumed.requests  # the re-run found its first batch


def _kill_after_first_batch(cache: Path) -> Callable[[], bool]:
    """Starts a thread that SIGKILLs the shard's worker once its cache holds a response."""
    import threading

    done: dict[str, bool] = {}

    def watch() -> None:
        deadline = time.time() + 300
        pid_file = cache.with_suffix(".pid")
        while time.time() < deadline:
            if cache.is_file() and pid_file.is_file():
                try:
                    with sqlite3.connect(str(cache)) as db:
                        rows = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
                except sqlite3.Error:
                    rows = 0
                if rows:
                    os.kill(int(pid_file.read_text()), signal.SIGKILL)
                    done["killed"] = True
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()

    def result() -> bool:
        thread.join(timeout=1)
        return done.get("killed", False)

    return result


def test_cli_sweep_on_ray_and_named_failures(cluster: str, data_dir: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from evals.cli.commands import main
    from evals.results.rundir import RunDir

    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "mini.yaml").write_text(
        "name: mini\nbenchmarks:\n  - {name: mmlu, mode: ppl, shots: 0, limit: 3}\n"
        "  - {name: gsm8k, limit: 2}\n")
    (tmp_path / "suites" / "broken.yaml").write_text(
        "name: broken\nbenchmarks:\n  - {name: race_high}\n")
    (tmp_path / "evals.yaml").write_text(
        f"data_dir: {_without_race(data_dir, tmp_path / 'data')}\n"
        f"output_dir: {tmp_path / 'out'}\n"
        "models:\n  - {name: a, path: mock, kind: chat}\n  - {name: b, path: mock, kind: chat}\n"
        "suites: [mini]\nrunner: {backend: mock, executor: ray}\n")
    args = ["run", "-c", str(tmp_path / "evals.yaml"), "--address", cluster, "--shards", "2"]
    main([*args, "--all"])
    for name in ("a", "b"):
        assert RunDir(tmp_path / "out" / name / "mini").complete
    capsys.readouterr()
    main([*args, "--all"])  # a sweep skips what is complete
    assert capsys.readouterr().err.count("mini current (made by the same plan), skipped") == 2
    with pytest.raises(SystemExit) as exc:
        main([*args, "--all", "-s", "broken"])
    assert exc.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "a: cannot plan: data missing" in err and "race_high" in err  # before any shard starts
    assert "2 of 2 checkpoint(s) failed (a, b)" in err
