"""Per benchmark: evals' planned items written in OpenCompass 0.5.4's data layout, the dataset
configs (from its wheel, as evals' benchmark docstring names them) pointed at those files,
and where each item lands in OpenCompass's outputs.

An adapter never changes a config's templates, shots, stop words or evaluator: only
``path`` (and a subset filter where a config lists many subjects). Where the chat half has
its own config, the adapter picks it by the planned model kind.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness import Located, OCPlan

from evals.records import ModelKind
from evals.run.runner import PlannedBenchmark

ADAPTERS: dict[str, Callable[[PlannedBenchmark, Path], OCPlan]] = {}


def adapter(name: str) -> Callable[[Callable[[PlannedBenchmark, Path], OCPlan]],
                                   Callable[[PlannedBenchmark, Path], OCPlan]]:
    def register(fn: Callable[[PlannedBenchmark, Path], OCPlan]) -> Callable[
            [PlannedBenchmark, Path], OCPlan]:
        ADAPTERS[name] = fn
        return fn
    return register


def base(pb: PlannedBenchmark) -> bool:
    return pb.ctx.kind is ModelKind.BASE


def write_csv(path: Path, rows: Iterable[Iterable[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def by_group(pb: PlannedBenchmark, key: Callable[[Any], str]) -> tuple[dict[str, list[Any]],
                                                                        list[Located]]:
    """Items grouped (subjects, tasks), each group in evals' order, and every item's place:
    ``(group, index within it)``."""
    groups: dict[str, list[Any]] = {}
    places = []
    for sample in pb.samples:
        g = key(sample)
        groups.setdefault(g, []).append(sample)
        places.append(Located(g, len(groups[g]) - 1))
    return groups, places


# --- examination ---------------------------------------------------------------------------


@adapter("mmlu")
def mmlu(pb: PlannedBenchmark, root: Path) -> OCPlan:
    groups, places = by_group(pb, lambda s: s.subject)
    for subject, items in groups.items():
        write_csv(root / "mmlu" / "dev" / f"{subject}_dev.csv",
                  [(s.question, *s.options, s.target) for s in items[0].shots])
        write_csv(root / "mmlu" / "test" / f"{subject}_test.csv",
                  [(s.question, *s.options, s.target) for s in items])
    cfg = "mmlu_ppl_ac766d" if base(pb) else "mmlu_gen_a484b3"
    return OCPlan(
        (f"from opencompass.configs.datasets.mmlu.{cfg} import mmlu_datasets as _mmlu",),
        f"datasets += [dict(_d, path=DATA + '/mmlu') for _d in _mmlu "
        f"if _d['abbr'].removeprefix('lukaemon_mmlu_') in {sorted(groups)!r}]",
        tuple(Located(f"lukaemon_mmlu_{p.abbr}", p.index) for p in places))


# --- reasoning & math ----------------------------------------------------------------------


@adapter("hellaswag")
def hellaswag(pb: PlannedBenchmark, root: Path) -> OCPlan:
    write_jsonl(root / "hellaswag.jsonl", (
        {"query": s.query, "choices": list(s.endings), "gold": "ABCD".index(s.target)}
        for s in pb.samples))
    cfg = "hellaswag_ppl_47bff9" if base(pb) else "hellaswag_gen_6faab5"
    return OCPlan(
        (f"from opencompass.configs.datasets.hellaswag.{cfg} import hellaswag_datasets as _hs",),
        "datasets += [dict(_d, path=DATA + '/hellaswag.jsonl') for _d in _hs]",
        tuple(Located("hellaswag", i) for i in range(len(pb.samples))))


@adapter("gsm8k")
def gsm8k(pb: PlannedBenchmark, root: Path) -> OCPlan:
    rows = [{"question": s.question, "answer": s.solution} for s in pb.samples]
    write_jsonl(root / "gsm8k" / "test.jsonl", rows)
    write_jsonl(root / "gsm8k" / "train.jsonl", rows)
    return OCPlan(
        ("from opencompass.configs.datasets.gsm8k.gsm8k_gen_1d7fe4 import gsm8k_datasets as _g",),
        "datasets += [dict(_d, path=DATA + '/gsm8k') for _d in _g]",
        tuple(Located("gsm8k", i) for i in range(len(pb.samples))))


# the other benchmarks, by dimension (imported for their @adapter registrations)
import adapters_code_long  # noqa: E402, F401
import adapters_exam  # noqa: E402, F401
import adapters_language  # noqa: E402, F401
import adapters_reasoning  # noqa: E402, F401
