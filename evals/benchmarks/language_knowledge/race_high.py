"""RACE-High, English reading comprehension, test split (3,498 questions), 0-shot.

Base models (PPL) follow OpenCompass ``race_ppl_a138cd``: the instruction, article, question
and options as the HUMAN turn, ``A: {letter}`` as the BOT turn (a newline between them),
argmin of mean cross-entropy. Chat models (gen) follow ``race_gen_69ee4f``: the same HUMAN
turn and ``first_option_postprocess`` (options ABCD) on the reply.

Data (``DATA``; not in the offline shared data): OpenCompass's layout ``race/test/high.jsonl`` (one JSON
object per line: ``example_id``, ``article``, ``question``, ``options``, ``answer``, as in
HF ``ehovy/race``), or the hub's ``ehovy/race`` ``high`` test parquet that ``evals data fetch``
stores. ``tests/fixtures/race`` holds a small hand-written file in the upstream format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks._choice import score_option, score_ppl
from evals.benchmarks._io import read_jsonl
from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import (
    BenchmarkContext,
    Defaults,
    Metric,
    load_local,
    only_text,
    parquet_rows,
    register,
)
from evals.data_sources import DataSpec, Layout, remote
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

LETTERS = "ABCD"
INSTRUCTION = "Read the article, and answer the question by replying A, B, C or D."


@dataclass(frozen=True)
class RaceItem(Sample):
    article: str
    question: str
    options: tuple[str, str, str, str]


def _items(rows: Sequence[dict[str, Any]], where: str) -> list[RaceItem]:
    items = []
    for i, row in enumerate(rows):
        try:
            options = tuple(str(o) for o in row["options"])
            if len(options) != 4 or row["answer"] not in LETTERS:
                raise ValueError(f"{len(options)} options, answer {row['answer']!r}")
            items.append(RaceItem(str(row.get("example_id", i)) + f"/{i}", row["answer"],
                                  row["article"], row["question"],
                                  (options[0], options[1], options[2], options[3])))
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{where}: row {i + 1} is not a RACE record ({exc})") from None
    return items


def _load_local(path: Path) -> list[RaceItem]:
    if path.is_file():
        return _items(read_jsonl(path), str(path))
    return _items(parquet_rows(path, "*test*.parquet"), str(path))


DATA = DataSpec(
    layouts=(Layout("opencompass", "race/test/high.jsonl"), Layout("hub", "hub/ehovy/race/high"),
             Layout("hub", "race/high")),
    remote=remote("race_high"), items=3498, license="RACE: non-commercial research use only")
"""OpenCompass's ``data/race/test/high.jsonl`` or the hub's ``ehovy/race`` ``high`` test parquet
(``evals data fetch``; ``race/high`` is where earlier versions of evals read it). lm-eval
reads ``EleutherAI/race``, the same test questions regrouped by article."""


def human_text(sample: RaceItem) -> str:
    a, b, c, d = sample.options
    return (f"{INSTRUCTION}\n\nArticle:\n{sample.article}\n\nQ: {sample.question}\n\n"
            f"A. {a}\nB. {b}\nC. {c}\nD. {d}")


@register
class RaceHigh(Defaults):
    name = "race_high"
    modes = (Mode.PPL, Mode.GEN)
    default_shots = 0
    metric = Metric("accuracy")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[RaceItem]:
        if ctx.shots:
            raise DataError("race_high: the OpenCompass configs are 0-shot; set shots: 0")
        return load_local(self.name, ctx, DATA, {"opencompass": _load_local, "hub": _load_local})

    def requests(self, sample: RaceItem, ctx: BenchmarkContext) -> list[Request]:
        context = rounds_to_prompt([Round("HUMAN", human_text(sample))], ctx.kind)
        if ctx.mode is Mode.PPL:
            return [LoglikelihoodRequest(context, f"\nA: {L}") for L in LETTERS]
        return [GenerateRequest(context, GenerationParams(max_tokens=ctx.max_tokens or 100))]

    def score(self, sample: RaceItem, responses: Sequence[Response], ctx: BenchmarkContext
              ) -> Score:
        if ctx.mode is Mode.PPL:
            return score_ppl(responses, LETTERS.index(sample.target), list(LETTERS))
        text = only_text(responses)
        return score_option(text, sample.target)
