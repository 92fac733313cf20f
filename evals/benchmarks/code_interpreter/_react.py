"""The ReAct code-interpreter loop shared by GSM8K, MATH and MathBench with tools.

The InternLM2 report's protocol (appendix figures 20-21; OpenCompass's ``gsm8k_agent`` config
with lagent's ReAct and ``CodeAgent``), in our own words: an instruction says the model may
run Python by writing a fenced ``python`` block and must end with ``Final Answer: ...``; the
few-shot exemplars are earlier chat turns, each tool reply given back as a user message.

Each round of the runner is one engine call batched across samples; ``follow_up`` parses the
last reply: a final answer (which wins over a code block, as in lagent's ReAct parser) or a
reply with neither ends the sample; a code block is run and its observation asked about next.
The final answer is read as lagent's ``ReActProtocol.parse`` reads its finish action:
everything after the last ``Final Answer:`` (case-sensitive; stripped here), which the
benchmark's own answer extraction then reads.
At most ``MAX_TOOL_CALLS`` cells run per sample; a further code reply ends the sample as a
parse failure (lagent's force-stop turn is not reproduced).

State: keeping one live interpreter per sample across rounds would mean hundreds of processes
waiting on the engine, so each round opens a fresh session, replays the sample's earlier cells
(the namespace ends up as a live session's would, for deterministic code) and runs the new one.
Observations are remembered, keyed by the sample and the exact cells that led to them, so that
``score`` can write the transcript without running anything; when they are missing (a resumed
run in a new process) they are replayed.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, TypeVar

from evals.benchmarks.base import BenchmarkContext, Metric
from evals.errors import ConfigError, DataError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    GenerationParams,
    Message,
    Mode,
    ModelKind,
    Request,
    Response,
    Sample,
    Score,
)
from evals.sandbox.tools import CellMemo, CellResult, InterpreterSession, SessionLimits

S = TypeVar("S", bound=Sample)

MAX_TOOL_CALLS = 5
OBSERVATION_CHARS = 1000
"""What the model is shown of one cell's output (head and tail kept)."""
CODE_CHARS = 2000
"""What the stored transcript keeps of one cell's code."""
OBSERVATION_PREFIX = "Observation:\n"
_CODE = re.compile(r"```(?:python|py)[ \t]*\n(.*?)```", re.S | re.I)
FINISH = "Final Answer:"
"""lagent's ReAct finish marker."""
_STATUS = {"error": "Error", "timeout": "Timed out", "dead": "Interpreter stopped"}

INSTRUCTION = """\
You solve problems with the help of a Python interpreter.
To use it, think briefly about the next step, then write one Python program in a fenced block:
```python
# your code
```
and stop there. The interpreter runs the block and tells you what it printed, the value of \
its last expression, or the error it raised. It is one session: variables, functions and \
imports stay defined for your later blocks. Never write the interpreter's reply yourself.
When you know the answer, write a last line "Final Answer: " followed by the answer alone."""


@dataclass(frozen=True)
class Step:
    """One tool call of an exemplar: the model's reply with code and what the tool said."""

    reply: str
    observation: str


@dataclass(frozen=True)
class Exemplar:
    question: str
    steps: tuple[Step, ...]
    answer: str
    """The closing reply, ending in ``Final Answer: ...``."""


@dataclass(frozen=True)
class Reply:
    """What a model reply asks for: ``final`` when it answers, else ``code`` to run."""

    code: str | None
    final: str | None


def parse_reply(text: str) -> Reply:
    if FINISH in text:
        return Reply(None, text.split(FINISH)[-1].strip())
    code = _CODE.search(text)
    return Reply(code.group(1) if code else None, None)


def clip(text: str, limit: int) -> str:
    """Head and tail: an error's type is on a traceback's last line, a result on its first."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n...[{len(text) - 2 * half} characters cut]...\n{text[-half:]}"


def format_observation(cell: CellResult) -> str:
    parts = [cell.stdout.rstrip()] if cell.stdout.strip() else []
    if cell.value is not None:
        parts.append(cell.value)
    if cell.status != "ok":
        parts.append(f"{_STATUS[cell.status]}:\n{cell.error or ''}".rstrip())
    return clip("\n".join(parts) or "(no output)", OBSERVATION_CHARS)


def replay(cells: Sequence[str], limits: SessionLimits, hide: tuple[str, ...]) -> list[str]:
    """Every cell's observation, run in order in one fresh session."""
    with InterpreterSession(limits, hide=hide) as session:
        return [format_observation(session.run(code)) for code in cells]


def _text(response: Response) -> str:
    assert isinstance(response, GenerateResponse)
    return response.text


