"""GAOKAO-Bench agrees with OpenCompass 0.5.4: ``GaokaoBenchDataset`` on the same files, the
prompt text of ``GaokaoBench_mixed_9af5ee`` (PPL for single choice) and ``GaokaoBench_gen_5cfe9e``
rendered by OpenCompass, ``GaokaoBenchEvaluator`` per sample for every objective type, and the
score-weighted ``GaokaoBench`` summary over all 1,781 questions."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from evals.benchmarks.base import BENCHMARKS, BenchmarkContext
from evals.benchmarks.examination import gaokao
from evals.records import (
    GenerateRequest,
    LoglikelihoodRequest,
    Mode,
    ModelKind,
    SampleResult,
    TextPrompt,
)
from tests.fidelity.conftest import Reference
from tests.fidelity.oc_render import CONFIG, RENDER


def _items(data_dir: Path) -> list[gaokao.GaokaoItem]:
    return BENCHMARKS.get("gaokao").load(BenchmarkContext(data_dir, ModelKind.BASE, Mode.PPL, 0))  # type: ignore[no-any-return]


REF_LOAD = """
m = oc("opencompass.datasets.GaokaoBench")
RESULT = {}
for kw in DATA["keywords"]:
    ds = m.GaokaoBenchDataset.load(path=DATA["root"], filename="/" + kw + ".json", name=kw)
    RESULT[kw] = [[r["question"], r["answer"]] for r in ds]
"""


def test_loader_matches_gaokao_bench_dataset(reference: Reference, data_dir: Path) -> None:
    root = str(data_dir / "gaokao" / "Objective_Questions")
    expected = reference(REF_LOAD, {"root": root, "keywords": list(gaokao.PROMPTS)})
    items = _items(data_dir)
    for kw in gaokao.PROMPTS:
        assert [[i.question, list(i.answer)] for i in items if i.keyword == kw] == expected[kw], kw


REF_PROMPTS = RENDER + CONFIG + """
out = {}
for cfg in ("GaokaoBench/GaokaoBench_mixed_9af5ee.py", "GaokaoBench/GaokaoBench_gen_5cfe9e.py"):
    datasets = {d["abbr"]: d for d in load_config(cfg)["GaokaoBench_datasets"]}
    rendered = {}
    for kw, rows in DATA.items():
        ds = datasets["GaokaoBench_" + kw]
        infer = ds["infer_cfg"]
        it = {k: v for k, v in infer["ice_template"].items() if k != "type"}
        mode = "ppl" if infer["inferencer"]["type"].__name__ == "PPLInferencer" else "gen"
        rendered[kw] = [mode, render(None, rows, ["question"], "answer", ice_template=it,
                                     labels=list("ABCD"), mode=mode)]
    out[cfg] = rendered
RESULT = out
"""


def test_prompts_match_opencompass_renderer(reference: Reference, data_dir: Path) -> None:
    bench = BENCHMARKS.get("gaokao")
    items = _items(data_dir)
    chosen = {kw: [i for i in items if i.keyword == kw][:2] for kw in gaokao.PROMPTS}
    data = {kw: [{"question": i.question, "answer": list(i.answer)} for i in its]
            for kw, its in chosen.items()}
    expected = reference(REF_PROMPTS, data)
    for cfg, mode in (("GaokaoBench/GaokaoBench_mixed_9af5ee.py", Mode.PPL),
                      ("GaokaoBench/GaokaoBench_gen_5cfe9e.py", Mode.GEN)):
        ctx = BenchmarkContext(data_dir, ModelKind.BASE, mode, 0)
        for kw, its in chosen.items():
            ref_mode, texts = expected[cfg][kw]
            for item, ref in zip(its, texts, strict=True):
                reqs = bench.requests(item, ctx)
                if ref_mode == "ppl":
                    ours = [r.context.text + r.continuation for r in reqs
                            if isinstance(r, LoglikelihoodRequest) and isinstance(r.context, TextPrompt)]
                    assert ours == ref, (cfg, kw)
                else:
                    (r,) = reqs
                    assert isinstance(r, GenerateRequest) and isinstance(r.prompt, TextPrompt), kw
                    assert r.prompt.text == ref, (cfg, kw)


CASES = [
    ("single_choice", "【解析】A错误，B错误，D错误。\n【答案】C <eoa>", ["C"]),
    ("single_choice", "【答案】: C <eoa> 因为 A 不对", ["C"]),  # read from the end: "A"
    ("single_choice", "答案是Ｃ", ["C"]),
    ("single_choice", "无法作答", ["C"]),
    ("single_choice", "D", ["D"]),
    ("multi_choice", "【解析】……<eoe>\n【答案】 B D <eoa>", ["BD"]),
    ("multi_choice", "【解析】……<eoe>\n【答案】B <eoa>", ["BD"]),
    ("multi_choice", "【解析】……<eoe>\n【答案】A B <eoa>", ["BD"]),
    ("multi_choice", "我选 A C D", ["ACD"]),  # no 【答案】: the last 10 characters
    ("multi_choice", "【答案】开头就给出 BC，然后解析A选项……", ["BC"]),  # index 0 is not > 0
    ("multi_choice", "不会", ["A"]),
    ("multi_question_choice", "(1)【答案】A <eoa>\n(2)【答案】：C <eoa>\n(3)【答案】 D <eoa>",
     ["A", "C", "D"]),
    # tagged answers fewer than the blanks: all capitals in order instead
    ("multi_question_choice", "(1)【答案】A <eoa>\n(2) C\n(3) D", ["A", "C", "D"]),
    ("multi_question_choice", "1. B 2. C", ["A", "C", "D"]),
    ("multi_question_choice", "全部不会", ["A", "C"]),
    ("multi_question_choice", "【答案】Z <eoa>", ["Z"]),
    ("five_out_of_seven", "【答案】 C F A E D <eoa>", ["C", "F", "A", "E", "D"]),
    ("five_out_of_seven", "答案：G B", ["C", "F", "A", "E", "D"]),
    ("five_out_of_seven", "CFAEDGB", ["C", "F", "A", "E", "D"]),
]

REF_SCORE = """
m = oc("opencompass.datasets.GaokaoBench")
RESULT = []
for qtype, text, answer in DATA:
    ev = m.GaokaoBenchEvaluator(qtype)
    post = ev.do_predictions_postprocess(text, len(answer))
    out = ev.score([text], [answer])
    RESULT.append([post, out["score"], out["details"]["0"]["is_correct"]])
