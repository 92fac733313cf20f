"""``evals watch``: checkpoints found as a trainer writes them, each evaluated once, in
training order, and a watcher that resumes after Ctrl-C.

Detection runs on a fake clock; the command runs as a real process on the mock backend
while a thread writes checkpoint folders beside it (one of them slowly, shard by shard).
The slow test watches a copy of the embedded model through the hf backend.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from evals.run.watch import Candidate, Watcher, WatchOptions, candidates, missing_files, step_of
from tests.cli_helpers import default_sigint

EVALS = str(Path(sys.executable).parent / "evals")
SUITE = """name: tiny
benchmarks:
  - {name: gsm8k, limit: 3, max_tokens: 16}
  - {name: mmlu, mode: ppl, shots: 0, limit: 3}
"""


def _checkpoint(folder: Path, shards: int = 0) -> Path:
    """A complete checkpoint's files (one weights file, or an index and its shards)."""
    folder.mkdir(parents=True, exist_ok=True)
    if shards:
        names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
        (folder / "model.safetensors.index.json").write_text(json.dumps(
            {"weight_map": {f"layer.{i}": n for i, n in enumerate(names)}}))
        for n in names:
            (folder / n).write_bytes(b"w" * 64)
    else:
        (folder / "model.safetensors").write_bytes(b"w" * 64)
    (folder / "config.json").write_text('{"model_type": "llama"}')
    return folder


def test_what_makes_a_folder_a_written_checkpoint(tmp_path: Path) -> None:
    ck = tmp_path / "step-10"
    ck.mkdir()
    assert missing_files(ck) == "config.json missing"
    (ck / "config.json").write_text('{"model_type": ')
    assert missing_files(ck) == "config.json not readable JSON yet"
    (ck / "config.json").write_text("{}")
    assert missing_files(ck).startswith("weights missing")
    (ck / "model.safetensors").write_bytes(b"")
    assert missing_files(ck).startswith("weights missing")  # an empty file is being written
    (ck / "model.safetensors").write_bytes(b"w")
    assert missing_files(ck) == ""
    (ck / "model.safetensors.tmp").write_bytes(b"w")
    assert missing_files(ck) == "model.safetensors.tmp in flight"
    (ck / "model.safetensors.tmp").unlink()
    sharded = _checkpoint(tmp_path / "sharded", shards=3)
    (sharded / "model-00002-of-00003.safetensors").unlink()
    assert missing_files(sharded) == "1 of 3 shard(s) missing (model-00002-of-00003.safetensors)"
    assert [step_of(n) for n in ("step-1000", "checkpoint-20", "iter_0003000", "final")] == [
        1000, 20, 3000, None]


def test_candidates_come_in_training_order(tmp_path: Path) -> None:
    for name in ("step-10000", "step-900", "final", "step-2000"):
        _checkpoint(tmp_path / name)
    (tmp_path / ".hidden").mkdir()
    assert [c.path.name for c in candidates(tmp_path)] == ["step-900", "step-2000",
                                                            "step-10000", "final"]
    assert [c.path for c in candidates(tmp_path / "step-900")] == [tmp_path / "step-900"]


def test_a_checkpoint_is_offered_once_its_files_settle_and_again_when_rewritten(
        tmp_path: Path) -> None:
    waits: list[tuple[str, str]] = []
    watcher = Watcher(tmp_path, WatchOptions(interval_s=1, stable_polls=2),
                      on_wait=lambda c: waits.append((c.path.name, c.waiting_for)))
    ck = _checkpoint(tmp_path / "step-1", shards=2)
    shard = ck / "model-00002-of-00002.safetensors"
    shard.unlink()
    assert watcher.poll() == []
    with shard.open("wb") as f:  # written slowly: it grows between looks
        f.write(b"w" * 10)
        f.flush()
        assert watcher.poll() == []
        f.write(b"w" * 10)
    assert watcher.poll() == []  # changed since the last look
    (ready,) = watcher.poll()  # unchanged over two looks
    assert ready.path == ck and ready.step == 1
    watcher.handled(ready)
    assert watcher.poll() == [] and watcher.poll() == []  # handled: not offered again
    time.sleep(0.01)
    (ck / "model-00001-of-00002.safetensors").write_bytes(b"v" * 64)  # rewritten in place
    assert watcher.poll() == []
    assert [c.path for c in watcher.poll()] == [ck]
    assert waits == [("step-1", "1 of 2 shard(s) missing (model-00002-of-00002.safetensors)"),
                     ("step-1", "files not settled yet"), ("step-1", "files not settled yet")]


