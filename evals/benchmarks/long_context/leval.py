"""L-Eval (v1): 5 closed-ended tasks (exact match) and 13 open-ended tasks (ROUGE), 0-shot.

Follows OpenCompass 0.5.4 ``configs/datasets/leval/leval.py`` (each task's ``*_gen`` config:
system prompt, ``Document is as follows...`` user turn, ``max_out_len``, postprocessor and
evaluator) and the ``configs/summarizers/leval.py`` layout the report's Table 15 uses: Close =
the naive mean of the 5 exact-match tasks, Open = that of the 13 ROUGE tasks, Avg (the primary
metric) = the naive mean of all 18 tasks. Close and Open are its secondary values.

Each instruction of a document is one sample; its group is the task (OpenCompass's abbr
without ``LEval_``). The config's ``SYSTEM`` prompt goes on the line before the user turn, for
base models in the text and for chat models in the one user message: OpenCompass 0.5.4's chat
wrappers map ``SYSTEM`` to ``HUMAN`` "on purpose" and join consecutive user turns with a
newline (as for TheoremQA; the end-to-end harness in bench/fidelity checks it against their
own conversion), so no system message is sent. Prompts longer than the
model are cut in the middle (``truncate="middle"``), keeping the instruction at the end.

Closed tasks (OpenCompass postprocessor -> evaluator, reproduced per sample):
- coursera: ``first_capital_postprocess_multi`` (first run of A-D) == the answer (AccEvaluator).
- quality, tpo: ``first_capital_postprocess`` (first upper-case character) == the answer
  (quality's answer is ``outputs[i][1]``, the letter inside ``(B) ...``).
- gsm100: ``gsm100_postprocess`` (the digits of the first token with a digit after
  ``The answer is``) == the answer without commas.
- topic_retrieval: ``general_postprocess`` then ``LEvalEMEvaluator`` (the normalised answer,
  or the raw one, is a substring of the twice-normalised prediction).
Open tasks: ``RougeEvaluator`` = HF ``evaluate``'s rouge (``rouge_score``, default tokenizer,
no stemmer, so English-only — L-Eval is English) and the summarizer reads ``rouge1``. Per
sample we keep rouge-1 F; per task we reproduce OpenCompass exactly: ``rouge_score``'s
``BootstrapAggregator`` mid (median of 1,000 bootstrap means, numpy seeded 0), not the plain
mean. The task ``groups`` that ``summarize`` prints are plain means and may differ from the
per-task values the primary metric uses by a fraction of a point.

Parse failures: a closed-task answer whose postprocessing leaves nothing is flagged (it scores
what OpenCompass scores, i.e. wrong).

Data: upstream OpenLMLab/LEval ``LEval-data/{Closed,Open}-ended-tasks/<task>.jsonl`` (one
document a line: ``input``, ``instructions``, ``outputs``; ``.jsonl.gz`` accepted) under
``<data_dir>/leval/`` (or ``<data_dir>/leval/LEval-data/``, or OpenCompass's ``LEval/``). Shared
data lacks ``Open-ended-tasks/narrative_qa.jsonl``: a task whose file is absent is skipped with
a warning and the averages run over the tasks present (Open over 12 and Avg over 17 there).
``codeU`` and ``sci_fi`` are not in OpenCompass's L-Eval set and are not evaluated.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks._io import read_jsonl
from evals.benchmarks._metrics import rouge1
from evals.benchmarks.base import BenchmarkContext, Metric, load_local, only_text, register
from evals.benchmarks.long_context._longctx import as_metric, category_values, fill, group_stats, naive_mean
from evals.data_sources import DataSpec, Layout, remote
from evals.errors import DataError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerationParams,
    Message,
    MetricValue,
    Mode,
    ModelKind,
    Prompt,
    Request,
    Response,
    Sample,
    SampleResult,
    Score,
    TextPrompt,
)

log = logging.getLogger(__name__)


_MC_SYSTEM = (
    "Now you are given a very long document. Please follow the instruction based on this "
    "document. For multi-choice questions, there could be a single correct option or multiple "
    "correct options. Please only provide the letter corresponding to the answer (like A or AB) "
    "when answering."
)
_MC_USER = "Document is as follows.\n{context}\nQuestion:{question}\nAnswer:"
_OPEN_SYSTEM = (
    "Now you are given a very long document. Please follow the instruction after this "
    "document. These instructions may include summarizing a document, answering questions "
    "based on the document, or writing a required paragraph."
)
_OPEN_USER = (
    "Document is as follows. {context}\nInstruction: {question}\nAnswer this question with "
    "{length} words."
)


@dataclass(frozen=True)
class Task:
    name: str
    """OpenCompass's abbr without ``LEval_``; the sample group."""
    file: str
    """Upstream file stem (and hub config name)."""
    closed: bool
    scorer: str
    """coursera, letter, gsm100, topic or rouge."""
    max_out: int
    system: str
    user: str


def _open(name: str, file: str, max_out: int, user: str = _OPEN_USER) -> Task:
    return Task(name, file, False, "rouge", max_out, _OPEN_SYSTEM, user)


