"""GAOKAO-Bench, 0-shot, objective questions only (14 files, 1,781 questions); the summary is
OpenCompass's score-weighted ``GaokaoBench`` group (``summarizers/groups/GaokaoBench.py``).

Base models run OpenCompass ``GaokaoBench_mixed`` (``GaokaoBench_mixed_9af5ee``; the report's
``GaokaoBench_mixed_f2038e``): the single-choice files are PPL over ``{prefix}{question}\\n
【答案】X <eoa>`` (HUMAN and BOT joined by ``\\n``) and the chosen letter goes through the same
evaluator; multi-choice, multi-question and five-out-of-seven files generate (1024 tokens)
from ``{prefix}{question}``. Chat models run ``GaokaoBench_gen_5cfe9e``: everything generates.
As for AGIEval, ``Mode.PPL`` means "the mixed config" and each sample picks its request kind.

Scoring ports ``GaokaoBenchEvaluator`` per question type: points per blank (multi_choice: 2
for an exact set, 1 for a strict subset, else 0; the others 1 per right blank), a prediction
of the wrong length counts as all wrong. A subset's score is its points over its maximum,
and the benchmark's score the weighted mean of subset scores with OpenCompass's weights. Each
sample's score is the fraction of its points won, weighted by the points possible
(``Score.weight``), so the metric can rebuild the subset ratios. With ``limit`` some
subsets may be absent; their weights then drop out of the
denominator (OpenCompass divides by all 14 weights and would fail on a missing subset).

Data: the upstream ``Data/Objective_Questions/{keyword}.json`` (``{"example": [...]}``, each
with ``question``, ``answer`` list, ``score``) at ``gaokao/`` (shared data) or OpenCompass's
``GAOKAO-BENCH/data`` (also with its ``Multiple-choice_Questions`` folder name); ``evals data
fetch`` takes them from OpenLMLab/GAOKAO-Bench at a pinned commit.
"""
# ruff: noqa: E501  (the prefix prompts are verbatim prompt text)

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.benchmarks._choice import score_ppl
from evals.benchmarks.base import BenchmarkContext, Metric, load_local, only_text, register
from evals.data_sources import DataSpec, Layout, layout_files, remote
from evals.errors import DataError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerationParams,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
    Message,
    MetricValue,
    Mode,
    ModelKind,
    Prompt,
    Request,
    Response,
    Sample,
    SampleResult,
    Score,
    TextPrompt,
)