def test_the_loop_evaluates_in_order_and_stops_when_idle(tmp_path: Path) -> None:
    now = [0.0]
    seen: list[str] = []
    plan = {2: lambda: _checkpoint(tmp_path / "step-300"), 5: lambda: None}

    def sleep(s: float) -> None:
        now[0] += s
        step = int(now[0])
        if step in plan:
            plan.pop(step)()

    _checkpoint(tmp_path / "step-200")
    _checkpoint(tmp_path / "step-100")
    watcher = Watcher(tmp_path, WatchOptions(interval_s=1, stable_polls=2, idle_exit_s=4))

    def evaluate(c: Candidate) -> None:
        seen.append(c.path.name)

    counts = list(watcher.run(evaluate, sleep=sleep, clock=lambda: now[0]))
    assert seen == ["step-100", "step-200", "step-300"]
    assert counts[-1] == 3 and now[0] < 12


def _watch_config(tmp_path: Path, data_dir: Path) -> Path:
    (tmp_path / "tiny.yaml").write_text(SUITE)
    cfg = tmp_path / "evals.yaml"
    cfg.write_text(f"data_dir: {data_dir}\noutput_dir: {tmp_path / 'out'}\n"
                   "runner: {backend: mock, batch_size: 1}\n")
    return cfg


def _watch(cfg: Path, folder: Path, env: dict[str, str] | None = None,
           idle: float = 4, suite: bool = True) -> subprocess.Popen[str]:
    flags = ["-s", str(cfg.parent / "tiny.yaml")] if suite else []
    return subprocess.Popen(
        [EVALS, "watch", str(folder), "-c", str(cfg), *flags,
         "--interval", "0.3", "--idle-exit", str(idle)],
        env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=default_sigint)


def test_watch_command_follows_a_trainer_and_resumes_after_ctrl_c(
        data_dir: Path, tmp_path: Path) -> None:
    """Timeline: step-1000 is there at the start and the watcher is interrupted while it
    runs (exit 130, manifest interrupted). Restarted, it runs step-1000 on from the cache,
    while a trainer writes step-2000 shard by shard and then step-3000: each is evaluated
    once, after its files are complete (never re-offered as changed), in training order,
    and each ends with a refreshed index and report."""
    cfg = _watch_config(tmp_path, data_dir)
    ckpts = tmp_path / "ckpts"
    _checkpoint(ckpts / "step-1000")
    out = tmp_path / "out"
    proc = _watch(cfg, ckpts, {"EVALS_MOCK_DELAY_S": "3"})  # interrupted in its first request
    manifest = out / "step-1000" / "tiny" / "manifest.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (
            manifest.is_file() and '"running"' in manifest.read_text()):
        time.sleep(0.1)
    time.sleep(0.6)
    assert proc.poll() is None, "the watcher ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "rerun the same command to resume" in err
    assert json.loads(manifest.read_text())["status"] == "interrupted"

    def trainer() -> None:
        _checkpoint(ckpts / "step-2000", shards=2)
        shard = ckpts / "step-2000" / "model-00002-of-00002.safetensors"
        shard.unlink()
        for _ in range(6):  # a shard growing over ~2 s
            with shard.open("ab") as f:
                f.write(b"w" * 16)
            time.sleep(0.35)
        _checkpoint(ckpts / "step-3000", shards=3)

    writer = threading.Thread(target=trainer)
    again = _watch(cfg, ckpts, idle=2.5)
    writer.start()
    _, err = again.communicate(timeout=120)
    writer.join()
    assert again.returncode == 0, err
    assert "step-1000 · tiny: to run: last run interrupted" in err
    first, second, third = (err.index(f"step-{k}000 · tiny: to run: ") for k in (1, 2, 3))
    assert first < second < third
    assert err.count("step-2000 · tiny: to run: not run yet") == 1
    assert "checkpoint files or runner settings changed" not in err
    assert "3 checkpoint(s) evaluated, 0 failed" in err
    for step in ("step-1000", "step-2000", "step-3000"):
        m = json.loads((out / step / "tiny" / "manifest.json").read_text())
        assert m["status"] == "complete" and m["model"]["stage"] == "pretrain"
        assert m["model"]["step"] == int(step.split("-")[1]) and m["model"]["kind"] == "base"
    html = (out / "report.html").read_text()
    assert all(f">{s}<" in html for s in ("step-1000", "step-2000", "step-3000"))
    from evals.results.index import query_scores

    assert {r.checkpoint for r in query_scores(out / "index.sqlite")} == {
        "step-1000", "step-2000", "step-3000"}
    rerun = _watch(cfg, ckpts, idle=0.5)  # a third start: everything current
    _, err = rerun.communicate(timeout=60)
    assert err.count("current (made by the same plan), skipped") == 3, err
    assert "0 checkpoint(s) evaluated, 0 failed" in err


