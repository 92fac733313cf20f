"""L-Eval scoring agrees with OpenCompass 0.5.4 per sample (closed-task postprocessors and
evaluators, ROUGE for open tasks), per task (ROUGE's bootstrap aggregate) and in the summary
(the ``leval`` summary group; Close and Open from the summarizer's two sections)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.long_context.leval import (
    BY_NAME,
    CATEGORIES,
    LEval,
    LEvalItem,
    LEvalMetric,
    bootstrap_mid,
    reference,
    rouge1,
)
from evals.records import GenerateResponse, Mode, ModelKind, SampleResult
from tests.fidelity.conftest import Reference

COMMON = """
tp = oc("opencompass.utils.text_postprocessors")
lev = oc("opencompass.datasets.leval")
g = oc("opencompass.datasets.leval.leval_gsm100")
from opencompass.openicl.icl_evaluator import AccEvaluator, RougeEvaluator
PRED = {"coursera": tp.first_capital_postprocess_multi, "quality": tp.first_capital_postprocess,
        "tpo": tp.first_capital_postprocess, "gsm100": g.gsm100_postprocess,
        "topic_retrieval": tp.general_postprocess}

def ref_of(task, answer):
    if task == "quality":  # LEvalQualityDataset keeps answer[1]
        return answer[1]
    if task == "gsm100":  # dataset_postprocessor
        return g.gsm100_dataset_postprocess(answer)
    return answer

def task_score(task, texts, answers):
    refs = [ref_of(task, a) for a in answers]
    if task not in PRED:
        return RougeEvaluator().score(texts, refs)["rouge1"]
    preds = [PRED[task](t) for t in texts]
    if task == "topic_retrieval":
        return lev.LEvalEMEvaluator().score(preds, refs)["score"]
    return AccEvaluator().score(preds, refs)["accuracy"]
"""

# (task, raw model output, raw answer as in the data file)
CASES: list[tuple[str, str, str]] = [
    ("coursera", "AB", "AB"),
    ("coursera", "The answer is AC.", "AC"),
    ("coursera", "A, B", "AB"),
    ("coursera", "answer: c", "C"),
    ("coursera", "Based on the document, B", "B"),
    ("coursera", "", "A"),
    ("quality", "B", "(B) Their subconscious knew it."),
    ("quality", "(C) because", "(C) because of the storm"),
    ("quality", "the answer is (A)", "(A) yes"),
    ("quality", "I think A", "(A) yes"),
    ("quality", "none", "(D) no"),
    ("tpo", "A", "A"),
    ("tpo", " D.", "D"),
    ("tpo", "Answer: B", "B"),
    ("tpo", "", "C"),
    ("gsm100", "She sells 9 eggs. The answer is 18", "18"),
    ("gsm100", "The answer is $1,080.", "1,080"),
    ("gsm100", "The answer is: 7 apples", "7"),
    ("gsm100", "The answer is 3.5 hours", "35"),
    ("gsm100", "So 18 it is.", "18"),
    ("gsm100", "The answer is forty The answer is 40", "40"),
    ("topic_retrieval", "The role of art in society", "The role of art in society"),
    ("topic_retrieval", "the role of art in society.", "The role of art in society"),
    ("topic_retrieval", "First topic: The role of art in society, then music", "The role of art in society"),
    ("topic_retrieval", "Music\nThe role of art in society", "The role of art in society"),
    ("topic_retrieval", "", "Climate change"),
    ("topic_retrieval", "Climate-change policy", "Climate-change"),
    ("financialqa", "Revenue grew 12% on strong demand.", "Revenue grew by 12 percent due to strong demand."),
    ("gov_report_summ", "", "The report describes emergency powers."),
    ("gov_report_summ", "The report describes emergency powers.", "The report describes emergency powers."),
    ("nq", "April 25, 2018", "April 25 , 2018"),
    ("nq", "2018", "April 25 , 2018"),
    ("multidocqa", "!!!", "For roughly one year."),
    ("scientificqa", "Café naïve résumé data", "cafe naive resume data"),
    ("review_summ", "Staff friendly.\nRooms clean.", "The staff are friendly. Every room was very clean."),
    ("news_summ", "Les données du 北京 project", "The 北京 project data"),
]


def _sample(task: str, answer: str) -> LEvalItem:
    return LEvalItem(id=f"{task}/0", target=reference(task, answer), task=task, context="",
                     question="", length=len(answer.split()))


CTX = BenchmarkContext(Path("."), ModelKind.CHAT, Mode.GEN, 0)


def _score(task: str, text: str, answer: str) -> float:
    resp = GenerateResponse(text, 0, 0, "stop")
    return LEval().score(_sample(task, answer), [resp], CTX).value


def test_every_task_is_exercised_closed_and_some_open() -> None:
    tasks = {t for t, _, _ in CASES}
    assert set(CATEGORIES["close"]) <= tasks
    assert len(tasks & set(CATEGORIES["open"])) >= 5


def test_leval_scores_agree_with_opencompass(reference: Reference) -> None:
    code = COMMON + "RESULT = [task_score(t, [x], [a]) / 100 for t, x, a in DATA]"
    expected = reference(code, CASES)
    for (task, text, answer), ref_score in zip(CASES, expected, strict=True):
        assert _score(task, text, answer) == pytest.approx(ref_score, abs=1e-6), (task, text)


def test_parse_failures_are_flagged() -> None:
    resp = GenerateResponse("no letter here", 0, 0, "stop")
    score = LEval().score(_sample("tpo", "A"), [resp], CTX)
    assert score.parse_failed and score.value == 0.0
    assert not LEval().score(_sample("tpo", "A"), [GenerateResponse("A", 0, 0, "stop")], CTX).parse_failed


WORDS = ["the", "staff", "room", "clean", "friendly", "report", "power", "emergency", "data",
         "model", "river", "city", "year"]


def _texts(rng: random.Random, n: int) -> list[tuple[str, str]]:
    def text() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12)))

    return [(text(), text() or "staff") for _ in range(n)]


def test_rouge_task_score_is_opencompass_bootstrap_mid(reference: Reference) -> None:
    pairs = _texts(random.Random(1), 37)
    code = COMMON + "RESULT = task_score('news_summ', [p for p, _ in DATA], [r for _, r in DATA])"
    expected = reference(code, pairs)
    values = [rouge1(p, r) for p, r in pairs]
    assert 100 * bootstrap_mid(values) == pytest.approx(expected, abs=1e-6)
    assert abs(100 * sum(values) / len(values) - expected) > 1e-9  # not the plain mean


SUMMARY_REF = COMMON + """
import os, runpy, opencompass
from opencompass.summarizers.default import DefaultSummarizer
from mmengine.logging import MMLogger
root = os.path.join(os.path.dirname(opencompass.__file__), "configs/summarizers")
groups = runpy.run_path(os.path.join(root, "groups/leval.py"))["leval_summary_groups"]
abbrs = runpy.run_path(os.path.join(root, "leval.py"))["summarizer"]["dataset_abbrs"]
sections, current = [], None
for a in abbrs:
    if a.startswith("-"):
        current = []
        sections.append(current)
    else:
        current.append(a)
