"""TriviaQA (open-domain, closed-book), generation, substring match to any alias.

Setting. The report is ambiguous (Table 7/8 header: 4-shot; prose: 0-shot). We take the
header's 4 shots and OpenCompass's k-shot family for TriviaQA, ``triviaqa_wiki_gen_d18bf4``
(also ``triviaqa_wiki_1shot_gen_20a989``, which OpenCompass's README runs for InternLM2): FixK
shots = the first k training questions, ``Q: {question}`` / ``A: {answer}.\\n`` turns, 50 new
tokens, stop at ``Q:`` or a newline; ``--shots 0`` gives that config's 0-shot variant. Scoring
is ``TriviaQAEvaluator``, except that aliases normalising to "" no longer match everything
(``_openqa.score_aliases``; the extra ``accuracy_oc`` is upstream's number).

Shots. OpenCompass's ``triviaqa-train.jsonl`` is used when present (the first k rows). Without
it (the shared data has no train split) the shots are the first five questions of the HF
``mandarjoshi90/trivia_qa`` ``rc.nocontext`` train split, written out in ``TRAIN_SHOTS``; the
order of OpenCompass's own train file could not be checked offline, so these may differ from
its FixK ids 0..k-1.

Data: OpenCompass's ``triviaqa/triviaqa-validation.jsonl`` (``question``, ``answer`` = alias
list); the MosaicML 3,000-question subset in shared data (``triviaqa_sm_sub.jsonl[.gz]``:
``context`` = ``Question: ...\\nAnswer:``, ``answer``, ``aliases``); the hub's
``mandarjoshi/trivia_qa`` (lm-eval's id; ``rc.nocontext`` validation parquet, aliases + value)
as ``evals data fetch`` stores it.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks._io import jsonl_records
from evals.benchmarks.base import (
    BenchmarkContext,
    Defaults,
    Metric,
    load_local,
    only_text,
    parquet_rows,
    register,
)
from evals.benchmarks.language_knowledge._openqa import fixk_request, score_aliases, triviaqa_prediction
from evals.data_sources import DataSpec, Layout, remote
from evals.errors import DataError
from evals.records import Mode, Request, Response, Sample, Score

HUB_ID = "mandarjoshi/trivia_qa"
TRAIN_SHOTS: tuple[tuple[str, str], ...] = (
    ("Which American-born Sinclair won the Nobel Prize for Literature in 1930?", "Sinclair Lewis"),
    ("Where in England was Dame Judi Dench born?", "York"),
    ("In which decade did Billboard magazine first publish and American hit chart?", "30s"),
    ("From which country did Angola achieve independence in 1975?", "Portugal"),
    ("Which city does David Soul come from?", "Chicago"),
)


@dataclass(frozen=True)
class TriviaQAItem(Sample):
    question: str
    aliases: tuple[str, ...]
    shots: tuple[tuple[str, str], ...]


def _read_lines(path: Path) -> list[str]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    # split("\n"), not splitlines(): the MosaicML subset contains U+0085 inside questions
    return [x for x in raw.decode("utf-8").split("\n") if x.strip()]


def _question(row: dict[str, object], where: str) -> str:
    if "question" in row:
        return str(row["question"])
    context = str(row["context"])
    if not (context.startswith("Question: ") and context.endswith("\nAnswer:")):
        raise DataError(f"{where}: unexpected context {context[:60]!r}")
    return context[len("Question: "): -len("\nAnswer:")]


def _aliases(row: dict[str, object]) -> tuple[str, ...]:
    """Reference answers, the canonical one first (MosaicML keeps it apart from the aliases)."""
    answer = row["answer"]
    if "aliases" in row:
        aliases = [str(a) for a in row["aliases"]]  # type: ignore[attr-defined]
        return (str(answer), *[a for a in aliases if a != answer])
    return tuple(str(a) for a in answer) if isinstance(answer, list) else (str(answer),)


def _train_shots(root: Path) -> tuple[tuple[str, str], ...]:
    train = root / "triviaqa-train.jsonl"
    if not train.is_file():
        return TRAIN_SHOTS
    lines = _read_lines(train)[: len(TRAIN_SHOTS)]
    return tuple(jsonl_records(lines, str(train), "TriviaQA train",
                               lambda i, r: (str(r["question"]), _aliases(r)[0])))


def _load_local(path: Path) -> list[TriviaQAItem]:
    shots = _train_shots(path.parent)

    def item(i: int, row: Any) -> TriviaQAItem:
        aliases = _aliases(row)
        return TriviaQAItem(str(i), aliases[0], _question(row, f"{path}:{i + 1}"), aliases, shots)

    return jsonl_records(_read_lines(path), str(path), "TriviaQA", item)


def _load_hub(root: Path) -> list[TriviaQAItem]:
    """``rc.nocontext`` validation; the shots are the train split's first rows (``TRAIN_SHOTS``,
    so the 138k-row train shards need not be fetched)."""
    return [
        TriviaQAItem(str(i), r["answer"]["value"], r["question"],
                     _aliases({"answer": r["answer"]["value"], "aliases": r["answer"]["aliases"]}),
                     TRAIN_SHOTS)
        for i, r in enumerate(parquet_rows(root, "validation-*.parquet"))
    ]


DATA = DataSpec(
    layouts=(Layout("opencompass", "triviaqa/triviaqa-validation.jsonl"),
             Layout("evals", "triviaqa/triviaqa_sm_sub.jsonl.gz"),
             Layout("evals", "triviaqa/triviaqa_sm_sub.jsonl"),
             Layout("hub", f"hub/{HUB_ID}/rc.nocontext")),
    remote=remote("triviaqa"), items=None, license="Apache-2.0")
"""``items``: the full validation set has 17,944 questions, OpenCompass's 8,837 (wiki), the
shared data's subset 3,000: it depends on the layout."""


@register
class TriviaQA(Defaults):
    name = "triviaqa"
    modes = (Mode.GEN,)
    default_shots = 4
    metric = Metric("accuracy")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[TriviaQAItem]:
        if ctx.shots > len(TRAIN_SHOTS):
            raise DataError(f"triviaqa: shots={ctx.shots}, at most {len(TRAIN_SHOTS)} supported")
        return load_local(self.name, ctx, DATA, {
            "opencompass": _load_local, "evals": _load_local, "hub": _load_hub})

    def requests(self, sample: TriviaQAItem, ctx: BenchmarkContext) -> list[Request]:
        shots = [(f"Q: {q}", a) for q, a in sample.shots[: ctx.shots]]
        return [fixk_request(shots, f"Q: {sample.question}", ctx.kind, ctx.max_tokens)]

    def score(
        self, sample: TriviaQAItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        text = only_text(responses)
        return score_aliases(triviaqa_prediction(text), sample.aliases)
