"""CompassArena: pairwise win rate against a baseline model's answers, judged in both orders.

Follows OpenCompass's CompassArena (``configs/datasets/subjective/compassarena/
compassarena_compare.py``, ``opencompass/datasets/subjective/compass_arena.py`` and
``opencompass/summarizers/subjective/compass_arena.py``; the report's run is
``configs/eval_subjective_compassarena.py`` at commit 02e7eec):

- Data: the 520 questions are internal to OpenCompass, so the set is the user's own, in
  OpenCompass's on-disk format: ``compass_arena/<subset>.json``, a JSON list of
  ``{"question", "capability", "others": {"reference": ...}}`` per subset (knowledge,
  language, math_v2, reason_v2, creationv2_zh). A missing or null reference becomes
  OpenCompass's placeholder reference (``DEFAULT_REF``), as ``CompassArenaDataset.load`` does.
- Baseline: the baseline model's answers (the report used gpt-4-1106-preview's) come from
  ``compass_arena/baseline/<subset>.jsonl``, one line per question: ``{"question_id": i}`` (the
  question's 0-based position in ``<subset>.json``, how OpenCompass keys its prediction
  files) or ``{"question": text}``, plus ``"answer"`` and ``"generator"`` (the baseline
  model's name, kept with every sample so reports can say who the baseline was).
- Answers: the question as one user turn, greedy, 2048 new tokens (the baseline's
  ``max_out_len``; ``max_tokens`` in the suite line overrides it).
- Judging: OpenCompass's Chinese rubric per subset (embedded below), one user turn to the
  judge, greedy, 1024 tokens (the report config's judge ``max_out_len``). Both answer orders
  (``infer_order='double'``); ``judge_order: random`` judges one seeded order per question.
  The placeholders are filled as OpenCompass's ``safe_format`` does: plain replacement, one
  field after the other (question, ref, prediction, prediction2).
- Verdict: the letter after the first 选择 (full-width colon) or ``Choice:`` (``CHOICE``,
  OpenCompass's ``post_process_compass_arena``). A or B for whichever side is the evaluated
  model is a win (1), C a tie (0.5: the report config's ``summary_type='half_add'``; the
  0.5.4 dataset config's ``'single'`` would score ties 0). No match is a parse failure,
  counted and left out, never a default.
- Win rate: 100 x (wins + ties / 2) / readable judgements, pooled over judgements as
  OpenCompass's summarizer does; per subset (the report's Fig. 16 categories) as secondary
  scores beside their naive mean, per ``subset/capability`` in the groups.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks._io import read_jsonl, read_text
from evals.benchmarks.alignment._judged import (
    JudgedBenchmark,
    WinRate,
    answer_text,
    ask_once,
    discrete_win_rate,
    judge_call,
    orders,
    pairwise_score,
)
from evals.benchmarks.base import BenchmarkContext, register
from evals.data_sources import DataSpec, Layout
from evals.errors import DataError
from evals.judging.judge import MODEL_FIRST
from evals.records import (
    GenerateRequest,
    GenerateResponse,
    Judgement,
    MetricValue,
    Mode,
    Request,
    Response,
    Sample,
    SampleResult,
    Score,
)

SUBSETS = ("knowledge", "language", "math_v2", "reason_v2", "creationv2_zh")
MAX_TOKENS = 2048
JUDGE_MAX_TOKENS = 1024
CHOICE = re.compile("(?:选择：|Choice: )([ABC])")
DEFAULT_REF = "满足用户需求，言之有理即可"
LAYOUT = (
    "<subset>.json (a JSON list of {question, capability, others: {reference}}) for subsets "
    f"{', '.join(SUBSETS)}, and the baseline's answers in baseline/<subset>.jsonl "
    "({question_id or question, answer, generator} per line)"
)

# --- OpenCompass's judge prompts, verbatim ---------------------------------------------------
# From OpenCompass 0.5.4, configs/datasets/subjective/compassarena/compassarena_compare.py
# (https://github.com/open-compass/opencompass), Copyright (c) OpenCompass Authors, licensed
# under the Apache License, Version 2.0. Only the names of the variables differ.

BASE_PROMPT = """