close, open_ = sections  # 'LEval Exact Match (Acc)', 'LEval Gen (ROUGE)'
s = object.__new__(DefaultSummarizer)
s.summary_groups = groups + [{"name": "close", "subsets": close}, {"name": "open", "subsets": open_}]
s.model_abbrs = ["m"]
s.logger = MMLogger.get_instance("ref")
scores = {"LEval_" + t: task_score(t, [x for x, _ in rows], [a for _, a in rows])
          for t, rows in DATA.items()}
parsed = {"m": {k: {"score": v} for k, v in scores.items()}}
_, parsed, _, _ = s._calculate_group_metrics({"m": {}}, parsed, {k: ["score"] for k in scores}, {})
RESULT = {k: parsed["m"][k]["naive_average"] for k in ("leval", "close", "open")}
"""


def test_summary_matches_opencompass_summarizer(reference: Reference) -> None:
    rng = random.Random(7)
    closed_answers = {"coursera": "AB", "quality": "(B) x", "tpo": "C", "gsm100": "1,200",
                      "topic_retrieval": "Climate change"}
    closed_outputs = {"coursera": ["AB", "A", "B"], "quality": ["B", "A"], "tpo": ["C", "D", "C"],
                      "gsm100": ["The answer is 1200", "The answer is 12"],
                      "topic_retrieval": ["Climate change", "Art"]}
    data: dict[str, list[tuple[str, str]]] = {}
    for task in BY_NAME:
        if BY_NAME[task].closed:
            n = rng.randint(2, 6)
            data[task] = [(rng.choice(closed_outputs[task]), closed_answers[task]) for _ in range(n)]
        else:
            data[task] = _texts(rng, rng.randint(2, 9))
    expected = reference(SUMMARY_REF, data)
    results = [
        SampleResult(f"{t}/{i}", t, "", "", (x,), LEval().score(
            _sample(t, a), [GenerateResponse(x, 0, 0, "stop")], CTX))
        for t, rows in data.items() for i, (x, a) in enumerate(rows)
    ]
    metric = LEvalMetric("average")
    assert metric.aggregate(results).value == pytest.approx(expected["leval"], abs=1e-6)
    secondary = {m.name: m.value for m in metric.secondary(results)}
    assert secondary["close"] == pytest.approx(expected["close"], abs=1e-6)
    assert secondary["open"] == pytest.approx(expected["open"], abs=1e-6)
