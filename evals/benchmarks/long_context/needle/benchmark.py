"""Needle in a haystack: every definition in ``needle_haystack/`` is a benchmark of its own.

A definition (``needle_haystack/<name>.yaml``) says which test, haystack, lengths, depths and
repeats; this package builds the cells: contexts sized in the evaluated model's own tokens,
needles at the sentence boundary nearest each depth, OpenCompass NeedleBench's prompts and
scorers. Each cell is one sample, so needle tests share the engine, cache and run directory
of every other benchmark, and any suite can list them (``- {name: single_needle_en,
lengths: [1000, 2000, 4000, 8000]}``). After scoring, the heatmap (PNG, SVG) and the
effective context length go to ``<run dir>/needle/<name>.*``, rebuilt from the predictions.

Contexts are built while the suite is planned, before the model loads; that needs the
model's tokenizer (its local folder, an ``embedded:`` name or a hub id) and its window
(``runner.max_model_len``, else the model config's ``max_position_embeddings``).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks.alignment._judged import JudgedBenchmark, answer_text, grade_score, judge_call
from evals.benchmarks.base import BENCHMARKS, BenchmarkContext, Metric
from evals.benchmarks.long_context.needle.cells import NeedleCell, build_cells, score_cell
from evals.benchmarks.long_context.needle.heatmap import CellRecord, effective_length, save_heatmap
from evals.benchmarks.long_context.needle.spec import NeedleTestSpec, load_spec
from evals.config import REPO_ROOT
from evals.data_sources import DataSpec, Layout, remote
from evals.errors import ConfigError, DataError
from evals.files import write_json
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    GenerationParams,
    Judgement,
    Message,
    MetricValue,
    Mode,
    ModelKind,
    Request,
    Response,
    Sample,
    SampleResult,
    Score,
    TextPrompt,
)

DEFINITIONS = REPO_ROOT / "needle_haystack"
# evals.benchmarks.long_context.needle.cells ids: L1000-D50-R0 (single), L1000-R0 (multi-retrieval),
# N3-L1000-D50-R0 (multi-reasoning), N11-R0 (ancestral trace: N people)
CELL_ID = re.compile(r"^(?:N(?P<people>\d+)-)?(?:L(?P<length>\d+)-)?(?:D(?P<depth>[\d.]+)-)?"
                     r"R(?P<repeat>\d+)$")


@dataclass(frozen=True)
class NeedleSample(Sample):
    cell: NeedleCell


def cell_record(result: SampleResult) -> CellRecord:
    """The heatmap coordinates of a scored sample, from its id (written by ``cells``)."""
    m = CELL_ID.match(result.sample_id)
    if not m:
        raise DataError(f"needle sample id {result.sample_id!r} is not a cell id")
    length = int(m["length"] or m["people"])
    return CellRecord(length, float(m["depth"] or 0), 100 * result.score.value, int(m["repeat"]))


def cell_records(results: Sequence[SampleResult]) -> list[CellRecord]:
    """Records of the scored cells; a cell whose judge verdict was unreadable (weight 0) is
    left out of means and heatmaps, and counted in the summary instead."""
    return [cell_record(r) for r in results if r.score.weight > 0]


class NeedleMetric(Metric):
    aggregation = "mean over items with a readable verdict"

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        scored = [r for r in results if r.score.weight > 0]
        if not scored:
            return MetricValue(self.name, math.nan, math.nan, self.higher_is_better)
        return super().aggregate(scored)

    def secondary(
        self, results: Sequence[SampleResult], ctx: BenchmarkContext | None = None
    ) -> tuple[MetricValue, ...]:
        records = cell_records(results)
        if not records:
            return ()
        eff = effective_length(records)
        return (MetricValue("effective_length", float(eff.length or 0), 0.0),)


@functools.lru_cache(maxsize=4)
def _tokenizer(source: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(source)


def _window(ctx: BenchmarkContext, name: str) -> int:
    if ctx.max_model_len:
        return ctx.max_model_len
    config = Path(ctx.model_path or "") / "config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_position_embeddings")
        if isinstance(value, int):
            return value
    raise DataError(f"{name}: the model's window is unknown; set runner.max_model_len in "
                    "evals.yaml")


PG_ESSAYS = "niah_haystack/PaulGrahamEssays"


class NeedleBenchmark:
    modes: tuple[Mode, ...] = (Mode.GEN,)
    default_shots = 0
    metric: Metric = NeedleMetric("score")

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    @functools.cached_property
    def data(self) -> DataSpec:
        """The haystack the definition names (none for the Ancestral Trace Challenge); Paul
        Graham's essays come pinned from gkamradt/LLMTest_NeedleInAHaystack."""
        haystack = self.spec.haystack
        if not haystack:
            return DataSpec(layouts=(), remote=None, items=None, license="-")
        pg = haystack == PG_ESSAYS
        opencompass = haystack.startswith("needlebench/")
        manual = (f"{haystack} ships in OpenCompass's data archive (data/{haystack}): `evals "
                  "data fetch --from <OpenCompass data/>`, or give another haystack in the "
                  "definition" if opencompass else f"put the haystack at <data_dir>/{haystack}")
        return DataSpec(layouts=(Layout("opencompass" if opencompass else "upstream", haystack),),
                        remote=remote("niah") if pg else None, items=None,
                        license="MIT (repo); essays (c) Paul Graham" if pg else "-",
                        manual="" if pg else manual)

    @functools.cached_property
    def spec(self) -> NeedleTestSpec:
        """Read once: ``requests`` needs it for every cell."""
        return load_spec(self.path)

    def load(self, ctx: BenchmarkContext) -> list[NeedleSample]:
        if self.data.layouts:
            self.data.require(self.name, ctx.data_dir)
        if not ctx.model_path:
            raise ConfigError(f"{self.name}: needle contexts are sized with the model's own "
                              "tokenizer; give the model as a local folder, an embedded: name "
                              "or a hub id (not a served model name)")
        spec = self.spec
        if ctx.repeats:
            spec = spec.model_copy(update={"repeats": ctx.repeats})
        tok = _tokenizer(ctx.model_path)
        render = None
        if ctx.kind is ModelKind.CHAT:
            def render(text: str) -> str:
                out: str = tok.apply_chat_template([{"role": "user", "content": text}],
                                                   tokenize=False, add_generation_prompt=True)
                return out
        cells = build_cells(spec, tok, ctx.data_dir, _window(ctx, self.name),
                            self._reserve(ctx, spec.reserve_tokens), ctx.lengths, render)
        return [NeedleSample(c.id, "", c) for c in cells]

    @staticmethod
    def _reserve(ctx: BenchmarkContext, default: int) -> int:
        return ctx.max_tokens or default

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return [self.path]

    def group(self, sample: NeedleSample) -> str:
        return str(sample.cell.length)

    def requests(self, sample: NeedleSample, ctx: BenchmarkContext) -> list[Request]:
        text = sample.cell.prompt
        prompt = (ChatPrompt((Message("user", text),)) if ctx.kind is ModelKind.CHAT
                  else TextPrompt(text))
        reserve = self._reserve(ctx, self.spec.reserve_tokens)
        return [GenerateRequest(prompt, GenerationParams(reserve))]

    def score(self, sample: NeedleSample, responses: Sequence[Response],
              ctx: BenchmarkContext) -> Score:
        (r,) = responses
        text = r.text if isinstance(r, GenerateResponse) else ""
        s = score_cell(sample.cell, text)
        return Score(s.score / 100, ",".join(s.found) or None, detail=s.detail)

    def with_judge(self) -> JudgedNeedleBenchmark:
        return JudgedNeedleBenchmark(f"{self.name}_judge", self.path)

    def write_artifacts(self, results: Sequence[SampleResult], ctx: BenchmarkContext,
                        out_dir: Path) -> None:
        records = cell_records(results)
        if not records:
            return
        folder = out_dir / "needle"
        folder.mkdir(parents=True, exist_ok=True)
        save_heatmap(records, folder, self.name)
        eff = effective_length(records)
        write_json(folder / f"{self.name}.json", {
            "schema": 1, "test": self.name, "threshold": eff.threshold,
            "effective_length": eff.length,
            "unreadable": len(results) - len(records),
            "by_length": [{"length": m.length, "mean": m.mean, "n": m.n} for m in eff.by_length],
            "cells": [{"length": c.length, "depth": c.depth, "score": c.score,
                       "repeat": c.repeat} for c in records],
        })


