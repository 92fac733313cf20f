"""BBH prompts, answer extraction and equality agree with OpenCompass 0.5.4 per sample.

The prompt reference is ``bbh_gen_5b92b0`` itself, executed in the reference environment and
rendered through its ``PromptTemplate`` for one item of every subset, with the prompts read from
OpenCompass's own ``lib_prompt``. Extraction is compared on tricky replies and on every target
of the real data (targets go through the same postprocessing as predictions).
"""

from __future__ import annotations

from pathlib import Path

from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.reasoning_math.bbh import (
    BBH,
    FREE_FORM_SUBSETS,
    MCQ_SUBSETS,
    freeform_answer,
    mcq_postprocess,
    prompt_text,
    score_text,
)
from evals.records import Mode, ModelKind
from tests.fidelity.conftest import Reference

RENDER = r"""
import sys, os
import opencompass
m = oc("opencompass.datasets.bbh")
pkg = sys.modules["opencompass.datasets"]
for n in ("BBHDataset", "BBHEvaluator", "bbh_mcq_postprocess", "BBHEvaluator_mcq"):
    setattr(pkg, n, getattr(m, n))
cfg = os.path.join(os.path.dirname(opencompass.__file__), "configs/datasets/bbh/bbh_gen_5b92b0.py")
scope = {"__file__": cfg}
exec(open(cfg).read(), scope)
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.models.base import LMTemplateParser
p = LMTemplateParser()
RESULT = {}
for d in scope["bbh_datasets"]:
    t = PromptTemplate(template=d["infer_cfg"]["prompt_template"]["template"])
    RESULT[d["name"]] = dict(
        text=p.parse_template(t.generate_item({"input": DATA[d["name"]]}), mode="gen"),
        max_out_len=d["infer_cfg"]["inferencer"]["max_out_len"],
        evaluator=d["eval_cfg"]["evaluator"]["type"].__name__)
"""

SCORE = r"""
m = oc("opencompass.datasets.bbh")
RESULT = []
for text, target, mcq in DATA:
    if mcq:
        pred, ref = m.bbh_mcq_postprocess(text), m.bbh_mcq_postprocess(target)
        d = m.BBHEvaluator_mcq().score([pred], [ref])["details"][0]
    else:
        d = m.BBHEvaluator().score([text], [target])["details"][0]
    RESULT.append([d["pred"], d["answer"], d["correct"]])
"""

MCQ_CASES = [
    ("(A)", "(A)"), ("A)", "(A)"), ("the answer is (B).", "(B)"), ("So the answer is B.", "(B)"),
    ("Step 1 ... (A) is wrong. So the answer is (C).", "(C)"), ("The answer is: (D)", "(D)"),
    ("The answer is A and not (B)", "(A)"), ("I'm not sure.", "(A)"), ("no idea", "(A)"),
    ("", "(A)"), ("so the answer is (e).", "(E)"), ("So the answer is (F) 07/25/1937.", "(F)"),
    ("the answer is (A). Then the answer is (B).", "(B)"), ("**(B)**", "(B)"),
    ("Answer: (C)", "(C)"), ("The correct option is B", "(B)"),
    ("dearth, wind, & fire", "dearth, wind, & fire"), ("so the answer is dearth", "dearth, wind, & fire"),
]
FREE_CASES = [
    ("So the answer is Yes.", "Yes"), ("the answer is yes", "Yes"), ("So the answer is valid.", "valid"),
    ("So the answer is **invalid**.", "invalid"), ("the answer is True.", "True"),
    ("The answer is: False", "False"), ("So the answer is -37.", "-37"),
    ("So the answer is 1,234.", "1234"), ("So the answer is apple, banana, cherry.", "apple banana cherry"),
    ("So the answer is ] ) }.", "] ) }"), ("So the answer is 12.\nQ: next\nSo the answer is 15.", "12"),
    ("", "No"), ("Yes, Elanor tells the truth.", "Yes"), ("The answer is 5 apples", "5"),
    ("Answer is: no.", "No"), ("So the answer is No, she lies.", "No"), ("So the answer is valid", "Valid"),
    ("So the answer is  ]  ]", "] ]"), ("the answer is 7", "7"), ("So the answer is 7..", "7"),
    ("So the answer is True or False", "True"), ("The answer is invalid.\n", "invalid"),
]


def _ctx(data_dir: Path) -> BenchmarkContext:
    return BenchmarkContext(data_dir, ModelKind.BASE, Mode.GEN, 3)


def test_prompts_match_the_config(reference: Reference, data_dir: Path) -> None:
    items = BBH().load(_ctx(data_dir))
    first = {}
    for item in items:
        first.setdefault(item.subset, item)
    ref = reference(RENDER, {name: item.input for name, item in first.items()})
    assert set(ref) == set(MCQ_SUBSETS) | set(FREE_FORM_SUBSETS)
    for name, item in first.items():
        assert prompt_text(item) == ref[name]["text"], name
        assert ref[name]["max_out_len"] == 512
        assert ref[name]["evaluator"] == ("BBHEvaluator_mcq" if item.multiple_choice else "BBHEvaluator")


def test_tricky_replies_agree(reference: Reference) -> None:
    cases = [(t, g, True) for t, g in MCQ_CASES] + [(t, g, False) for t, g in FREE_CASES]
    expected = reference(SCORE, cases)
    for (text, target, mcq), (ref_pred, _, ref_correct) in zip(cases, expected, strict=True):
        score = score_text(text, target, mcq)
        assert bool(score.value) == ref_correct, text
        if score.parse_failed:
            assert not ref_correct
        else:
            assert score.extracted == ref_pred, text


def test_every_target_postprocesses_like_opencompass(reference: Reference, data_dir: Path) -> None:
    """Targets go through the same postprocessor; a difference there would shift whole subsets."""
    items = BBH().load(_ctx(data_dir))
    code = """
m = oc("opencompass.datasets.bbh")
RESULT = [m.bbh_mcq_postprocess(t) if mcq else m.bbh_freeform_postprocess(t) for t, mcq in DATA]
"""
    expected = reference(code, [(i.target, i.multiple_choice) for i in items])
    ours = [mcq_postprocess(i.target) if i.multiple_choice else freeform_answer(i.target) for i in items]
    assert ours == expected
    # A model that answers each target verbatim scores 100% on every subset.
    verbatim = [score_text(f"So the answer is {i.target}.", i.target, i.multiple_choice).value
                for i in items]
    assert len(verbatim) - sum(verbatim) == 2  # the two ruin_names targets without a letter
