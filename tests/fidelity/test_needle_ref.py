"""NeedleBench scoring and the ATC generator agree with OpenCompass 0.5.4's own code.

Origin (single needle, also ATC and CDME's similarity), parallel (multi-needle retrieval) and
multi (multi-needle reasoning) evaluators are run in .venv-ref on the same predictions; the
ATC loader, seeded through the global ``random``, must produce our prompts byte for byte.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evals.benchmarks.long_context.needle.atc import generate_atc, load_names
from evals.benchmarks.long_context.needle.scoring import (
    aggregate_parallel,
    score_origin,
    score_parallel,
    score_reasoning,
)
from tests.fidelity.conftest import Reference

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "needlebench"

NEEDLE_EN = "\nHidden on Emerald Island is the legendary Stardust Shard.\n"
NEEDLE_ZH = "\n小明最喜欢的实习的地点就是上海人工智能实验室。\n"
# (prediction, needle, keyword)
ORIGIN = [
    ("The legendary item is the Stardust Shard.", NEEDLE_EN, "Stardust Shard"),
    ("Hidden on Emerald Island is the legendary Stardust Shard.", NEEDLE_EN, "Stardust Shard"),
    ("Hidden on Emerald Island is the legendary Stardust Shrd.", NEEDLE_EN, "Stardust Shard"),
    ("hidden on emerald island is the legendary stardust shard.", NEEDLE_EN, "Stardust Shard"),
    ("Stardust  Shard", NEEDLE_EN, "Stardust Shard"),
    ("Stardust\nShard", NEEDLE_EN, "Stardust Shard"),
    ("", NEEDLE_EN, "Stardust Shard"),
    ("   \n\t ", NEEDLE_EN, "Stardust Shard"),
    ("I don't know.", NEEDLE_EN, "Stardust Shard"),
    ("Hidden on Emerald Island is the legendary Moonstone. Also many other words follow here.",
     NEEDLE_EN, "Stardust Shard"),
    ("The document does not say anything about an island." * 5, NEEDLE_EN, "Stardust Shard"),
    ("小明最喜欢的实习地点就是上海人工智能实验室。", NEEDLE_ZH, "上海人工智能实验室"),
    ("上海人工智能实验室", NEEDLE_ZH, "上海人工智能实验室"),
    ("小明最喜欢的实习地点就是北京大学。", NEEDLE_ZH, "上海人工智能实验室"),
    ("小明最喜欢的实习的地点就是上海人工 智能实验室。后面还有很多废话废话废话。", NEEDLE_ZH,
     "上海人工智能实验室"),
    ("", NEEDLE_ZH, "上海人工智能实验室"),
    ("不知道", NEEDLE_ZH, "上海人工智能实验室"),
    ("Ada Ashby", "Ada Ashby", "Ada Ashby"),
    ("The eldest relative is Ada Ashby.", "Ada Ashby", "Ada Ashby"),
    ("The eldest relative is Bruno Ashby.", "Ada Ashby", "Ada Ashby"),
    ("Ada", "Ada Ashby", "Ada Ashby"),
    ("林子墨", "林子墨", "林子墨"),
    ("最年长的亲人是陈子墨。", "林子墨", "林子墨"),
]

ORIGIN_REF = """
o = oc("opencompass.datasets.needlebench.origin")
preds = [p for p, _, _ in DATA["pairs"]]
gold = [n + "*" + k for _, n, k in DATA["pairs"]]
d = o.NeedleBenchOriginEvaluator(use_trim=DATA["trim"]).score(preds, gold)["details"]
RESULT = [[x["score"], x["edit_distance"], x["pred"]] for x in d]
"""


@pytest.mark.parametrize("use_trim", [False, True])
def test_origin_evaluator_agrees(reference: Reference, use_trim: bool) -> None:
    expected = reference(ORIGIN_REF, {"pairs": ORIGIN, "trim": use_trim})
    for (pred, needle, keyword), (ref_score, ref_dist, ref_pred) in zip(ORIGIN, expected, strict=True):
        ours = score_origin(pred, needle, keyword, use_trim=use_trim)
        assert ours.value == pytest.approx(ref_score, abs=1e-9), pred
        assert ours.similarity.edit_distance == ref_dist, pred
        assert ours.similarity.prediction == ref_pred, pred
        if not ours.found:  # CDME similarity is exactly 5x OC's missed-keyword score
            assert ours.similarity.value == pytest.approx(5 * ref_score, abs=1e-9), pred


PARALLEL_KEYWORDS = ["Stardust Shard", "Obsidian Key", "上海人工智能实验室", "Amber Lute"]
PARALLEL_DEPTHS = [0, 31, 63, 100]
PARALLEL_PREDS = [
    "Stardust Shard、Obsidian Key、上海人工智能实验室、Amber Lute",
    "The answers are Stardust Shard and the amber lute.",
    "",
    "obsidian key; Obsidian Key; 上海人工智能实验室",
    "Nothing relevant.",
]

PARALLEL_REF = """
p = oc("opencompass.datasets.needlebench.parallel")
gold = ["*".join(DATA["k"]) + "#" + "*".join(map(str, DATA["d"]))] * len(DATA["p"])
r = p.NeedleBenchParallelEvaluator().score(DATA["p"], gold)
RESULT = [[int(k[5:]), v] for k, v in r.items() if k.startswith("Depth")] + [r["average_score"]]
"""


def test_parallel_evaluator_agrees(reference: Reference) -> None:
    expected = reference(PARALLEL_REF, {"k": PARALLEL_KEYWORDS, "d": PARALLEL_DEPTHS, "p": PARALLEL_PREDS})
    scores = [score_parallel(p, PARALLEL_KEYWORDS, PARALLEL_DEPTHS) for p in PARALLEL_PREDS]
    summary = aggregate_parallel(scores)
    assert [d for d, _ in summary.by_depth] == [d for d, _ in expected[:-1]]
    assert [v for _, v in summary.by_depth] == pytest.approx([v for _, v in expected[:-1]], abs=1e-9)
    assert summary.average_score == pytest.approx(expected[-1], abs=1e-9)


REASONING = [
    ("The answer is Blue Whale.", "Blue Whale"),
    ("blue", "Blue Whale"),
    ("", "Blue Whale"),
    ("It is the Sea of Crises, I think", "Sea of Crises"),
    ("Whale", "Blue Whale"),
    ("张三", "张三"),
    ("是李四", "张三"),
    ("anything", ""),
]

REASONING_REF = """
m = oc("opencompass.datasets.needlebench.multi")
d = m.NeedleBenchMultiEvaluator().score([p for p, _ in DATA], [a + "*" + a for _, a in DATA])["details"]
RESULT = [x["score"] for x in d]
"""


def test_multi_reasoning_evaluator_agrees(reference: Reference) -> None:
    expected = reference(REASONING_REF, REASONING)
    for (pred, answer), ref_score in zip(REASONING, expected, strict=True):
        assert math.isclose(score_reasoning(pred, answer).value, ref_score, abs_tol=1e-9), pred


ATC_REF = """
import random
a = oc("opencompass.datasets.needlebench.atc")
random.seed(DATA["seed"])
ds = a.NeedleBenchATCDataset.load(DATA["dir"], "names.json", DATA["n"], DATA["lang"], DATA["repeats"])
RESULT = [[p, g] for p, g in zip(ds["prompt"], ds["answer"])]
"""


@pytest.mark.parametrize(("language", "num_needles", "seed"), [("English", 5, 0), ("Chinese", 11, 3),
                                                                ("English", 98, 7)])
def test_atc_generator_matches_opencompass(reference: Reference, language: str, num_needles: int,
                                           seed: int) -> None:
    data = {"dir": str(FIXTURES), "n": num_needles, "lang": language, "repeats": 3, "seed": seed}
    expected = reference(ATC_REF, data)
    names = load_names(FIXTURES / "names.json")
    lang = "English" if language == "English" else "Chinese"
    items = generate_atc(names[lang], num_needles, lang, repeats=3, seed=seed)
    assert [[i.prompt, i.answer + "*" + i.answer] for i in items] == expected