# OpenCompass configs/datasets/GaokaoBench/GaokaoBench_mixed_9af5ee.py ``_MCQ_prompts``
# (identical in GaokaoBench_gen_5cfe9e.py): keyword -> (question type, prefix prompt)
PROMPTS: dict[str, tuple[str, str]] = {
    '2010-2022_Math_II_MCQs': (
        'single_choice',
        (
            '请你做一道数学选择题\n'
            '请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：【答案】: A <eoa>\n'
            '完整的题目回答的格式如下：\n'
            '【解析】 ... <eoe>\n'
            '【答案】 ... <eoa>\n'
            '请你严格按照上述格式作答。\n'
            '题目如下：'
        ),
    ),
    '2010-2022_Math_I_MCQs': (
        'single_choice',
        (
            '请你做一道数学选择题\n'
            '请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：【答案】: A <eoa>\n'
            '完整的题目回答的格式如下：\n'
            '【解析】 ... <eoe>\n'
            '【答案】 ... <eoa>\n'
            '请你严格按照上述格式作答。\n'
            '题目如下：'
        ),
    ),
    '2010-2022_History_MCQs': (
        'single_choice',
        (
            '请你做一道历史选择题\n'
            '请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：【答案】: A <eoa>\n'
            '完整的题目回答的格式如下：\n'
            '【解析】 ... <eoe>\n'
            '【答案】 ... <eoa>\n'
            '请你严格按照上述格式作答。\n'
            '题目如下：'
        ),
    ),
    '2010-2022_Biology_MCQs': (
        'single_choice',
        (
            '请你做一道生物选择题\n'
            '请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：【答案】: A <eoa>\n'
            '完整的题目回答的格式如下：\n'
            '【解析】 ... <eoe>\n'
            '【答案】 ... <eoa>\n'
            '请你严格按照上述格式作答。\n'
            '题目如下：'
        ),
    ),
    '2010-2022_Political_Science_MCQs': (
        'single_choice',
        (
            '请你做一道政治选择题\n'
            '请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：【答案】: A <eoa>\n'
            '完整的题目回答的格式如下：\n'
            '【解析】 ... <eoe>\n'
            '【答案】 ... <eoa>\n'
            '请你严格按照上述格式作答。\n'
            '题目如下：'
        ),
    ),
    '2010-2022_Physics_MCQs': (
        'multi_choice',
        (
            '请你做一道物理选择题。\n'
            '请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出所有符合题意的答案，并写在【答案】和<eoa>之间。\n'
            '例如：【答案】 AB <eoa>\n'
            '完整的题目回答的格式如下：\n'
            '【解析】 ... <eoe>\n'
            '【答案】... <eoa>\n'
            '请你严格按照上述格式作答。\n'
        ),
    ),
    '2010-2022_Chemistry_MCQs': (
        'single_choice',
        (
            '请你做一道化学选择题\n'
            '请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：【答案】: A <eoa>\n'
            '完整的题目回答的格式如下：\n'
            '【解析】 ... <eoe>\n'
            '【答案】 ... <eoa>\n'
            '请你严格按照上述格式作答。\n'
            '题目如下：'
        ),
    ),
    '2010-2013_English_MCQs': (
        'single_choice',
        (
            '请你做一道英语选择题\n'
            '请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：【答案】: A <eoa>\n'
            '完整的题目回答的格式如下：\n'
            '【解析】 ... <eoe>\n'
            '【答案】 ... <eoa>\n'
            '请你严格按照上述格式作答。\n'
            '题目如下：'
        ),
    ),
    '2010-2022_Chinese_Modern_Lit': (
        'multi_question_choice',
        (
            '请你做一道语文阅读理解题，其中包含三个小题。\n'
            '请你一步一步思考。每一题你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：（1）【答案】 A <eoa>\n'
            '（2）【答案】 B <eoa>\n'
            '请你严格按照上述格式作答。\n'
        ),
    ),
    '2010-2022_English_Fill_in_Blanks': (
        'multi_question_choice',
        (
            '请你做一道英语完形填空题,其中包含二十个小题。\n'
            '请你一步一步思考。每一题你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：（1）【答案】 A <eoa>\n'
            '（2）【答案】 B <eoa>\n'
            '请你严格按照上述格式作答。\n'
        ),
    ),
    '2012-2022_English_Cloze_Test': (
        'five_out_of_seven',
        (
            '请回答下面的问题，将符合题意的五个选项的字母写在【答案】和<eoa>之间，例如“【答案】 A B C D E <eoa>\n'
            '请严格按照上述格式作答。\n'
        ),
    ),
    '2010-2022_Geography_MCQs': (
        'multi_question_choice',
        (
            '请你做一道地理选择题，其中包含两到三个小题。\n'
            '请你一步一步思考。每一题你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：（1）【答案】 A <eoa>\n'
            '（2）【答案】 B <eoa>\n'
            '请你严格按照上述格式作答。\n'
        ),
    ),
    '2010-2022_English_Reading_Comp': (
        'multi_question_choice',
        (
            '请你做一道英语阅读理解题，其中包含三到五个小题。\n'
            '请你一步一步思考。每一题你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：（1）【答案】 A <eoa>\n'
            '（2）【答案】 B <eoa>\n'
            '请你严格按照上述格式作答。\n'
        ),
    ),
    '2010-2022_Chinese_Lang_and_Usage_MCQs': (
        'multi_question_choice',
        (
            '请你做一道语文选择题\n'
            '请你一步一步思考并将思考过程写在【解析】和<eoe>之间。你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n'
            '例如：【答案】: A <eoa>\n'
            '完整的题目回答的格式如下：\n'
            '（1）【解析】 ... <eoe>\n'
            '【答案】 ... <eoa>\n'
            '（2）【解析】 ... <eoe>\n'
            '【答案】 ... <eoa>\n'
            '请你严格按照上述格式作答。如果不止一道题，请分别作答\n'
            '题目如下：'
        ),
    ),
}

