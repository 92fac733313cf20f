"""LongBench, 21 subtasks in 6 categories, 0-shot generation (4,750 items).

Follows OpenCompass 0.5.4 ``configs/datasets/longbench/longbench.py`` (the ``*_gen`` config of
each subtask: its prompt, ``max_out_len``, evaluator and prediction postprocessor) and the
``configs/summarizers/groups/longbench.py`` summary: each subtask's mean score, each category
the naive mean of its subtasks, and LongBench the naive mean of the six categories (the
primary metric; the categories are its secondary values, as in the report's Table 15).

Every prompt is one user turn. Prompts longer than the model are cut in the middle
(``truncate="middle"``: the first and last halves of the tokens are kept), as LongBench does.

Scoring is ``opencompass/datasets/longbench/evaluators.py``, per sample, built on lm-eval's
LongBench helpers (``lm_eval/tasks/longbench/metrics.py``) where they agree with it:

- qa_f1 / qa_f1_zh (jieba tokens), rouge-L F (``rouge`` package; jieba-joined for Chinese),
  classification, count and retrieval use lm-eval's per-reference functions on the
  prediction as OpenCompass passes it (not stripped; lm-eval strips).
- Over several references, F1, ROUGE and code similarity take the maximum, while count,
  retrieval and classification *add* the per-reference scores, as OpenCompass does (LongBench
  gives those subtasks one reference, so the two agree on the real data).
- Chinese ROUGE re-segments the already segmented prediction for each further reference, as
  OpenCompass does (it overwrites ``prediction`` in its loop).
- code_sim is OpenCompass's (= upstream LongBench's): the first line of the prediction, after
  leading newlines, that has no backtick, ``#`` or ``//`` — blank lines included, where
  lm-eval skips them — compared with ``fuzz.ratio``.
- classification: OpenCompass's ``em_match_list != 0`` test is always true, so its difflib
  fallback never runs; lm-eval's ``classification_score`` has the same effective behaviour.

Parse failures: count and retrieval answers without a number and classification answers
naming no class are flagged (they score 0, as upstream).

Data: upstream THUDM/LongBench ``data/<subtask>.jsonl`` under ``<data_dir>/longbench/`` (fields
``input, context, answers, length, dataset, language, all_classes, _id``), OpenCompass's
``Longbench/data/``, or the hub's ``Xnhyacinth/LongBench`` (lm-eval's copy; ``THUDM/LongBench``
is a loading script) parquet as ``evals data fetch`` stores it. Subtasks whose file is absent
are skipped with a warning.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks._io import numbered_jsonl
from evals.benchmarks.base import (
    BenchmarkContext,
    Defaults,
    Metric,
    load_local,
    only_text,
    parquet_rows,
    register,
)
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

HUB_ID = "Xnhyacinth/LongBench"

_QA_MULTI = (
    "Answer the question based on the given passages. Only give me the answer and do not "
    "output any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the "
    "question based on the given passages. Only give me the answer and do not output any "
    "other words.\n\nQuestion: {input}\nAnswer:"
)


@dataclass(frozen=True)
class Subtask:
    name: str
    category: str
    metric: str
    """qa_f1, qa_f1_zh, rouge, rouge_zh, classification, count, retrieval, retrieval_zh,
    code_sim."""
    max_out: int
    template: str
    first_line: bool = False
    """trec/triviaqa/samsum/lsht ``*_postprocess``: the first line after leading newlines."""
    with_input: bool = True
    """Whether the reader's input columns include ``input`` (filled after ``context``)."""