[回答1开始]
{prediction}
[回答1结束]

[回答2开始]
{prediction2}
[回答2结束]

根据评分要求，在以下 3 个选项中做出选择:
A. 回答1更好
B. 回答2更好
C. 回答1、2平局
并提供你的解释原因。

如果你认为回答1更好，你的输出应形如：
选择：A
原因：blahblah blahblah\n

如果你认为回答2更好，你的输出应形如：
选择：B
原因：blahblah blahblah\n

如果你认为回答1、2打成平手，你的输出应形如：
选择：C
原因：blahblah blahblah\n
"""

KNOWLEDGE_PROMPT = """
请根据提供的 评分要求，用户问题，参考答案 以及 相应的两个回答（回答1，回答2），判断两个回答中哪一个更好。
评分要求（重要性依次递减）:
1. 更好的回答能与参考答案吻合或表明参考答案的意思。
2. 在都准确答对问题的前提下，更好的回答能对知识点进行额外补充，且补充的知识准确无误。
3. 更好的回答更加符合与人类对话的习惯，包括语气、情调等。

[用户问题]
{question}

[参考答案]
{ref}
""" + BASE_PROMPT


LANGUAGE_PROMPT = """
请根据提供的 评分要求，用户问题 以及 相应的两个回答（回答1，回答2），判断两个回答中哪一个更好。
评分要求（重要性依次递减）:
1. 在有明确的参考答案的情况下，越贴近参考答案或表明了参考答案的意思的回答越好。
2. 更好的回答在语言表达上更流畅，更加符合与人类对话的习惯，包括语气、情调等
3. 在都准确答对问题的前提下，更好的回答能进行额外补充，且补充的内容准确无误。

[用户问题]
{question}

[参考答案]
{ref}
""" + BASE_PROMPT


MATH_PROMPT = """
请根据提供的 评分要求，用户问题，参考答案 以及 相应的两个回答（回答1，回答2），判断两个回答中哪一个更好。
评分要求（重要性依次递减）:
1. 更好的回答的答案能和参考答案一致。
2. 若两个回答的答案都与参考答案不一致，则更好的回答的推理过程应更加合理。
3. 更好的回答更加符合与人类对话的习惯，包括语气、情调等。

[用户问题]
{question}

[参考答案]
{ref}
""" + BASE_PROMPT

REASON_PROMPT = MATH_PROMPT
CREATION_PROMPT = """
请根据提供的 评分要求，用户问题 以及 相应的两个回答（回答1，回答2），判断两个回答中哪一个更好。
评分要求（重要性依次递减）:
1. 好的回答必须首先符合用户问题里的各种需求，不能跑题
2. 好的回答必须具有逻辑连贯性，围绕一个中心进行回答
3. 好的回答必须具有创造性的词语和表达丰富度

[用户问题]
{question}
""" + BASE_PROMPT

JUDGE_PROMPTS = {"knowledge": KNOWLEDGE_PROMPT, "language": LANGUAGE_PROMPT,
                 "math_v2": MATH_PROMPT, "reason_v2": REASON_PROMPT,
                 "creationv2_zh": CREATION_PROMPT}


@dataclass(frozen=True)
class ArenaItem(Sample):
    subset: str
    capability: str
    question: str
    ref: str  # OpenCompass's ``ref`` field: the reference answer, or its placeholder
    baseline: str
    generator: str


# --- prompts and verdicts ---------------------------------------------------------------------


def fill(template: str, fields: Sequence[tuple[str, str]]) -> str:
    """OpenCompass's ``safe_format``: each ``{name}`` replaced in turn, so braces elsewhere in
    the texts (code, LaTeX) are left alone rather than raising as ``str.format`` would."""
    for name, value in fields:
        template = template.replace("{" + name + "}", value)
    return template


def judge_prompt(item: ArenaItem, answer: str, order: str) -> str:
    """The subset's rubric with the two answers: in order "AB" the evaluated model's answer is
    回答1, in "BA" it is 回答2."""
    first, second = (answer, item.baseline) if order == MODEL_FIRST else (item.baseline, answer)
    return fill(JUDGE_PROMPTS[item.subset], (("question", item.question), ("ref", item.ref),
                                             ("prediction", first), ("prediction2", second)))


def parse_choice(text: str) -> str | None:
    m = CHOICE.search(text)
    return m.group(1) if m else None


def judgement(order: str, text: str) -> Judgement:
    """The verdict as the model's share of the win: A favours 回答1, B 回答2, C is a tie."""
    letter = parse_choice(text)
    if letter is None:
        return Judgement(order, text, None, None)
    model_letter = "A" if order == MODEL_FIRST else "B"
    value = 0.5 if letter == "C" else float(letter == model_letter)
    return Judgement(order, text, letter, value)


