"""MBPP / MBPP-CN extraction and execution outcomes agree with OpenCompass 0.5.4 per sample.

Outcomes are compared with upstream's own ``execution`` (its multiprocessing runner) on the
same extracted programs. With ``strict_types=True`` we agree on every sample; by default we run
the asserts as written (see ``evals/benchmarks/coding/mbpp.py``), which differs only where the value
is right but its type is not (``240.0`` for ``240``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.benchmarks.coding.mbpp import extract_code, outcome
from evals.sandbox.process import SandboxLimits
from tests.fidelity.conftest import Reference

GOOD = ("def remove_Occ(s,ch): \r\n    for i in range(len(s)): \r\n        if (s[i] == ch): \r\n"
        "            s = s[0 : i] + s[i + 1:] \r\n            break\r\n"
        "    for i in range(len(s) - 1,-1,-1):  \r\n        if (s[i] == ch): \r\n"
        "            s = s[0 : i] + s[i + 1:] \r\n            break\r\n    return s ")
OUTPUTS = [
    f" '{GOOD}' \n[DONE] \n\n You are an expert Python programmer",
    f"[BEGIN]\n '{GOOD}' \n[DONE]",
    f"```python\n{GOOD}\n```\nThis removes the first and last occurrence.",
    f"Here is the code:\n```\n{GOOD}\n```",
    f"```python\n{GOOD}",
    f"{GOOD}\n```",
    f"[BEGIN]\n '{GOOD}",
    f"BEGIN '{GOOD}' DONE",
    f"'{GOOD}' [DONE] trailing",
    "[BEGIN]\n 'def remove\\_Occ(s, ch):\n    return s.replace(ch, \"\")' \n[DONE]",
    "def remove_Occ(s, ch):\n    return s.strip(ch)",
    "def remove_Occ(s, ch):\n    while True:\n        pass",
    "def remove_Occ(s, ch)\n    return s",
    "import sys\nsys.exit(0)",
    "def remove_Occ(s, ch):\n    return undefined_name",
    "",
    "I cannot solve this.",
    "[BEGIN]\n 'def f(x):\n    return x' \n[DONE] \n\n[BEGIN]\n 'def g(): pass' \n[DONE]",
]
TESTS = ('assert remove_Occ("hello","l") == "heo"\nassert remove_Occ("abcda","a") == "bcd"\n'
         'assert remove_Occ("PHP","P") == "H"')
TYPED = [("def f():\n    return 240.0", "assert f() == 240"),
         ("def f():\n    return [1, 2.0]", "assert f() == [1, 2]"),
         ("def f():\n    return 240", "assert f() == 240"),
         ("def f():\n    return (1, 2)", "assert f() == [1, 2]")]

FAST = SandboxLimits(timeout_s=3.0)

REF = """
m = oc("opencompass.datasets.mbpp")
ev = m.MBPPEvaluator()
out = []
for text, tests in DATA:
    code = ev._process_answer(text)
    out.append([code, m.execution((code, m.make_assertions_type_aware(tests)), 0, 10)[1]])
RESULT = out
"""


def test_extraction_and_outcomes_agree(reference: Reference) -> None:
    expected = reference(REF, [[t, TESTS] for t in OUTPUTS])
    for text, (ref_code, ref_outcome) in zip(OUTPUTS, expected, strict=True):
        code = extract_code(text)
        assert code == ref_code, text
        assert outcome(code, TESTS, limits=FAST)[0] == ref_outcome, text
        assert outcome(code, TESTS, strict_types=True, limits=FAST)[0] == ref_outcome, text


def test_type_strictness_is_the_one_deliberate_difference(reference: Reference) -> None:
    expected = reference(REF, [[f"[BEGIN]\n '{c}' \n[DONE]", t] for c, t in TYPED])
    ours = [outcome(c, t)[0] for c, t in TYPED]
    strict = [outcome(c, t, strict_types=True)[0] for c, t in TYPED]
    assert [o for _, o in expected] == strict == ["wrong_answer", "wrong_answer", "pass",
                                                  "wrong_answer"]
    assert ours == ["pass", "pass", "pass", "wrong_answer"]


def test_reference_solutions_agree_on_real_tasks(reference: Reference, data_dir: Path) -> None:
    """The dataset's own solutions and a broken variant, on 12 real tasks."""
    rows = [json.loads(line) for line in (data_dir / "mbpp/mbpp.jsonl").open()][10:22]
    cases = []
    for r in rows:
        cases.append([f"[BEGIN]\n '{r['code']}' \n[DONE]", "\n".join(r["test_list"])])
        cases.append([f"```python\n{r['code']}\n    return None\n```", "\n".join(r["test_list"])])
    expected = reference(REF, cases)
    for (text, tests), (ref_code, ref_outcome) in zip(cases, expected, strict=True):
        code = extract_code(text)
        assert code == ref_code
        assert outcome(code, tests, strict_types=True)[0] == ref_outcome, code


@pytest.mark.parametrize("text", ["[BEGIN]" + " " * 3000 + "x", "'" * 2000 + "[DONE]"])
def test_pathological_outputs_extract_quickly(text: str) -> None:
    assert isinstance(extract_code(text), str)
