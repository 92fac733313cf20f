"""Chinese 5-shot single-choice exams (CMMLU, C-Eval): one item shape, one prompt builder.

Both OpenCompass configs put the 5 dev items in front as ``FixKRetriever([0..4])`` in-context
examples, each a HUMAN turn (question and options) and a BOT turn (answer). For a base model
without a meta template OpenCompass joins every turn with ``\\n`` (``LMTemplateParser``), so
the gen text is ``H1\\nB1\\n...\\nH5\\nB5\\nH\\n{bot_prefix}``. The PPL configs key the template by
label, which OpenCompass does not treat as a meta template, so the retriever also inserts its
``ice_separator`` and ``ice_eos_token`` (``\\n`` each) as items of their own, and the text for
option X is ``H1\\nB1\\n\\n\\nH2...B5\\n\\n\\n\\n\\nH\\n{bot_prefix}X`` (pinned against OpenCompass's
own renderer in tests/fidelity/test_cmmlu_ceval_ref.py). In gen mode the
test item's BOT turn keeps only its text before the answer placeholder (``答案是: `` for
CMMLU, nothing for C-Eval); a chat model sees only the user turn (the template parser stops at
the BOT role). Answers go through ``first_capital_postprocess``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from evals.benchmarks._choice import score_ppl
from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import BenchmarkContext, Metric, load_local, only_text
from evals.data_sources import DataSpec, layout_files
from evals.errors import DataError
from evals.records import (
    GenerateRequest,
    GenerationParams,
    LoglikelihoodRequest,
    Mode,
    ModelKind,
    Prompt,
    Request,
    Response,
    Sample,
    Score,
    TextPrompt,
)

LETTERS = "ABCD"
Options = tuple[str, str, str, str]


@dataclass(frozen=True)
class ExamShot:
    question: str
    options: Options
    target: str


@dataclass(frozen=True)
class ExamItem(Sample):
    subject: str
    subject_zh: str
    question: str
    options: Options
    shots: tuple[ExamShot, ...]


Human = Callable[[str, str, Options], str]
"""(subject_zh, question, options) -> the HUMAN turn of the OpenCompass template."""


def first_capital(text: str) -> str:
    """OpenCompass ``first_capital_postprocess``: the first character with ``str.isupper``
    (so full-width and non-Latin capitals count too), or ``''``."""
    for t in text:
        if t.isupper():
            return t
    return ""


def score_first_capital(text: str, gold: str) -> Score:
    pred = first_capital(text)
    if not pred:
        return Score(0.0, None, parse_failed=True, detail="no capital letter in the reply")
    if pred not in LETTERS:
        # upstream compares it anyway (always wrong); we also count it as unparsed
        return Score(0.0, pred, parse_failed=True, detail=f"first capital {pred!r} is no option")
    return Score(float(pred == gold), pred)


def oc_join(items: Sequence[str]) -> str:
    """OpenCompass ``LMTemplateParser.parse_template`` without a meta template: non-empty
    items joined by ``\\n`` (an empty item still counts as a predecessor)."""
    prompt, sep = "", ""
    for item in items:
        if item:
            prompt += sep + item
        sep = "\n"
    return prompt


def exam_requests(
    item: ExamItem, ctx: BenchmarkContext, human: Human, bot_prefix: str
) -> list[Request]:
    shots = item.shots[: ctx.shots]
    query = human(item.subject_zh, item.question, item.options)
    if ctx.kind is ModelKind.BASE:
        sep = "\n" if ctx.mode is Mode.PPL else ""
        items: list[str] = []
        for s in shots:
            items += [human(item.subject_zh, s.question, s.options), bot_prefix + s.target, sep]
        items += [sep, query]
        if ctx.mode is Mode.PPL:
            # C-Eval's "答案: \nA": the trailing whitespace moves to the continuation anyway
            text = oc_join(items) + "\n" + bot_prefix
            return [LoglikelihoodRequest(TextPrompt(text), L) for L in LETTERS]
        prompt: Prompt = TextPrompt(oc_join([*items, bot_prefix]))
    else:
        rounds: list[Round] = []
        for s in shots:
            rounds.append(Round("HUMAN", human(item.subject_zh, s.question, s.options)))
            rounds.append(Round("BOT", bot_prefix + s.target))
        rounds.append(Round("HUMAN", query))
        prompt = rounds_to_prompt(rounds, ctx.kind)
        if ctx.mode is Mode.PPL:
            return [LoglikelihoodRequest(prompt, bot_prefix + L) for L in LETTERS]
    params = GenerationParams(max_tokens=ctx.max_tokens or 100)
    return [GenerateRequest(prompt, params)]


def exam_score(item: ExamItem, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
    if ctx.mode is Mode.PPL:
        return score_ppl(responses, LETTERS.index(item.target), list(LETTERS))
    text = only_text(responses)
    return score_first_capital(text, item.target)


Row = tuple[str, Options, str]


@dataclass(frozen=True)
class ZhExamData:
    """Where a Chinese exam's csv files live and what their columns are called: the only
    ways CMMLU's official layout and C-Eval's HF layout differ."""

    name: str
    split: str  # the evaluated split: C-Eval "val", CMMLU "test"
    suffixed: bool  # files named {subject}_{split}.csv (C-Eval) rather than {subject}.csv
    question: str  # column names: C-Eval lower case, CMMLU capitalised
    answer: str
    subjects: Mapping[str, str]

    def path(self, root: Path, split: str, subject: str) -> Path:
        return root / split / (f"{subject}_{split}.csv" if self.suffixed else f"{subject}.csv")

    def read(self, path: Path) -> list[Row]:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        out: list[Row] = []
        for i, r in enumerate(rows):
            answer = r.get(self.answer) or ""
            if answer not in ("A", "B", "C", "D") or self.question not in r:
                raise DataError(f"{path}:{i + 2}: expected a {self.question!r} column and an "
                                f"A-D {self.answer!r}, got {answer!r}")
            out.append((r[self.question], (r["A"], r["B"], r["C"], r["D"]), answer))
        return out

    def items(self, subject: str, rows: list[Row], dev: list[Row]) -> list[ExamItem]:
        shots = tuple(ExamShot(q, o, t) for q, o, t in dev)
        zh = self.subjects[subject]
        return [ExamItem(f"{subject}/{i}", t, subject, zh, q, o, shots)
                for i, (q, o, t) in enumerate(rows)]

    def load_local(self, root: Path) -> list[ExamItem]:
        items: list[ExamItem] = []
        for subject in self.subjects:
            rows, dev = self.path(root, self.split, subject), self.path(root, "dev", subject)
            if not rows.exists() or not dev.exists():
                raise DataError(f"{self.name}: {rows} or {dev} missing")
            items += self.items(subject, self.read(rows), self.read(dev))
        return items


class ZhExam:
    """CMMLU and C-Eval: subclasses give the data layout, the HUMAN turn and the BOT prefix."""

    name: ClassVar[str]
    exam: ClassVar[ZhExamData]
    data: ClassVar[DataSpec]
    bot_prefix: ClassVar[str]
    modes = (Mode.PPL, Mode.GEN)
    default_shots = 5
    metric = Metric("accuracy", by_group=True)

    def human(self, subject_zh: str, question: str, o: Options) -> str:
        raise NotImplementedError

    def load(self, ctx: BenchmarkContext) -> list[ExamItem]:
        read = self.exam.load_local
        return load_local(self.name, ctx, self.data, dict.fromkeys(
            (layout.name for layout in self.data.layouts), read))

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return [p for p in layout_files(self.data, ctx.data_dir) if p.suffix == ".csv"]

    def group(self, sample: ExamItem) -> str:
        return sample.subject

    def requests(self, sample: ExamItem, ctx: BenchmarkContext) -> list[Request]:
        return exam_requests(sample, ctx, self.human, self.bot_prefix)

    def score(self, sample: ExamItem, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        return exam_score(sample, responses, ctx)
