"""NQ-open scoring agrees with OpenCompass 0.5.4's NQEvaluator per sample; the deliberate
difference for references that normalise to "" is pinned."""

from __future__ import annotations

from evals.benchmarks.language_knowledge._openqa import nq_prediction, score_aliases
from tests.fidelity.conftest import Reference

MOON = ["14 December 1972 UTC", "December 1972"]
OUTPUTS = [
    ("December 1972", MOON),
    ("The answer is 14 December 1972 UTC.", MOON),
    ("in December 1972\nQ: who", MOON),
    ("1972", MOON),
    ("A: December 1972", MOON),
    ("", MOON),
    ("Fernie Alpine Resort, British Columbia", ["Fernie Alpine Resort"]),
    ("the answer is: Marley", ["Marley"]),
    ("November 6, 1986", ["November\u00a06, 1986"]),
    ("one season", ["one", "one season"]),
    ("Bob Russell and Bobby Scott", ["Bobby Scott", "Bob Russell"]),
    ("anything", ["A", "the Beatles"]),
]

REF = """
m = oc("opencompass.datasets.natural_question")
d = m.NQEvaluator().score([t for t, _ in DATA], [a for _, a in DATA])["details"]
RESULT = [[x["pred"], x["correct"]] for x in d]
"""


def test_nq_agrees_with_opencompass(reference: Reference) -> None:
    expected = reference(REF, OUTPUTS)
    for (text, answers), (ref_pred, ref_correct) in zip(OUTPUTS, expected, strict=True):
        pred = nq_prediction(text)
        assert pred == ref_pred, text
        score = score_aliases(pred, answers)
        assert dict(score.extras)["accuracy_oc"] == float(ref_correct), text
        if text != "anything":
            assert score.value == float(ref_correct), text


def test_empty_reference_deliberately_matches_nothing(reference: Reference) -> None:
    (_, ref_correct), = reference(REF, [("anything", ["A", "the Beatles"])])
    assert ref_correct is True
    assert score_aliases(nq_prediction("anything"), ["A", "the Beatles"]).value == 0.0