TASKS: tuple[Task, ...] = (
    Task("coursera", "coursera", True, "coursera", 10, _MC_SYSTEM, _MC_USER),
    Task(
        "gsm100", "gsm100", True, "gsm100", 512,
        "Given several question answer pairs, you need to follow a similar format to answer the "
        "last question. Make sure the response is end with The answer is _ . ",
        "{context}\n\n{question}\n",
    ),
    Task("quality", "quality", True, "letter", 10, _MC_SYSTEM, _MC_USER),
    Task("tpo", "tpo", True, "letter", 10, _MC_SYSTEM, _MC_USER),
    Task(
        "topic_retrieval", "topic_retrieval_longchat", True, "topic", 30,
        "Below is a record of our previous conversation on many different topics. You are the "
        "ASSISTANT, and I am the USER. At the beginning of each topic, the USER will say 'I "
        "would like to discuss the topic of <TOPIC>'. Memorize each <TOPIC>. At the end of the "
        "record, I will ask you to retrieve the first/second/third topic names. Now the record "
        "start.",
        _MC_USER,
    ),
    _open("financialqa", "financial_qa", 512),
    _open("gov_report_summ", "gov_report_summ", 512),
    _open("legal_contract_qa", "legal_contract_qa", 128),
    _open("meeting_summ", "meeting_summ", 512),
    _open("multidocqa", "multidoc_qa", 64),
    _open("narrativeqa", "narrative_qa", 50),
    _open(
        "nq", "natural_question", 50,
        "Document is as follows. {context}\nInstruction: {question}?\nAnswer this question with "
        "{length} words.",
    ),
    _open("news_summ", "news_summ", 512),
    _open("paper_assistant", "paper_assistant", 512),
    _open("patent_summ", "patent_summ", 512),
    _open("review_summ", "review_summ", 512),
    _open("scientificqa", "scientific_qa", 64),
    _open("tvshow_summ", "tv_show_summ", 512),
)
BY_NAME = {t.name: t for t in TASKS}
CATEGORIES: dict[str, tuple[str, ...]] = {
    "close": tuple(t.name for t in TASKS if t.closed),
    "open": tuple(t.name for t in TASKS if not t.closed),
}


@dataclass(frozen=True)
class LEvalItem(Sample):
    task: str
    context: str
    question: str
    length: int
    """Words in the reference answer (open tasks' ``Answer this question with N words``)."""


# --- OpenCompass postprocessors and evaluators ------------------------------------------------


