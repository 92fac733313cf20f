"""TheoremQA, 0-shot, 800 questions.

Follows OpenCompass ``TheoremQA_gen_7009de`` (``deprecated_TheoremQA_gen_7009de`` in 0.5.4; the
config the InternLM2 report names): a SYSTEM instruction to end with "Therefore, the answer is
..." in one of four forms, then "Question: {Question}\\nLet's think step by step.", at most 512
new tokens. Base models get the two turns joined by a newline (OpenCompass's parser without a
meta template). Chat models get the same text as one user message: OpenCompass 0.5.4's
``HuggingFacewithChatTemplate`` maps SYSTEM to HUMAN on purpose and merges consecutive user
turns with a newline (the report-era meta template, without a SYSTEM role, fell back to HUMAN
too), so no system message is sent.

Scoring is that config's: ``TheoremQA_postprocess`` (the v1 one: the first token after
"answer is", stripped of ``.,?!"';:``; the whole reply when there is none) and ``AccEvaluator``,
i.e. exact string equality with the reference as OpenCompass's ``test.csv`` writes it: Python's
``str`` of the JSON value ("0.5", "4e-05", "True", "[1, 2]", "(c)"). The later
``TheoremQA_postprocess_v2``/``v3`` and ``TheoremQAEvaluatorV3`` (numeric tolerance, list and
unit handling) belong to other configs and are not used. Because the extraction stops at the
first space and list references are written "[2, 3, 4]", a list answer with two or more
elements can never be scored right (72 of the 73 list questions); this is the config's behaviour and is
kept. A reply without "answer is" is a
parse failure unless the whole reply equals the reference, which OpenCompass counts correct.

Data: upstream ``theoremqa_test.json`` (wenhuchen/TheoremQA: a JSON list of objects with
``Question``, ``Answer``, ``Answer_type``, ...; ``evals data fetch`` takes it at a pinned
commit) or OpenCompass's ``TheoremQA/test.csv`` (the same fields, answers as text; also at
``theoremqa/test.csv``). Questions with pictures are asked as text, as OpenCompass does.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import BenchmarkContext, Defaults, Metric, load_local, only_text, register
from evals.data_sources import DataSpec, Layout, remote
from evals.errors import DataError
from evals.records import (
    GenerateRequest,
    GenerationParams,
    Mode,
    ModelKind,
    Prompt,
    Request,
    Response,
    Sample,
    Score,
)

JSON_FILE = "theoremqa/theoremqa_test.json"
CSV_FILE = "theoremqa/test.csv"

SYSTEM = (
    "You are a mathematician, you are supposed to answer the given question. You need to output "
    'the answer in your final sentence like "Therefore, the answer is ...". The answer can only '
    "be one of the following forms:\n"
    "1. a numerical value like 0.1, no symbol and no unit at all.\n"
    "2. a list of number like [2, 3, 4].\n"
    "3. True/False.\n"
    "4. an option like (a), (b), (c), (d)\n"
)
_ANSWER = re.compile(r"answer is ([^\s]+)")


@dataclass(frozen=True)
class TheoremQAItem(Sample):
    question: str
    answer_type: str


def reference_text(value: Any) -> str:
    """The reference as OpenCompass's csv holds it: Python's ``str`` of the JSON value."""
    return value if isinstance(value, str) else str(value)


def extract_answer(text: str) -> str | None:
    """``TheoremQA_postprocess``, with None where it finds no "answer is"."""
    matches = _ANSWER.findall(text.strip())
    return matches[0].strip().strip(".,?!\"';:") if matches else None


def score_text(text: str, target: str) -> Score:
    pred = extract_answer(text)
    if pred is None:
        if text.strip() == target:
            return Score(1.0, text.strip(), detail="bare answer, no 'answer is'")
        return Score(0.0, None, parse_failed=True, detail="no 'answer is' in the reply")
    return Score(float(pred == target), pred)


def _items(rows: Iterable[Mapping[str, Any]], where: str) -> list[TheoremQAItem]:
    items = []
    for i, row in enumerate(rows):
        try:
            items.append(TheoremQAItem(str(row.get("id") or i), reference_text(row["Answer"]),
                                       str(row["Question"]), str(row["Answer_type"])))
        except KeyError as exc:
            raise DataError(f"{where}: item {i} lacks {exc}") from None
    return items


def _load_local(path: Path) -> list[TheoremQAItem]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            return _items(csv.DictReader(f), str(path))
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not JSON ({exc})") from None
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON list of questions")
    return _items(rows, str(path))


DATA = DataSpec(
    layouts=(Layout("upstream", JSON_FILE), Layout("opencompass", "TheoremQA/test.csv"),
             Layout("opencompass", CSV_FILE)),
    remote=remote("theoremqa"), items=800, license="MIT")


def prompt_text(sample: TheoremQAItem) -> str:
    return f"{SYSTEM}\nQuestion: {sample.question}\nLet's think step by step."


def build_prompt(sample: TheoremQAItem, kind: ModelKind) -> Prompt:
    return rounds_to_prompt([Round("HUMAN", prompt_text(sample))], kind)


@register
class TheoremQA(Defaults):
    name = "theoremqa"
    modes = (Mode.GEN,)
    default_shots = 0
    metric = Metric("accuracy")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[TheoremQAItem]:
        if ctx.shots:
            raise DataError(f"theoremqa: shots={ctx.shots} unsupported (the protocol is 0-shot)")
        return load_local(self.name, ctx, DATA, {"upstream": _load_local,
                                                 "opencompass": _load_local})

    def requests(self, sample: TheoremQAItem, ctx: BenchmarkContext) -> list[Request]:
        params = GenerationParams(max_tokens=ctx.max_tokens or 512)
        return [GenerateRequest(build_prompt(sample, ctx.kind), params)]

    def score(
        self, sample: TheoremQAItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        text = only_text(responses)
        return score_text(text, sample.target)
