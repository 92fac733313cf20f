"""AlpacaEval 2.0: 805 instructions, judged pairwise against GPT-4 Turbo's answers.

Follows alpaca_eval 0.6's ``weighted_alpaca_eval_gpt4_turbo`` annotator, the one the report
(through OpenCompass's AlpacaEvalTask) used:

- Answers: the instruction as one user turn, greedy, up to 4096 new tokens (OpenCompass's
  max_out_len for this set).
- Baseline: ``gpt4_1106_preview``'s outputs (the shared data's reference file).
- Judge prompt: ``alpaca_eval_clf_gpt4_turbo/alpaca_eval_clf.txt`` (below, verbatim; Apache-2.0),
  one token, top-5 logprobs. The preference is P("m") / (P("m") + P("M")) read from the
  first token's logprobs (``logprob_parser``, not binarized); when neither token is among
  them the verdict is unreadable (alpaca_eval's NaN). A judge that returns no logprobs at all
  gets the discrete verdict from its first character (OpenCompass's AlpacaSummarizer).
- Order: one seeded random order per instruction by default, as alpaca_eval randomizes
  (seeded here by the sample id rather than the instruction text); ``judge_order: both``
  averages the two orders and makes the flip rate measurable.
- Metrics: the weighted win rate (the report's number), the discrete one, and the
  length-controlled win rate of the AlpacaEval 2.0 paper (``evals.judging.lc_winrate``).
  The full LC GLM needs alpaca_eval's ``df_gamed.csv`` (instruction difficulty and the gamed
  baselines; hub dataset tatsu-lab/alpaca_eval): put it at ``alpaca_eval/df_gamed.csv``
  under data_dir. Without it the reduced GLM without instruction difficulty is fitted and
  reported under its own name, ``lc_win_rate_minimal``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.benchmarks._io import read_text
from evals.benchmarks.alignment._judged import (
    JudgedBenchmark,
    WinRate,
    answer_params,
    answer_text,
    discrete_win_rate,
    judge_call,
    orders,
    pairwise_score,
)
from evals.benchmarks.base import BenchmarkContext, load_local, register
from evals.data_sources import DataSpec, Layout, layout_files, remote
from evals.errors import DataError
from evals.judging.judge import MODEL_FIRST
from evals.judging.lc_winrate import Verdict, length_controlled, load_gamed
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

log = logging.getLogger(__name__)

REFERENCE = "alpaca_eval/alpaca_eval_v2_gpt4_1106_preview_reference.json.gz"
GAMED = "alpaca_eval/df_gamed.csv"
MAX_TOKENS = 4096

SYSTEM = (
    "You are a highly efficient assistant, who evaluates and selects the best large language "
    "model (LLMs) based on the quality of their responses to a given instruction. This process "
    "will be used to create a leaderboard reflecting the most accurate and human-preferred "
    "answers."
)
USER = '''I require a leaderboard for various large language models. I'll provide you with prompts given to these models and their corresponding outputs. Your task is to assess these responses, and select the model that produces the best output from a human perspective.

## Instruction

{{
    "instruction": """{instruction}""",
}}

## Model Outputs

Here are the unordered outputs from the models. Each output is associated with a specific model, identified by a unique model identifier.

{{
    {{
        "model_identifier": "m",
        "output": """{output_1}"""
    }},
    {{
        "model_identifier": "M",
        "output": """{output_2}"""
    }}
}}

## Task

Evaluate the models based on the quality and relevance of their outputs, and select the model that generated the best output. Answer by providing the model identifier of the best model. We will use your output as the name of the best model, so make sure your output only contains one of the following model identifiers and nothing else (no quotes, no spaces, no new lines, ...): m or M.

## Best Model Identifier'''  # noqa: E501


@dataclass(frozen=True)
class AlpacaItem(Sample):
    """``id`` is the instruction's position in the 805-item set (the LC GLM's instruction
    index); ``target`` the baseline's output."""

    instruction: str
    dataset: str
    baseline: str


