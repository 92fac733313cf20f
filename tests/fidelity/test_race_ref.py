"""RACE chat scoring agrees with OpenCompass 0.5.4's ``first_option_postprocess``
(options ABCD) and ``AccwithDetailsEvaluator`` per sample."""

from __future__ import annotations

from evals.benchmarks._choice import score_option
from tests.fidelity.conftest import Reference

OUTPUTS = [
    ("B", "B"), ("The answer is C.", "C"), ("答案是 A", "A"), ("D. Gardens on City Roofs", "D"),
    ("I think (b) is right", "B"), ("", "A"), ("None of them.", "A"),
    ("The correct answer is option D", "D"), ("**Answer: A**", "B"),
    ("Options A and C are wrong; the answer is B", "B"), ("We can infer that\nC", "C"),
]

REF = """
p = oc("opencompass.utils.text_postprocessors")
e = oc("opencompass.openicl.icl_evaluator")
preds = [p.first_option_postprocess(t, "ABCD") for t, _ in DATA]
d = e.AccwithDetailsEvaluator().score(preds, [g for _, g in DATA], [""] * len(DATA))["details"]
RESULT = [[pr, d[str(i)]["is_correct"]] for i, pr in enumerate(preds)]
"""


def test_race_option_extraction_agrees(reference: Reference) -> None:
    expected = reference(REF, OUTPUTS)
    for (text, gold), (ref_pred, ref_correct) in zip(OUTPUTS, expected, strict=True):
        score = score_option(text, gold)
        assert (score.extracted or "") == ref_pred, text
        assert score.value == float(ref_correct), text
        assert score.parse_failed == (ref_pred == ""), text
