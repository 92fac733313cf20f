"""Sweeps over a training run's checkpoints (`evals run --all`), the results index, and
`evals diff`, on the scripted mock backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.cli.commands import main
from evals.errors import ModelError
from evals.results.diff import diff_runs, to_markdown
from evals.results.index import query_scores, refresh_index
from evals.results.rundir import RunDir, find_runs

SUITE = """name: tiny
benchmarks:
  - {name: gsm8k, limit: 4, max_tokens: 32}
  - {name: mmlu, mode: ppl, limit: 4}
dimensions:
  all: [gsm8k, mmlu]
"""


def _config(tmp: Path, data: Path, extra_models: str = "") -> Path:
    (tmp / "tiny.yaml").write_text(SUITE)
    cfg = tmp / "evals.yaml"
    cfg.write_text(
        f"data_dir: {data}\noutput_dir: {tmp / 'out'}\n"
        "models:\n"
        "  - {name: step-2000, path: /ckpt/step-2000, kind: base, stage: pretrain, step: 2000,"
        " tokens_seen: 8000000000}\n"
        "  - {name: step-1000, path: /ckpt/step-1000, kind: base, stage: pretrain, step: 1000,"
        " tokens_seen: 4000000000}\n"
        "  - {name: sft, path: /ckpt/sft, kind: chat, stage: sft}\n" + extra_models +
        f"suites: [{tmp / 'tiny.yaml'}]\nrunner: {{backend: mock}}\n")
    return cfg


def _stamps(out: Path) -> dict[str, int]:
    return {p.parent.parent.name: p.stat().st_mtime_ns for p in out.glob("*/tiny/results.json")}


def test_sweep_skips_finished_checkpoints(data_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, data_dir)
    main(["run", "-c", str(cfg), "--all"])
    out = tmp_path / "out"
    first = _stamps(out)
    assert set(first) == {"step-1000", "step-2000", "sft"}
    # a killed run: its manifest still says running
    manifest = out / "sft" / "tiny" / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "status": "running"}))
    capsys.readouterr()
    main(["run", "-c", str(cfg), "--all"])
    err = capsys.readouterr().err
    assert "step-1000: tiny current (made by the same plan), skipped" in err
    assert "sft · tiny: to run: last run running" in err
    second = _stamps(out)
    assert second["step-1000"] == first["step-1000"] and second["sft"] != first["sft"]
    assert RunDir(out / "sft" / "tiny").complete

    # the index was refreshed by the runs: every score of every checkpoint, training order
    rows = query_scores(out / "index.sqlite")
    assert [r.checkpoint for r in rows if r.benchmark == "gsm8k"] == ["step-1000", "step-2000",
                                                                        "sft"]
    assert {r.benchmark for r in rows} == {"gsm8k", "mmlu"}
    assert rows[0].tokens_seen == 4_000_000_000


def test_sweep_goes_on_past_a_failing_checkpoint(data_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import evals.run.runner

    real = evals.run.runner.run_model

    def flaky(config, config_dir, model, suites, **kw):  # type: ignore[no-untyped-def]
        if model.name == "step-2000":
            raise ModelError(f"{model.path}: not a model folder; check models[].path")
        return real(config, config_dir, model, suites, **kw)

    monkeypatch.setattr(evals.run.runner, "run_model", flaky)
    cfg = _config(tmp_path, data_dir)
    with pytest.raises(SystemExit) as exc:
        main(["run", "-c", str(cfg), "--all"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "step-2000 failed" in err and "1 of 3 checkpoint(s) failed (step-2000)" in err
    assert "these are complete: step-1000, sft" in err
    assert set(_stamps(tmp_path / "out")) == {"step-1000", "sft"}


def test_index_is_incremental_and_drops_deleted_runs(data_dir: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, data_dir)
    main(["run", "-c", str(cfg), "--all"])
    out = tmp_path / "out"
    db = tmp_path / "idx.sqlite"
    assert refresh_index(db, [out]).added == 3
    again = refresh_index(db, [out])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    import shutil

    shutil.rmtree(out / "step-1000")
    assert refresh_index(db, [out]).removed == 1
    assert {r.checkpoint for r in query_scores(db)} == {"step-2000", "sft"}
    dims = query_scores(db, benchmark="mmlu", checkpoint="sft")
    assert len(dims) == 1 and dims[0].metric == "accuracy"


def test_diff_names_what_changed(data_dir: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, data_dir)
    main(["run", "-c", str(cfg), "-m", "sft"])
    a = RunDir(tmp_path / "out" / "sft" / "tiny")
    assert diff_runs(a, a).differences == ()
    # the same checkpoint with 2-shot GSM8K into another output dir
    (tmp_path / "tiny.yaml").write_text(SUITE.replace("limit: 4, max_tokens: 32",
                                                      "limit: 4, shots: 2, max_tokens: 32"))
    main(["run", "-c", str(cfg), "-m", "sft", "--output-dir", str(tmp_path / "out2")])
    b = RunDir(tmp_path / "out2" / "sft" / "tiny")
    d = diff_runs(a, b)
    fields = {(x.scope, x.field) for x in d.differences}
    assert ("gsm8k", "shots") in fields and ("gsm8k", "prompt_hash") in fields
    assert not any(x.scope == "mmlu" for x in d.differences)
    assert "| gsm8k | shots | 4 | 2 |" in to_markdown(d)
    capsys.readouterr()
    main(["diff", str(a.path), str(b.path)])
    assert "prompt_hash" in capsys.readouterr().out


def test_find_runs_errors_name_the_path(tmp_path: Path) -> None:
    from evals.errors import ConfigError

    with pytest.raises(ConfigError, match="no run directories"):
        find_runs([tmp_path])


def test_index_marks_slices_and_partial_runs_and_rebuilds_an_old_schema(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every score here is a 4-item slice (limit: 4), so each cell is marked and the note
    names n of the full set; a run left interrupted is marked as partial. An index written
    by the previous schema is rebuilt on first use, not refused."""
    import sqlite3

    from evals.results.index import INDEX_SCHEMA

    cfg = _config(tmp_path, data_dir)
    main(["run", "-c", str(cfg), "--all"])
    out = tmp_path / "out"
    manifest = out / "sft" / "tiny" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "status": "interrupted"}))
    with sqlite3.connect(out / "index.sqlite") as conn:  # as schema 1 left it
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    capsys.readouterr()
    main(["index", str(out)])
    printed = capsys.readouterr().out
    rows = query_scores(out / "index.sqlite")
    assert all(r.limited and r.n == 4 for r in rows)
    assert {r.total for r in rows if r.benchmark == "gsm8k"} == {1319}
    assert {r.checkpoint for r in rows if r.partial} == {"sft"}
    assert "* scored on a slice (--limit), n of the full set: step-1000 gsm8k 4 of 1319" in printed
    assert "† from a run that did not complete, partial results: sft/tiny (interrupted)" in printed
    sft_cells = [line for line in printed.splitlines() if line.lstrip("│ ").startswith("gsm8k")]
    assert sft_cells and sft_cells[0].rstrip(" │").endswith("*†")
    with sqlite3.connect(out / "index.sqlite") as conn:
        assert conn.execute("SELECT value FROM meta").fetchone() == (str(INDEX_SCHEMA),)
    main(["index", str(out), "--csv"])
    header, first = capsys.readouterr().out.splitlines()[:2]
    assert header.split(",")[10:14] == ["n", "total", "limited", "status"]
    assert first.split(",")[10:14] == ["4", "1319" if "gsm8k" in first else "14042", "1",
                                       "complete"]
