"""LongBench scoring agrees with OpenCompass 0.5.4's evaluators per sample, and the summary
with its summarizer groups."""

from __future__ import annotations

import random

import pytest

from evals.benchmarks.long_context.longbench import (
    BY_NAME,
    CATEGORIES,
    LongBenchMetric,
    code_line,
    postprocess,
    score_answer,
)
from evals.records import SampleResult, Score
from tests.fidelity.conftest import Reference

TREC = ["Individual", "Distance, linear measure", "Other location", "City", "Country", "Date"]
LSHT = ["体育", "财经", "娱乐", "科技", "教育", "社会"]

# (subtask, raw model output, answers, all_classes)
CASES: list[tuple[str, str, list[str], list[str]]] = [
    ("hotpotqa", "River Calder", ["River Calder"], []),
    ("hotpotqa", "The River Calder.", ["River Calder"], []),
    ("hotpotqa", "  Calder, I think\n", ["River Calder"], []),
    ("hotpotqa", "I do not know.", ["River Calder"], []),
    ("hotpotqa", "", ["yes"], []),
    ("narrativeqa", "the Nile river", ["Nile", "The Nile", "River Nile"], []),
    ("qasper", "Unanswerable", ["unanswerable", "no"], []),
    ("triviaqa", "\n\nThe Nile\nQuestion: next one", ["Nile", "River Nile"], []),
    ("triviaqa", "Answer: the river Nile", ["Nile", "River Nile"], []),
    ("multifieldqa_zh", "杭州", ["杭州"], []),
    ("multifieldqa_zh", "总部位于杭州市。", ["杭州"], []),
    ("multifieldqa_zh", "北京和深圳", ["杭州"], []),
    ("multifieldqa_zh", "", ["三千万元"], []),
    ("multifieldqa_zh", "三千万元人民币", ["三千万元", "3000万元"], []),
    ("qmsum", "They chose a standard replaceable battery to keep costs down.",
     ["The team decided to use a standard replaceable battery rather than a rechargeable one."], []),
    ("gov_report", "", ["A summary."], []),
    ("gov_report", "...", ["A summary."], []),
    ("multi_news", "Summary one.\n\nSummary two about news.",
     ["Two news stories.", "Summary about the news."], []),
    ("samsum", "\nAnna will bring cake.\nTom brings drinks.", ["Anna brings a cake, Tom drinks."], []),
    ("vcsum", "会议决定先申请实验设备经费。", ["会议讨论了课程安排，决定先申请实验设备经费。"], []),
    ("dureader", "先申请经费，再调整课程", ["先申请设备经费", "再增加实验课比重"], []),
    ("dureader", "", ["先申请设备经费"], []),
    ("trec", "City", ["City"], TREC),
    ("trec", "Type: City\nQuestion: next", ["City"], TREC),
    ("trec", "Country or City", ["City"], TREC),
    ("trec", "Other location", ["Other location"], TREC),
    ("trec", "location", ["Other location"], TREC),
    ("trec", "\n\nDate", ["Date"], TREC),
    ("trec", "Distance, linear measure", ["Distance, linear measure"], TREC),
    ("lsht", "类别：科技", ["科技"], LSHT),
    ("lsht", "体育和娱乐", ["娱乐"], LSHT),
    ("lsht", "不知道", ["财经"], LSHT),
    ("passage_count", "3", ["3"], []),
    ("passage_count", "There are 3 unique paragraphs among 4.", ["3"], []),
    ("passage_count", "three", ["3"], []),
    ("passage_count", "3 3", ["3"], []),
    ("passage_count", "13", ["3"], []),
    ("passage_count", "3 or 4", ["3", "4"], []),
    ("passage_retrieval_en", "Paragraph 2", ["Paragraph 2"], []),
    ("passage_retrieval_en", "Paragraph 2 or Paragraph 12", ["Paragraph 2"], []),
    ("passage_retrieval_en", "The answer is: Paragraph 3", ["Paragraph 2"], []),
    ("passage_retrieval_en", "", ["Paragraph 2"], []),
    ("passage_retrieval_zh", "段落2", ["段落2"], []),
    ("passage_retrieval_zh", "答案是：段落 2，不是段落20", ["段落2"], []),
    ("passage_retrieval_zh", "第二段", ["段落2"], []),
    ("lcc", "    return total / len(values)", ["    return total / len(values)"], []),
    ("lcc", "\n\n# the result\n    return total / n\n", ["    return total / len(values)"], []),
    ("lcc", "```java\n    return b;\n```", ["    return b;"], []),
    ("lcc", "\n  \n    return b;", ["    return b;"], []),
    ("lcc", "x = 1  // set\n\n    return b;", ["    return b;"], []),
    ("lcc", "# only a comment", ["    return b;"], []),
    ("repobench-p", "self.assertEqual(a, b)", ["self.assertEqual(a, b)", "assert a == b"], []),
    ("repobench-p", "", ["    return b;"], []),
]