SUBTASKS: tuple[Subtask, ...] = (
    Subtask(
        "narrativeqa", "single-document-qa", "qa_f1", 128,
        "You are given a story, which can be either a novel or a movie script, and a question. "
        "Answer the question as concisely as you can, using a single phrase if possible. Do not "
        "provide any explanation.\n\nStory: {context}\n\nNow, answer the question based on the "
        "story as concisely as you can, using a single phrase if possible. Do not provide any "
        "explanation.\n\nQuestion: {input}\n\nAnswer:",
    ),
    Subtask("qasper", "single-document-qa", "qa_f1", 32, _QA_MULTI),
    Subtask(
        "multifieldqa_en", "single-document-qa", "qa_f1", 64,
        "Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following "
        "question based on the above text, only give me the answer and do not output any other "
        "words.\n\nQuestion: {input}\nAnswer:",
    ),
    Subtask(
        "multifieldqa_zh", "single-document-qa", "qa_f1_zh", 64,
        "阅读以下文字并用中文简短回答：\n\n{context}\n\n现在请基于上面的文章回答下面的问题，"
        "只告诉我答案，不要输出任何其他字词。\n\n问题：{input}\n回答：",
    ),
    Subtask("hotpotqa", "multi-document-qa", "qa_f1", 32, _QA_MULTI),
    Subtask("2wikimqa", "multi-document-qa", "qa_f1", 32, _QA_MULTI),
    Subtask("musique", "multi-document-qa", "qa_f1", 32, _QA_MULTI),
    Subtask(
        "dureader", "multi-document-qa", "rouge_zh", 128,
        "请基于给定的文章回答下述问题。\n\n文章：{context}\n\n请基于上述文章回答下面的问题。"
        "\n\n问题：{input}\n回答：",
    ),
    Subtask(
        "gov_report", "summarization", "rouge", 512,
        "You are given a report by a government agency. Write a one-page summary of the report."
        "\n\nReport:\n{context}\n\nNow, write a one-page summary of the report.\n\nSummary:",
        with_input=False,
    ),
    Subtask(
        "qmsum", "summarization", "rouge", 512,
        "You are given a meeting transcript and a query containing a question or instruction. "
        "Answer the query in one or more sentences.\n\nTranscript:\n{context}\n\nNow, answer the "
        "query based on the above meeting transcript in one or more sentences.\n\nQuery: {input}"
        "\nAnswer:",
    ),
    Subtask(
        "multi_news", "summarization", "rouge", 512,
        "You are given several news passages. Write a one-page summary of all news. \n\nNews:\n"
        "{context}\n\nNow, write a one-page summary of all the news.\n\nSummary:\n",
        with_input=False,
    ),
    Subtask(
        "vcsum", "summarization", "rouge_zh", 512,
        "下面有一段会议记录，请你阅读后，写一段总结，总结会议的内容。\n会议记录：\n{context}\n\n"
        "会议总结：",
        with_input=False,
    ),
    Subtask(
        "trec", "few-shot-learning", "classification", 64,
        "Please determine the type of the question below. Here are some examples of questions."
        "\n\n{context}\n{input}",
        first_line=True,
    ),
    Subtask(
        "triviaqa", "few-shot-learning", "qa_f1", 32,
        "Answer the question based on the given passage. Only give me the answer and do not "
        "output any other words. The following are some examples.\n\n{context}\n\n{input}",
        first_line=True,
    ),
    Subtask(
        "samsum", "few-shot-learning", "rouge", 128,
        "Summarize the dialogue into a few short sentences. The following are some examples."
        "\n\n{context}\n\n{input}",
        first_line=True,
    ),
    Subtask(
        "lsht", "few-shot-learning", "classification", 64,
        "请判断给定新闻的类别，下面是一些例子。\n\n{context}\n{input}",
        first_line=True,
    ),
    Subtask(
        "passage_count", "synthetic-tasks", "count", 32,
        "There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. "
        "Please carefully read these paragraphs and determine how many unique paragraphs there "
        "are after removing duplicates. In other words, how many non-repeating paragraphs are "
        "there in total?\n\n{context}\n\nPlease enter the final count of unique paragraphs after "
        "removing duplicates. The output format should only contain the number, such as 1, 2, 3, "
        "and so on.\n\nThe final answer is: ",
    ),
    Subtask(
        "passage_retrieval_en", "synthetic-tasks", "retrieval", 32,
        "Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which "
        "paragraph the abstract is from.\n\n{context}\n\nThe following is an abstract.\n\n"
        "{input}\n\nPlease enter the number of the paragraph that the abstract is from. The "
        'answer format must be like "Paragraph 1", "Paragraph 2", etc.\n\nThe answer is: ',
    ),
    Subtask(
        "passage_retrieval_zh", "synthetic-tasks", "retrieval_zh", 32,
        "以下是若干段落文字，以及其中一个段落的摘要。请确定给定的摘要出自哪一段。\n\n{context}"
        "\n\n下面是一个摘要\n\n{input}\n\n请输入摘要所属段落的编号。答案格式必须是\"段落1\"，"
        "\"段落2\"等格式\n\n答案是：",
    ),
    Subtask(
        "lcc", "code-completion", "code_sim", 64,
        "Please complete the code given below. \n{context}Next line of code:\n",
        with_input=False,
    ),
    Subtask(
        "repobench-p", "code-completion", "code_sim", 64,
        "Please complete the code given below. \n{context}{input}Next line of code:\n",
    ),
)
BY_NAME = {t.name: t for t in SUBTASKS}
CATEGORIES: dict[str, tuple[str, ...]] = {}
for _t in SUBTASKS:
    CATEGORIES.setdefault(_t.category, ())
    CATEGORIES[_t.category] += (_t.name,)


