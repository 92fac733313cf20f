"""Answer extraction and per-sample scoring on known outputs."""

from __future__ import annotations

import pytest

from evals.benchmarks._choice import first_option, score_ppl
from evals.benchmarks.coding.humaneval import postprocess
from evals.benchmarks.reasoning_math.gsm8k import extract_answer, is_equal, reference_answer
from evals.records import LoglikelihoodResponse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is B.", "B"),
        ("答案是C", "C"),
        ("ANSWER: D", "D"),
        ("I think (A) is right", "A"),
        ("B", "B"),
        ("the correct answer is option c", None),  # lower-case letters are not options
        ("no idea", None),
        ("", None),
    ],
)
def test_first_option(text: str, expected: str | None) -> None:
    assert first_option(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("So 3 + 4 = 7.\nThe answer is 7\n", "7"),
        ("It costs $1,000 in total. The answer is 1,000", "1000"),
        ("The answer is -3.5", "-3.5"),
        ("The answer is 12\n\nQuestion: what is 5+5?", "12"),
        ("no digits here", None),
    ],
)
def test_gsm8k_extract(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


def test_gsm8k_reference_and_equality() -> None:
    assert reference_answer("so 2+2=4\n#### 1,234") == "1234"
    assert is_equal("1234.0", "1234")
    assert not is_equal("1233", "1234")
    assert not is_equal("abc", "1234")


def test_humaneval_postprocess_reindents_and_cuts() -> None:
    raw = "```python\ndef f(x):\n    y = x + 1\n    return y\nprint(f(2))\n```"
    assert postprocess(raw) == "    y = x + 1\n    return y"
    # a base-model completion is kept as the body and cut where indentation drops
    assert postprocess("    return 1\n\ndef g():\n    pass") == "    return 1"


def test_humaneval_postprocess_never_executes_model_output() -> None:
    # upstream eval()s the text; a call expression must not run
    assert "__import__" in postprocess("__import__('os').system('false')")


def _ll(lp: float, n: int, ctx_lp: float = -10.0, ctx_n: int = 5) -> LoglikelihoodResponse:
    return LoglikelihoodResponse(lp, n, False, ctx_lp, ctx_n)


def test_score_ppl_uses_mean_ce_over_whole_sequence() -> None:
    # option 0 has the best summed logprob but a worse mean over the whole sequence
    responses = [_ll(-3.0, 1), _ll(-3.5, 3)]
    score = score_ppl(responses, gold=1, choices=["x", "yyyyyyyy"])
    assert score.value == 1.0  # mean CE: 13/6 vs 13.5/8
    extras = dict(score.extras)
    assert extras["acc_ll"] == 0.0  # lm-eval acc: argmax of summed logprob = option 0
    assert extras["acc_norm"] == 1.0  # -3/1 vs -3.5/8
