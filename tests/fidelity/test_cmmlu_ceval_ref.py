"""CMMLU and C-Eval agree with OpenCompass 0.5.4: the exact prompt text its own retriever,
templates (exec'd from the config files) and template parser build for real items, and
``first_capital_postprocess`` + ``AccEvaluator`` per sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evals.benchmarks.base import BENCHMARKS, BenchmarkContext
from evals.benchmarks.examination._exam_zh import ExamItem, score_first_capital
from evals.records import GenerateRequest, LoglikelihoodRequest, Mode, ModelKind, TextPrompt
from tests.fidelity.conftest import Reference
from tests.fidelity.oc_render import CONFIG, RENDER

CASES = {
    "cmmlu": ("cmmlu/cmmlu_ppl_8b9c76.py", "cmmlu/cmmlu_gen_c13365.py", "cmmlu_datasets", "cmmlu-"),
    "ceval": ("ceval/ceval_ppl_578f8d.py", "ceval/ceval_gen_5f30c7.py", "ceval_datasets", "ceval-"),
}

REF = RENDER + CONFIG + """
ppl_cfg, gen_cfg, var, abbr = DATA["case"]
out = {}
for mode, cfg in (("ppl", ppl_cfg), ("gen", gen_cfg)):
    ds = next(d for d in load_config(cfg)[var] if d["abbr"] == abbr + DATA["subject"])
    ice = {k: v for k, v in ds["infer_cfg"]["ice_template"].items() if k != "type"}
    out[mode] = render(DATA["dev"], DATA["test"], ["question", "A", "B", "C", "D"], "answer",
                       ice_template=ice, fix=ds["infer_cfg"]["retriever"]["fix_id_list"],
                       labels=list("ABCD"), mode=mode)
RESULT = out
"""


def _row(question: str, options: tuple[str, ...], answer: str) -> dict[str, str]:
    return {"question": question, **dict(zip("ABCD", options, strict=True)), "answer": answer}


def _our_texts(name: str, item: ExamItem, data_dir: Path) -> tuple[list[str], str]:
    bench = BENCHMARKS.get(name)
    ppl = bench.requests(item, BenchmarkContext(data_dir, ModelKind.BASE, Mode.PPL, 5))
    (gen,) = bench.requests(item, BenchmarkContext(data_dir, ModelKind.BASE, Mode.GEN, 5))
    texts = []
    for r in ppl:
        assert isinstance(r, LoglikelihoodRequest) and isinstance(r.context, TextPrompt)
        texts.append(r.context.text + r.continuation)
    assert isinstance(gen, GenerateRequest) and isinstance(gen.prompt, TextPrompt)
    return texts, gen.prompt.text


@pytest.mark.parametrize("name", ["cmmlu", "ceval"])
@pytest.mark.parametrize("subject_index", [0, 17, -1])
def test_prompts_match_opencompass_renderer(
    reference: Reference, data_dir: Path, name: str, subject_index: int
) -> None:
    bench = BENCHMARKS.get(name)
    items: list[Any] = bench.load(BenchmarkContext(data_dir, ModelKind.BASE, Mode.PPL, 5))
    subject = sorted({i.subject for i in items})[subject_index]
    chosen = [i for i in items if i.subject == subject][:3]
    data = {
        "case": CASES[name],
        "subject": subject,
        "dev": [_row(s.question, s.options, s.target) for s in chosen[0].shots],
        "test": [_row(i.question, i.options, i.target) for i in chosen],
    }
    expected = reference(REF, data)
    for k, item in enumerate(chosen):
        ppl, gen = _our_texts(name, item, data_dir)
        assert ppl == expected["ppl"][k]
        assert gen == expected["gen"][k]


OUTPUTS = [
    ("A", "A"),
    ("B", "A"),
    (" C. 劳动力", "C"),
    ("答案是：D", "D"),
    ("答案是: b", "B"),
    ("正确答案是Ｂ", "B"),  # a full-width capital is the first upper-case character
    ("The answer is A", "A"),  # "T" comes first
    ("选项C和D都不对，应选A", "A"),
    ("我认为是第三个选项", "C"),
    ("", "A"),
    ("\n\nA", "A"),
    ("ΑΒΓ", "A"),  # Greek capital alpha
]

REF_SCORE = """
pp = oc("opencompass.utils.text_postprocessors")
ev = oc("opencompass.openicl.icl_evaluator").AccEvaluator()
preds = [pp.first_capital_postprocess(t) for t, _ in DATA]
mapped = ev._preprocess(preds, [g for _, g in DATA])
RESULT = [[p, a == b] for p, a, b in zip(preds, mapped["predictions"], mapped["references"])]
"""


def test_first_capital_agrees_with_opencompass(reference: Reference) -> None:
    expected = reference(REF_SCORE, OUTPUTS)
    for (text, gold), (ref_pred, ref_correct) in zip(OUTPUTS, expected, strict=True):
        score = score_first_capital(text, gold)
        assert (score.extracted or "") == ref_pred, text
        assert bool(score.value) == ref_correct, text
        assert score.parse_failed == (ref_pred not in ("A", "B", "C", "D")), text
