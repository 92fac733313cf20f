"""CompassArena agrees with OpenCompass 0.5.4: the judge prompts of every fixture item in both
orders (OpenCompass's own config file, its ``CompassArenaDataset.load`` and ``PromptTemplate``
with the columns LMEvaluator adds), the verdict regex, and the win rates of
``CompassArenaSummarizer(summary_type='half_add')`` on the same judgements."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.benchmarks.alignment.compass_arena import (
    SUBSETS,
    ArenaItem,
    CompassArena,
    judge_prompt,
    parse_choice,
    pooled_win_rate,
)
from evals.benchmarks.base import BenchmarkContext
from evals.records import GenerateResponse, Mode, ModelKind, SampleResult
from tests.fidelity.conftest import Reference

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFIG = "subjective/compassarena/compassarena_compare.py"
BENCH = CompassArena()

RENDER = """
from opencompass.openicl.icl_prompt_template import PromptTemplate
m = oc("opencompass.datasets.subjective.compass_arena")
src = open(DATA["config"], encoding="utf-8").read()
src = "\\n".join(l for l in src.splitlines() if not l.startswith("from "))
ns = {k: k for k in ["ZeroRetriever", "GenInferencer", "LMEvaluator", "CompassArenaDataset",
                     "CompassArenaSummarizer"]}
ns["PromptTemplate"] = PromptTemplate
exec(src, ns)
out = []
for cfg in ns["compassarena_datasets"]:
    ds = object.__new__(m.CompassArenaDataset).load(path=DATA["root"], name=cfg["name"])
    tp = cfg["eval_cfg"]["evaluator"]["prompt_template"]
    pt = PromptTemplate(**{k: v for k, v in tp.items() if k != "type"})
    for i, row in enumerate(ds):
        for order in ("AB", "BA"):
            first, second = DATA["model"], DATA["baseline"][cfg["name"]][i]
            if order == "BA":
                first, second = second, first
            # the columns LMEvaluator.score adds, in its order
            entry = dict(row, prediction=first, prediction_en_word_count=0,
                         prediction_cn_word_count=0, obj_gold={}, prediction2=second,
                         prediction2_en_word_count=0, prediction2_cn_word_count=0,
                         reference={})
            item = pt.generate_item(entry)
            (human,) = [x["prompt"] for x in item if isinstance(x, dict) and "prompt" in x]
            out.append([cfg["name"], i, order, human])
RESULT = out
"""


def _items() -> list[ArenaItem]:
    return BENCH.load(BenchmarkContext(FIXTURES, ModelKind.CHAT, Mode.GEN, 0))


def test_judge_prompts_match_opencompass(reference: Reference, oc_configs: Path) -> None:
    config = oc_configs / CONFIG
    if not config.exists():
        pytest.fail(f"OpenCompass config missing: {config}")
    items = _items()
    model = "模型的回答：{question} 里的花括号 {ref} 保持原样。"
    baselines = {s: [i.baseline for i in items if i.subset == s] for s in SUBSETS}
    expected = reference(RENDER, {"config": str(config), "root": str(FIXTURES / "compass_arena"),
                                  "model": model, "baseline": baselines})
    by_key = {(i.subset, int(i.id.split("/")[1])): i for i in items}
    assert len(expected) == 2 * len(items) == 30
    for subset, index, order, text in expected:
        assert judge_prompt(by_key[(subset, index)], model, order) == text, (subset, index, order)


VERDICTS = ["选择：A\n原因：更好。", "选择：B", "Choice: C\nReason: tie", "选择: A", "选择：D",
            "回答1更好", "原因：……\n选择：B", "选择：C 选择：A", ""]

REF_PARSE = """
m = oc("opencompass.summarizers.subjective.compass_arena")
RESULT = [m.post_process_compass_arena(t) for t in DATA]
"""


def test_verdict_regex_matches_opencompass(reference: Reference) -> None:
    assert [parse_choice(t) for t in VERDICTS] == reference(REF_PARSE, VERDICTS)


REF_SUMMARY = """
import json, os, tempfile
from mmengine import ConfigDict
m = oc("opencompass.summarizers.subjective.compass_arena")
work = tempfile.mkdtemp()
sub = os.path.join(work, "results", "gpt4-turbo_m_judged-by--judge")
os.makedirs(sub)
for subset, rows in DATA.items():
    out = {str(k): {"prediction": text, "gold": gold} for k, (text, gold) in enumerate(rows)}
    with open(os.path.join(sub, "compassarena_" + subset + ".json"), "w") as f:
        json.dump(out, f, ensure_ascii=False)
cfg = ConfigDict(
    datasets=[dict(abbr="compassarena_" + s, base_models=[dict(abbr="gpt4-turbo")]) for s in DATA],
    eval=dict(partitioner=dict(models=[dict(abbr="m")])),
    judge_models=[dict(abbr="judge")], work_dir=work)
scores = m.CompassArenaSummarizer(cfg, summary_type="half_add").get_score("t")
RESULT = {k[len("compassarena_"):]: dict(v["m"]) for k, v in scores["judge"].items()}
"""


def _script(item: ArenaItem, order: str) -> str:
    """A judge that varies: wins, losses, ties, position bias and unreadable verdicts."""
    n = int(item.id.split("/")[1]) + SUBSETS.index(item.subset)
    return ["选择：A", "选择：B", "选择：C", "我选第一个", "选择：A"][(n + (order == "BA")) % 5]


def test_win_rates_match_opencompass_summarizer(reference: Reference) -> None:
    ctx = BenchmarkContext(FIXTURES, ModelKind.CHAT, Mode.GEN, 0)
    results, judged = [], {s: [] for s in SUBSETS}  # type: ignore[var-annotated]
    for item in _items():
        verdicts = [GenerateResponse(_script(item, o), 1, 1, "stop") for o in ("AB", "BA")]
        score = BENCH.score_judged(item, [GenerateResponse("x", 1, 1, "stop")], verdicts, ctx)
        results.append(SampleResult(item.id, BENCH.group(item), "", "", ("x",), score))
        for o, v in zip(("AB", "BA"), verdicts, strict=True):
            answers = ("m", "gpt4-turbo") if o == "AB" else ("gpt4-turbo", "m")
            judged[item.subset].append([v.text, {"capability": item.capability,
                                                 "question": item.question,
                                                 "answer1": answers[0], "answer2": answers[1]}])
    expected = reference(REF_SUMMARY, judged)
    secondary = {m.name: m.value for m in BENCH.metric.secondary(results)}
    assert any(r.score.parse_failed for r in results)  # the comparison covers unreadable ones
    for subset in SUBSETS:
        oc_rows = expected[subset]
        assert round(secondary[subset], 2) == pytest.approx(oc_rows["compassarena_" + subset])
        for r in results:
            if r.sample_id.startswith(subset + "/"):
                cap = r.group.split("/", 1)[1]
                members = [x for x in results if x.group == r.group]
                assert round(100 * pooled_win_rate(members)[0], 2) == pytest.approx(oc_rows[cap])
