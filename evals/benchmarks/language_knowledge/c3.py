"""C3 (CLUE), Chinese multiple-choice reading comprehension, dev split, 0-shot.

Base models (PPL) follow OpenCompass ``CLUE_C3_ppl_e24a31``: HUMAN turn "文章" + passage,
newline, "问题" + question; BOT turn "答案" + choice (each label followed by a full-width
colon, as in the config; the test pins the exact text), joined by a newline, argmin of mean cross-entropy;
the passage's lines are joined with spaces (``C3Dataset``). Upstream pads questions with
fewer than four choices with copies of the first; a copy always ties with the first choice
and ties go to the earlier option, so we score only the real choices (same prediction).
Chat models (gen) follow ``CLUE_C3_gen_8c358f``: the passage's lines joined without a
separator (``C3Dataset_V2``), choices A-D (missing ones shown as ``[NULL]``), and
``first_capital_postprocess`` (the first upper-case character of the reply).

The report's shot counts disagree (Table 7 header 5-shot, prose 0-shot); both OpenCompass
configs are 0-shot (``ZeroRetriever``), so that is what we run.

Data: the original ``c3-d-dev.json`` + ``c3-m-dev.json[.gz]`` (3,816 questions, d then m) or
CLUE's ``dev_0.json`` (OpenCompass's path; same records); ``DATA`` lists the places.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks._choice import LETTERS, score_ppl
from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import BenchmarkContext, Metric, load_local, only_text, register
from evals.data_sources import DataSpec, Layout, layout_files, remote
from evals.errors import DataError
from evals.records import (
    GenerateRequest,
    GenerationParams,
    LoglikelihoodRequest,
    Mode,
    Request,
    Response,
    Sample,
    Score,
)


@dataclass(frozen=True)
class C3Item(Sample):
    lines: tuple[str, ...]
    question: str
    choices: tuple[str, ...]


def first_capital(text: str) -> str | None:
    """``first_capital_postprocess``; None where upstream returns ''."""
    return next((t for t in text if t.isupper()), None)


def _items(records: Sequence[Any], prefix: str, where: str) -> list[C3Item]:
    items = []
    for d, rec in enumerate(records):
        try:
            lines, questions = tuple(str(x) for x in rec[0]), rec[1]
            for q, question in enumerate(questions):
                choices = tuple(str(c) for c in question["choice"])
                gold = LETTERS[choices.index(question["answer"])]
                items.append(C3Item(f"{prefix}{d}/{q}", gold, lines, question["question"], choices))
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            raise DataError(f"{where}: record {d} is not a C3 record ({exc})") from None
    return items


def _read_json(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def _load_local(path: Path) -> list[C3Item]:
    if path.is_file():
        return _items(_read_json(path), "", str(path))
    items = []
    for part in ("d", "m"):
        found = sorted(path.glob(f"c3-{part}-dev.json*"))
        if not found:
            raise DataError(f"c3: {path}/c3-{part}-dev.json missing")
        items += _items(_read_json(found[0]), f"{part}/", str(found[0]))
    return items


DATA = DataSpec(
    layouts=(Layout("upstream", "c3", ("c3-d-dev.json", "c3-m-dev.json")),
             Layout("evals", "c3", ("c3-d-dev.json", "c3-m-dev.json.gz")),
             Layout("opencompass", "CLUE/C3/dev_0.json")),
    remote=remote("c3"), items=3816, license="non-commercial research purposes only")
"""``evals data fetch`` takes the upstream dev files from nlpdata/c3 at a pinned commit."""


@register
class C3:
    name = "c3"
    modes = (Mode.PPL, Mode.GEN)
    default_shots = 0
    metric = Metric("accuracy")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[C3Item]:
        if ctx.shots:
            raise DataError("c3: the OpenCompass configs are 0-shot; set shots: 0")
        return load_local(self.name, ctx, DATA, {
            "upstream": _load_local, "evals": _load_local, "opencompass": _load_local})

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return [p for p in layout_files(DATA, ctx.data_dir) if "-dev." in p.name or
                p.name == "dev_0.json"]

    def group(self, sample: C3Item) -> str:
        return sample.id[0] if sample.id[:2] in ("d/", "m/") else ""

    def requests(self, sample: C3Item, ctx: BenchmarkContext) -> list[Request]:
        if ctx.mode is Mode.PPL:
            text = f"文章：{' '.join(sample.lines)}\n问题：{sample.question}"
            context = rounds_to_prompt([Round("HUMAN", text)], ctx.kind)
            return [LoglikelihoodRequest(context, f"\n答案：{c}") for c in sample.choices]
        choices = [*sample.choices, *["[NULL]"] * (4 - len(sample.choices))]
        text = (
            f"{''.join(sample.lines)}\n问：{sample.question}\n"
            + "".join(f"{L}. {c}\n" for L, c in zip(LETTERS, choices, strict=False))
            + "请从“A”，“B”，“C”，“D”中进行选择。\n答："
        )
        params = GenerationParams(max_tokens=ctx.max_tokens or 100)
        return [GenerateRequest(rounds_to_prompt([Round("HUMAN", text)], ctx.kind), params)]

    def score(self, sample: C3Item, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        if ctx.mode is Mode.PPL:
            return score_ppl(responses, LETTERS.index(sample.target), sample.choices)
        text = only_text(responses)
        pred = first_capital(text)
        if pred is None:
            return Score(0.0, None, parse_failed=True, detail="no upper-case letter in the reply")
        return Score(float(pred == sample.target), pred)