# OpenCompass 0.5.4's generic LLM-judge grader (configs/datasets/*/..._llmjudge_*.py,
# GRADER_TEMPLATE, Apache-2.0), used by its GenericLLMEvaluator: "A" correct, "B" incorrect.
GRADER_TEMPLATE = """
Please as a grading expert, judge whether the final answer given by the
candidate below is consistent with the standard answer, that is, whether the
candidate answered correctly.

Here are some evaluation criteria:
1. Please refer to the given standard answer. You don't need to re-generate the
answer to the question because the standard answer has been given. You only need
to judge whether the candidate's answer is consistent with the standard answer
according to the form of the question.
2. Because the candidate's answer may be different from the standard answer in
the form of expression, before making a judgment, please understand the question
and the standard answer first, and then judge whether the candidate's answer is
correct.
3. Some answers may be expressed in different ways, such as with commas,
currency symbols, units, or explanatory text, as long as the meaning expressed is
the same.
4. If the prediction contains the correct final answer but the rule evaluator
extracts another intermediate number, the prediction should still be judged
correct.

Please judge whether the following answer is consistent with the standard
answer. Just return "A" or "B", with no text around it.

A: CORRECT
B: INCORRECT

<Original Question Begin>:
{question}
<Original Question End>

<Gold Target Begin>:
{answer}
<Gold Target End>

<Predicted Answer Begin>:
{prediction}
<Predicted Answer End>
""".strip()
JUDGE_MAX_TOKENS = 128
_LETTER = re.compile(r"^\W*([AB])\b")
_WORD = re.compile(r"\b(INCORRECT|CORRECT)\b")


