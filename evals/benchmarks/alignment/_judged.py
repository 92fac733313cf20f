"""Pieces shared by the judged benchmarks: judge call settings, the grade metric, and
pairwise answer orders and win rates.

Pairwise verdicts are stored as the evaluated model's share of the win in [0, 1] (1 = model
better, 0 = baseline better, 0.5 = tie), whichever position the model's answer had, so win
rates, order averaging and the flip rate (evals.judging.judge) never need to know the order.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from typing import Any, Literal

from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import BenchmarkContext, Metric, mean_and_stderr
from evals.errors import DataError
from evals.judging.judge import MODEL_FIRST, MODEL_SECOND
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    GenerationParams,
    Judgement,
    Message,
    MetricValue,
    Response,
    SampleResult,
    Score,
)

JUDGE_SEED = 0


class JudgedBenchmark:
    """Base of the judged benchmarks: the plain ``score`` the Benchmark protocol asks for
    exists, but only the runner's judge phase (``score_judged``) can score them."""

    name: str

    def score(self, sample: Any, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        raise DataError(f"{self.name} is scored by a judge; configure 'judge:' in evals.yaml")


def answer_text(response: Response) -> str:
    return response.text if isinstance(response, GenerateResponse) else ""


def judge_call(system: str | None, user: str, max_tokens: int = 2048,
               logprobs: int = 0) -> GenerateRequest:
    """Judges answer greedily (temperature 0), as FastChat, AlpacaEval and OpenCompass ask."""
    messages = ([Message("system", system)] if system else []) + [Message("user", user)]
    return GenerateRequest(ChatPrompt(tuple(messages)),
                           GenerationParams(max_tokens=max_tokens, logprobs=logprobs))


def answer_params(ctx: BenchmarkContext, default_max_tokens: int,
                  temperature: float = 0.0) -> GenerationParams:
    return GenerationParams(max_tokens=ctx.max_tokens or default_max_tokens,
                            temperature=temperature, seed=JUDGE_SEED)


def ask_once(question: str, ctx: BenchmarkContext, default_max_tokens: int) -> GenerateRequest:
    """The question as OpenCompass's single HUMAN round (the chat template for chat models,
    raw text for base models), answered greedily."""
    return GenerateRequest(rounds_to_prompt([Round("HUMAN", question)], ctx.kind),
                           answer_params(ctx, default_max_tokens))


class JudgeGrade(Metric):
    """The mean of every readable grade (FastChat's MT-Bench score: turn-level, judgements
    that could not be parsed left out and counted), on the judge's own 1-10 scale; NaN when
    no verdict was readable, rather than a score nobody gave."""

    aggregation = "mean of readable judge grades"

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        grades = [j.value for r in results for j in r.score.judgements if j.value is not None]
        value, se = mean_and_stderr(grades) if grades else (math.nan, math.nan)
        return MetricValue(self.name, value, se, self.higher_is_better)


def grade_score(judgements: Sequence[Judgement]) -> Score:
    """A sample's Score from its graded judgements: the mean readable grade, weighted by how
    many there are; a failed parse marks the sample."""
    grades = [j.value for j in judgements if j.value is not None]
    return Score(
        value=sum(grades) / len(grades) if grades else 0.0,
        extracted=",".join(j.verdict or "?" for j in judgements),
        parse_failed=len(grades) < len(judgements),
        weight=float(len(grades)),
        judgements=tuple(judgements),
    )


def first_float(pattern: re.Pattern[str], text: str) -> float | None:
    m = pattern.search(text)
    if not m:
        return None
    try:
        value = float(m.group(1))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --- pairwise ----------------------------------------------------------------------------

Order = Literal["both", "random"]


def orders(sample_id: str, ctx: BenchmarkContext, default: Order) -> tuple[str, ...]:
    """The answer orders a sample is judged in: both, or one drawn from a seed and the
    sample's id (stable across runs and machines, independent of the sample's position)."""
    if (ctx.judge_order or default) == "both":
        return (MODEL_FIRST, MODEL_SECOND)
    rng = random.Random(f"{JUDGE_SEED}:{sample_id}")
    return (rng.choice((MODEL_FIRST, MODEL_SECOND)),)


def pairwise_score(judgements: Sequence[Judgement]) -> Score:
    """The mean of the readable verdicts (both orders averaged); unreadable ones are counted
    and left out, and a sample with none is a parse failure that no win rate includes."""
    values = [j.value for j in judgements if j.value is not None]
    return Score(
        value=sum(values) / len(values) if values else 0.0,
        extracted=",".join(f"{j.label}:{j.verdict or '?'}" for j in judgements),
        parse_failed=len(values) < len(judgements),
        weight=float(bool(values)),
        judgements=tuple(judgements),
    )


class WinRate(Metric):
    """Win rate against the baseline in %, ties counted half: the mean over samples with a
    readable verdict of the model's share of the win (its stderr over those samples)."""

    aggregation = "win rate over readable verdicts, ties half"
    pairwise = True

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        values = [r.score.value for r in results if r.score.weight > 0]
        value, se = mean_and_stderr(values) if values else (math.nan, math.nan)
        return MetricValue(self.name, 100 * value, 100 * se, self.higher_is_better)


def discrete_win_rate(results: Sequence[SampleResult]) -> MetricValue:
    """Each readable verdict rounded to win / tie / loss before averaging."""
    values = [1.0 if r.score.value > 0.5 else 0.0 if r.score.value < 0.5 else 0.5
              for r in results if r.score.weight > 0]
    value, se = mean_and_stderr(values) if values else (math.nan, math.nan)
    return MetricValue("discrete_win_rate", 100 * value, 100 * se)