"""


def test_evaluator_agrees_per_sample(reference: Reference) -> None:
    expected = reference(REF_SCORE, CASES)
    for (qtype, text, answer), (post, ref_score, _) in zip(CASES, expected, strict=True):
        pred = gaokao.postprocess(qtype, text, len(answer))
        assert pred == post, text
        won, total = gaokao.points(qtype, pred, answer)
        assert 100 * won / total == pytest.approx(ref_score), text
        item = gaokao.GaokaoItem("x", ",".join(answer), "k", qtype, "q", tuple(answer))
        assert gaokao.score_output(item, text).parse_failed == (len(post) != len(answer)), text


REF_SUMMARY = CONFIG + """
from pathlib import Path
import opencompass
m = oc("opencompass.datasets.GaokaoBench")
path = Path(opencompass.__file__).parent / "configs" / "summarizers" / "groups" / "GaokaoBench.py"
scope = {}
exec(path.read_text(encoding="utf-8"), scope)
group = scope["GaokaoBench_summary_groups"][0]
scores = {}
for kw, (qtype, outputs, answers) in DATA.items():
    scores["GaokaoBench_" + kw] = m.GaokaoBenchEvaluator(qtype).score(outputs, answers)["score"]
w = group["weights"]
# summarizers/default.py, weighted_average
RESULT = [scores, sum(scores[k] * w[k] for k in w if w[k] != 0) / sum(w.values())]
"""


def _fake_output(rng: random.Random, item: gaokao.GaokaoItem) -> str:
    """Right, partly right, wrong, or unparsable answers in each type's reply format."""
    r = rng.random()
    letters = list(item.answer)
    if r < 0.15:
        return "这道题我不会做。"
    if r < 0.55:
        picked = letters
    else:
        picked = [rng.choice("ABCD") if item.qtype != "five_out_of_seven" else rng.choice("ABCDEFG")
                  for _ in letters]
        if item.qtype == "multi_choice" and r < 0.7:
            picked = [letters[0][:1]]
    return "【解析】略<eoe>\n" + "\n".join(f"【答案】{p} <eoa>" for p in picked)


def test_weighted_summary_matches_opencompass(reference: Reference, data_dir: Path) -> None:
    items = _items(data_dir)
    rng = random.Random(7)
    outputs = {i.id: _fake_output(rng, i) for i in items}
    data: dict[str, list[object]] = {}
    for kw, (qtype, _) in gaokao.PROMPTS.items():
        its = [i for i in items if i.keyword == kw]
        data[kw] = [qtype, [outputs[i.id] for i in its], [list(i.answer) for i in its]]
    subset_scores, overall = reference(REF_SUMMARY, data)
    results = [
        SampleResult(i.id, i.keyword, "", i.target, (outputs[i.id],), gaokao.score_output(i, outputs[i.id]))
        for i in items
    ]
    for kw in gaokao.PROMPTS:
        ours = BENCHMARKS.get("gaokao").metric.aggregate([r for r in results if r.group == kw])
        assert ours.value == pytest.approx(subset_scores["GaokaoBench_" + kw]), kw
    value = BENCHMARKS.get("gaokao").metric.aggregate(results)
    assert value.value == pytest.approx(overall)
    assert 0 < value.stderr < 5
