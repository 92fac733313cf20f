"""``evals data status`` on real layouts: an OpenCompass ``data/`` tree linked in with
``--from``, the InternLM2 base suite with some sets taken away (built in a temporary folder:
no test depends on what ../shared/data lacks), ``--skip-missing`` on that suite, and a missing
set never reaching for the network."""

from __future__ import annotations

import gzip
import json
import shutil
import socket
from pathlib import Path

import pytest

from evals.benchmarks.base import spec_of
from tests.cli_helpers import run_cli
from tests.conftest import FIXTURES, REPO

MODELS = "models:\n  - {name: base, path: /ckpt/base, kind: base, stage: base}\n"
GONE = ("race_high", "mathbench", "mbpp_cn", "longbench")
"""In the suite's order."""


def _rows(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("benchmark "))
    return {x.split()[0]: x.split() for x in lines[start + 1:] if x and not x.startswith(" ")
            and len(x.split()) > 4 and x.split()[1] in ("present", "missing", "broken")}


def _opencompass_tree(root: Path, shared: Path) -> None:
    """An OpenCompass ``data/`` folder in 0.5.4's paths, from our fixtures and a few real
    records."""
    shutil.copytree(FIXTURES / "race", root / "race")
    shutil.copytree(FIXTURES / "mbpp_cn", root / "mbpp_cn")
    shutil.copytree(FIXTURES / "teval", root / "teval")
    shutil.copytree(FIXTURES / "longbench", root / "Longbench" / "data")
    shutil.copytree(FIXTURES / "mathbench", root / "mathbench_v1")
    (root / "gsm8k").mkdir()
    (root / "gsm8k" / "test.jsonl").write_text(
        (shared / "gsm8k" / "test.jsonl").read_text().splitlines()[0] + "\n")
    (root / "humaneval").mkdir()
    with gzip.open(shared / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        first = [next(f) for _ in range(3)]
    (root / "humaneval" / "human-eval-v2-20210705.jsonl").write_text("".join(first))


def test_from_an_opencompass_tree_makes_status_green(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    oc = tmp_path / "opencompass" / "data"
    _opencompass_tree(oc, data_dir)
    mine = tmp_path / "mine"
    mine.mkdir()
    cfg = tmp_path / "evals.yaml"
    cfg.write_text(f"data_dir: {mine}\n{MODELS}")
    monkeypatch.setattr("evals.data_sources.known_checksums", dict)
    names = ["race_high", "mbpp_cn", "teval_en", "teval_zh", "longbench", "mathbench", "gsm8k",
             "humaneval"]
    flags = [x for n in names for x in ("-b", n)]
    code, out, _ = run_cli(["data", "status", "-c", str(cfg), *flags], capsys)
    before = _rows(out)
    assert code == 1 and all(r[1] == "missing" for n, r in before.items() if n != "humaneval")
    assert before["humaneval"][1:6] == ["present", "164", "/", "164", "-"]  # human-eval's copy

    code, _, err = run_cli(["data", "fetch", "-c", str(cfg), "--from", str(oc), *flags], capsys)
    assert code == 0, err
    assert (mine / "race/test/high.jsonl").is_symlink() and (mine / "Longbench/data").is_symlink()
    code, out, err = run_cli(["data", "status", "-c", str(cfg), *flags], capsys)
    rows = _rows(out)
    assert code == 0, out + err
    assert set(rows) == set(names) and all(r[1] == "present" for r in rows.values())
    assert rows["gsm8k"][2:5] == ["1", "/", "1319"] and rows["humaneval"][2:5] == ["3", "/", "164"]
    assert "race/test/high.jsonl (opencompass)" in out and "mathbench_v1 (upstream)" in out
    assert f"all {len(names)} present" in err
    # --copy leaves no links behind
    copied = tmp_path / "copied"
    copied.mkdir()
    cfg.write_text(f"data_dir: {copied}\n{MODELS}")
    assert run_cli(["data", "fetch", "-c", str(cfg), "--from", str(oc), "--copy", *flags],
                capsys)[0] == 0
    assert not any(p.is_symlink() for p in copied.rglob("*"))
    assert run_cli(["data", "status", "-c", str(cfg), *flags], capsys)[0] == 0


def _without(shared: Path, root: Path, gone: tuple[str, ...]) -> Path:
    """``shared`` linked entry by entry into ``root``, less the folders the ``gone`` sets
    read (every layout of theirs): the shared data as it would be without them."""
    tops = {layout.root.split("/")[0] for g in gone if (s := spec_of(g))
            for layout in s.layouts}
    root.mkdir()
    for entry in shared.iterdir():
        if entry.name not in tops:
            (root / entry.name).symlink_to(entry)
    return root


def test_status_names_exactly_the_missing_sets(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _without(data_dir, tmp_path / "data", GONE)
    cfg = tmp_path / "evals.yaml"
    cfg.write_text(f"data_dir: {data}\n{MODELS}")
    code, out, err = run_cli(["data", "status", "-c", str(cfg), "--suite", "internlm2_base"], capsys)
    rows = _rows(out)
    assert code == 1 and len(rows) == 23
    assert {n for n, r in rows.items() if r[1] == "missing"} == set(GONE)
    assert "missing: race_high, longbench; get them with `evals data fetch -b race_high -b " \
           "longbench`" in err
    assert "missing, by hand (see above): mathbench, mbpp_cn" in err
    assert "mbpp_cn: it ships only in OpenCompass's data archive" in out


def test_skip_missing_runs_the_rest_of_internlm2_base(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _without(data_dir, tmp_path / "data", GONE)
    cfg = tmp_path / "evals.yaml"
    cfg.write_text(f"data_dir: {data}\noutput_dir: {tmp_path / 'out'}\n"
                   "models:\n  - {name: base, path: /ckpt/base, kind: base, stage: base}\n"
                   f"suites: [{REPO / 'suites' / 'internlm2_base.yaml'}]\n"
                   "runner: {backend: mock}\n")
    code, _, err = run_cli(["run", "-c", str(cfg), "--limit", "2"], capsys)
    assert code == 2 and "data missing under" in err and ", ".join(GONE) in err
    assert not (tmp_path / "out" / "base" / "internlm2_base" / "results.json").exists()

    code, _, err = run_cli(["run", "-c", str(cfg), "--limit", "2", "--skip-missing"], capsys)
    assert code == 0, err
    run = tmp_path / "out" / "base" / "internlm2_base"
    results = json.loads((run / "results.json").read_text())
    assert [s["benchmark"] for s in results["skipped"]] == list(GONE)
    assert len(results["benchmarks"]) == 23 - len(GONE)
    assert all(b["n"] >= 1 for b in results["benchmarks"])
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert [s["benchmark"] for s in manifest["skipped"]] == list(GONE)
    code, out, _ = run_cli(["index", str(tmp_path / "out")], capsys)
    for name in GONE:
        assert any(name in line and "not run" in line for line in out.splitlines()), name
    html = tmp_path / "report.html"
    code, _, err = run_cli(["report", str(run), "-o", str(html), "--samples", "1"], capsys)
    assert code == 0, err
    assert f"base / internlm2_base: not run (data missing): {', '.join(GONE)}" in html.read_text()


def test_a_missing_set_never_reaches_for_the_network(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Online or not, a run with a missing set stops before any connection: the loaders
    read local files only."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    tried: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        tried.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    empty = tmp_path / "nodata"
    empty.mkdir()
    cfg = tmp_path / "evals.yaml"
    cfg.write_text(f"data_dir: {empty}\noutput_dir: {tmp_path / 'out'}\n"
                   "models:\n  - {name: base, path: /ckpt/base, kind: base, stage: base}\n"
                   f"suites: [{REPO / 'suites' / 'internlm2_base.yaml'}]\n"
                   "runner: {backend: mock}\n")
    code, _, err = run_cli(["run", "-c", str(cfg)], capsys)
    errors = [x for x in err.splitlines() if x.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "data missing under" in errors[0]
    # HumanEval alone is read from the copy the human-eval package ships
    assert "for 22 benchmark(s) of internlm2_base" in errors[0] and "humaneval," not in errors[0]
    assert tried == []
