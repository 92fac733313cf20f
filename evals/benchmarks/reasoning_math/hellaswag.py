"""HellaSwag, 0-shot, validation split (10,042 items).

Base models (PPL) follow OpenCompass ``hellaswag_ppl_47bff9``: context = the query with its
activity label cut off (``query.split(': ', 2)[-1]``), each ending appended after a newline
(OpenCompass joins the HUMAN and BOT turns of a base model with ``\\n``), argmin of mean
cross-entropy over the whole sequence. lm-eval's ``acc``/``acc_norm`` over the same
log-probabilities are reported beside it. Chat models (gen) follow ``hellaswag_gen_6faab5``.

Data (``DATA``): the upstream ``hellaswag_val.jsonl`` (fields ``activity_label``, ``ctx``,
``endings``, ``label``), OpenCompass's ``hellaswag.jsonl`` (``query``, ``choices``, ``gold``),
the llama.cpp text layout in shared data (6 lines per item), or ``Rowan/hellaswag``'s
validation parquet as ``evals data fetch`` stores it.
"""

from __future__ import annotations

import bz2
import re
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
TEXT_FILE = "hellaswag/hellaswag_val_full.txt.bz2"
JSONL_FILE = "hellaswag/hellaswag_val.jsonl"


@dataclass(frozen=True)
class HellaSwagItem(Sample):
    query: str
    """``activity_label: ctx``, as in the preprocessed sets OpenCompass and llama.cpp use."""
    endings: tuple[str, str, str, str]

    @property
    def ctx(self) -> str:
        return self.query.split(": ", 2)[-1]


def preprocess(text: str) -> str:
    """lm-eval's HellaSwag cleanup of WikiHow markup, for rows read from the raw jsonl."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _from_raw(i: int, row: dict[str, Any]) -> HellaSwagItem:
    query = preprocess(row["activity_label"] + ": " + row["ctx"])
    endings = tuple(preprocess(e) for e in row["endings"])
    return HellaSwagItem(str(i), LETTERS[int(row["label"])], query, endings)  # type: ignore[arg-type]


def _load_text(path: Path) -> list[HellaSwagItem]:
    with bz2.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 6:
        raise DataError(f"{path}: {len(lines)} lines is not a multiple of 6 (llama.cpp layout)")
    items = []
    for i in range(0, len(lines), 6):
        query, label, *endings = lines[i : i + 6]
        if not label.strip().isdigit():
            raise DataError(f"{path}:{i + 2}: label {label!r} is not a number")
        items.append(HellaSwagItem(str(i // 6), LETTERS[int(label)], query, tuple(endings)))  # type: ignore[arg-type]
    return items


def _load_local(path: Path) -> list[HellaSwagItem]:
    rows = read_jsonl(path)
    return [_from_raw(i, r) for i, r in enumerate(rows)]


def _load_opencompass(path: Path) -> list[HellaSwagItem]:
    """Rows already preprocessed (``query`` = ``activity_label: ctx``), ``gold`` an index."""
    rows = read_jsonl(path)
    return [HellaSwagItem(str(i), LETTERS[int(r["gold"])], r["query"], tuple(r["choices"]))
            for i, r in enumerate(rows)]


def _load_hub(root: Path) -> list[HellaSwagItem]:
    return [_from_raw(i, r) for i, r in enumerate(parquet_rows(root, "validation-*.parquet"))]


DATA = DataSpec(
    layouts=(Layout("upstream", JSONL_FILE), Layout("opencompass", "hellaswag/hellaswag.jsonl"),
             Layout("evals", TEXT_FILE), Layout("hub", "hub/Rowan/hellaswag/data")),
    remote=remote("hellaswag"), items=10042, license="MIT")


@register
class HellaSwag(Defaults):
    name = "hellaswag"
    modes = (Mode.PPL, Mode.GEN)
    default_shots = 0
    metric = Metric("accuracy")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[HellaSwagItem]:
        if ctx.shots:
            raise DataError(f"hellaswag: shots={ctx.shots} unsupported (the protocol is 0-shot)")
        return load_local(self.name, ctx, DATA, {
            "upstream": _load_local, "opencompass": _load_opencompass, "evals": _load_text,
            "hub": _load_hub})

    def requests(self, sample: HellaSwagItem, ctx: BenchmarkContext) -> list[Request]:
        if ctx.mode is Mode.PPL:
            context = rounds_to_prompt([Round("HUMAN", sample.ctx)], ctx.kind)
            return [LoglikelihoodRequest(context, "\n" + e) for e in sample.endings]
        e = sample.endings
        text = (
            f"{sample.ctx}\nQuestion: Which ending makes the most sense?\n"
            f"A. {e[0]}\nB. {e[1]}\nC. {e[2]}\nD. {e[3]}\n"
            "You may choose from 'A', 'B', 'C', 'D'.\nAnswer:"
        )
        params = GenerationParams(max_tokens=ctx.max_tokens or 100, stop=("\n\n",))
        return [GenerateRequest(rounds_to_prompt([Round("HUMAN", text)], ctx.kind), params)]

    def score(
        self, sample: HellaSwagItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        if ctx.mode is Mode.PPL:
            return score_ppl(responses, LETTERS.index(sample.target), sample.endings)
        text = only_text(responses)
        return score_option(text, sample.target)
