"""Adapters (see adapters.py): Language & knowledge: triviaqa, nq, c3, race_high, flores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar, cast

from adapters import adapter, base, by_group, write_jsonl
from harness import Located, OCPlan

from evals.benchmarks.language_knowledge._openqa import general_postprocess
from evals.benchmarks.language_knowledge.c3 import C3Item
from evals.benchmarks.language_knowledge.flores import LANGUAGES, FloresItem
from evals.benchmarks.language_knowledge.nq import NQItem
from evals.benchmarks.language_knowledge.race_high import RaceItem
from evals.benchmarks.language_knowledge.triviaqa import TriviaQAItem
from evals.records import Sample
from evals.run.runner import PlannedBenchmark

T = TypeVar("T", bound=Sample)
QA_FAMILY = (0, 1, 5, 25)
"""Shot counts of ``triviaqa_wiki_gen_d18bf4`` and ``nq_open_gen_e93f8a`` (one dataset each)."""


def _items(pb: PlannedBenchmark, cls: type[T]) -> list[T]:
    """evals' planned items as the benchmark module's own type."""
    if not all(isinstance(s, cls) for s in pb.samples):
        raise TypeError(f"{pb.benchmark.name}: items are not {cls.__name__}")
    return cast(list[T], pb.samples)


def _in_order(pb: PlannedBenchmark, abbr: str) -> tuple[Located, ...]:
    """One dataset holding evals' items in evals' order."""
    return tuple(Located(abbr, i) for i in range(len(pb.samples)))


# --- open-domain QA (FixK families: one dataset per shot count) ----------------------------


def _member(pb: PlannedBenchmark, have: int) -> int:
    """The family member to run: evals' shot count when the config has it, else the nearest
    larger one the written train rows can supply (FixK takes train ids 0..k-1)."""
    fits = [k for k in QA_FAMILY if pb.ctx.shots <= k <= have]
    if not fits:
        raise SystemExit(f"{pb.benchmark.name}: no k in {QA_FAMILY} fits {pb.ctx.shots} shots")
    return fits[0]


def _qa_notes(pb: PlannedBenchmark, k: int, refs: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The documented deviations (evals' docstrings) that this selection meets."""
    name, notes = pb.benchmark.name, []
    if k != pb.ctx.shots:
        notes.append(f"{name}: evals runs {pb.ctx.shots} shots (its docstring: the report's "
                     f"table header); the config's family has k in {list(QA_FAMILY)}, so "
                     f"OpenCompass's {k}-shot member runs on the same train rows: its prompts "
                     f"carry {k - pb.ctx.shots} more shot(s) before the question, the rest "
                     "identical")
    empty = [s.id for s, r in zip(pb.samples, refs, strict=True)
             if any(not general_postprocess(a) for a in r)]
    if empty:
        more = ", ..." if len(empty) > 10 else ""
        notes.append(f"{name}: {len(empty)} item(s) ({', '.join(empty[:10])}{more}) have a "
                     "reference that normalises to ''; OpenCompass's evaluator counts it a "
                     "substring of any answer (always correct), evals drops it "
                     "(_openqa.score_aliases; upstream's value is its accuracy_oc)")
    return tuple(notes)


