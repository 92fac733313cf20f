"""MT-Bench: 80 two-turn questions, single-answer grading 1-10 per turn by a judge.

Follows FastChat's ``llm_judge`` (gen_model_answer.py, gen_judgment.py, common.py), whose data
files are the benchmark's: ``question.jsonl``, ``reference_answer/gpt-4.jsonl`` and the judge
prompts ``judge_prompts.jsonl`` (read from the data, not copied here).

- Answers: the model's own chat template, turn 2 sees turn 1's (stripped) answer; the
  temperature per category is FastChat's (writing/roleplay 0.7, stem/humanities 0.1, others
  greedy); 1024 new tokens.
- Judging: each turn separately, as FastChat does (OpenCompass judges one conversation with
  the second-turn prompt instead): turn 1 with ``single-v1``, turn 2 with
  ``single-v1-multi-turn``; math, reasoning and coding are reference-guided
  (``single-math-v1`` / ``single-math-v1-multi-turn`` with GPT-4's reference answers).
  Greedy judge, 2048 tokens.
- Verdict: ``[[x]]``, else ``[x]`` (FastChat's backup pattern); neither is a parse failure,
  recorded and left out of the mean (FastChat's -1, dropped by show_result.py).
- Score: the mean over all readable turn grades; per-turn means beside it, per-category
  means in the groups.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.benchmarks._io import read_jsonl
from evals.benchmarks.alignment._judged import (
    JudgedBenchmark,
    JudgeGrade,
    answer_params,
    answer_text,
    first_float,
    grade_score,
    judge_call,
)
from evals.benchmarks.base import BenchmarkContext, Defaults, load_local, mean_and_stderr, register
from evals.data_sources import DataSpec, Layout, remote
from evals.errors import DataError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    Judgement,
    Message,
    MetricValue,
    Mode,
    Request,
    Response,
    Sample,
    SampleResult,
    Score,
)

TEMPERATURE = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
               "reasoning": 0.0, "stem": 0.1, "humanities": 0.1}
NEED_REF = ("math", "reasoning", "coding")
MAX_TOKENS = 1024
RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
RATING_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")


@dataclass(frozen=True)
class MTBenchItem(Sample):
    category: str
    turns: tuple[str, ...]
    reference: tuple[str, ...] | None


@dataclass(frozen=True)
class JudgePrompt:
    system: str
    template: str


class TurnGrade(JudgeGrade):
    def secondary(
        self, results: Sequence[SampleResult], ctx: BenchmarkContext | None = None
    ) -> tuple[MetricValue, ...]:
        out = []
        for turn in ("turn1", "turn2"):
            grades = [j.value for r in results for j in r.score.judgements
                      if j.label == turn and j.value is not None]
            value, se = mean_and_stderr(grades) if grades else (math.nan, math.nan)
            out.append(MetricValue(turn, value, se))
        return tuple(out)


def _read(path: Path) -> list[MTBenchItem]:
    refs = {}
    ref_file = path.parent / "reference_answer" / "gpt-4.jsonl"
    if ref_file.is_file():
        for d in read_jsonl(ref_file):
            refs[d["question_id"]] = tuple(d["choices"][0]["turns"])
    items = []
    for d in read_jsonl(path):
        qid, category = d["question_id"], d["category"]
        ref = refs.get(qid)
        if category in NEED_REF and ref is None:
            raise DataError(f"{ref_file}: no reference answer for question {qid} ({category}); "
                            "MT-Bench needs FastChat's reference_answer/gpt-4.jsonl")
        items.append(MTBenchItem(str(qid), "", category, tuple(d["turns"]), ref))
    return items


@functools.lru_cache(maxsize=4)
def _judge_prompts(path: Path) -> dict[str, JudgePrompt]:
    if not path.is_file():
        raise DataError(f"{path}: MT-Bench judge prompts not found; put FastChat's "
                        "llm_judge/data/judge_prompts.jsonl there")
    prompts = {}
    for d in read_jsonl(path):
        prompts[d["name"]] = JudgePrompt(d["system_prompt"], d["prompt_template"])
    return prompts


DATA = DataSpec(
    layouts=(Layout("upstream", "mt_bench", ("question.jsonl", "judge_prompts.jsonl",
                                             "reference_answer/gpt-4.jsonl")),),
    remote=remote("mt_bench"), items=80, license="Apache-2.0")
"""FastChat's three files, which ``evals data fetch`` takes from lm-sys/FastChat at a pinned
commit: the questions, the judge prompts and GPT-4's reference answers (the hub's
``HuggingFaceH4/mt_bench_prompts`` carries human references instead, and no judge prompts,
so it cannot stand in)."""


@register
class MTBench(Defaults, JudgedBenchmark):
    name = "mt_bench"
    modes = (Mode.GEN,)
    default_shots = 0
    metric = TurnGrade("score", scale=1.0)

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[MTBenchItem]:
        items = load_local(self.name, ctx, DATA, {"upstream": lambda p: _read(p / "question.jsonl")})
        _judge_prompts(ctx.data_dir / "mt_bench" / "judge_prompts.jsonl")
        return items

    def group(self, sample: MTBenchItem) -> str:
        return sample.category

    def requests(self, sample: MTBenchItem, ctx: BenchmarkContext) -> list[Request]:
        return [self._ask(sample, [], ctx)]

    def follow_up(self, sample: MTBenchItem, responses: Sequence[Response],
                  ctx: BenchmarkContext) -> list[Request]:
        if len(responses) >= len(sample.turns):
            return []
        return [self._ask(sample, [answer_text(r) for r in responses], ctx)]

    def _ask(self, sample: MTBenchItem, answers: list[str],
             ctx: BenchmarkContext) -> GenerateRequest:
        messages: list[Message] = []
        for question, answer in zip(sample.turns, answers, strict=False):
            messages += [Message("user", question), Message("assistant", answer.strip())]
        messages.append(Message("user", sample.turns[len(answers)]))
        params = answer_params(ctx, MAX_TOKENS, TEMPERATURE.get(sample.category, 0.7))
        return GenerateRequest(ChatPrompt(tuple(messages)), params)

    def judge_requests(self, sample: MTBenchItem, responses: Sequence[Response],
                       ctx: BenchmarkContext) -> list[GenerateRequest]:
        prompts = _judge_prompts(ctx.data_dir / "mt_bench" / "judge_prompts.jsonl")
        answers = [answer_text(r).strip() for r in responses]
        kind = "single-math-v1" if sample.category in NEED_REF and sample.reference else "single-v1"
        ref = sample.reference or ()
        first = prompts[kind]
        calls = [judge_call(first.system, first.template.format(
            question=sample.turns[0], answer=answers[0],
            **({"ref_answer_1": ref[0]} if ref and kind != "single-v1" else {})))]
        if len(sample.turns) > 1:
            second = prompts[f"{kind}-multi-turn"]
            refs = ({"ref_answer_1": ref[0], "ref_answer_2": ref[1]}
                    if ref and kind != "single-v1" else {})
            calls.append(judge_call(second.system, second.template.format(
                question_1=sample.turns[0], question_2=sample.turns[1],
                answer_1=answers[0], answer_2=answers[1], **refs)))
        return calls

    def score_judged(self, sample: MTBenchItem, responses: Sequence[Response],
                     verdicts: Sequence[GenerateResponse], ctx: BenchmarkContext) -> Score:
        return grade_score([_judgement(f"turn{i + 1}", v.text) for i, v in enumerate(verdicts)])


def _judgement(label: str, text: str) -> Judgement:
    value = first_float(RATING, text)
    if value is None:
        value = first_float(RATING_BACKUP, text)
    return Judgement(label, text, None if value is None else f"{value:g}", value)
