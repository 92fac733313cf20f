"""MATH extraction and equivalence agree with OpenCompass 0.5.4 per sample, v1 and v2.

v1 = ``math_postprocess`` + ``MATHEvaluator()``, v2 = ``math_postprocess_v2`` +
``MATHEvaluator(version='v2')``, fed the same replies and references as ours.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.reasoning_math.math import HendrycksMATH, extract, is_equiv
from evals.records import Mode, ModelKind
from tests.fidelity.conftest import Reference

FA = "Final Answer: The final answer is ${}$. I hope it is correct."

# (reply, reference): the edge cases the issue names, and the quirks of both normalisers.
CASES: list[tuple[str, str]] = [
    ("So we get 1000.\n" + FA.format("1,000"), "1000"),
    ("The total is \\boxed{1,000}.", "1000"),
    ("The answer is 1,000.", "1000"),
    (FA.format("\\frac34"), "\\frac{3}{4}"),
    ("Thus $\\boxed{\\frac34}$.", "\\frac{3}{4}"),
    ("Thus $\\boxed{\\dfrac{3}{4}}$.", "\\frac{3}{4}"),
    ("Thus $\\boxed{\\tfrac{3}{4}}$.", "\\frac34"),
    (FA.format("3/4"), "\\frac{3}{4}"),
    ("\\boxed{3/4}", "\\frac{3}{4}"),
    ("So \\[ \\boxed{\\frac{\\sqrt{3}}{2}} \\]", "\\frac{\\sqrt{3}}{2}"),
    ("So \\[ x = \\boxed{\\frac{\\sqrt3}{2}} \\] is it.", "\\frac{\\sqrt{3}}{2}"),
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\boxed{{[2,5)}}", "[2,5)"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
    ("nested \\boxed{a_{n_{k}}} done", "a_{n_{k}}"),
    ("\\boxed{10\\text{ inches}}", "10"),
    ("\\boxed{10 \\text{ inches}}", "10\\text{ inches}"),
    (FA.format("10\\text{ cm}"), "10"),
    (FA.format("5\\text{ dollars}"), "\\$5"),
    ("\\boxed{\\$5.00}", "5"),
    ("\\boxed{\\text{(C)}}", "\\text{(C)}"),
    ("\\boxed{\\text{C}}", "C"),
    ("\\boxed{\\textbf{(A)}}", "\\text{(A)}"),
    ("\\boxed{90^\\circ}", "90"),
    ("\\boxed{90^{\\circ}}", "90^\\circ"),
    (FA.format("90^\\circ"), "90"),
    ("\\boxed{90 degrees}", "90"),
    ("\\boxed{25\\%}", "25"),
    (FA.format("25\\%"), "25"),
    ("\\boxed{25%}", "25\\%"),
    ("\\boxed{-5}", "-5"),
    (FA.format("-5"), "-5"),
    ("\\boxed{- 5}", "-5"),
    ("\\boxed{-\\frac{2}{3}}", "-\\frac{2}{3}"),
    ("The answer is -\\frac{2}{3}.", "-\\frac{2}{3}"),
    ("The answer is 7", "7"),
    ("the answer is $7$", "7"),
    ("The final answer is 7", "7"),
    ("Final Answer: 7", "7"),
    ("7", "7"),
    ("7.", "7"),
    ("I do not know", "7"),
    ("", "7"),
    ("No boxed answer here. Sorry.", "3"),
    ("\\boxed{}", "3"),
    ("\\boxed{3", "3"),
    ("\\fbox{3}", "3"),
    ("\\boxed 3", "3"),
    ("\\boxed{0.5}", "\\frac{1}{2}"),
    ("\\boxed{.5}", "\\frac12"),
    ("\\boxed{0.50}", "\\frac{1}{2}"),
    ("\\boxed{2.0}", "2"),
    ("\\boxed{x=2}", "2"),
    ("\\boxed{k = 2}", "2"),
    ("\\boxed{y = 2x+1}", "2x+1"),
    ("\\boxed{\\sqrt{2}}", "\\sqrt2"),
    ("\\boxed{2\\sqrt{2}}", "2\\sqrt2"),
    ("\\boxed{\\frac{1}{2}}", "1/2"),
    ("\\boxed{\\frac{a}{b}}", "a/b"),
    ("\\boxed{1 \\frac{1}{2}}", "\\frac{3}{2}"),
    ("\\boxed{\\infty}", "\\infty"),
    ("\\boxed{(-\\infty, 3]}", "(-\\infty,3]"),
    ("\\boxed{(-inf, 3]}", "(-\\infty,3]"),
    ("\\boxed{3 and 4}", "3,4"),
    ("\\boxed{3, 4}", "3,\\text{ and }4"),
    ("\\boxed{1+2j}", "1+2i"),
    ("\\boxed{\\mbox{east}}", "\\text{east}"),
    ("\\boxed{\\!1,\\!000}", "1000"),
    ("\\boxed{1{,}000}", "1000"),
    ("\\boxed{1\\,000}", "1000"),
    ("\\boxed{x \\in [2, 5)}", "[2,5)"),
    ("\\boxed{2 \\cdot 3}", "23"),
    ("\\boxed{\\text{Devon}}", "\\text{Devon}"),
    ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{\\sqrt{2}}{2}"),
    ("\\boxed{\\frac}", "\\frac"),
    ("\\boxed{x\\frac}", "x"),
    ("\\boxed{\\sqrt}", "\\sqrt"),
    ("\\boxed{1\\text{ a}\\text{ b}}", "1"),
    (FA.format("1\\text{ a}\\text{ b}"), "1"),
    ("\\boxed{12}\nFinal Answer: The final answer is $12$. I hope it is correct.\n\nProblem:\n"
     "Find x.\nSolution:\nx=\\boxed{5}.\nFinal Answer: The final answer is $5$.", "12"),
    ("We get $x = 4$. So the final answer is $4$. Done.", "4"),
    ("First answer is 3. Final answer: 4", "4"),
    ("a $3$ and an $4$", "3"),
    ("\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
    ("\\boxed{\\$\\,1.5}", "1.50"),
    ("The final answer is \\boxed{6}.", "6"),
    ("\\boxed{6} and later \\boxed{7}", "6"),
    ("\\boxed{\\boxed{8}}", "8"),
    ("\\boxed{\\dfrac{1}{4}\\pi}", "\\frac{\\pi}{4}"),
    ("\\boxed{\\frac{\\pi}{4}}", "\\frac\\pi4"),
    ("Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.", "\\frac{1}{2}"),
    ("Final Answer: The final answer is $\\text{(B)}$.", "\\text{(B)}"),
    ("The final answer is $2,\\!500$", "2500"),
    ("The final answer is 12 square units", "12"),
    ("The final answer is 12 mph", "12"),
    ("\\boxed{5\\text{ ft}^2}", "5"),
    ("\\boxed{\\text{odd}}", "\\text{odd}"),
    ("\\boxed{11_2}", "11_2"),
    ("\\boxed{1011_2}", "1011_{2}"),
]


def _ref_code() -> str:
    return """