REF = """
m = oc("opencompass.datasets.longbench.evaluators")
post = {
    "trec": oc("opencompass.datasets.longbench.longbench_trec").trec_postprocess,
    "triviaqa": oc("opencompass.datasets.longbench.longbench_trivia_qa").triviaqa_postprocess,
    "samsum": oc("opencompass.datasets.longbench.longbench_samsum").samsum_postprocess,
    "lsht": oc("opencompass.datasets.longbench.longbench_lsht").lsht_postprocess,
}
ev = {
    "qa_f1": m.LongBenchF1Evaluator(), "qa_f1_zh": m.LongBenchF1Evaluator(language="zh"),
    "rouge": m.LongBenchRougeEvaluator(), "rouge_zh": m.LongBenchRougeEvaluator(language="zh"),
    "classification": m.LongBenchClassificationEvaluator(), "count": m.LongBenchCountEvaluator(),
    "retrieval": m.LongBenchRetrievalEvaluator(),
    "retrieval_zh": m.LongBenchRetrievalEvaluator(language="zh"),
    "code_sim": m.LongBenchCodeSimEvaluator(),
}
RESULT = []
for subtask, metric, text, answers, classes in DATA:
    pred = post[subtask](text) if subtask in post else text
    ref = {"answers": answers, "all_classes": classes} if metric == "classification" else answers
    RESULT.append(ev[metric].score([pred], [ref])["score"] / 100)
"""


def test_every_metric_is_exercised() -> None:
    assert {BY_NAME[s].metric for s, *_ in CASES} == {t.metric for t in BY_NAME.values()}


def test_longbench_scores_agree_with_opencompass(reference: Reference) -> None:
    data = [(s, BY_NAME[s].metric, text, answers, classes) for s, text, answers, classes in CASES]
    expected = reference(REF, data)
    for (subtask, text, answers, classes), ref_score in zip(CASES, expected, strict=True):
        ours = score_answer(BY_NAME[subtask].metric, postprocess(subtask, text), answers, classes)
        assert ours == pytest.approx(ref_score, abs=1e-6), (subtask, text)


def test_code_line_keeps_blank_lines_unlike_lm_eval() -> None:
    """OpenCompass (= upstream LongBench) stops at a blank line; lm-eval skips it."""
    from lm_eval.tasks.longbench.metrics import code_sim_score

    assert code_line("x // c\n\n    return b;") == ""
    assert code_sim_score("x // c\n\n    return b;", "    return b;") == 1.0


SUMMARY_REF = """
import os, runpy, opencompass
from opencompass.summarizers.default import DefaultSummarizer
from mmengine.logging import MMLogger
root = os.path.dirname(opencompass.__file__)
groups = runpy.run_path(os.path.join(root, "configs/summarizers/groups/longbench.py"))
s = object.__new__(DefaultSummarizer)
s.summary_groups = groups["longbench_summary_groups"]
s.model_abbrs = ["m"]
s.logger = MMLogger.get_instance("ref")
parsed = {"m": {"LongBench_" + k: {"score": v} for k, v in DATA.items()}}
metrics = {"LongBench_" + k: ["score"] for k in DATA}
raw = {"m": {}}
_, parsed, _, _ = s._calculate_group_metrics(raw, parsed, metrics, {})
RESULT = {k: v["naive_average"] for k, v in parsed["m"].items() if k.startswith("longbench")}
"""


def test_summary_matches_opencompass_summarizer(reference: Reference) -> None:
    rng = random.Random(0)
    results = []
    for task in BY_NAME:
        for i in range(rng.randint(1, 5)):
            value = rng.random()
            results.append(SampleResult(f"{task}/{i}", task, "", "", ("",), Score(value, "")))
    per_task: dict[str, list[float]] = {}
    for r in results:
        per_task.setdefault(r.group, []).append(r.score.value)
    task_scores = {t: 100 * sum(v) / len(v) for t, v in per_task.items()}
    expected = reference(SUMMARY_REF, task_scores)
    metric = LongBenchMetric("average")
    assert metric.aggregate(results).value == pytest.approx(expected["longbench"], abs=1e-6)
    secondary = {m.name: m.value for m in metric.secondary(results)}
    assert set(secondary) == set(CATEGORIES)
    for name, value in secondary.items():
        assert value == pytest.approx(expected[f"longbench_{name}"], abs=1e-6)
