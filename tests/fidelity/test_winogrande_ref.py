"""WinoGrande prompts and answer extraction agree with OpenCompass 0.5.4 per item.

The LL setting has no text to extract, so the reference is the text itself: OpenCompass's
``WinograndeDatasetV2`` loads the same upstream-layout file, its ``PromptTemplate`` renders the
gen prompt and the LL sentences, and its context (``sentence.replace(cont, '')``) must equal our
prefix, except where the continuation also occurs earlier in the sentence (pinned below).
"""

from __future__ import annotations

from pathlib import Path

from evals.benchmarks._common import first_option
from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.winogrande import WinoGrande, gen_prompt_text
from evals.records import Mode, ModelKind
from tests.fidelity.conftest import Reference

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
