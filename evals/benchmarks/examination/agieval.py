"""AGIEval v1, 0-shot: the 21 OpenCompass subsets (the paper's 20 exams, with SAT-en also
asked without its passage); score = naive average of subset accuracies (``agieval`` group,
``summarizers/groups/agieval.py``).

Base models run OpenCompass ``agieval_mixed`` (``agieval_mixed_e33d83`` in 0.5.4, the
report's ``agieval_mixed_2f14ad``): 16 single-choice subsets are PPL (HUMAN ``{intro}\\n
{question}\\n{options}``, BOT ``答案是：X`` / ``The answer is X``, argmin mean cross-entropy),
3 multi-choice subsets generate and take ``first_capital_postprocess_multi`` (the first run
of A-D capitals) compared exactly (``AGIEvalEvaluator_mcq``), 2 cloze subsets generate and
go through AGIEval's ``parse_math_answer`` and ``is_equiv`` (``AGIEvalEvaluator``).

**Mixed mode.** A run has one ``ctx.mode``. ``Mode.PPL`` means "the mixed config": each
sample decides its own requests, so single-choice samples send loglikelihood requests and
multi-choice/cloze samples send one generate request; ``score`` dispatches on the response
type. ``Mode.GEN`` is the chat config ``agieval_gen`` (``agieval_gen_5c79b4``; the report's
``agieval_gen_64afd3`` is not in 0.5.4): everything generates, single choice through
``first_option_postprocess(options='ABCDE')``.

Data: the upstream ``data/v1/{task}.jsonl`` files (``passage``, ``question``, ``options``,
``label``, ``answer``), gzipped or not; question = passage + question (no separator), options
joined by newlines, label lists joined (``AGIEvalDataset_v2``), at ``agieval/v1/`` (shared
data) or OpenCompass's ``AGIEval/data/v1/``; ``evals data fetch`` takes them from
ruixiangcui/AGIEval at a pinned commit. lm-eval reads ``hails/agieval-<task>`` instead, a
re-upload of the same questions per task in another schema.
"""
# ruff: noqa: RUF002  (the docstring quotes the prompts verbatim)

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evals.benchmarks._choice import first_option, score_ppl
from evals.benchmarks._extract import last_boxed_only_string
from evals.benchmarks._io import read_jsonl
from evals.benchmarks.base import BenchmarkContext, Metric, load_local, only_text, register
from evals.data_sources import DataSpec, Layout, layout_files, remote
from evals.errors import DataError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerationParams,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
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

SINGLE = (
    "gaokao-chinese", "gaokao-english", "gaokao-geography", "gaokao-history", "gaokao-biology",
    "gaokao-chemistry", "gaokao-mathqa", "logiqa-zh", "lsat-ar", "lsat-lr", "lsat-rc",
    "logiqa-en", "sat-math", "sat-en", "sat-en-without-passage", "aqua-rat",
)
MULTI = ("gaokao-physics", "jec-qa-kd", "jec-qa-ca")
CLOZE = ("gaokao-mathcloze", "math")
TASKS = SINGLE + MULTI + CLOZE
CHINESE = frozenset((
    "gaokao-chinese", "gaokao-english", "gaokao-geography", "gaokao-history", "gaokao-biology",
    "gaokao-chemistry", "gaokao-physics", "gaokao-mathqa", "logiqa-zh", "gaokao-mathcloze",
    "jec-qa-kd", "jec-qa-ca",
))
FIVE_OPTIONS = frozenset(("lsat-ar", "lsat-lr", "lsat-rc", "aqua-rat"))