@dataclass(frozen=True)
class LongBenchItem(Sample):
    subtask: str
    input: str
    context: str
    answers: tuple[str, ...]
    all_classes: tuple[str, ...] = ()


# --- scoring (OpenCompass LongBench evaluators, per sample) -----------------------------------


def postprocess(subtask: str, text: str) -> str:
    """The prediction OpenCompass's evaluator sees for ``subtask``."""
    if BY_NAME[subtask].first_line:
        return text.lstrip("\n").split("\n")[0]
    return text


def code_line(prediction: str) -> str:
    """The first line (after leading newlines) with no backtick, ``#`` or ``//``; else ''."""
    for line in prediction.lstrip("\n").split("\n"):
        if "`" not in line and "#" not in line and "//" not in line:
            return line
    return ""


def _rouge_zh_segment(text: str) -> str:
    jieba = importlib.import_module("jieba")
    return " ".join(jieba.cut(text, cut_all=False))


def score_answer(
    metric: str, prediction: str, answers: Sequence[str], all_classes: Sequence[str] = ()
) -> float:
    """One sample's score in [0, 1] (classification, count and retrieval sum over references)."""
    from lm_eval.tasks.longbench import metrics as lb

    fuzz = importlib.import_module("fuzzywuzzy.fuzz")

    if metric in ("count", "retrieval", "retrieval_zh", "classification"):
        per_ref = {
            "count": lb.count_score,
            "retrieval": lb.retrieval_score,
            "retrieval_zh": lb.retrieval_zh_score,
        }
        total = 0.0
        for ref in answers:
            if metric == "classification":
                total += lb.classification_score(prediction, ref, all_classes=list(all_classes))
            else:
                total += per_ref[metric](prediction, ref)
        return float(total)
    best = 0.0
    for ref in answers:
        if metric == "qa_f1":
            value = float(lb.qa_f1_score(prediction, ref))
        elif metric == "qa_f1_zh":
            value = float(lb.qa_f1_zh_score(prediction, ref))
        elif metric == "rouge":
            value = float(lb.rouge_score(prediction, ref))
        elif metric == "rouge_zh":
            prediction = _rouge_zh_segment(prediction)
            value = float(lb.rouge_score(prediction, _rouge_zh_segment(ref)))
        elif metric == "code_sim":
            prediction = code_line(prediction)
            value = fuzz.ratio(prediction, ref) / 100
        else:
            raise ValueError(f"unknown LongBench metric {metric!r}")
        best = max(best, value)
    return best


def parse_failure(metric: str, prediction: str, all_classes: Sequence[str]) -> str | None:
    """Why an answer has nothing to score, for the metrics that extract something."""
    if metric in ("count", "retrieval", "retrieval_zh") and not re.search(r"\d+", prediction):
        return "no number in the answer"
    if metric == "classification" and not any(c in prediction for c in all_classes):
        return "no class name in the answer"
    return None


