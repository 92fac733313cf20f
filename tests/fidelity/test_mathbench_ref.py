"""MathBench (``mathbench_2024_gen_de9ff9``) agrees with OpenCompass 0.5.4 per sample:
the circular rotations and prompts (``MathBenchDataset`` + the config's template), option
extraction + ``CircularEvaluator`` per question, and ``mathbench_postprocess`` + exact match.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.reasoning_math.mathbench import (
    CIRCULAR_PATTERNS,
    MathBench,
    MathBenchItem,
    mathbench_postprocess,
    prompts_for,
    rotation,
    score_circular,
    score_cloze,
)
from evals.records import Mode, ModelKind
from tests.fidelity.conftest import Reference

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFIG = "MathBench/deprecated_mathbench_2024_gen_de9ff9.py"


def _items() -> list[MathBenchItem]:
    ctx = BenchmarkContext(FIXTURES, ModelKind.CHAT, Mode.GEN, 8)
    return MathBench().load(ctx)


RENDER = """
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.models.base import LMTemplateParser
m = oc("opencompass.datasets.mathbench")
src = open(DATA["config"]).read()
src = "\\n".join(l for l in src.splitlines() if not l.startswith("from "))
ns = {k: k for k in ["ZeroRetriever", "GenInferencer", "CircularEvaluator", "AccEvaluator",
                     "MathBenchDataset", "mathbench_postprocess", "first_option_postprocess"]}
ns["PromptTemplate"] = PromptTemplate
exec(src, ns)
out = []
for cfg in ns["mathbench_datasets"]:
    ds = m.MathBenchDataset.load(path=DATA["root"] + "/" + cfg["path"].split("/")[-1],
                                 name=cfg["name"], with_circular=True)
    tp = cfg["infer_cfg"]["prompt_template"]
    pt = PromptTemplate(**{k: v for k, v in tp.items() if k != "type"})
    for row in ds:
        item = pt.generate_item(dict(row), output_field="answer")
        out.append([cfg["abbr"], row["question"], row["answer"],
                    LMTemplateParser(None).parse_template(item, "gen")])
RESULT = out
"""


def test_rotations_and_base_prompts_match_opencompass(reference: Reference,
                                                      oc_configs: Path) -> None:
    config = oc_configs / CONFIG
    if not config.exists():
        pytest.fail(f"OpenCompass config missing: {config}")
    expected = reference(RENDER, {"config": str(config), "root": str(FIXTURES / "mathbench")})
    ours = []
    for item in _items():
        prompts = prompts_for(item, 8, ModelKind.BASE)
        if "choice" in item.name:
            for c, p in zip(CIRCULAR_PATTERNS, prompts, strict=True):
                question, gold = rotation(item, c)
                qid = item.id.rsplit("-", 1)[1]
                ours.append([f"mathbench-{item.split}-{item.name}", question, f"{qid}--{gold}--{c}",
                             p.text])  # type: ignore[union-attr]
        else:
            ours.append([f"mathbench-{item.split}-{item.name}", item.question, item.target,
                         prompts[0].text])  # type: ignore[union-attr]
    assert ours == expected


def _replies(gold: str, scenario: str, n: int) -> str:
    other = "ABCD"[("ABCD".index(gold) + 1) % 4]
    return {
        "right": f"Let's compute.\nTherefore, the correct answer is option {gold}.",
        "right_cn": f"一步一步推理……所以答案为选项{gold}",
        "always_a": "Therefore, the correct answer is option A.",
        "boxed": f"So the answer is $\\boxed{{{gold}}}$",
        "wrong_once": f"The answer is {other if n == 2 else gold}",
        "none_once": "I am not sure about this one." if n == 1 else f"答案是{gold}",
        "none": "no idea",
        "bare": f"{gold}",
        "letter_in_text": f"Consider option {other}: it fails. Thus {gold}.",
    }[scenario]


SCENARIOS = ["right", "right_cn", "always_a", "boxed", "wrong_once", "none_once", "none", "bare",
             "letter_in_text"]

CIRCULAR = """
from opencompass.utils.text_postprocessors import first_option_postprocess
from opencompass.openicl.icl_evaluator import CircularEvaluator
out = []
for texts, refs in DATA:
    preds = [first_option_postprocess(t, "ABCD") for t in texts]
    r = CircularEvaluator().score(preds, refs)
    out.append([preds, r["perf_4"], r["acc_4"], r["acc_1"]])
RESULT = out
"""


def test_circular_scoring_agrees_with_opencompass(reference: Reference) -> None:
    cases, ours = [], []
    for item in (i for i in _items() if "choice" in i.name):
        for scenario in SCENARIOS:
            golds = [rotation(item, c)[1] for c in CIRCULAR_PATTERNS]
            texts = [_replies(g, scenario, n) for n, g in enumerate(golds)]
            refs = [f"0--{g}--{c}" for g, c in zip(golds, CIRCULAR_PATTERNS, strict=True)]
            cases.append([texts, refs])
            ours.append(score_circular(item, texts))
    expected = reference(CIRCULAR, cases)
    for (texts, _), score, (preds, perf_4, acc_4, acc_1) in zip(cases, ours, expected, strict=True):
        assert score.extracted == "".join(p or "-" for p in preds), texts
        assert 100 * score.value == perf_4, texts
        extras = dict(score.extras)
        assert 100 * extras["acc_4"] == acc_4 and 100 * extras["acc_1"] == acc_1, texts
        assert not score.parse_failed or score.value == 0.0


CLOZE_OUTPUTS = [
    ("The answer is 15.", "15"),
    ("We have 12 - 5 + 8 = 15 apples. The answer is 15.\n\nQ: next 3", "15"),
    ("答案是 8", "8"),
    ("每天30页，240/30=8天。答案是 8\n", "8"),
    ("He has 1,250 - 250 = 1,000 stamps. The answer is 1,000.", "1000"),
    ("7 - 10 = -3. The answer is -3.", "-3"),
    ("3.5 + 2.25 = 5.75", "5.75"),
    ("1 / 4 = 0.25. The answer is 1/4.", "0.25"),
    ("The answer is 0.250", "0.25"),
    ("I do not know.", "15"),
    ("", "15"),
    ("The answer is fifteen.", "15"),
    ("First 3, then 42", "42"),
    ("The answer is $42$ eggs, not 41.", "42"),
]

CLOZE = """
m = oc("opencompass.datasets.mathbench")
RESULT = [[m.mathbench_postprocess(t, name), ] for t, _, name in DATA]
"""


@pytest.mark.parametrize("name", ["cloze_en", "cloze_cn"])
def test_cloze_extraction_agrees_with_opencompass(reference: Reference, name: str) -> None:
    data = [(t, r, name) for t, r in CLOZE_OUTPUTS]
    expected = reference(CLOZE, data)
    for (text, ref), (ref_pred,) in zip(CLOZE_OUTPUTS, expected, strict=True):
        pred, _ = mathbench_postprocess(text, name)
        assert pred == ref_pred, text
        item = MathBenchItem("x", ref, "primary", name, "q", ())
        score = score_cloze(item, text)
        assert score.value == float(str(ref_pred) == ref), text  # AccEvaluator: str equality
        assert not score.parse_failed or score.value == 0.0
