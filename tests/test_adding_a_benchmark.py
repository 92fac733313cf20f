"""docs/adding_a_benchmark.md's worked example is code that runs: loaded as a module (in a
fresh interpreter, so its registration stays out of this one), it reads two items in its
layout, prompts as documented and scores 100 with right answers, 0 with wrong ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN = """
import importlib.util, sys
from pathlib import Path
from evals.benchmarks.base import BENCHMARKS, BenchmarkContext
from evals.records import ModelKind, Mode
from tests.oracle import score_with
spec = importlib.util.spec_from_file_location("piqa_example", sys.argv[1])
module = sys.modules["piqa_example"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
b = BENCHMARKS.get("piqa")
ctx = BenchmarkContext(Path(sys.argv[2]), ModelKind.BASE, Mode.PPL, 0)
items = b.load(ctx)
print(len(items), items[1].target, b.requests(items[0], ctx)[0].continuation.encode().hex(),
      score_with(b, ctx, items).primary.value, score_with(b, ctx, items, right=False).primary.value)
"""


def test_the_worked_example_runs(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "adding_a_benchmark.md").read_text(encoding="utf-8")
    (tmp_path / "piqa.py").write_text(doc.split("```python\n")[1].split("```")[0])
    data = tmp_path / "data" / "piqa"
    data.mkdir(parents=True)
    rows = [{"goal": "To open a jar", "sol1": "twist the lid", "sol2": "eat the lid"},
            {"goal": "To dry hands", "sol1": "use water", "sol2": "use a towel"}]
    (data / "valid.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "valid-labels.lst").write_text("0\n1\n")
    done = subprocess.run([sys.executable, "-c", RUN, str(tmp_path / "piqa.py"),
                           str(tmp_path / "data")], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2", "B", b"\ntwist the lid".hex(), "100.0", "0.0"]
