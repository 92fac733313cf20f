"""Adapters (see adapters.py): Examination: cmmlu, ceval, agieval, gaokao."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from adapters import adapter, base, by_group, write_csv, write_jsonl
from harness import Located, OCPlan

from evals.run.runner import PlannedBenchmark


def _select(var: str, data: str, present: Sequence[str]) -> str:
    """Append the config's dataset dicts whose ``name`` is a subset evals planned, pointed
    at ``DATA + data``: a config lists every subject, and OpenCompass would fail on the
    files it then does not find."""
    return (f"datasets += [dict(_d, path=DATA + {data!r}) for _d in {var} "
            f"if _d['name'] in {sorted(present)!r}]")


def _located(prefix: str, places: Sequence[Located]) -> tuple[Located, ...]:
    return tuple(Located(prefix + p.abbr, p.index) for p in places)


@adapter("cmmlu")
def cmmlu(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``CMMLUDataset``: ``{dev,test}/{subject}.csv``, a header it skips and 7 columns
    (index, question, A-D, answer); the 5 shots are the dev file's rows 0-4."""
    groups, places = by_group(pb, lambda s: s.subject)
    for subject, items in groups.items():
        for split, rows in (("dev", items[0].shots), ("test", items)):
            write_csv(root / "cmmlu" / split / f"{subject}.csv", [
                ("", "Question", "A", "B", "C", "D", "Answer"),
                *((i, r.question, *r.options, r.target) for i, r in enumerate(rows))])
    cfg = "cmmlu_ppl_8b9c76" if base(pb) else "cmmlu_gen_c13365"
    return OCPlan(
        (f"from opencompass.configs.datasets.cmmlu.{cfg} import cmmlu_datasets as _cmmlu",),
        _select("_cmmlu", "/cmmlu", list(groups)),
        _located("cmmlu-", places))


@adapter("ceval")
def ceval(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``CEvalDataset``: ``{split}/{subject}_{split}.csv`` read by header, and it opens
    dev, val and test; test labels are hidden upstream and unused by the val configs, so
    the test file holds the header only (no rows: no ``test`` split)."""
    groups, places = by_group(pb, lambda s: s.subject)
    header = ("id", "question", "A", "B", "C", "D", "answer")
    for subject, items in groups.items():
        for split, rows in (("dev", items[0].shots), ("val", items), ("test", [])):
            write_csv(root / "ceval" / split / f"{subject}_{split}.csv", [
                header, *((i, r.question, *r.options, r.target) for i, r in enumerate(rows))])
    cfg = "ceval_ppl_578f8d" if base(pb) else "ceval_gen_5f30c7"
    return OCPlan(
        (f"from opencompass.configs.datasets.ceval.{cfg} import ceval_datasets as _ceval",),
        _select("_ceval", "/ceval", list(groups)),
        _located("ceval-", places))


@adapter("agieval")
def agieval(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``AGIEvalDataset_v2``: ``{task}.jsonl`` with ``passage``, ``question``, ``options``
    (a list it joins by newlines), ``label`` (else ``answer``). evals' item already holds
    passage + question and the joined options, so they go in as an empty passage and a
    one-element options list, which the loader turns back into exactly those strings."""
    groups, places = by_group(pb, lambda s: s.task)
    for task, items in groups.items():
        write_jsonl(root / "agieval" / f"{task}.jsonl", (
            {"passage": None, "question": s.question,
             "options": [s.options] if s.options else None,
             "label": s.target or None, "answer": None} for s in items))
    # mixed (PPL single choice, gen multi-choice/cloze) for base, all gen for chat
    cfg = "agieval_mixed_e33d83" if base(pb) else "agieval_gen_5c79b4"
    return OCPlan(
        (f"from opencompass.configs.datasets.agieval.{cfg} import agieval_datasets as _agi",),
        _select("_agi", "/agieval", list(groups)),
        _located("agieval-", places))


@adapter("gaokao")
def gaokao(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``GaokaoBenchDataset``: ``path + '/Multiple-choice_Questions/{keyword}.json'``, one
    ``{"example": [...]}`` per file. The configs also list the fill-in-the-blank and
    open-ended files, which evals does not run (objective questions only): filtered out."""
    groups, places = by_group(pb, lambda s: s.keyword)
    for keyword, items in groups.items():
        path = root / "gaokao" / "Multiple-choice_Questions" / f"{keyword}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [{"question": s.question, "answer": list(s.answer)} for s in items]
        path.write_text(json.dumps({"example": rows}, ensure_ascii=False), encoding="utf-8")
    cfg = "GaokaoBench_mixed_9af5ee" if base(pb) else "GaokaoBench_gen_5cfe9e"
    return OCPlan(
        (f"from opencompass.configs.datasets.GaokaoBench.{cfg} "
         "import GaokaoBench_datasets as _gk",),
        _select("_gk", "/gaokao", list(groups)),
        _located("GaokaoBench_", places),
        ("score: OpenCompass's column is the naive mean of the subsets present; evals' is "
         "the weighted GaokaoBench group (summarizers/groups/GaokaoBench.py) over the "
         "subsets present (gaokao.py docstring: absent subsets' weights drop out)",
         "per-item score: OpenCompass's is_correct is all blanks right, evals' score the "
         "fraction of points won (gaokao.py docstring), counted right when above 0: a "
         "multi-choice subset answer (1 of 2 points) or some right blanks of a "
         "multi-question item disagree by construction"))