# summarizers/groups/GaokaoBench.py
WEIGHTS: dict[str, float] = {
    "2010-2022_Math_II_MCQs": 1090, "2010-2022_Math_I_MCQs": 1070, "2010-2022_History_MCQs": 1148,
    "2010-2022_Biology_MCQs": 900, "2010-2022_Political_Science_MCQs": 1280,
    "2010-2022_Physics_MCQs": 384, "2010-2022_Chemistry_MCQs": 744, "2010-2013_English_MCQs": 105,
    "2010-2022_Chinese_Modern_Lit": 261, "2010-2022_English_Fill_in_Blanks": 900.0,
    "2012-2022_English_Cloze_Test": 260, "2010-2022_Geography_MCQs": 380,
    "2010-2022_English_Reading_Comp": 940, "2010-2022_Chinese_Lang_and_Usage_MCQs": 240,
}


@dataclass(frozen=True)
class GaokaoItem(Sample):
    keyword: str
    qtype: str
    question: str
    answer: tuple[str, ...]


def _load_local(root: Path) -> list[GaokaoItem]:
    items: list[GaokaoItem] = []
    for keyword, (qtype, _) in PROMPTS.items():
        path = next(
            (root / d / f"{keyword}.json" for d in ("Objective_Questions", "Multiple-choice_Questions")
             if (root / d / f"{keyword}.json").exists()),
            None,
        )
        if path is None:
            raise DataError(f"gaokao: {root}/Objective_Questions/{keyword}.json missing")
        with open(path, encoding="utf-8") as f:
            examples = json.load(f)["example"]
        for i, ex in enumerate(examples):
            answer = tuple(str(a) for a in ex["answer"])
            items.append(GaokaoItem(f"{keyword}/{i}", ",".join(answer), keyword, qtype, ex["question"], answer))
    return items


DATA = DataSpec(
    layouts=(Layout("upstream", "gaokao"), Layout("opencompass", "GAOKAO-BENCH/data")),
    remote=remote("gaokao"), items=None, license="Apache-2.0")
"""``items``: 1,781 objective questions; evals scores those of OpenCompass's ``_MCQ_prompts``."""


def postprocess(qtype: str, output: str, answer_length: int) -> list[str]:
    """``GaokaoBenchEvaluator.do_predictions_postprocess`` for the objective types."""
    if qtype == "single_choice":
        found = re.findall(r"[A-D]", output[::-1])
        return found[:1]
    if qtype == "multi_question_choice":
        tagged = re.findall(r"【答案】\s*[:：]*\s*[A-Z]", output)
        if len(tagged) == answer_length:
            return [re.findall(r"[A-Z]", t)[0] for t in tagged]
        return re.findall(r"[A-Z]", output)[:answer_length]
    if qtype == "multi_choice":
        content = re.sub(r"\s+", "", output)
        index = content.find("【答案】")
        tail = content[index:] if index > 0 else content[-10:]
        letters = "".join(re.findall(r"[A-D]", tail))
        return [letters] if letters else []
    if qtype == "five_out_of_seven":
        return re.findall(r"[A-G]", output)[:5]
    raise ValueError(f"not an objective question type: {qtype}")


def points(qtype: str, pred: Sequence[str], answer: Sequence[str]) -> tuple[float, float]:
    """``GaokaoBenchEvaluator.score`` for one question: (points won, points possible)."""
    if len(pred) != len(answer):
        pred = ["Z"] * len(answer)
    won, total = 0.0, 0.0
    for p, r in zip(pred, answer, strict=True):
        if qtype == "multi_choice":
            won += 2 if p == r else 1 if all(c in r for c in p) else 0
            total += 2
        else:
            won += p == r
            total += 1
    return won, total