# --- aggregation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LongBenchMetric(Metric):
    """Naive mean over categories of naive means over subtasks (OpenCompass summary groups)."""

    aggregation = "mean over categories of means over subtasks"

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        cats = category_values(group_stats(results), CATEGORIES)
        return as_metric(self.name, naive_mean(list(cats.values())))

    def secondary(
        self, results: Sequence[SampleResult], ctx: BenchmarkContext | None = None
    ) -> tuple[MetricValue, ...]:
        """The six category scores (Table 15's Single / Multi / Summ / FSL / Syn / Code)."""
        cats = category_values(group_stats(results), CATEGORIES)
        return tuple(as_metric(name, stat) for name, stat in cats.items())


# --- data -----------------------------------------------------------------------------------


def _item(row: dict[str, Any], subtask: str, i: int, where: str) -> LongBenchItem:
    try:
        answers = tuple(str(a) for a in row["answers"])
        classes = tuple(str(c) for c in (row.get("all_classes") or ()))
        return LongBenchItem(
            id=f"{subtask}/{row.get('_id') or i}",
            target=json.dumps(list(answers), ensure_ascii=False),
            subtask=subtask,
            input=str(row.get("input") or row.get("question") or ""),
            context=str(row["context"]),
            answers=answers,
            all_classes=classes,
        )
    except (KeyError, TypeError) as exc:
        raise DataError(f"{where}:{i + 1}: not a LongBench record ({exc!r})") from None


def _read_jsonl(path: Path, subtask: str) -> list[LongBenchItem]:
    return [_item(row, subtask, n - 1, str(path)) for n, row in numbered_jsonl(path)]


def _load_local(root: Path) -> list[LongBenchItem]:
    items: list[LongBenchItem] = []
    missing = []
    for task in SUBTASKS:
        path = root / f"{task.name}.jsonl"
        if path.is_file():
            items += _read_jsonl(path, task.name)
        else:
            missing.append(task.name)
    if not items:
        raise DataError(f"longbench: no <subtask>.jsonl under {root}")
    if missing:
        log.warning("longbench: %d subtasks missing under %s: %s", len(missing), root,
                    ", ".join(missing))
    return items


def _load_hub(root: Path) -> list[LongBenchItem]:
    """``Xnhyacinth/LongBench`` (lm-eval's copy; ``question`` where upstream says ``input``),
    one test parquet per subtask, as ``evals data fetch`` stores them."""
    items: list[LongBenchItem] = []
    for task in SUBTASKS:
        rows = parquet_rows(root / task.name, "test-*.parquet")
        items += [_item(r, task.name, i, f"{root}/{task.name}") for i, r in enumerate(rows)]
    return items


DATA = DataSpec(
    layouts=(Layout("upstream", "longbench"), Layout("opencompass", "Longbench/data"),
             Layout("hub", f"hub/{HUB_ID}", (SUBTASKS[0].name,))),
    remote=remote("longbench"), items=4750, license="MIT (code); per-source licenses")


def build_prompt(sample: LongBenchItem, kind: ModelKind) -> Prompt:
    task = BY_NAME[sample.subtask]
    fields = [("context", sample.context)] + ([("input", sample.input)] if task.with_input else [])
    text = fill(task.template, fields)
    if kind is ModelKind.CHAT:
        return ChatPrompt((Message("user", text),))
    return TextPrompt(text)


@register
class LongBench(Defaults):
    name = "longbench"
    modes = (Mode.GEN,)
    default_shots = 0
    metric = LongBenchMetric("average")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[LongBenchItem]:
        return load_local(self.name, ctx, DATA, {
            "upstream": _load_local, "opencompass": _load_local, "hub": _load_hub})

    def group(self, sample: LongBenchItem) -> str:
        return sample.subtask

    def requests(self, sample: LongBenchItem, ctx: BenchmarkContext) -> list[Request]:
        max_out = ctx.max_tokens or BY_NAME[sample.subtask].max_out
        params = GenerationParams(max_tokens=max_out, truncate="middle")
        return [GenerateRequest(build_prompt(sample, ctx.kind), params)]

    def score(
        self, sample: LongBenchItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        text = only_text(responses)
        metric = BY_NAME[sample.subtask].metric
        pred = postprocess(sample.subtask, text)
        value = score_answer(metric, pred, sample.answers, sample.all_classes)
        why = parse_failure(metric, pred, sample.all_classes)
        return Score(value, pred, parse_failed=why is not None, detail=why or "")
