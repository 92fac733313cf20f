"""AlignBench agrees with OpenCompass 0.5.4: the judge prompt of every question built by
``AlignmentBenchDataset`` + ``prompt_construct`` (fed our embedded copies of AlignBench's
config tables) and rendered with ``alignbench_v1_1_judgeby_critiquellm``'s template; the
verdict parsing of ``AlignmentBenchSummarizer(judge_type='general')``; and that summarizer's
per-category and overall numbers on the same judgements (the rounding and empty-category
differences pinned)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from evals.benchmarks.alignment import alignbench
from evals.benchmarks.alignment._judged import grade_score
from evals.benchmarks.base import BenchmarkContext
from evals.records import ChatPrompt, GenerateRequest, GenerateResponse, Mode, ModelKind, SampleResult
from tests.fidelity.conftest import Reference
from tests.fidelity.oc_render import CONFIG

REF_PROMPTS = CONFIG + """
import json, os, tempfile
m = oc("opencompass.datasets.subjective.alignbench")
from opencompass.openicl.icl_prompt_template import PromptTemplate

root = tempfile.mkdtemp()
cfg_dir = os.path.join(root, "config")
os.makedirs(cfg_dir)
paths = {"dimension_set_filepath": "dimension_set.json",
         "dimension_def_filepath": "dimension_definition.json",
         "subcategory_mapping": "subcategory_question_mapping.json"}
with open(os.path.join(cfg_dir, "multi-dimension.json"), "w") as f:
    json.dump({"Paths": paths}, f)
for key, table in DATA["tables"].items():
    with open(os.path.join(cfg_dir, paths[key]), "w", encoding="utf-8") as f:
        json.dump(table, f, ensure_ascii=False)
with open(os.path.join(root, "alignment_bench_v1_1.json"), "w", encoding="utf-8") as f:
    json.dump(DATA["rows"], f, ensure_ascii=False)

setattr(sys.modules["opencompass.datasets"], "AlignmentBenchDataset", m.AlignmentBenchDataset)
(ds_cfg,) = load_config("subjective/alignbench/alignbench_v1_1_judgeby_critiquellm.py")["alignbench_datasets"]
ds = m.AlignmentBenchDataset(reader_cfg=ds_cfg["reader_cfg"], path=root, name=ds_cfg["name"],
                             alignment_bench_config_path=cfg_dir,
                             alignment_bench_config_name=ds_cfg["alignment_bench_config_name"])
infer = PromptTemplate(template=ds_cfg["infer_cfg"]["prompt_template"]["template"])
judge = PromptTemplate(template=ds_cfg["eval_cfg"]["evaluator"]["prompt_template"]["template"])


def human(prompt_list):
    (turn,) = [x for x in prompt_list if isinstance(x, dict) and x.get("role") == "HUMAN"]
    return turn["prompt"]


rows = list(ds.test)
RESULT = {
    "summarizer": [ds_cfg["summarizer"]["type"].__name__, ds_cfg["summarizer"]["judge_type"]],
    "questions": [human(infer.generate_item(r)) for r in rows],
    "prompts": [human(judge.generate_item({"critiquellm_prefix": r["critiquellm_prefix"],
                                           "prediction": DATA["answers"][i % len(DATA["answers"])]}))
                for i, r in enumerate(rows)],
}
"""

ANSWERS = ["喜欢听音乐和看电影。你呢？", "", "答案是 {'综合得分': 10}\n\n第二段。", "  有空格  \n"]


def _items(data_dir: Path) -> list[alignbench.AlignBenchItem]:
    ctx = BenchmarkContext(data_dir, ModelKind.CHAT, Mode.GEN, 0)
    return alignbench.AlignBench().load(ctx)


def test_judge_prompts_match_opencompass(reference: Reference, data_dir: Path) -> None:
    items = _items(data_dir)
    rows = [{"question": i.question, "capability": i.category,
             "others": {"subcategory": i.subcategory, "reference": i.reference,
                        "question_id": int(i.id)}} for i in items]
    tables = {"dimension_set_filepath": alignbench.DIMENSION_SET,
              "dimension_def_filepath": alignbench.DIMENSION_DEFINITION,
              "subcategory_mapping": alignbench.SUBCATEGORY_TYPE}
    expected = reference(REF_PROMPTS, {"rows": rows, "tables": tables, "answers": ANSWERS})
    assert expected["summarizer"] == ["AlignmentBenchSummarizer", "general"]
    bench = alignbench.AlignBench()
    ctx = BenchmarkContext(data_dir, ModelKind.CHAT, Mode.GEN, 0)
    assert len(expected["prompts"]) == len(items) == 683
    for n, item in enumerate(items):
        (ask,) = bench.requests(item, ctx)
        assert isinstance(ask, GenerateRequest) and isinstance(ask.prompt, ChatPrompt)
        assert ask.prompt.messages[0].content == expected["questions"][n]
        answer = GenerateResponse(ANSWERS[n % len(ANSWERS)], 0, 0, "stop")
        (call,) = bench.judge_requests(item, [answer], ctx)
        assert isinstance(call.prompt, ChatPrompt)
        assert call.prompt.messages[0].content == expected["prompts"][n], item.id


REF_PARSE = """
s = oc("opencompass.summarizers.subjective.alignmentbench")
RESULT = [None if (r := s.post_process_alignbench(t)) is None else r["score"] for t in DATA]
"""

DIMS = ("事实正确性", "满足用户需求", "清晰度", "完备性", "逻辑连贯性", "创造性", "丰富度")


def _verdict(rng: random.Random) -> str:
    """Judge outputs of every shape seen or feared: well-formed, several dicts, broken quotes,
    missing or out-of-range grades, unknown keys, decimals, prose only."""
    g, h = rng.randint(1, 10), rng.randint(0, 12)
    dims = ", ".join(f"'{d}': {rng.randint(1, 10)}" for d in rng.sample(DIMS, 3))
    shapes = [
        f"评价如下。\n{{{dims}, '综合得分': {g}}}",
        f"{{{dims},\n'综合得分': {g}\n}}\n",
        f"初评 {{'综合得分': {h}}}。复核 {{{dims}, '综合得分': {g}}}",
        f"初评 {{'综合得分': {g}}}。附注 {{'事实正确性': {h}}}",
        f"{{‘事实正确性’: {g}, ‘综合得分’: {g}}}",
        f'{{"事实正确性": {g}, "综合得分": {g}}}',
        f"{{'事实正确性'：{g}, '综合得分'：{g}}}",
        f"{{{dims}}}",
        f"{{{dims}, '综合得分': {h}}}",
        f"{{'趣味性': {g}, '综合得分': {g}}}",
        f"{{'综合得分': {g}.5}}",
        f"综合得分: {g}",
        "无法评价。",
        f"{{'综合得分': {g}}} 结尾 {{无}} {{",
        f"'综合得分': {g}}}",
    ]
    return rng.choice(shapes)


def _verdicts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [_verdict(rng) for _ in range(n)]


def test_verdict_parsing_matches_opencompass(reference: Reference) -> None:
    texts = _verdicts(600)
    expected = reference(REF_PARSE, texts)
    ours = [alignbench.parse_grade(t) for t in texts]
    assert ours == expected
    assert 50 < sum(g is None for g in ours) < 550  # both kinds well represented


REF_SUMMARY = """
import csv, glob, json, os, tempfile
s = oc("opencompass.summarizers.subjective.alignmentbench")
work = tempfile.mkdtemp()
abbr = "alignment_bench_v1_1"
results = os.path.join(work, "results", "m_judged-by--judge")
os.makedirs(results)
with open(os.path.join(results, abbr + ".json"), "w", encoding="utf-8") as f:
    json.dump({str(i): {"prediction": t, "gold": {"capability": c}}
               for i, (t, c) in enumerate(DATA)}, f, ensure_ascii=False)