def test_a_broken_checkpoint_is_named_and_the_watch_goes_on(
        data_dir: Path, tmp_path: Path) -> None:
    cfg = _watch_config(tmp_path, data_dir)
    ckpts = tmp_path / "ckpts"
    _checkpoint(ckpts / "step-1")
    _checkpoint(ckpts / "step-2")
    cfg.write_text(cfg.read_text() + "models:\n  - {name: sft-final, path: ckpts/step-2, "
                   "stage: sft, suites: [nonexistent]}\n"
                   f"stage_suites: {{pretrain: [{tmp_path / 'tiny.yaml'}]}}\n")
    proc = _watch(cfg, ckpts, idle=1, suite=False)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "sft-final failed:" in err and "nonexistent" in err  # evals.yaml's entry named it
    assert "1 checkpoint(s) evaluated, 1 failed" in err
    assert (tmp_path / "out" / "step-1" / "tiny" / "results.json").is_file()


@pytest.mark.slow
def test_watch_evaluates_a_copy_of_the_embedded_model(data_dir: Path, tmp_path: Path) -> None:
    """The real thing, small: the embedded model's folder copied in as a trainer would
    write it (weights last), evaluated through the hf backend once its files settle."""
    from evals.embedded import resolve_embedded

    source = Path(resolve_embedded("smollm2-135m-instruct"))
    cfg = _watch_config(tmp_path, data_dir)
    cfg.write_text(cfg.read_text().replace("runner: {backend: mock, batch_size: 1}",
                                           "runner: {backend: hf, dtype: float32, "
                                           "max_model_len: 2048}"))
    ckpts = tmp_path / "ckpts"
    target = ckpts / "step-500"
    target.mkdir(parents=True)
    weights = [p for p in source.iterdir() if p.suffix in (".safetensors", ".bin")]
    for p in source.iterdir():
        if p not in weights and p.is_file():
            shutil.copy2(p, target / p.name)
    proc = _watch(cfg, ckpts, idle=3)
    time.sleep(2)
    for p in weights:
        shutil.copy2(p, target / p.name)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "step-500: waiting (weights missing" in err
    assert "1 checkpoint(s) evaluated, 0 failed" in err
    results = json.loads((tmp_path / "out" / "step-500" / "tiny" / "results.json").read_text())
    assert {b["benchmark"] for b in results["benchmarks"]} == {"gsm8k", "mmlu"}
