"""C3: ``first_capital_postprocess`` per sample, and both OpenCompass loaders' fields on the
real d-dev file, agree with OpenCompass 0.5.4."""

from __future__ import annotations

from pathlib import Path

from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.language_knowledge.c3 import C3, first_capital
from evals.records import Mode, ModelKind
from tests.fidelity.conftest import Reference

OUTPUTS = ["C", "答：B", "答案是C。", "我认为选择 A", "选项D正确", "the answer is b", "",
           "无法确定", "Because the man says so, C", "ｂ", "Ā"]

REF = """
m = oc("opencompass.utils.text_postprocessors")
RESULT = [m.first_capital_postprocess(t) for t in DATA]
"""

REF_LOAD = """
m = oc("opencompass.datasets.c3")
v1 = m.C3Dataset.load(DATA)
v2 = m.C3Dataset_V2.load(DATA)
RESULT = [[a["content"], b["content"], a["question"], a["label"], b["label"],
           [b["choice0"], b["choice1"], b["choice2"], b["choice3"]]]
          for a, b in zip(v1, v2)]
"""


def test_first_capital_agrees(reference: Reference) -> None:
    expected = reference(REF, OUTPUTS)
    for text, ref in zip(OUTPUTS, expected, strict=True):
        assert (first_capital(text) or "") == ref, text


def test_loader_agrees_on_real_data(reference: Reference, data_dir: Path) -> None:
    expected = reference(REF_LOAD, str(data_dir / "c3" / "c3-d-dev.json"))
    ctx = BenchmarkContext(data_dir, ModelKind.BASE, Mode.PPL, 0)
    ours = [x for x in C3().load(ctx) if x.id.startswith("d/")]
    assert len(ours) == len(expected) == 1825
    for item, (content1, content2, question, label, letter, choices) in zip(
        ours, expected, strict=True
    ):
        assert " ".join(item.lines) == content1 and "".join(item.lines) == content2
        assert item.question == question
        assert item.target == "ABCD"[label] == letter
        assert [*item.choices, *["[NULL]"] * (4 - len(item.choices))] == choices
