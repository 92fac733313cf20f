"""Time spent between engine rounds on tool calls, by ``runner.tool_workers``.

A ReAct round runs each sample's code in a fresh sandboxed interpreter (earlier cells
replayed). The engine waits for all of them before the next round, so on a GPU node this
time is pure idle accelerator. This runs ``gsm8k_react`` on the scripted mock backend (no
model: the time measured is the runner plus the sandbox): every sample writes one cell that
imports sympy and computes, then answers from the observation, i.e. one sandboxed session
per sample between rounds 1 and 2 and one replay when scoring is not needed (cached).

    OMP_NUM_THREADS=2 .venv/bin/python bench/tool_rounds.py [--items 48] [--workers 1,2,4,8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from evals.backends.mock import MockBackend
from evals.benchmarks.code_interpreter._react import OBSERVATION_PREFIX
from evals.config import EvalsConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.records import ChatPrompt, GenerateRequest
from evals.run.runner import run_model

REPO = Path(__file__).resolve().parents[1]
CHAT = ModelSpec(name="m", path="mock", kind="chat")
CELL = "```python\nimport sympy\nx = sympy.Symbol('x')\nprint(sympy.solve(x**2 - 4, x)[-1] + {n})\n```"


def reply(r: GenerateRequest) -> str:
    assert isinstance(r.prompt, ChatPrompt)
    last = r.prompt.messages[-1].content
    if last.startswith(OBSERVATION_PREFIX):
        return f"Final Answer: {last.removeprefix(OBSERVATION_PREFIX).strip()}"
    return CELL.format(n=len(last) % 97)


def one_run(data: Path, items: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        config = EvalsConfig(data_dir=str(data), output_dir=out, models=[CHAT],
                             cache_dir=str(Path(out) / "cache"),
                             runner=RunnerConfig(backend="mock", tool_workers=workers))
        suite = SuiteSpec.model_validate(
            {"name": "t", "benchmarks": [{"name": "gsm8k_react", "limit": items}]})
        start = time.perf_counter()
        run_model(config, Path(out), CHAT, [suite],
                  backend_builder=lambda spec: MockBackend(generate_fn=reply))
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=48)
    ap.add_argument("--workers", default="1,2,4,8")
    ap.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    args = ap.parse_args()
    rows = []
    for w in (int(x) for x in args.workers.split(",")):
        seconds = one_run(Path(args.data_dir), args.items, w)
        rows.append({"tool_workers": w, "seconds": round(seconds, 2),
                     "ms_per_sample": round(1000 * seconds / args.items, 1)})
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["seconds"]
    print("| tool_workers | wall s | ms/sample | speed-up |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['tool_workers']} | {r['seconds']} | {r['ms_per_sample']} | "
              f"{float(base) / float(r['seconds']):.2f}x |")


if __name__ == "__main__":
    main()
