"""MMLU, 5-shot, 57 subjects; score = naive average of subject accuracies.

Base models (PPL) follow OpenCompass ``mmlu_ppl_ac766d``: the hint (with its double space
before the subject), the 5 dev items of the subject as shots joined by blank lines, each
option rendered as ``Answer: X``, and the argmin of mean token cross-entropy over the whole
sequence. Chat models (gen) follow ``mmlu_gen_a484b3``: the shots as user/assistant turns,
the question as ``Q: ... A: ``, and ``first_option_postprocess`` on the reply.

Data (``DATA``): ``<data_dir>/mmlu/{dev,test}/{subject}_{split}.csv`` in the upstream Berkeley
layout (no header, letter answer; also OpenCompass's ``data/mmlu``) or the re-serialized one
of shared data (header ``question,choice0..3,answer``, 0-based index); or ``cais/mmlu``'s
``all`` parquet files as ``evals data fetch`` stores them.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.benchmarks._choice import score_option, score_ppl
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
    ModelKind,
    Request,
    Response,
    Sample,
    Score,
)

LETTERS = "ABCD"


@dataclass(frozen=True)
class MMLUItem(Sample):
    subject: str
    question: str
    options: tuple[str, str, str, str]
    shots: tuple[MMLUShot, ...]


@dataclass(frozen=True)
class MMLUShot:
    question: str
    options: tuple[str, str, str, str]
    target: str


def _parse_row(row: list[str], where: str) -> tuple[str, tuple[str, str, str, str], str]:
    if len(row) != 6:
        raise DataError(f"{where}: expected 6 columns, got {len(row)}")
    answer = row[5].strip()
    letter = LETTERS[int(answer)] if answer.isdigit() else answer
    if letter not in LETTERS:
        raise DataError(f"{where}: answer {answer!r} is neither A-D nor 0-3")
    return row[0], (row[1], row[2], row[3], row[4]), letter


def _read_csv(path: Path) -> list[tuple[str, tuple[str, str, str, str], str]]:
    """Large files in shared data are gzipped (``professional_law_test.csv.gz``)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if rows and rows[0][:2] == ["question", "choice0"]:
        rows = rows[1:]
    return [_parse_row(r, f"{path}:{i + 1}") for i, r in enumerate(rows)]


def _load_local(root: Path) -> list[MMLUItem]:
    items: list[MMLUItem] = []
    test_files = sorted((root / "test").glob("*_test.csv*"))
    if not test_files:
        raise DataError(f"mmlu: no *_test.csv files in {root / 'test'}")
    for test_file in test_files:
        subject = test_file.name.split("_test.csv")[0]
        dev_file = next(iter(sorted((root / "dev").glob(f"{subject}_dev.csv*"))), None)
        if dev_file is None:
            raise DataError(f"mmlu: {root / 'dev'}/{subject}_dev.csv missing (the shots of {subject})")
        shots = tuple(MMLUShot(q, o, t) for q, o, t in _read_csv(dev_file))
        for i, (q, o, t) in enumerate(_read_csv(test_file)):
            items.append(MMLUItem(f"{subject}/{i}", t, subject, q, o, shots))
    return items


DATA = DataSpec(
    layouts=(Layout("evals", "mmlu", ("test", "dev")),
             Layout("hub", "hub/cais/mmlu/all")),
    remote=remote("mmlu"), items=14042, license="MIT")


def _load_hub(root: Path) -> list[MMLUItem]:
    """``cais/mmlu``'s ``all`` config: rows with subject, question, choices, answer index."""
    dev: dict[str, list[MMLUShot]] = {}
    for row in parquet_rows(root, "dev-*.parquet"):
        dev.setdefault(row["subject"], []).append(
            MMLUShot(row["question"], tuple(row["choices"]), LETTERS[row["answer"]])
        )
    counters: dict[str, int] = {}
    items = []
    for row in parquet_rows(root, "test-*.parquet"):
        s = row["subject"]
        i = counters[s] = counters.get(s, -1) + 1
        items.append(
            MMLUItem(f"{s}/{i}", LETTERS[row["answer"]], s, row["question"],
                     tuple(row["choices"]), tuple(dev[s]))
        )
    return sorted(items, key=lambda x: (x.subject, int(x.id.split("/")[1])))


def _block(question: str, options: Sequence[str]) -> str:
    return question + "".join(f"\n{L}. {o}" for L, o in zip(LETTERS, options, strict=True))


@register
class MMLU(Defaults):
    name = "mmlu"
    modes = (Mode.PPL, Mode.GEN)
    default_shots = 5
    metric = Metric("accuracy", by_group=True)

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[MMLUItem]:
        return load_local(self.name, ctx, DATA, {"evals": _load_local, "hub": _load_hub})

    def group(self, sample: MMLUItem) -> str:
        return sample.subject

    def requests(self, sample: MMLUItem, ctx: BenchmarkContext) -> list[Request]:
        subject = sample.subject.replace("_", " ")
        shots = sample.shots[: ctx.shots]
        if ctx.mode is Mode.PPL:
            hint = f"The following are multiple choice questions (with answers) about  {subject}.\n\n"
            ice = "".join(
                f"{_block(s.question, s.options)}\nAnswer: {s.target}\n\n" for s in shots
            )
            text = f"{hint}{ice}{_block(sample.question, sample.options)}\nAnswer:"
            context = rounds_to_prompt([Round("HUMAN", text)], ctx.kind)
            return [LoglikelihoodRequest(context, f" {L}") for L in LETTERS]
        hint = (
            f"There is a single choice question about {subject}. "
            "Answer the question by replying A, B, C or D."
        )
        rounds: list[Round] = []
        for s in shots:
            rounds.append(Round("HUMAN", f"{hint}\nQuestion: {_block(s.question, s.options)}\nAnswer: "))
            rounds.append(Round("BOT", f"{s.target}\n"))
        rounds.append(Round("HUMAN", f"{hint}\nQ: {_block(sample.question, sample.options)}\nA: "))
        stop = ("\n\n",) if ctx.kind is ModelKind.BASE else ()
        params = GenerationParams(max_tokens=ctx.max_tokens or 100, stop=stop)
        return [GenerateRequest(rounds_to_prompt(rounds, ctx.kind), params)]

    def score(
        self, sample: MMLUItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        if ctx.mode is Mode.PPL:
            return score_ppl(responses, LETTERS.index(sample.target), list(LETTERS))
        text = only_text(responses)
        return score_option(text, sample.target)
