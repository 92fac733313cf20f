"""Typed records that cross module boundaries: samples, requests, responses, scores, results.

Everything written to disk carries ``SCHEMA_VERSION`` so readers can refuse files they do
not understand instead of misreading them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

SCHEMA_VERSION = 1
RESULTS_SCHEMA = 2
"""``results.json`` only: 2 carries each benchmark's metric definition (``MetricDefinition``),
so reports and gates need no benchmark code; 1 did not and is read with the definitions of
the version that wrote it (``evals.results.legacy``)."""


class Mode(StrEnum):
    """How a multiple-choice benchmark is asked: scored continuations or free generation."""

    PPL = "ppl"
    GEN = "gen"


class ModelKind(StrEnum):
    BASE = "base"
    CHAT = "chat"


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class TextPrompt:
    """Raw text fed to the model as is (base models, few-shot prompts)."""

    text: str


@dataclass(frozen=True)
class ChatPrompt:
    """A conversation rendered by the model's own chat template, ending in a generation prompt."""

    messages: tuple[Message, ...]


Prompt = TextPrompt | ChatPrompt


def prompt_to_json(prompt: Prompt) -> str | list[dict[str, str]]:
    if isinstance(prompt, TextPrompt):
        return prompt.text
    return [{"role": m.role, "content": m.content} for m in prompt.messages]


@dataclass(frozen=True)
class Sample:
    """One benchmark item. Benchmarks subclass it with their own typed fields."""

    id: str
    target: str


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0
    # How a prompt longer than the model's window is cut: "left" drops the oldest tokens
    # (OpenCompass's default); "middle" keeps the first and last halves, as LongBench and
    # L-Eval do so that both the instruction and the question survive.
    truncate: Literal["left", "middle"] = "left"
    # Top log-probabilities returned per generated token: a judge's preference weights
    # (AlpacaEval 2.0 reads P("m") vs P("M") from the first token). 0 = none.
    logprobs: int = 0