@adapter("triviaqa")
def triviaqa(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``TriviaQADatasetV2``: ``triviaqa-{validation,train}.jsonl``; validation answers are the
    alias lists, train answers are rendered as is by ``A: {answer}.``, so a string."""
    items = _items(pb, TriviaQAItem)
    shots = list(items[0].shots) if items else []
    k = _member(pb, len(shots))
    write_jsonl(root / "triviaqa" / "triviaqa-validation.jsonl",
                ({"question": s.question, "answer": list(s.aliases)} for s in items))
    write_jsonl(root / "triviaqa" / "triviaqa-train.jsonl",
                ({"question": q, "answer": a} for q, a in shots))
    abbr = f"triviaqa_wiki_{k}shot"
    return OCPlan(
        ("from opencompass.configs.datasets.triviaqa.triviaqa_wiki_gen_d18bf4 "
         "import triviaqa_datasets as _trivia",),
        f"datasets += [dict(_d, path=DATA + '/triviaqa') for _d in _trivia "
        f"if _d['abbr'] == {abbr!r}]",
        _in_order(pb, abbr), _qa_notes(pb, k, [s.aliases for s in items]))


@adapter("nq")
def nq(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``NQOpenDataset``: ``nq-open-{validation,train}.jsonl`` with answer lists (the loader
    keeps a train row's first answer, the one evals' shots use)."""
    items = _items(pb, NQItem)
    shots = list(items[0].shots) if items else []
    k = _member(pb, len(shots))
    write_jsonl(root / "nq_open" / "nq-open-validation.jsonl",
                ({"question": s.question, "answer": list(s.answers)} for s in items))
    write_jsonl(root / "nq_open" / "nq-open-train.jsonl",
                ({"question": q, "answer": [a]} for q, a in shots))
    abbr = f"nq_open_{k}shot"
    return OCPlan(
        ("from opencompass.configs.datasets.nq.nq_open_gen_e93f8a import nq_datasets as _nq",),
        f"datasets += [dict(_d, path=DATA + '/nq_open') for _d in _nq if _d['abbr'] == {abbr!r}]",
        _in_order(pb, abbr), _qa_notes(pb, k, [s.answers for s in items]))


# --- reading comprehension -----------------------------------------------------------------


@adapter("c3")
def c3(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """CLUE's ``dev_0.json`` (one JSON list of ``[lines, questions, id]``), which both
    ``C3Dataset`` (PPL) and ``C3Dataset_V2`` (gen) read: one record per item, so that the
    loaders' rows are evals' items in order."""
    items = _items(pb, C3Item)
    records = [[list(s.lines), [{"question": s.question, "choice": list(s.choices),
                                 "answer": s.choices["ABCD".index(s.target)]}], s.id]
               for s in items]
    path = root / "c3" / "dev_0.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    cfg = "CLUE_C3_ppl_e24a31" if base(pb) else "CLUE_C3_gen_8c358f"
    short = sum(len(s.choices) < 4 for s in items)
    notes = (f"c3: {short} of {len(items)} items have fewer than 4 choices; C3Dataset pads "
             "them with copies of the first, so OpenCompass scores 4 PPL prompts where evals "
             "scores only the real choices (its docstring: a copy ties with the first choice "
             "and ties go to the earlier one, same prediction)",) if base(pb) and short else ()
    return OCPlan(
        (f"from opencompass.configs.datasets.CLUE_C3.{cfg} import C3_datasets as _c3",),
        "datasets += [dict(_d, path=DATA + '/c3/dev_0.json') for _d in _c3]",
        _in_order(pb, "C3"), notes)


@adapter("race_high")
def race_high(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``RaceDataset``: ``{validation,test}/high.jsonl`` (HF ``ehovy/race`` rows); the
    validation split (the index set, unused by the 0-shot ZeroRetriever) repeats the items."""
    rows = [{"example_id": s.id.rsplit("/", 1)[0], "article": s.article, "question": s.question,
             "options": list(s.options), "answer": s.target} for s in _items(pb, RaceItem)]
    for split in ("validation", "test"):
        write_jsonl(root / "race" / split / "high.jsonl", rows)
    cfg = "race_ppl_a138cd" if base(pb) else "race_gen_69ee4f"
    return OCPlan(
        (f"from opencompass.configs.datasets.race.{cfg} import race_datasets as _race",),
        "datasets += [dict(_d, path=DATA + '/race') for _d in _race "
        "if _d['abbr'] == 'race-high']",
        _in_order(pb, "race-high"))


# --- translation ---------------------------------------------------------------------------

FLORES_NEEDS = ("sentence_transformers", "faiss")
"""``TopkRetriever`` (the only retriever of OpenCompass 0.5.4's FLORES configs) imports
these, and downloads ``all-mpnet-base-v2`` and the ``gpt2-xl`` tokenizer from the hub."""


@adapter("flores")
def flores(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``FloresFirst100Dataset`` reads ``{dev,devtest}/{code}.{split}`` per language, shared by
    every direction of that language; each direction gets a folder of its own, its devtest
    the items in evals' order, its dev (TopK's index set) evals' shots.

    The datasets are added only where TopkRetriever's modules import: an infer task that
    fails stops every dataset after it in OpenCompass's single-worker task."""
    _items(pb, FloresItem)
    groups, places = by_group(pb, lambda s: s.direction)
    for direction, items in groups.items():
        _flores_direction(root / "flores" / direction, items)
    needs = f"all(__import__('importlib.util').util.find_spec(_m) for _m in {FLORES_NEEDS!r})"
    return OCPlan(
        ("from opencompass.configs.datasets.flores.flores_gen_806ede "
         "import flores_datasets as _flores",),
        f"datasets += [dict(_d, path=DATA + '/flores/' + _d['abbr'].removeprefix('flores_100_'))"
        f" for _d in _flores if _d['abbr'].removeprefix('flores_100_') in {sorted(groups)!r}]"
        f" if {needs} else []",
        tuple(Located(f"flores_100_{p.abbr}", p.index) for p in places),
        _flores_notes(pb))


def _flores_direction(folder: Path, items: Sequence[FloresItem]) -> None:
    src, tgt = (LANGUAGES[x][0] for x in items[0].direction.split("-"))
    shots = items[0].shots
    columns = {
        ("devtest", src): [s.source for s in items], ("devtest", tgt): [s.target for s in items],
        ("dev", src): [a for a, _ in shots], ("dev", tgt): [b for _, b in shots],
    }
    for (split, code), lines in columns.items():
        path = folder / split / f"{code}.{split}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")


def _flores_notes(pb: PlannedBenchmark) -> tuple[str, ...]:
    return (
        "flores: flores_gen_806ede's only retriever is TopkRetriever (ice_num=8), which needs "
        f"{', '.join(FLORES_NEEDS)} and the hub models all-mpnet-base-v2 / gpt2-xl; where they "
        "do not import, OpenCompass runs no FLORES dataset (no prompts to compare)",
        f"flores: evals' deliberate deviation (its docstring): {pb.ctx.shots} fixed shots in "
        "file order instead of TopK's 8 nearest dev sentences per item; the dev split written "
        "holds exactly evals' 8 candidate shots, so TopK can only reorder them (by similarity)",
        "flores: evals cuts every reply to its first line (its docstring); flores_gen_806ede "
        "applies flores_postprocess only where the target is zho_simpl and scores the raw "
        "reply elsewhere, so replies of several lines are scored differently",
    )