class AlpacaWinRate(WinRate):
    def secondary(
        self, results: Sequence[SampleResult], ctx: BenchmarkContext | None = None
    ) -> tuple[MetricValue, ...]:
        items = [Verdict(index=int(r.sample_id),
                         preference=r.score.value if r.score.weight > 0 else None,
                         model_len=len(r.outputs[0]) if r.outputs else 0,
                         baseline_len=len(r.target))
                 for r in results]
        gamed_path = ctx.data_dir / GAMED if ctx else None
        gamed = load_gamed(gamed_path) if gamed_path and gamed_path.is_file() else None
        out = [discrete_win_rate(results)]
        try:
            lc = length_controlled(items, gamed)
        except ValueError as exc:  # no readable verdict, or no spread in lengths to fit
            log.warning("alpaca_eval: no length-controlled win rate (%s)", exc)
        else:
            out.append(MetricValue(lc.metric_name, lc.value, lc.stderr))
        return tuple(out)


def _read(path: Path) -> list[AlpacaItem]:
    try:
        rows = json.loads(read_text(path))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not AlpacaEval model outputs JSON ({exc})") from None
    return [AlpacaItem(str(i), r["output"], r["instruction"], r["dataset"], r["generator"])
            for i, r in enumerate(rows)]


DATA = DataSpec(
    layouts=(Layout("evals", REFERENCE), Layout("upstream", REFERENCE.removesuffix(".gz"))),
    remote=remote("alpaca_eval"), items=805, license="CC BY-NC 4.0 (data), Apache-2.0 (code)")
"""The 805 instructions with the AlpacaEval 2.0 baseline's (gpt4_1106_preview) outputs, which
``evals data fetch`` takes from tatsu-lab/alpaca_eval's ``results/`` at a pinned commit (the
hub's ``tatsu-lab/alpaca_eval`` is a loading script)."""


@register
class AlpacaEval(JudgedBenchmark):
    name = "alpaca_eval"
    modes = (Mode.GEN,)
    default_shots = 0
    metric = AlpacaWinRate("win_rate")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[AlpacaItem]:
        return load_local(self.name, ctx, DATA, {"evals": _read, "upstream": _read})

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return [*layout_files(DATA, ctx.data_dir),
                *[p for p in (ctx.data_dir / GAMED,) if p.is_file()]]

    def group(self, sample: AlpacaItem) -> str:
        return sample.dataset

    def requests(self, sample: AlpacaItem, ctx: BenchmarkContext) -> list[Request]:
        prompt = ChatPrompt((Message("user", sample.instruction),))
        return [GenerateRequest(prompt, answer_params(ctx, MAX_TOKENS))]

    def judge_requests(self, sample: AlpacaItem, responses: Sequence[Response],
                       ctx: BenchmarkContext) -> list[GenerateRequest]:
        answer = answer_text(responses[0])
        calls = []
        for order in orders(sample.id, ctx, default="random"):
            first, second = (answer, sample.target) if order == MODEL_FIRST else (
                sample.target, answer)
            user = USER.format(instruction=sample.instruction, output_1=first, output_2=second)
            calls.append(judge_call(SYSTEM, user, max_tokens=1, logprobs=5))
        return calls

    def score_judged(self, sample: AlpacaItem, responses: Sequence[Response],
                     verdicts: Sequence[GenerateResponse], ctx: BenchmarkContext) -> Score:
        labels = orders(sample.id, ctx, default="random")
        return pairwise_score([_judgement(o, v) for o, v in zip(labels, verdicts, strict=True)])


def p_first(verdict: GenerateResponse) -> float | None:
    """P(output_1 is better) = P("m") / (P("m") + P("M")) from the first token's top
    logprobs; the first character when the judge gave no logprobs; None if neither says."""
    if verdict.top_logprobs:
        found = {t: lp for t, lp in verdict.top_logprobs[0] if t in ("m", "M")}
        if not found:
            return None
        lm, lbig = found.get("m", -math.inf), found.get("M", -math.inf)
        top = max(lm, lbig)
        return math.exp(lm - top) / (math.exp(lm - top) + math.exp(lbig - top))
    text = verdict.text.strip()
    return {"m": 1.0, "M": 0.0}.get(text[:1]) if len(text) == 1 or text[1:2].isspace() else None


def _judgement(order: str, verdict: GenerateResponse) -> Judgement:
    p = p_first(verdict)
    if p is None:
        return Judgement(order, verdict.text, None, None)
    model_share = p if order == MODEL_FIRST else 1 - p
    read = f"P(m)={p:.4f}" if verdict.top_logprobs else f"text {verdict.text.strip()[:1]}"
    return Judgement(order, verdict.text, read, model_share)
