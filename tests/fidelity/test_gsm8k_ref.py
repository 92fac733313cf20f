"""GSM8K extraction and equality agree with OpenCompass 0.5.4 per sample, except "1,000"."""

from __future__ import annotations

from evals.benchmarks.reasoning_math.gsm8k import extract_answer, is_equal
from tests.fidelity.conftest import Reference

OUTPUTS = [
    ("The answer is 18", "18"),
    ("3 + 4 = 7\nThe answer is 7.\n\nQuestion: next", "7"),
    ("She pays $12.50 in total. The answer is 12.5", "12.5"),
    ("-3 degrees. The answer is -3", "-3"),
    ("I do not know.", "5"),
    ("", "5"),
    ("The answer is 4.0", "4"),
    ("Answer: 72 apples and 3 pears", "72"),
]

REF = """
m = oc("opencompass.datasets.gsm8k")
ev = m.Gsm8kEvaluator()
preds = [m.gsm8k_postprocess(t) for t, _ in DATA]
RESULT = [[p, d["correct"]] for p, d in zip(preds, ev.score(preds, [r for _, r in DATA])["details"])]
"""


def test_gsm8k_agrees_with_opencompass(reference: Reference) -> None:
    expected = reference(REF, OUTPUTS)
    for (text, ref), (ref_pred, ref_correct) in zip(OUTPUTS, expected, strict=True):
        pred = extract_answer(text)
        assert (pred or "NULL") == ref_pred, text
        assert (pred is not None and is_equal(pred, ref)) == ref_correct, text


def test_gsm8k_thousands_separator_deliberately_differs(reference: Reference) -> None:
    """Upstream reads "1,000" as "000"; we read 1000 (the docstring of gsm8k.py says why)."""
    (ref_pred, ref_correct), = reference(REF, [("The answer is 1,000", "1000")])
    assert (ref_pred, ref_correct) == ("000", False)
    assert extract_answer("The answer is 1,000") == "1000"
