"""TriviaQA scoring agrees with OpenCompass 0.5.4's TriviaQAEvaluator per sample; the one
deliberate difference (aliases that normalise to "") is pinned."""

from __future__ import annotations

from evals.benchmarks.language_knowledge._openqa import score_aliases, triviaqa_prediction
from tests.fidelity.conftest import Reference

ALIASES = ["Onion", "Allium cepa", "Onions"]
OUTPUTS = [
    ("Onion", ALIASES),
    (" The answer is onions.\nQ: next", ALIASES),
    ("A: Allium cepa, a vegetable", ALIASES),
    ("Answer: garlic", ALIASES),
    ("the spring onion", ALIASES),
    ("", ALIASES),
    ("\n\nOnion", ALIASES),
    ("I think it's Sinclair Lewis", ["Sinclair Lewis", "(Harry) Sinclair Lewis"]),
    ("Lewis", ["Sinclair Lewis"]),
    ("The U.S.A.", ["USA", "U.S.A."]),
    ("30s", ["1930s", "30s", "Thirties"]),
    ("panama: a country", ["Panama"]),
    ("Horse", ["Horse", "🐴"]),
    ("Cow", ["Horse", "🐴"]),
    ("Lincoln", ["Abraham Lincoln", "A. Lincoln"]),
]

REF = """
m = oc("opencompass.datasets.triviaqa")
d = m.TriviaQAEvaluator().score([t for t, _ in DATA], [a for _, a in DATA])["details"]
RESULT = [[x["pred"], x["correct"]] for x in d]
"""

EMPTY_ALIAS = {"Cow", "Lincoln"}


def test_triviaqa_agrees_with_opencompass(reference: Reference) -> None:
    expected = reference(REF, OUTPUTS)
    for (text, aliases), (ref_pred, ref_correct) in zip(OUTPUTS, expected, strict=True):
        pred = triviaqa_prediction(text)
        assert pred == ref_pred, text
        score = score_aliases(pred, aliases)
        assert dict(score.extras)["accuracy_oc"] == float(ref_correct), text
        if text not in EMPTY_ALIAS:
            assert score.value == float(ref_correct), text
        assert score.parse_failed == (pred == ""), text


def test_empty_aliases_deliberately_match_nothing(reference: Reference) -> None:
    """Upstream scores "Cow" correct for a horse question (alias "🐴" normalises to "")."""
    cases = [(t, a) for t, a in OUTPUTS if t in EMPTY_ALIAS]
    expected = reference(REF, cases)
    assert [c for _, c in expected] == [True, True]
    assert [score_aliases(triviaqa_prediction(t), a).value for t, a in cases] == [0.0, 0.0]