def gold_answer(cell: NeedleCell) -> str:
    """What the judge compares against: every needle's answer for retrieval, the chain's
    answer for reasoning, the single answer otherwise."""
    a = cell.answer
    if cell.kind == "multi_retrieval":
        return "; ".join(a.keywords)
    return a.reference if cell.kind == "multi_reasoning" else a.keywords[0]


def parse_grade(output: str) -> str | None:
    """"A" or "B" as the first word, else CORRECT/INCORRECT spelled out; None otherwise.
    Stricter than OpenCompass, which takes the first capital A or B anywhere in the text
    (so "As the grader..." reads as correct)."""
    text = output.strip()
    if m := _LETTER.match(text):
        return m[1]
    if m := _WORD.search(text.upper()):
        return "A" if m[1] == "CORRECT" else "B"
    return None


class JudgedNeedleBenchmark(JudgedBenchmark, NeedleBenchmark):
    """A needle test graded by the judge model (OpenCompass's generic LLM grader, correct or
    not, 100 or 0) instead of keyword hits; the model's prompts are the same, so its answers
    come from the response cache when the rule-scored test already ran."""

    def judge_requests(self, sample: NeedleSample, responses: Sequence[Response],
                       ctx: BenchmarkContext) -> list[GenerateRequest]:
        cell = sample.cell
        prompt = GRADER_TEMPLATE.format(question=cell.answer.question, answer=gold_answer(cell),
                                        prediction=answer_text(responses[0]))
        return [judge_call(None, prompt, JUDGE_MAX_TOKENS)]

    def score_judged(self, sample: NeedleSample, responses: Sequence[Response],
                     verdicts: Sequence[GenerateResponse], ctx: BenchmarkContext) -> Score:
        judgements = []
        for v in verdicts:
            grade = parse_grade(v.text)
            value = None if grade is None else float(grade == "A")
            judgements.append(Judgement("grade", v.text, grade, value))
        return grade_score(judgements)


for _path in sorted(DEFINITIONS.glob("*.yaml")):
    BENCHMARKS.register(_path.stem)(NeedleBenchmark(_path.stem, _path))