INTRO = {
    "gaokao-chinese": "以下是一道中国高考语文选择题，请选择正确的答案。",
    "gaokao-english": "以下是一道中国高考英语选择题，请选择正确的答案。",
    "gaokao-geography": "以下是一道中国高考地理选择题，请选择正确的答案。",
    "gaokao-history": "以下是一道中国高考历史选择题，请选择正确的答案。",
    "gaokao-biology": "以下是一道中国高考生物选择题，请选择正确的答案。",
    "gaokao-chemistry": "以下是一道中国高考化学选择题，请选择正确的答案。",
    "gaokao-physics": "以下是一道中国高考物理选择题，请选择正确的答案。",
    "gaokao-mathqa": "以下是一道中国高考数学选择题，请选择正确的答案。",
    "logiqa-zh": "以下是一道中国公务员考试题，请选择正确的答案。",
    "lsat-ar": "The following is a LSAT Analytical Reasoning question. Please select the correct answer.",
    "lsat-lr": "The following is a LSAT Logical Reasoning question. Please select the correct answer.",
    "lsat-rc": "The following is a LSAT Reading Comprehension question. Please select the correct answer.",
    "logiqa-en": "The following is a Logic Reasoning question. Please select the correct answer.",
    "sat-math": "The following is a SAT Math question. Please select the correct answer.",
    "sat-en": "The following is a SAT English question. Please select the correct answer.",
    "sat-en-without-passage": "The following is a SAT English question. Please select the correct answer.",
    "aqua-rat": "The following is a AQUA-RAT question. Please select the correct answer.",
    "jec-qa-kd": "以下是一道中国司法考试基础知识题，请选择正确的答案。",
    "jec-qa-ca": "以下是一道中国司法考试案例分析题，请选择正确的答案。",
    "gaokao-mathcloze": "以下是一道中国高考数学填空题，请填入正确的答案。",
    "math": "The following is a Math question. Please give the correct answer.",
}


@dataclass(frozen=True)
class AGIEvalItem(Sample):
    task: str
    question: str
    """The passage (if any) followed directly by the question, as ``AGIEvalDataset_v2``."""
    options: str
    """The options joined by newlines; empty for cloze tasks."""

    @property
    def labels(self) -> str:
        return "ABCDE" if self.task in FIVE_OPTIONS else "ABCD"


def _format_label(label: Any) -> str:
    """``_format_label``: lists are joined; a missing label (one jec-qa-kd item) stays
    unmatchable, as OpenCompass's ``None`` is."""
    if isinstance(label, list):
        return "".join(map(str, label))
    return "" if label is None else str(label)


def _rows(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path)


def _load_local(root: Path) -> list[AGIEvalItem]:
    items: list[AGIEvalItem] = []
    for task in TASKS:
        path = next((p for p in (root / f"{task}.jsonl", root / f"{task}.jsonl.gz") if p.exists()), None)
        if path is None:
            raise DataError(f"agieval: {root}/{task}.jsonl missing")
        for i, row in enumerate(_rows(path)):
            question = (row.get("passage") or "") + row["question"]
            options = "\n".join(row["options"]) if row.get("options") else ""
            label = row["label"] if row.get("label") else row.get("answer")
            items.append(AGIEvalItem(f"{task}/{i}", _format_label(label), task, question, options))
    return items


DATA = DataSpec(
    layouts=(Layout("upstream", "agieval/v1"), Layout("opencompass", "AGIEval/data/v1")),
    remote=remote("agieval"), items=None, license="MIT (repo); per-source licenses (data/v1)")
"""``items``: the 21 task files hold 8,269 questions; evals scores the 20 OpenCompass names."""


def _kind(task: str) -> str:
    return "single" if task in SINGLE else "multi" if task in MULTI else "cloze"


def human_text(item: AGIEvalItem, mode: Mode) -> str:
    """The HUMAN turn of the mixed config (``Mode.PPL``) or of ``agieval_gen`` (``Mode.GEN``)."""
    zh = item.task in CHINESE
    intro = INTRO[item.task]
    kind = _kind(item.task)
    if kind == "single" and mode is Mode.PPL:
        return f"{intro}\n{item.question}\n{item.options}"
    if kind == "cloze" and mode is Mode.PPL:
        return f"{intro}\n{item.question}{'答案是：' if zh else 'The answer is '}"
    hint = "答案是： " if zh else "The answer is "
    if kind == "cloze":
        return f"{intro}\n{item.question}\n{hint}"
    return f"{intro}\n{item.question}\n{item.options}\n{hint}"


