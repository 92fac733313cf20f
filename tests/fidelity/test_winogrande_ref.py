"""WinoGrande prompts and answer extraction agree with OpenCompass 0.5.4 per item.

The LL setting has no text to extract, so the reference is the text itself: OpenCompass's
``WinograndeDatasetV2`` loads the same upstream-layout file, its ``PromptTemplate`` renders the
gen prompt and the LL sentences, and its context (``sentence.replace(cont, '')``) must equal our
prefix, except where the continuation also occurs earlier in the sentence (pinned below).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evals.benchmarks._choice import first_option
from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.reasoning_math.winogrande import WinoGrande, gen_prompt_text
from evals.records import Mode, ModelKind
from tests.fidelity.conftest import Reference
from tests.fidelity.stub_models import STUBS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

RENDER = r"""
m = oc("opencompass.datasets.winogrande")
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.models.base import LMTemplateParser
gen = PromptTemplate(template=dict(round=[dict(role='HUMAN', prompt=
    'Which of the following is a good sentence:\nA. {opt1}\nB. {opt2}\nAnswer:')]))
ll = PromptTemplate(template={1: '{opt1}', 2: '{opt2}'})
p = LMTemplateParser()
RESULT = []
for row in m.WinograndeDatasetV2.load(DATA):
    sents = [p.parse_template(ll.generate_label_prompt_item(row, '', k), mode='ppl') for k in (1, 2)]
    RESULT.append(dict(gen=p.parse_template(gen.generate_item(row), mode='gen'), sents=sents,
                       cont=row['cont'], answer=row['answer'],
                       ctx=[s.replace(row['cont'], '') for s in sents]))
"""

OUTPUTS = [
    "A", "B", "B.", "(A)", "The answer is B", "Answer: A", "A. The kettle ...", "I think B is right.",
    "Neither", "", "Option B", "both A and B", "**B**", "The correct answer is (A).", "b",
]

EXTRACT = """
from opencompass.utils.text_postprocessors import first_option_postprocess
RESULT = [first_option_postprocess(t, options='AB') for t in DATA]
"""


def test_prompts_match_opencompass(reference: Reference) -> None:
    ctx = BenchmarkContext(FIXTURES, ModelKind.BASE, Mode.PPL, 0)
    ours = WinoGrande().load(ctx)
    theirs = reference(RENDER, str(FIXTURES / "winogrande"))
    assert len(ours) == len(theirs) == 7
    for item, ref in zip(ours, theirs, strict=True):
        assert gen_prompt_text(item) == ref["gen"]
        assert list(item.sentences) == ref["sents"]
        assert item.cont == ref["cont"]
        assert item.target == ref["answer"]
        if item.id != "6":
            assert list(item.prefixes) == ref["ctx"]


def test_context_deliberately_split_at_the_blank(reference: Reference) -> None:
    """Upstream's ``replace(cont, '')`` also strips the earlier full stop in item fx-7."""
    ctx = BenchmarkContext(FIXTURES, ModelKind.BASE, Mode.PPL, 0)
    item = WinoGrande().load(ctx)[6]
    ref = reference(RENDER, str(FIXTURES / "winogrande"))[6]
    assert ref["ctx"][1] == "Mia had a cat and a dog The dog needed a walk, so she put a leash on the dog"
    assert item.prefixes[1] == "Mia had a cat and a dog. The dog needed a walk, so she put a leash on the dog"


def test_first_option_ab_agrees(reference: Reference) -> None:
    expected = reference(EXTRACT, OUTPUTS)
    for text, ref in zip(OUTPUTS, expected, strict=True):
        assert (first_option(text, "AB") or "") == ref, text


WRAPPERS = STUBS + """
v, h = vllm_model(), hf_model()
RESULT = [{"vllm": [float(x) for x in v.get_loglikelihood(i, c)],
           "hf": [float(x) for x in h.get_loglikelihood(i, c)]} for i, c in DATA["cases"]]
"""


def test_the_huggingface_wrapper_sums_and_the_vllm_wrapper_divides(reference: Reference) -> None:
    """evals follows ``HuggingFaceCausalLM.get_loglikelihood`` (what the report ran): the sum
    of the continuation's log-probabilities. OpenCompass's ``VLLM.get_loglikelihood`` divides
    that sum by the whole sequence's length less one, which favours the longer filled
    prefix: here the two wrappers pick different options, and evals picks the HF one."""
    from evals.benchmarks.reasoning_math.winogrande import score_ll
    from evals.records import LoglikelihoodResponse

    vocab = ["the", "cat", "big", "old", "dog", "ran", "home", "fast"]
    table = {"the|cat": -0.5, "cat|ran": -1.0, "ran|home": -0.2, "the|big": -0.7,
             "big|old": -0.9, "old|dog": -0.8, "dog|ran": -1.4, "home|fast": -0.6}
    cont = " ran home fast"
    prefixes = ("the cat", "the big old dog")
    cases = [[[p + cont for p in prefixes], [cont.strip()] * 2]]
    (result,) = reference(WRAPPERS, {"vocab": vocab, "lp": table, "cases": cases})

    cont_sums = [table[f"{p.split()[-1]}|ran"] + table["ran|home"] + table["home|fast"]
                 for p in prefixes]
    assert result["hf"] == pytest.approx(cont_sums)
    lengths = [len((p + cont).split()) - 1 for p in prefixes]
    assert result["vllm"] == pytest.approx([s / n for s, n in zip(cont_sums, lengths, strict=True)])
    hf_pick = int(np.argmax(result["hf"]))
    assert hf_pick != int(np.argmax(result["vllm"]))  # the two wrappers disagree here

    ours = score_ll([LoglikelihoodResponse(s, 3, False, -1.0, 2) for s in cont_sums], "A")
    assert ours.extracted == "AB"[hf_pick]
