"""NaturalQuestions (NQ-open), generation, substring match to any reference answer.

Setting. The report is ambiguous (Table 7/8 header: 5-shot; prose: 0-shot). We take the
header's 5 shots and the OpenCompass config that has exactly that, ``nq_open_gen_e93f8a``
(k in 0/1/5/25; ``nq_open_1shot_gen_20a989`` is its 1-shot member): FixK shots = the first k
rows of NQ-open train (answer = its first reference), ``Q: {question}?`` /
``A: {answer}.\\n`` turns, 50 new tokens, stop at ``Q:`` or a newline. Scoring is
``NQEvaluator``, except that references normalising to "" (8 of the 3,610) no longer match
everything
(``_openqa.score_aliases``; the extra ``accuracy_oc`` is upstream's number).

Shots. OpenCompass's ``nq-open-train.jsonl`` is used when present; otherwise its first five
rows, written out in ``TRAIN_SHOTS`` (the NQ-open train file begins with them; the fourth
answer contains a no-break space, as upstream).

Data: the original ``NQ-open.dev.jsonl`` (3,610 questions; OpenCompass's
``nq-open-validation.jsonl`` has the same rows and fields ``question``, ``answer`` list;
``DATA`` gives their places).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks._io import jsonl_records
from evals.benchmarks.base import BenchmarkContext, Defaults, Metric, load_local, only_text, register
from evals.benchmarks.language_knowledge._openqa import fixk_request, nq_prediction, score_aliases
from evals.data_sources import DataSpec, Layout, remote
from evals.errors import DataError
from evals.records import Mode, Request, Response, Sample, Score

TRAIN_SHOTS: tuple[tuple[str, str], ...] = (
    ("where did they film hot tub time machine", "Fernie Alpine Resort"),
    ("who has the right of way in international waters", "Neither vessel"),
    ("who does annie work for attack on titan", "Marley"),
    ("when was the immigration reform and control act passed", "November\u00a06, 1986"),
    ("when was puerto rico added to the usa", "1950"),
)


@dataclass(frozen=True)
class NQItem(Sample):
    question: str
    answers: tuple[str, ...]
    shots: tuple[tuple[str, str], ...]


def _rows(lines: Sequence[str], where: str) -> list[tuple[str, tuple[str, ...]]]:
    def row(_: int, r: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        answers = r["answer"]
        return str(r["question"]), tuple(answers) if isinstance(answers, list) else (str(answers),)

    return jsonl_records(lines, where, "NQ-open", row)


def _train_shots(root: Path) -> tuple[tuple[str, str], ...]:
    train = root / "nq-open-train.jsonl"
    if not train.is_file():
        return TRAIN_SHOTS
    with train.open(encoding="utf-8") as f:
        head = [next(f) for _ in range(len(TRAIN_SHOTS))]
    return tuple((q, a[0]) for q, a in _rows(head, str(train)))


def _items(rows: Sequence[tuple[str, tuple[str, ...]]], shots: tuple[tuple[str, str], ...]
           ) -> list[NQItem]:
    return [NQItem(str(i), a[0], q, a, shots) for i, (q, a) in enumerate(rows)]


def _load_local(path: Path) -> list[NQItem]:
    rows = _rows(path.read_text(encoding="utf-8").split("\n"), str(path))
    return _items(rows, _train_shots(path.parent))


DATA = DataSpec(
    layouts=(Layout("opencompass", "nq-open/nq-open-validation.jsonl"),
             Layout("opencompass", "nq_open/nq-open-validation.jsonl"),
             Layout("upstream", "nq_open/NQ-open.dev.jsonl")),
    remote=remote("nq"), items=3610, license="CC BY-SA 3.0")
"""``evals data fetch`` takes the upstream ``NQ-open.dev.jsonl`` from
google-research-datasets/natural-questions at a pinned commit (the rows of the hub's
``google-research-datasets/nq_open`` validation split, lm-eval's ``nq_open``)."""


@register
class NaturalQuestions(Defaults):
    name = "nq"
    modes = (Mode.GEN,)
    default_shots = 5
    metric = Metric("accuracy")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[NQItem]:
        if ctx.shots > len(TRAIN_SHOTS):
            raise DataError(f"nq: shots={ctx.shots}, at most {len(TRAIN_SHOTS)} supported")
        return load_local(self.name, ctx, DATA, {
            "opencompass": _load_local, "upstream": _load_local})

    def requests(self, sample: NQItem, ctx: BenchmarkContext) -> list[Request]:
        shots = [(f"Q: {q}?", a) for q, a in sample.shots[: ctx.shots]]
        return [fixk_request(shots, f"Q: {sample.question}?", ctx.kind, ctx.max_tokens)]

    def score(self, sample: NQItem, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        text = only_text(responses)
        return score_aliases(nq_prediction(text), sample.answers)