class ReactBenchmark(ABC, Generic[S]):
    """A benchmark asked through the interpreter loop; subclasses give the data, the question
    text, the exemplars and how a final answer is graded."""

    name: str
    modes = (Mode.GEN,)
    default_shots = 4
    metric = Metric("accuracy")
    exemplars: tuple[Exemplar, ...]
    limits = SessionLimits()
    max_tool_calls = MAX_TOOL_CALLS

    def __init__(self) -> None:
        self._observations: CellMemo[str] = CellMemo()

    @abstractmethod
    def load(self, ctx: BenchmarkContext) -> list[S]: ...

    @abstractmethod
    def data_files(self, ctx: BenchmarkContext) -> list[Path]: ...

    @abstractmethod
    def question(self, sample: S) -> str: ...

    @abstractmethod
    def grade(self, sample: S, final: str) -> Score:
        """The score of a final answer's text (parse_failed when nothing can be read)."""

    def group(self, sample: S) -> str:
        return ""

    def exemplars_for(self, sample: S) -> tuple[Exemplar, ...]:
        """The exemplars shown before ``sample`` (MathBench's depend on language and type)."""
        return self.exemplars

    def check(self, ctx: BenchmarkContext) -> None:
        """Called by ``load``: the protocol is for chat models and has so many exemplars."""
        if ctx.kind is not ModelKind.CHAT:
            raise ConfigError(f"{self.name}: the ReAct protocol is for chat models; "
                              "drop it from base models' suites")
        if ctx.shots > len(self.exemplars):
            raise DataError(f"{self.name}: shots={ctx.shots}, but the protocol has "
                            f"{len(self.exemplars)}")

    def requests(self, sample: S, ctx: BenchmarkContext) -> list[Request]:
        return [self._ask(sample, [], ctx)]

    def follow_up(
        self, sample: S, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> list[Request]:
        texts = [_text(r) for r in responses]
        last = parse_reply(texts[-1])
        if last.final is not None or last.code is None or len(texts) > self.max_tool_calls:
            return []
        cells = tuple(c for c in (parse_reply(t).code for t in texts) if c is not None)
        observations = self._observe(sample.id, cells, ctx, fresh=True)
        return [self._ask(sample, list(zip(texts, observations, strict=True)), ctx)]

    def score(self, sample: S, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        texts = [_text(r) for r in responses]
        last = parse_reply(texts[-1])
        # every reply but the last asked for a cell, and got its observation
        cells = tuple(c for c in (parse_reply(t).code for t in texts[:-1]) if c is not None)
        observations = self._observe(sample.id, cells, ctx, fresh=False)
        if last.final is not None:
            score = self.grade(sample, last.final)
        elif last.code is not None:
            score = Score(0.0, None, parse_failed=True,
                          detail=f"still writing code after {self.max_tool_calls} tool calls")
        else:
            score = Score(0.0, None, parse_failed=True,
                          detail="neither a python block nor a final answer")
        transcript = _transcript(cells, observations, last.final)
        detail = f"{score.detail}\n{transcript}" if score.detail else transcript
        return replace(score, detail=detail,
                       extras=(*score.extras, ("tool_used", float(bool(cells)))))

    def _observe(self, sample_id: str, cells: tuple[str, ...], ctx: BenchmarkContext,
                 fresh: bool) -> list[str]:
        """Observations of ``cells`` in order; ``fresh``: the last cell is new and runs."""
        hide = (str(ctx.data_dir),)
        return self._observations.results(sample_id, cells, fresh,
                                          lambda cs, _: replay(cs, self.limits, hide))

    def _ask(self, sample: S, history: Sequence[tuple[str, str]],
             ctx: BenchmarkContext) -> GenerateRequest:
        messages = [Message("system", INSTRUCTION)]
        for ex in self.exemplars_for(sample)[: ctx.shots]:
            messages.append(Message("user", ex.question))
            for step in ex.steps:
                messages += _round(step.reply, step.observation)
            messages.append(Message("assistant", ex.answer))
        messages.append(Message("user", self.question(sample)))
        for reply, observation in history:
            messages += _round(reply, observation)
        params = GenerationParams(max_tokens=ctx.max_tokens or 512,
                                  stop=(OBSERVATION_PREFIX.strip(),))
        return GenerateRequest(ChatPrompt(tuple(messages)), params)


def _round(reply: str, observation: str) -> list[Message]:
    return [Message("assistant", reply), Message("user", OBSERVATION_PREFIX + observation)]


def _transcript(cells: Sequence[str], observations: Sequence[str], final: str | None) -> str:
    parts = []
    for i, (code, obs) in enumerate(zip(cells, observations, strict=True), 1):
        parts.append(f"[cell {i}]\n{clip(code.rstrip(), CODE_CHARS)}\n[observation {i}]\n{obs}")
    parts.append(f"[final answer] {final}" if final is not None else "[no final answer]")
    return "\n".join(parts)
