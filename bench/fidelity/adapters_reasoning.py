"""Adapters (see adapters.py): Reasoning & math: winogrande, bbh, math, theoremqa, mathbench."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from adapters import adapter, base, by_group, write_csv, write_jsonl
from harness import Located, OCPlan

from evals.benchmarks.reasoning_math.math import MATHItem
from evals.benchmarks.reasoning_math.mathbench import MathBenchItem
from evals.benchmarks.reasoning_math.theoremqa import TheoremQAItem
from evals.benchmarks.reasoning_math.winogrande import WinoGrandeItem
from evals.run.runner import PlannedBenchmark

CONFIGS = "opencompass.configs.datasets"
T = TypeVar("T")


def items(pb: PlannedBenchmark, cls: type[T]) -> list[T]:
    """The planned samples as their benchmark module's item type (an adapter serves one
    benchmark, so anything else is a wrong registration)."""
    out: list[T] = [s for s in pb.samples if isinstance(s, cls)]
    if len(out) != len(pb.samples):
        raise TypeError(f"{pb.benchmark.name}: samples are not all {cls.__name__}")
    return out


def _in_order(abbr: str, n: int) -> tuple[Located, ...]:
    return tuple(Located(abbr, i) for i in range(n))


# --- WinoGrande ----------------------------------------------------------------------------


def blank(prefixes: tuple[str, str]) -> tuple[str, str, str]:
    """(the sentence's text before the blank, option 1, option 2) from the two filled
    prefixes evals keeps. Its data (MosaicML's layout) no longer has the options, and any
    split point gives OpenCompass's loader the same ``opt1``/``opt2`` (``sentence`` with "_"
    replaced by each option); cutting at the last space of the common prefix gives the
    upstream sentence for options that are whole words."""
    a, b = prefixes
    same = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))
    cut = a.rfind(" ", 0, same) + 1
    return prefixes[0][:cut], prefixes[0][cut:], prefixes[1][cut:]


def winogrande_row(sample: WinoGrandeItem) -> dict[str, str]:
    """An allenai ``dev.jsonl`` line: what both WinograndeDataset (LL) and V2 (gen) read."""
    before, opt1, opt2 = blank(sample.prefixes)
    return {"sentence": before + "_" + sample.cont, "option1": opt1, "option2": opt2,
            "answer": str("AB".index(sample.target) + 1)}


@adapter("winogrande")
def winogrande(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """Base: ``winogrande_ll_c5cf57`` (LLInferencer: per label, the filled sentence is the
    recorded prompt and ``cont`` the scored continuation); chat: ``winogrande_gen_a9ede5``,
    in 0.5.4 ``deprecated_winogrande_gen_a9ede5``."""
    write_jsonl(root / "winogrande" / "dev.jsonl", map(winogrande_row, items(pb, WinoGrandeItem)))
    cfg = "winogrande_ll_c5cf57" if base(pb) else "deprecated_winogrande_gen_a9ede5"
    notes: tuple[str, ...] = ()
    if base(pb):
        notes = ("OpenCompass's VLLM wrapper divides the continuation's log-likelihood by the "
                 "whole sequence's length less one, its HuggingFace wrapper (the report's) and "
                 "evals sum it; the harness runs the VLLM wrapper with the HuggingFace formula "
                 "(oc_fidelity.VLLMSummedLoglikelihood), so the picks compare like with like "
                 "(winogrande.py docstring; test_winogrande_ref.py pins both formulas)",)
    return OCPlan(
        (f"from {CONFIGS}.winogrande.{cfg} import winogrande_datasets as _wg",),
        "datasets += [dict(_d, path=DATA + '/winogrande') for _d in _wg]",
        _in_order("winogrande", len(pb.samples)), notes)


# --- BBH -----------------------------------------------------------------------------------


@adapter("bbh")
def bbh(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``bbh_gen_5b92b0``: ``<task>.json`` with ``{"examples": [{"input", "target"}]}``; the
    CoT prompts are the config's own ``lib_prompt`` files, so they are compared too."""
    groups, places = by_group(pb, lambda s: s.subset)
    (root / "bbh").mkdir(parents=True, exist_ok=True)
    for task, group in groups.items():
        (root / "bbh" / f"{task}.json").write_text(json.dumps(
            {"examples": [{"input": s.input, "target": s.target} for s in group]},
            ensure_ascii=False), encoding="utf-8")
    return OCPlan(
        (f"from {CONFIGS}.bbh.bbh_gen_5b92b0 import bbh_datasets as _bbh",),
        f"datasets += [dict(_d, path=DATA + '/bbh') for _d in _bbh "
        f"if _d['name'] in {sorted(groups)!r}]",
        tuple(Located(f"bbh-{p.abbr}", p.index) for p in places))


# --- MATH ----------------------------------------------------------------------------------


@adapter("math")
def hendrycks_math(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``math_gen_265cce`` (base) and ``math_evaluatorv2_gen_265cce`` (chat; in 0.5.4
    ``deprecated_math_evaluatorv2_gen_265cce``): the same prompt. ``MATHDataset`` reads
    ``math.json``, one object keyed by id, in key order."""
    (root / "math").mkdir(parents=True, exist_ok=True)
    data = {str(i): {"problem": s.problem, "solution": s.solution, "level": s.level,
                     "type": s.subject} for i, s in enumerate(items(pb, MATHItem))}
    (root / "math" / "math.json").write_text(json.dumps(data, ensure_ascii=False),
                                             encoding="utf-8")
    cfg = "math_gen_265cce" if base(pb) else "deprecated_math_evaluatorv2_gen_265cce"
    notes: tuple[str, ...] = ()
    if base(pb):
        notes = ("0.5.4's math_gen_265cce scores with math_postprocess_v2 and MATHEvaluator "
                 "v2; evals' base half scores as the report did (math_postprocess, v1), so "
                 "extractions and verdicts may differ (reasoning_math/math.py docstring)",)
    return OCPlan(
        (f"from {CONFIGS}.math.{cfg} import math_datasets as _math",),
        "datasets += [dict(_d, path=DATA + '/math') for _d in _math]",
        _in_order("math", len(pb.samples)), notes)


# --- TheoremQA -----------------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def float_column_notes(answers: Sequence[str]) -> tuple[str, ...]:
    """pandas (under ``load_dataset('csv')``) reads the ``Answer`` column as floats when every
    answer of the slice is a number and one is not an integer: an integer reference "0" then
    reaches AccEvaluator as "0.0", which evals' (and the full 800-item file's text column)
    "0" does not equal. Named so that a per-item score difference on a small slice is not
    taken for evals'."""
    numbers = [_number(a) for a in answers]
    if not answers or None in numbers or all(a.lstrip("-").isdigit() for a in answers):
        return ()
    ints = [a for a in answers if a.lstrip("-").isdigit()]
    if not ints:
        return ()
    return (f"{len(ints)} integer references of this slice become floats in OpenCompass "
            f"(pandas infers a float Answer column when every answer is a number: "
            f"{ints[0]!r} is read as {str(float(ints[0]))!r}); the whole test.csv keeps text",)


@adapter("theoremqa")
def theoremqa(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``TheoremQA_gen_7009de`` (0.5.4: ``deprecated_TheoremQA_gen_7009de``): the legacy
    ``TheoremQADataset`` reads one ``test.csv`` (pandas, via ``load_dataset('csv')``)."""
    samples = items(pb, TheoremQAItem)
    write_csv(root / "TheoremQA" / "test.csv",
              [("Question", "Answer", "Answer_type"),
               *((s.question, s.target, s.answer_type) for s in samples)])
    return OCPlan(
        (f"from {CONFIGS}.TheoremQA.deprecated_TheoremQA_gen_7009de "
         "import TheoremQA_datasets as _tqa",),
        "datasets += [dict(_d, path=DATA + '/TheoremQA/test.csv') for _d in _tqa]",
        _in_order("TheoremQA", len(pb.samples)),
        (*float_column_notes([s.target for s in samples]),
            "a reply without 'answer is': TheoremQA_postprocess returns the whole reply as "
            "its extraction, evals records none (a parse failure) and scores it as "
            "OpenCompass does (right only when the whole reply equals the reference; "
            "test_theoremqa_ref.py pins the verdicts), so such items differ in the "
            "extraction column only"))


# --- MathBench -----------------------------------------------------------------------------

CIRCULAR = 4
"""``MathBenchDataset`` with ``with_circular`` writes each single-choice question as four
consecutive rows (rotations ABCD, BCDA, CDAB, DABC)."""
CIRCULAR_NOTE = ("single choice: a question is its four circular rotations (four requests, "
                 "four OpenCompass rows): prompts and outputs equal under all four, the "
                 "extraction is the four letters, the verdict CircularEvaluator's perf_4 "
                 "(right under every rotation) from its per-row references")


def mathbench_row(sample: MathBenchItem) -> dict[str, Any]:
    if "choice" in sample.name:
        return {"question": sample.question, "options": list(sample.options),
                "answer": sample.target}
    return {"question": sample.question, "answer": sample.target}


def _mathbench_places(places: Sequence[Located], pb: PlannedBenchmark) -> tuple[Located, ...]:
    """The rows of each item: its four rotations (evals' four requests) for single choice."""
    return tuple(Located(f"mathbench-{p.abbr}", p.index * span, span)
                 for p, s in zip(places, items(pb, MathBenchItem), strict=True)
                 for span in [CIRCULAR if "choice" in s.name else 1])


@adapter("mathbench")
def mathbench(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``mathbench_2024_gen_de9ff9`` (0.5.4: ``deprecated_mathbench_2024_gen_de9ff9``):
    ``<split>/<name>.jsonl`` per subset; a single-choice question spans its four rotations'
    rows."""
    groups, places = by_group(pb, lambda s: f"{s.split}-{s.name}")
    for group in groups.values():
        split, name = group[0].split, group[0].name
        write_jsonl(root / "mathbench" / split / f"{name}.jsonl", map(mathbench_row, group))
    abbrs = sorted(f"mathbench-{g}" for g in groups)
    notes = (CIRCULAR_NOTE,) if any("choice" in g for g in groups) else ()
    return OCPlan(
        (f"from {CONFIGS}.MathBench.deprecated_mathbench_2024_gen_de9ff9 "
         "import mathbench_datasets as _mb",),
        "datasets += [dict(_d, path=DATA + '/mathbench/' + _d['abbr'].split('-')[1]) "
        f"for _d in _mb if _d['abbr'] in {abbrs!r}]",
        _mathbench_places(places, pb), notes)