def score_output(item: GaokaoItem, output: str) -> Score:
    pred = postprocess(item.qtype, output, len(item.answer))
    won, total = points(item.qtype, pred, item.answer)
    value = won / total if total else 0.0
    detail = f"points={won:g}/{total:g}"
    if len(pred) != len(item.answer):
        why = "no answer found" if not pred else f"{len(pred)} answers for {len(item.answer)} blanks"
        return Score(value, ",".join(pred) or None, parse_failed=True, detail=f"{detail}; {why}",
                     weight=total)
    return Score(value, ",".join(pred), detail=detail, weight=total)


def _points_of(r: SampleResult) -> tuple[float, float]:
    return r.score.value * r.score.weight, r.score.weight


@dataclass(frozen=True)
class WeightedGaokao(Metric):
    """Per subset: points won over points possible; overall: OpenCompass's weighted mean of
    subset scores. The stderr combines per-subset ratio-estimator stderrs with the weights."""

    aggregation = "weighted mean of subset point ratios"

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        groups: dict[str, list[tuple[float, float]]] = {}
        for r in results:
            groups.setdefault(r.group, []).append(_points_of(r))
        num = den = var = 0.0
        for key, pts in groups.items():
            w = WEIGHTS.get(key, 0.0)
            won, total = sum(p for p, _ in pts), sum(t for _, t in pts)
            ratio = won / total if total else 0.0
            n = len(pts)
            se = 0.0
            if n > 1 and total:
                resid = sum((p - ratio * t) ** 2 for p, t in pts) / (n - 1)
                se = math.sqrt(resid / n) / (total / n)
            num += w * ratio
            den += w
            var += (w * se) ** 2
        if not den:
            return MetricValue(self.name, 0.0, 0.0, self.higher_is_better)
        return MetricValue(self.name, 100 * num / den, 100 * math.sqrt(var) / den, self.higher_is_better)


def _user(text: str, kind: ModelKind) -> Prompt:
    return ChatPrompt((Message("user", text),)) if kind is ModelKind.CHAT else TextPrompt(text)


@register
class GaokaoBench:
    name = "gaokao"
    modes = (Mode.PPL, Mode.GEN)
    default_shots = 0
    metric = WeightedGaokao("score")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[GaokaoItem]:
        return load_local(self.name, ctx, DATA, {"upstream": _load_local,
                                                 "opencompass": _load_local})

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return [p for p in layout_files(DATA, ctx.data_dir) if p.suffix == ".json"
                and p.parent.name in ("Objective_Questions", "Multiple-choice_Questions")]

    def group(self, sample: GaokaoItem) -> str:
        return sample.keyword

    def requests(self, sample: GaokaoItem, ctx: BenchmarkContext) -> list[Request]:
        text = PROMPTS[sample.keyword][1] + sample.question
        if ctx.mode is Mode.PPL and sample.qtype == "single_choice":
            if ctx.kind is ModelKind.BASE:  # HUMAN "\n" BOT, as OpenCompass joins them
                return [LoglikelihoodRequest(TextPrompt(text + "\n【答案】"), f"{L} <eoa>") for L in "ABCD"]
            return [LoglikelihoodRequest(_user(text, ctx.kind), f"【答案】{L} <eoa>") for L in "ABCD"]
        params = GenerationParams(max_tokens=ctx.max_tokens or 1024)
        return [GenerateRequest(_user(text, ctx.kind), params)]

    def score(self, sample: GaokaoItem, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        if all(isinstance(r, LoglikelihoodResponse) for r in responses):
            ppl = score_ppl(responses, -1, ["A", "B", "C", "D"])  # only its choice is used
            letter = ppl.extracted or ""
            scored = score_output(sample, letter)
            return Score(scored.value, letter, detail=f"{scored.detail}; {ppl.detail}")
        text = only_text(responses)
        return score_output(sample, text)