def _user(text: str, kind: ModelKind) -> Prompt:
    if kind is ModelKind.CHAT:
        return ChatPrompt((Message("user", text),))
    return TextPrompt(text)


# ---- AGIEval's post_process.parse_math_answer and math_equivalence.is_equiv, ported as is ----


def _remove_few_shot_prefix(string: str) -> str:
    for prefix in ("The answer is therefore", "答案是"):
        if string.startswith(prefix):
            string = string[len(prefix):].strip()
        elif prefix in string:
            index = string.rfind(prefix)
            if index >= 0:
                string = string[index + len(prefix):].strip()
    return string


def _remove_boxed(s: str | None) -> str | None:
    left = "\\boxed{"
    if s is None or s[: len(left)] != left or s[-1] != "}":
        return None
    answer = s[len(left) : -1]
    if "=" in answer:
        answer = answer.split("=")[-1].lstrip(" ")
    return answer


def parse_math_answer(raw: str) -> str | None:
    """``parse_math_answer('', raw)``: the last ``\\boxed{}``, else the last ``$...$`` (after
    any ``=``), else the text after the last ``=``, else the last number."""
    raw = _remove_few_shot_prefix(raw)
    if "\\boxed" in raw:
        return _remove_boxed(last_boxed_only_string(raw))
    matches = re.findall(r"\$(.*)\$", raw)
    if matches:
        last: str | None = matches[-1]
        if last and "=" in last:
            last = last.split("=")[-1].lstrip(" ")
        if last:
            return last
    if "=" in raw:
        last = raw.split("=")[-1].lstrip(" ").rstrip(".")
        if "\\n" in last:  # a literal backslash-n, as upstream
            last = last.split("\\n")[0]
        return last
    numbers = re.findall(r"(?:\$)?\d+(?:\.\d+)?(?![\w\d])", raw)
    return numbers[-1] if numbers else None


def _fix_fracs(string: str) -> str:
    substrs = string.split("\\frac")
    new_str = substrs[0]
    for substr in substrs[1:]:
        new_str += "\\frac"
        if substr[0] == "{":  # IndexError on "\\frac" at the end, caught by is_equiv
            new_str += substr
            continue
        if len(substr) < 2:
            return string
        a, b = substr[0], substr[1]
        if b != "{":
            new_str += "{" + a + "}{" + b + "}" + substr[2:]
        else:
            new_str += "{" + a + "}" + b + substr[2:]
    return new_str


def _fix_a_slash_b(string: str) -> str:
    parts = string.split("/")
    if len(parts) != 2:
        return string
    try:
        a, b = int(parts[0]), int(parts[1])
    except ValueError:
        return string
    if string != f"{a}/{b}":
        return string
    return "\\frac{" + str(a) + "}{" + str(b) + "}"


def _remove_right_units(string: str) -> str:
    if "\\text{ " in string:
        splits = string.split("\\text{ ")
        if len(splits) != 2:
            raise ValueError("several \\text{ units")  # upstream asserts; is_equiv catches
        return splits[0]
    return string


def _fix_sqrt(string: str) -> str:
    if "\\sqrt" not in string:
        return string
    splits = string.split("\\sqrt")
    new_string = splits[0]
    for split in splits[1:]:
        if split[0] != "{":  # IndexError on a trailing "\\sqrt", caught by is_equiv
            new_string += "\\sqrt{" + split[0] + "}" + split[1:]
        else:
            new_string += "\\sqrt" + split
    return new_string


def strip_string(string: str) -> str:
    string = string.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    string = string.replace("tfrac", "frac").replace("dfrac", "frac")
    string = string.replace("\\left", "").replace("\\right", "")
    string = string.replace("^{\\circ}", "").replace("^\\circ", "")
    string = string.replace("\\$", "")
    string = _remove_right_units(string)
    string = string.replace("\\%", "").replace("\\%", "")
    string = string.replace(" .", " 0.").replace("{.", "{0.")
    if not string:
        return string
    if string[0] == ".":
        string = "0" + string
    if len(string.split("=")) == 2 and len(string.split("=")[0]) <= 2:
        string = string.split("=")[1]
    string = _fix_sqrt(string)
    string = string.replace(" ", "")
    string = _fix_fracs(string)
    if string == "0.5":
        string = "\\frac{1}{2}"
    return _fix_a_slash_b(string)