# --- metric ------------------------------------------------------------------------------------


def pooled_win_rate(results: Sequence[SampleResult]) -> tuple[float, float]:
    """OpenCompass's half_add rate: every readable judgement counts once (a question whose
    other order was unreadable weighs half). The stderr treats questions, not judgements, as
    the independent draws (the cluster stderr of a ratio; with two readable judgements per
    question it is the stderr of the per-question means)."""
    clusters = []
    for r in results:
        values = [j.value for j in r.score.judgements if j.value is not None]
        if values:
            clusters.append((sum(values), len(values)))
    total = sum(k for _, k in clusters)
    if not total:  # no readable verdict: no rate, rather than a 0 nobody gave
        return math.nan, math.nan
    mean = sum(s for s, _ in clusters) / total
    n = len(clusters)
    if n < 2:
        return mean, 0.0
    var = sum((s - mean * k) ** 2 for s, k in clusters) * n / (n - 1) / total**2
    return mean, math.sqrt(var)


class ArenaWinRate(WinRate):
    aggregation = "pooled win rate over readable judgements, ties half"

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        value, se = pooled_win_rate(results)
        return MetricValue(self.name, 100 * value, 100 * se, self.higher_is_better)

    def secondary(
        self, results: Sequence[SampleResult], ctx: BenchmarkContext | None = None
    ) -> tuple[MetricValue, ...]:
        """Each subset's win rate (OpenCompass's per-dataset rows), their naive mean (the
        report does not say whether its single number pools questions or averages subsets),
        and the win rate with each question's verdicts rounded to win / tie / loss."""
        per_subset = []
        for subset in SUBSETS:
            members = [r for r in results if r.sample_id.startswith(subset + "/")]
            if any(r.score.weight > 0 for r in members):  # no readable verdict: no rate, not 0
                value, se = pooled_win_rate(members)
                per_subset.append(MetricValue(subset, 100 * value, 100 * se))
        out = [discrete_win_rate(results), *per_subset]
        if per_subset:
            mean = sum(m.value for m in per_subset) / len(per_subset)
            se = math.sqrt(sum(m.stderr**2 for m in per_subset)) / len(per_subset)
            out.append(MetricValue("subset_mean", mean, se))
        return tuple(out)


# --- data ---------------------------------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not JSON ({exc}); expected {LAYOUT}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"{path}: expected a JSON list of question objects; layout: {LAYOUT}")
    return rows


@dataclass(frozen=True)
class BaselineAnswer:
    answer: str
    generator: str


def _baseline(path: Path) -> tuple[dict[int, BaselineAnswer], dict[str, BaselineAnswer]]:
    """The baseline's answers keyed by question position and by question text."""
    if not path.is_file():
        raise DataError(f"compass_arena: baseline answers not found at {path}; put the baseline "
                        "model's answers there, one JSON line {question_id or question, answer, "
                        "generator} per question")
    by_id: dict[int, BaselineAnswer] = {}
    by_text: dict[str, BaselineAnswer] = {}
    for n, d in enumerate(read_jsonl(path), 1):
        try:
            ans = BaselineAnswer(str(d["answer"]), str(d["generator"]))
            if "question_id" in d:
                by_id[int(d["question_id"])] = ans
            else:
                by_text[str(d["question"])] = ans
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}:{n}: not a baseline answer ({exc!r}); expected "
                            "{question_id or question, answer, generator}") from None
    return by_id, by_text


