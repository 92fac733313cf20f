"""A benchmark's code identity covers every module it uses, not just the one that defines it.

C-Eval's and CMMLU's prompt and extraction live in the shared ``_exam_zh.py``; a run of a copy
of the package whose extraction there was edited must be told apart from the run before it
(``evals diff``, staleness), for both benchmarks and for no other.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evals.benchmarks import BENCHMARKS
from evals.results.diff import diff_runs, to_markdown
from evals.results.rundir import RunDir
from evals.run.manifest import RUNS, code_modules, source_hash

REPO = Path(__file__).resolve().parents[1]
SUITE = """name: tiny
benchmarks:
  - {name: ceval, limit: 2}
  - {name: cmmlu, limit: 2}
  - {name: gsm8k, limit: 2, max_tokens: 16}
"""
EDIT = ('    for t in text:\n        if t.isupper():',
        '    for t in text.strip():\n        if t.isupper():')
"""An edit of ``first_capital`` (the extraction), not of a comment."""


def test_code_modules_follow_imports_into_shared_helpers() -> None:
    ceval = code_modules(BENCHMARKS.get("ceval"))
    assert {"evals.benchmarks.examination.ceval", "evals.benchmarks.examination._exam_zh",
            "evals.benchmarks._prompt"} <= set(ceval)
    assert "evals.benchmarks.examination.cmmlu" not in ceval and "evals.records" not in ceval
    agieval = code_modules(BENCHMARKS.get("agieval"))
    assert "evals.benchmarks._extract" in agieval  # its boxed answers, shared with MATH
    cibench = code_modules(BENCHMARKS.get("cibench_en"))
    assert {"evals.benchmarks._metrics", "evals.sandbox.interpreter",
            "evals.sandbox._repl_server"} <= set(cibench)
    assert source_hash(BENCHMARKS.get("ceval")) != source_hash(BENCHMARKS.get("cmmlu"))


def test_programs_run_from_source_are_listed() -> None:
    """A module that reads another module's file to run it as a program names it in RUNS
    (its code is not found by following imports)."""
    readers = {}
    for path in (REPO / "evals").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in ("_init", "_repl_server"):
            if f'with_name("{name}.py")' in text:
                module = ".".join(path.relative_to(REPO).with_suffix("").parts)
                readers[module] = name
    assert readers and all(any(r.endswith(n) for r in RUNS[m]) for m, n in readers.items())


def _run(pkg: Path, cfg: Path, out: Path) -> RunDir:
    env = {**os.environ, "PYTHONPATH": str(pkg)}
    done = subprocess.run([sys.executable, "-m", "evals", "run", "-c", str(cfg),
                           "--output-dir", str(out)], env=env, capture_output=True, text=True,
                          cwd=pkg, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return RunDir(out / "m" / "tiny")


@pytest.mark.slow
def test_diff_names_an_edited_shared_extraction_for_each_benchmark_using_it(
        data_dir: Path, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    shutil.copytree(REPO / "evals", pkg / "evals",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "tiny.yaml").write_text(SUITE)
    cfg = tmp_path / "evals.yaml"
    cfg.write_text(f"data_dir: {data_dir}\nmodels:\n  - {{name: m, path: /ckpt/m, kind: chat}}\n"
                   f"suites: [{tmp_path / 'tiny.yaml'}]\nrunner: {{backend: mock}}\n")
    a = _run(pkg, cfg, tmp_path / "a")
    helper = pkg / "evals" / "benchmarks" / "examination" / "_exam_zh.py"
    source = helper.read_text(encoding="utf-8")
    assert EDIT[0] in source
    helper.write_text(source.replace(*EDIT), encoding="utf-8")
    b = _run(pkg, cfg, tmp_path / "b")

    d = diff_runs(a, b)
    fields = {(x.scope, x.field) for x in d.differences}
    for name in ("ceval", "cmmlu"):
        assert (name, "code.evals.benchmarks.examination._exam_zh") in fields
        assert (name, "extractor_hash") in fields
    assert not any(x.scope == "gsm8k" for x in d.differences)
    assert "| ceval | code.evals.benchmarks.examination._exam_zh |" in to_markdown(d)
    manifest = json.loads((a.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["benchmarks"]["ceval"]["version"] == 1