m = oc("opencompass.datasets.math")
out = {}
for version, post in (("v1", m.math_postprocess), ("v2", m.math_postprocess_v2)):
    ev = m.MATHEvaluator(version=version)
    preds = [post(t) for t, _ in DATA]
    details = ev.score(preds, [r for _, r in DATA])["details"]
    out[version] = [[p, d["correct"]] for p, d in zip(preds, details)]
RESULT = out
"""


def _agree(reference: Reference, cases: list[tuple[str, str]]) -> None:
    expected = reference(_ref_code(), cases)
    for version in ("v1", "v2"):
        for (text, ref), (ref_pred, ref_correct) in zip(cases, expected[version], strict=True):
            pred, _ = extract(text, version)  # type: ignore[arg-type]
            assert pred == ref_pred, (version, text)
            assert is_equiv(pred, ref, version) == ref_correct, (version, text, ref)  # type: ignore[arg-type]


def test_math_edge_cases_agree_with_opencompass(reference: Reference) -> None:
    _agree(reference, CASES)


def _references(data_dir: Path) -> list[str]:
    with gzip.open(data_dir / "math/test.json.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    from evals.benchmarks.reasoning_math.math import extract_boxed_answer

    return [extract_boxed_answer(r["solution"]) or "" for r in rows]


def test_math_all_references_agree_with_opencompass(reference: Reference, data_dir: Path) -> None:
    """Every real reference, answered right in both formats and wrong (the next item's)."""
    refs = _references(data_dir)
    cases = []
    for i, ref in enumerate(refs):
        other = refs[(i + 1) % len(refs)]
        cases += [(FA.format(ref), ref), (f"So $\\boxed{{{ref}}}$.", ref),
                  (f"Hence \\boxed{{{other}}}", ref), (FA.format(other), ref)]
    _agree(reference, cases)


def test_math_loader_matches_opencompass_dataset(reference: Reference, data_dir: Path,
                                                 tmp_path: Path) -> None:
    """OpenCompass's MATHDataset on the same problems (its math.json layout) gives our
    references; and our loader reads that layout too."""
    with gzip.open(data_dir / "math/test.json.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    (tmp_path / "math").mkdir()
    (tmp_path / "math/math.json").write_text(json.dumps({str(r["idx"]): r for r in rows}))
    code = """
m = oc("opencompass.datasets.math")
ds = m.MATHDataset.load(path=DATA)["test"]
RESULT = [[r["problem"], r["solution"]] for r in ds]
"""
    expected = reference(code, str(tmp_path / "math"))
    ctx = BenchmarkContext(tmp_path, ModelKind.CHAT, Mode.GEN, 4)
    ours = HendrycksMATH().load(ctx)
    assert len(ours) == len(expected) == 5000
    for item, (problem, solution) in zip(ours, expected, strict=True):
        assert item.problem == problem
        assert item.target == (solution or "")


def test_math_base_prompt_matches_opencompass_template(reference: Reference,
                                                      oc_configs: Path) -> None:
    """The config's template, rendered by OpenCompass for a model without a meta template."""
    code = """
src = open(DATA["config"]).read()
src = "\\n".join(l for l in src.splitlines() if not l.startswith("from "))
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.models.base import LMTemplateParser
ns = dict(PromptTemplate=PromptTemplate, ZeroRetriever=None, GenInferencer=None,
          MATHDataset=None, MATHEvaluator=None, math_postprocess_v2=None)
exec(src, ns)
pt = PromptTemplate(**{k: v for k, v in ns["math_infer_cfg"]["prompt_template"].items() if k != "type"})
item = pt.generate_item({"problem": DATA["problem"], "solution": "x"}, output_field="solution")
RESULT = LMTemplateParser(None).parse_template(item, "gen")
"""
    problem = "What is $\\frac{1}{2} + {x}$?"
    cfg = str(oc_configs / "math" / "math_gen_265cce.py")
    if not Path(cfg).exists():
        pytest.fail(f"OpenCompass config missing: {cfg}")
    expected = reference(code, {"config": cfg, "problem": problem})
    from evals.benchmarks.reasoning_math.math import prompt_for

    prompt = prompt_for(problem, 4, ModelKind.BASE)
    assert prompt.text == expected