@dataclass(frozen=True)
class GenerateRequest:
    prompt: Prompt
    params: GenerationParams


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score ``continuation`` given ``context``; the context is scored too (for PPL modes)."""

    context: Prompt
    continuation: str


Request = GenerateRequest | LoglikelihoodRequest


TokenLogprobs = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class GenerateResponse:
    text: str
    prompt_tokens: int
    output_tokens: int
    finish_reason: str
    # Per generated token, the top (token text, logprob) pairs; only with params.logprobs > 0.
    top_logprobs: tuple[TokenLogprobs, ...] = ()
    # Prompt tokens served from the engine's prefix cache (vLLM), not prefilled again.
    cached_tokens: int = 0


@dataclass(frozen=True)
class LoglikelihoodResponse:
    """Log-probabilities of a (context, continuation) pair.

    ``logprob`` sums the continuation tokens; ``context_logprob`` sums the context tokens
    after the first (which has nothing to condition on) and ``context_tokens`` counts all
    context tokens, so OpenCompass's mean cross-entropy over the whole sequence is
    ``-(context_logprob + logprob) / (context_tokens + tokens)``. It is None when the
    options were scored in one pass over their shared context (see ``choice_groups``): the
    context's log-probability is then the same for every option and cancels out.
    ``cached_tokens`` counts context tokens the engine's prefix cache served.
    """

    logprob: float
    tokens: int
    is_greedy: bool
    context_logprob: float | None
    context_tokens: int
    cached_tokens: int = 0


Response = GenerateResponse | LoglikelihoodResponse


def request_key(request: Request) -> str:
    """Stable content hash of a request, the unit of de-duplication and caching."""
    payload = {"type": type(request).__name__, **_jsonable(request)}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _jsonable(obj: Any) -> dict[str, Any]:
    data = asdict(obj)
    params = data.get("params")
    if isinstance(params, dict) and not params.get("logprobs"):
        params.pop("logprobs", None)  # keeps the keys of requests made before the field existed
    if isinstance(getattr(obj, "prompt", None), TextPrompt | ChatPrompt):
        data["prompt"] = {"kind": type(obj.prompt).__name__, "value": prompt_to_json(obj.prompt)}
    if isinstance(getattr(obj, "context", None), TextPrompt | ChatPrompt):
        data["context"] = {"kind": type(obj.context).__name__, "value": prompt_to_json(obj.context)}
    return data


def response_to_json(response: Response) -> dict[str, Any]:
    return {"type": type(response).__name__, "schema": SCHEMA_VERSION, **asdict(response)}


def response_from_json(data: dict[str, Any]) -> Response:
    kind = data.get("type")
    fields = {k: v for k, v in data.items() if k not in ("type", "schema")}
    if kind == "GenerateResponse":
        tops = fields.pop("top_logprobs", ())
        return GenerateResponse(
            **fields,
            top_logprobs=tuple(tuple((str(t), float(lp)) for t, lp in pos) for pos in tops),
        )
    if kind == "LoglikelihoodResponse":
        return LoglikelihoodResponse(**fields)
    raise ValueError(f"unknown response type {kind!r}")


@dataclass(frozen=True)
class Judgement:
    """One judge call about one sample, kept with it so the judge can be audited from disk.

    ``label`` names the call ("turn1", "turn2", or the answer order "AB" = the evaluated
    model's answer shown first, "BA" = shown second). ``verdict`` is the parsed verdict as the
    judge wrote it ("8", "A", "m"); ``value`` the same on the protocol's scale (a 1-10 grade;
    for pairwise protocols the evaluated model's share of the win in [0, 1], whatever the
    order). Both are None when the judge's output could not be parsed: such a call is counted,
    never turned into a default grade.
    """

    label: str
    output: str
    verdict: str | None
    value: float | None

    @property
    def parse_failed(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class Score:
    """The outcome of scoring one sample.

    ``value`` is the primary metric's per-sample value. ``parse_failed`` marks an answer the
    extractor could not find; it is scored as wrong and counted separately, never guessed.
    ``extras`` holds secondary per-sample metrics (e.g. lm-eval's ``acc_norm``).
    """

    value: float
    extracted: str | None
    parse_failed: bool = False
    extras: tuple[tuple[str, float], ...] = ()
    detail: str = ""
    # How much the sample counts in a weighted aggregate: GAOKAO's points possible, with
    # ``value`` the fraction won (so ``value * weight`` is the points won).
    weight: float = 1.0
    judgements: tuple[Judgement, ...] = ()


@dataclass(frozen=True)
class SampleResult:
    """One line of ``predictions/<benchmark>.jsonl``."""

    sample_id: str
    group: str
    prompt: str | list[dict[str, str]]
    target: str
    outputs: tuple[str, ...]
    score: Score
    schema: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> SampleResult:
        score = data["score"]
        score = Score(
            value=score["value"],
            extracted=score["extracted"],
            parse_failed=score["parse_failed"],
            extras=tuple((k, v) for k, v in score["extras"]),
            detail=score["detail"],
            weight=score.get("weight", 1.0),
            judgements=tuple(Judgement(**j) for j in score.get("judgements", ())),
        )
        return SampleResult(
            sample_id=data["sample_id"],
            group=data["group"],
            prompt=data["prompt"],
            target=data["target"],
            outputs=tuple(data["outputs"]),
            score=score,
            schema=data["schema"],
        )


@dataclass(frozen=True)
class MetricValue:
    name: str
    value: float
    stderr: float
    higher_is_better: bool = True


@dataclass(frozen=True)
class MetricDefinition:
    """What a benchmark's primary number is, written beside it: name, the factor from a
    per-item value to the reported number (100 for fractions shown as percentages, 1 for 1-10
    judge grades), direction, whether it is a naive mean of group means (OpenCompass's
    subject averages), how it aggregates, and whether per-item values are win shares against
    a reference (paired tests compare those by signs)."""

    name: str
    scale: float = 100.0
    higher_is_better: bool = True
    by_group: bool = False
    aggregation: str = "mean over items"
    pairwise: bool = False


@dataclass(frozen=True)
class SkippedBenchmark:
    """A suite's benchmark that did not run because its data is missing (``--skip-missing``):
    in ``results.json`` and the manifest, so that reports and indexes show it as not run."""

    benchmark: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> SkippedBenchmark:
        return SkippedBenchmark(str(data["benchmark"]), str(data.get("reason", "")))


@dataclass(frozen=True)
class DimensionScore:
    """A report dimension's average of its benchmarks' primary scores (naive, or weighted by
    ``weights`` where the suite gives them); ``value`` is None while any member is missing,
    so a partial average is never shown as the score."""

    name: str
    value: float | None
    benchmarks: tuple[str, ...]
    missing: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()  # one per benchmark; () = equal weights

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> DimensionScore:
        return DimensionScore(data["name"], data["value"], tuple(data["benchmarks"]),
                              tuple(data["missing"]), tuple(data.get("weights", ())))


@dataclass(frozen=True)
class JudgeUsage:
    """What judging one benchmark took, and how often the judge's verdict was unreadable.

    ``flip_rate`` is the position bias: among samples judged in both answer orders with both
    verdicts readable (``flip_pairs``), the share whose winner (model, baseline or tie)
    changes when the order is swapped. None when no sample was judged in both orders.
    """

    judge: str
    calls: int
    cached: int
    parse_failures: int
    prompt_tokens: int
    output_tokens: int
    cost_usd: float
    seconds: float
    flip_rate: float | None = None
    flip_pairs: int = 0


@dataclass(frozen=True)
class BenchmarkResult:
    """One benchmark's line of ``results.json``."""

    benchmark: str
    mode: Mode
    shots: int
    n: int
    primary: MetricValue
    metric: MetricDefinition
    secondary: tuple[MetricValue, ...] = ()
    parse_failures: int = 0
    groups: tuple[tuple[str, float, int], ...] = field(default_factory=tuple)
    judge: JudgeUsage | None = None
    limit: int | None = None
    """The run's ``--limit`` (or the suite line's) for this benchmark; None for none."""
    total: int | None = None
    """Items of the full set the limit sliced (None in results written before it was
    recorded): a row with ``n < total`` is a smoke-sized one, not the paper's number."""

    @property
    def limited(self) -> bool:
        """Scored on a slice of the set: never to be placed beside full-set numbers unmarked."""
        if self.total is not None:
            return self.n < self.total
        return self.limit is not None and self.n <= self.limit

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> BenchmarkResult:
        """A line of a ``RESULTS_SCHEMA`` file (``evals.results.legacy`` upgrades older ones)."""
        judge = data.get("judge")
        return BenchmarkResult(
            benchmark=data["benchmark"],
            mode=Mode(data["mode"]),
            shots=data["shots"],
            n=data["n"],
            primary=MetricValue(**data["primary"]),
            metric=MetricDefinition(**data["metric"]),
            secondary=tuple(MetricValue(**m) for m in data["secondary"]),
            parse_failures=data["parse_failures"],
            groups=tuple((g, v, n) for g, v, n in data["groups"]),
            judge=JudgeUsage(**judge) if judge else None,
            limit=data.get("limit"),
            total=data.get("total"),
        )