def is_equiv(a: str | None, b: str | None) -> bool:
    if a is None and b is None:
        return True
    if a is None or b is None:
        return False
    try:
        return strip_string(a) == strip_string(b)
    except Exception:  # upstream's bare except around the hendrycks normaliser
        return a == b


def first_capitals_multi(text: str) -> str:
    """``first_capital_postprocess_multi``: the first run of A-D capitals, or ``''``."""
    match = re.search(r"([A-D]+)", text)
    return match.group(1) if match else ""


def score_generation(item: AGIEvalItem, text: str, mode: Mode) -> Score:
    kind = _kind(item.task)
    if kind == "cloze":
        pred = parse_math_answer(text)
        if pred is None:
            return Score(0.0, None, parse_failed=True, detail="no math answer found")
        return Score(float(is_equiv(pred, item.target)), pred)
    pred = first_capitals_multi(text) if kind == "multi" else first_option(text, "ABCDE") or ""
    if not pred:
        return Score(0.0, None, parse_failed=True, detail="no option letter found")
    return Score(float(pred == item.target), pred)


# summarizers/groups/agieval.py: the sub-groups OpenCompass prints beside ``agieval``
SUB_GROUPS = {
    "agieval-chinese": tuple(t for t in TASKS if t in CHINESE),
    "agieval-english": tuple(t for t in TASKS if t not in CHINESE),
    "agieval-gaokao": tuple(t for t in TASKS if t.startswith("gaokao-")),
}


@dataclass(frozen=True)
class AGIEvalMetric(Metric):
    """The naive average over subsets, plus OpenCompass's Chinese/English/Gaokao averages."""

    def secondary(
        self, results: Sequence[SampleResult], ctx: BenchmarkContext | None = None
    ) -> tuple[MetricValue, ...]:
        out = []
        for name, tasks in SUB_GROUPS.items():
            subset = [r for r in results if r.group in tasks]
            if subset:
                v = Metric(name, by_group=True).aggregate(subset)
                out.append(v)
        return tuple(out)


@register
class AGIEval:
    name = "agieval"
    modes = (Mode.PPL, Mode.GEN)
    default_shots = 0
    metric = AGIEvalMetric("accuracy", by_group=True)

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[AGIEvalItem]:
        return load_local(self.name, ctx, DATA, {"upstream": _load_local,
                                                 "opencompass": _load_local})

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return [p for p in layout_files(DATA, ctx.data_dir) if ".jsonl" in p.name]

    def group(self, sample: AGIEvalItem) -> str:
        return sample.task

    def requests(self, sample: AGIEvalItem, ctx: BenchmarkContext) -> list[Request]:
        text = human_text(sample, ctx.mode)
        if ctx.mode is Mode.PPL and _kind(sample.task) == "single":
            hint = "答案是：" if sample.task in CHINESE else "The answer is "
            if ctx.kind is ModelKind.BASE:  # HUMAN and BOT joined by "\n", as OpenCompass
                return [LoglikelihoodRequest(TextPrompt(f"{text}\n{hint}"), L) for L in sample.labels]
            return [LoglikelihoodRequest(_user(text, ctx.kind), hint + L) for L in sample.labels]
        params = GenerationParams(max_tokens=ctx.max_tokens or 1024)
        return [GenerateRequest(_user(text, ctx.kind), params)]

    def score(
        self, sample: AGIEvalItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        if all(isinstance(r, LoglikelihoodResponse) for r in responses):
            labels = sample.labels
            gold = labels.index(sample.target) if sample.target in tuple(labels) else -1
            # lm-eval's acc/acc_norm extras would average over the PPL subsets' samples only
            return replace(score_ppl(responses, gold, list(labels)), extras=())
        text = only_text(responses)
        return score_generation(sample, text, ctx.mode)