cfg = {"eval": {"partitioner": {"models": [{"abbr": "m"}]}}, "judge_models": [{"abbr": "judge"}],
       "datasets": [{"abbr": abbr}], "work_dir": work}
scores = s.AlignmentBenchSummarizer(cfg, judge_type="general").summarize(time_str="t")
(table,) = glob.glob(os.path.join(work, "summary", "t", "*-capability.csv"))
with open(table, encoding="utf-8") as f:
    rows = list(csv.reader(f))
RESULT = {"scores": scores["Alignbench"]["judge"]["m"], "csv": dict(zip(rows[2], rows[3]))}
"""


def _summaries(reference: Reference, items: list[alignbench.AlignBenchItem],
               texts: list[str]) -> tuple[dict[str, float], dict[str, str], dict[str, float]]:
    expected = reference(REF_SUMMARY, [[t, i.category] for t, i in zip(texts, items, strict=True)])
    results = [SampleResult(i.id, i.category, "", i.target, ("",),
                            grade_score([alignbench.judgement(t)]))
               for t, i in zip(texts, items, strict=True)]
    metric = alignbench.AlignBenchScore("overall", scale=1.0)
    ours = {m.name: m.value for m in metric.secondary(results)}
    ours["overall"] = metric.aggregate(results).value
    return expected["scores"], expected["csv"], ours


def test_summary_matches_alignment_bench_summarizer(reference: Reference,
                                                    data_dir: Path) -> None:
    items = _items(data_dir)
    oc_scores, oc_csv, ours = _summaries(reference, items, _verdicts(len(items), seed=1))
    for zh, name in alignbench.CATEGORY_NAMES.items():
        assert round(ours[name], 2) == oc_scores[zh], zh  # OpenCompass rounds each category
    assert float(oc_csv["中文推理总分"]) == pytest.approx(ours["reasoning_zh"], abs=0.01)
    assert float(oc_csv["中文语言总分"]) == pytest.approx(ours["language_zh"], abs=0.01)
    assert oc_scores["总分"] == pytest.approx(ours["overall"], abs=0.015)
    # with OpenCompass's rounding at every level the numbers are the same (Python's round for
    # the category means, numpy's for the np.float64 averages above them)
    cats = {zh: round(ours[name], 2) for zh, name in alignbench.CATEGORY_NAMES.items()}
    groups = [float(np.round(np.mean([cats[c] for c in members]), 2))
              for members in alignbench.CATEGORIES.values()]
    assert [float(oc_csv["中文推理总分"]), float(oc_csv["中文语言总分"])] == groups
    assert oc_scores["总分"] == float(np.round((np.float64(groups[0]) + groups[1]) / 2, 2))


def test_a_category_without_readable_grade_drops_out_where_opencompass_counts_zero(
        reference: Reference, data_dir: Path) -> None:
    items = _items(data_dir)
    texts = ["无法评价。" if i.category == "角色扮演" else "{'综合得分': 6}" for i in items]
    oc_scores, oc_csv, ours = _summaries(reference, items, texts)
    assert oc_scores["角色扮演"] == 0.0 and "role_play" not in ours
    assert float(oc_csv["中文语言总分"]) == 5.0 and ours["language_zh"] == 6.0
    assert oc_scores["总分"] == 5.5 and ours["overall"] == 6.0