def _item(row: dict[str, Any], subset: str, i: int, path: Path,
          baseline: tuple[dict[int, BaselineAnswer], dict[str, BaselineAnswer]]) -> ArenaItem:
    try:
        question, capability = str(row["question"]), str(row["capability"])
        others = row.get("others") or {}
        ref = others.get("reference")
    except (KeyError, AttributeError) as exc:
        raise DataError(f"{path}: item {i} is not a CompassArena question ({exc!r}); "
                        f"expected {LAYOUT}") from None
    by_id, by_text = baseline
    base = by_id.get(i) or by_text.get(question)
    if base is None:
        raise DataError(f"{path.parent / 'baseline' / (subset + '.jsonl')}: no baseline answer for "
                        f"{subset} question {i} ({question[:40]!r}); add a line with its "
                        "question_id or question")
    return ArenaItem(id=f"{subset}/{i}", target="" if ref is None else str(ref), subset=subset,
                     capability=capability, question=question,
                     ref=DEFAULT_REF if ref is None else str(ref), baseline=base.answer,
                     generator=base.generator)


DATA = DataSpec(
    layouts=(Layout("user", "compass_arena"),), remote=None, items=None, license="-",
    manual=f"CompassArena's questions are internal to OpenCompass (no public download or hub "
           f"copy): supply your own set at <data_dir>/compass_arena: {LAYOUT}")


def _root(ctx: BenchmarkContext) -> Path:
    root = DATA.require("compass_arena", ctx.data_dir)[1]
    unknown = sorted(p.name for p in root.glob("*.json") if p.stem not in SUBSETS)
    if unknown:
        raise DataError(f"compass_arena: {root / unknown[0]} is not a CompassArena subset; name "
                        f"the files {', '.join(s + '.json' for s in SUBSETS)}")
    if not any((root / f"{s}.json").is_file() for s in SUBSETS):
        raise DataError(f"compass_arena: no subset file in {root}; expected {LAYOUT}")
    return root


@register
class CompassArena(JudgedBenchmark):
    name = "compass_arena"
    data = DATA
    modes = (Mode.GEN,)
    default_shots = 0
    metric = ArenaWinRate("win_rate")

    def load(self, ctx: BenchmarkContext) -> list[ArenaItem]:
        """Every subset file present (a user's set may cover only some of the five)."""
        root = _root(ctx)
        items = []
        for subset in SUBSETS:
            path = root / f"{subset}.json"
            if path.is_file():
                baseline = _baseline(root / "baseline" / f"{subset}.jsonl")
                items += [_item(row, subset, i, path, baseline)
                          for i, row in enumerate(_rows(path))]
        return items

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        root = ctx.data_dir / "compass_arena"
        files = [p for s in SUBSETS for p in (root / f"{s}.json", root / "baseline" / f"{s}.jsonl")]
        return [f for f in files if f.is_file()]

    def group(self, sample: ArenaItem) -> str:
        return f"{sample.subset}/{sample.capability}"

    def requests(self, sample: ArenaItem, ctx: BenchmarkContext) -> list[Request]:
        return [ask_once(sample.question, ctx, MAX_TOKENS)]

    def judge_requests(self, sample: ArenaItem, responses: Sequence[Response],
                       ctx: BenchmarkContext) -> list[GenerateRequest]:
        answer = answer_text(responses[0])
        return [judge_call(None, judge_prompt(sample, answer, order), JUDGE_MAX_TOKENS)
                for order in orders(sample.id, ctx, default="both")]

    def score_judged(self, sample: ArenaItem, responses: Sequence[Response],
                     verdicts: Sequence[GenerateResponse], ctx: BenchmarkContext) -> Score:
        labels = orders(sample.id, ctx, default="both")
        return pairwise_score([judgement(order, v.text)
                               for order, v in zip(labels, verdicts, strict=True)])