def general_postprocess(text: str) -> str:
    """``opencompass.utils.text_postprocessors.general_postprocess``."""
    text = re.split(r"[\n.,]", text, maxsplit=1)[0]
    text = re.sub(r"[^\w\s]", "", text)
    text = re.sub(r"\b(a|an|the)\b", "", text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", text).strip()


def first_capital(text: str) -> str:
    return next((c for c in text if c.isupper()), "")


def first_capital_multi(text: str) -> str:
    match = re.search(r"([A-D]+)", text)
    return match.group(1) if match else ""


def gsm100_answer(text: str) -> str:
    """``gsm100_postprocess``: the digits of the first space-separated token after the first
    ``The answer is`` that holds a digit."""
    segs = text.split("The answer is")
    if len(segs) < 2:
        return ""
    token = next((s for s in segs[1].split(" ") if any(c.isdigit() for c in s)), "")
    return "".join(c for c in token if c.isdigit())


def reference(task: str, answer: str) -> str:
    """The reference OpenCompass's evaluator compares with (after its dataset loader and
    ``dataset_postprocessor``)."""
    if task == "quality":
        return answer[1] if len(answer) > 1 else ""
    if task == "gsm100":
        return answer.replace(",", "")
    return answer


def extract(task: str, text: str) -> str:
    """The closed-task prediction after OpenCompass's ``pred_postprocessor``."""
    scorer = BY_NAME[task].scorer
    if scorer == "coursera":
        return first_capital_multi(text)
    if scorer == "letter":
        return first_capital(text)
    if scorer == "gsm100":
        return gsm100_answer(text)
    if scorer == "topic":
        return general_postprocess(text)
    raise ValueError(f"{task} is not a closed L-Eval task")


def closed_correct(task: str, prediction: str, ref: str) -> bool:
    """``AccEvaluator`` (string equality) or, for topic retrieval, ``LEvalEMEvaluator``."""
    if BY_NAME[task].scorer == "topic":
        pred = general_postprocess(prediction)
        return general_postprocess(ref) in pred or ref in pred
    return prediction == ref


def bootstrap_mid(values: Sequence[float], seed: int = 0) -> float:
    """``rouge_score.scoring.BootstrapAggregator().aggregate()[...].mid`` of rouge-1 F with
    numpy seeded as OpenCompass's ``HuggingfaceEvaluator`` seeds it (rouge1 is the first type
    resampled, so its draws are the first after seeding); numpy's global state is restored."""
    import numpy as np

    scoring = importlib.import_module("rouge_score.scoring")

    state = np.random.get_state()
    try:
        np.random.seed(seed)
        agg = scoring.BootstrapAggregator()
        for v in values:
            agg.add_scores({"rouge1": scoring.Score(v, v, v)})
        return float(agg.aggregate()["rouge1"].mid.fmeasure)
    finally:
        np.random.set_state(state)


# --- aggregation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LEvalMetric(Metric):
    """Naive mean over tasks; ROUGE tasks use OpenCompass's bootstrap mid as the task score."""

    aggregation = "mean over tasks (ROUGE tasks: bootstrap mid)"

    def task_stats(self, results: Sequence[SampleResult]) -> dict[str, tuple[float, float]]:
        stats = group_stats(results)
        for task, (_, se) in list(stats.items()):
            if task in BY_NAME and not BY_NAME[task].closed:
                values = [r.score.value for r in results if r.group == task]
                stats[task] = (bootstrap_mid(values), se)
        return stats

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        return as_metric(self.name, naive_mean(list(self.task_stats(results).values())))

    def secondary(
        self, results: Sequence[SampleResult], ctx: BenchmarkContext | None = None
    ) -> tuple[MetricValue, ...]:
        """Table 15's Close and Open."""
        cats = category_values(self.task_stats(results), CATEGORIES)
        return tuple(as_metric(name, stat) for name, stat in cats.items())


# --- data -----------------------------------------------------------------------------------


def _docs_to_items(docs: Sequence[dict[str, Any]], task: Task, where: str) -> list[LEvalItem]:
    items = []
    for d, doc in enumerate(docs):
        try:
            pairs = zip(doc["instructions"], doc["outputs"], strict=False)
            context = str(doc["input"])
        except (KeyError, TypeError) as exc:
            raise DataError(f"{where}:{d + 1}: not an L-Eval document ({exc!r})") from None
        for q, (question, answer) in enumerate(pairs):
            items.append(LEvalItem(
                id=f"{task.name}/{d}/{q}", target=reference(task.name, str(answer)),
                task=task.name, context=context, question=str(question),
                length=len(str(answer).split()),
            ))
    return items


def _task_file(root: Path, task: Task) -> Path | None:
    sub = "Closed-ended-tasks" if task.closed else "Open-ended-tasks"
    for base in (root, root / "LEval-data"):
        for suffix in (".jsonl", ".jsonl.gz"):
            path = base / sub / f"{task.file}{suffix}"
            if path.is_file():
                return path
    return None


def _read_docs(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path)


def _load_local(root: Path) -> list[LEvalItem]:
    items: list[LEvalItem] = []
    missing = []
    for task in TASKS:
        path = _task_file(root, task)
        if path is None:
            missing.append(task.file)
            continue
        items += _docs_to_items(_read_docs(path), task, str(path))
    if not items:
        raise DataError(f"leval: no task files under {root}/{{Closed,Open}}-ended-tasks/")
    if missing:
        log.warning("leval: %d tasks missing under %s (skipped): %s", len(missing), root,
                    ", ".join(missing))
    return items


DATA = DataSpec(
    layouts=(Layout("upstream", "leval"), Layout("opencompass", "LEval")),
    remote=remote("leval"), items=None, license="GPL-3.0")
"""``evals data fetch`` takes the task files from OpenLMLab/LEval at a pinned commit
(``narrative_qa.jsonl`` without a known checksum: no copy of it could be checked offline).
``items``: documents hold several instructions each."""


def build_prompt(sample: LEvalItem, kind: ModelKind) -> Prompt:
    task = BY_NAME[sample.task]
    user = fill(task.user, [("context", sample.context), ("question", sample.question),
                            ("length", str(sample.length))])
    text = f"{task.system}\n{user}"
    return ChatPrompt((Message("user", text),)) if kind is ModelKind.CHAT else TextPrompt(text)


@register
class LEval:
    name = "leval"
    modes = (Mode.GEN,)
    default_shots = 0
    metric = LEvalMetric("average")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[LEvalItem]:
        return load_local(self.name, ctx, DATA, {"upstream": _load_local,
                                                 "opencompass": _load_local})

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        found = DATA.locate(ctx.data_dir)
        return [p for t in TASKS if found and (p := _task_file(found[1], t)) is not None]

    def group(self, sample: LEvalItem) -> str:
        return sample.task

    def requests(self, sample: LEvalItem, ctx: BenchmarkContext) -> list[Request]:
        max_out = ctx.max_tokens or BY_NAME[sample.task].max_out
        params = GenerationParams(max_tokens=max_out, truncate="middle")
        return [GenerateRequest(build_prompt(sample, ctx.kind), params)]

    def score(
        self, sample: LEvalItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        text = only_text(responses)
        if not BY_NAME[sample.task].closed:
            return Score(rouge1(text, sample.target), text)
        pred = extract(sample.task, text)
        value = float(closed_correct(sample.task, pred, sample.target))
        if not pred:
            return Score(value, None, parse_failed=True, detail="no answer after postprocessing")
        return Score(value, pred)
