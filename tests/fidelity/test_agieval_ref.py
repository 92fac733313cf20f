"""AGIEval agrees with OpenCompass 0.5.4: ``AGIEvalDataset_v2`` on the same files, the prompt
text of ``agieval_mixed_e33d83`` (PPL labels or gen) and ``agieval_gen_5c79b4`` rendered by
OpenCompass itself, and the postprocessors + evaluators per sample (single choice
``first_option_postprocess`` + ``AccEvaluator``, multi choice ``first_capital_postprocess_multi``
+ ``AGIEvalEvaluator_mcq``, cloze ``AGIEvalEvaluator``)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from evals.benchmarks.base import BENCHMARKS, BenchmarkContext
from evals.benchmarks.examination import agieval
from evals.records import GenerateRequest, LoglikelihoodRequest, Mode, ModelKind, TextPrompt
from tests.fidelity.conftest import Reference
from tests.fidelity.oc_render import CONFIG, RENDER

REF_LOAD = """
m = oc("opencompass.datasets.agieval.agieval")
RESULT = {}
for task in DATA["tasks"]:
    ds = m.AGIEvalDataset_v2.load(path=DATA["root"], name=task, setting_name="zero-shot")
    RESULT[task] = [[r["question"], r["options"], r["label"]] for r in ds]
"""


def _plain_copy(data_dir: Path, tmp: Path) -> Path:
    """OpenCompass reads ``{task}.jsonl``; shared data gzips the large sat-en file."""
    for src in (data_dir / "agieval" / "v1").iterdir():
        if src.name.endswith(".jsonl.gz"):
            with gzip.open(src, "rb") as f:
                (tmp / src.name[:-3]).write_bytes(f.read())
        elif src.suffix == ".jsonl":
            (tmp / src.name).symlink_to(src)
    return tmp


def test_loader_matches_agieval_dataset_v2(reference: Reference, data_dir: Path, tmp_path: Path) -> None:
    root = _plain_copy(data_dir, tmp_path)
    expected = reference(REF_LOAD, {"root": str(root), "tasks": list(agieval.TASKS)})
    items = BENCHMARKS.get("agieval").load(BenchmarkContext(data_dir, ModelKind.BASE, Mode.PPL, 0))
    for task in agieval.TASKS:
        ours = [[i.question, i.options, i.target or None] for i in items if i.task == task]
        assert ours == expected[task], task


REF_PROMPTS = RENDER + CONFIG + """
out = {}
for cfg in ("agieval/agieval_mixed_e33d83.py", "agieval/agieval_gen_5c79b4.py"):
    datasets = {d["abbr"]: d for d in load_config(cfg)["agieval_datasets"]}
    rendered = {}
    for task, rows in DATA.items():
        ds = datasets["agieval-" + task]
        infer = ds["infer_cfg"]
        pt = {k: v for k, v in infer["prompt_template"].items() if k != "type"}
        labels = infer["inferencer"].get("labels")
        mode = "ppl" if infer["inferencer"]["type"].__name__ == "PPLInferencer" else "gen"
        rendered[task] = [mode, render(None, rows, ds["reader_cfg"]["input_columns"],
                                       ds["reader_cfg"]["output_column"], prompt_template=pt,
                                       labels=labels, mode=mode)]
    out[cfg] = rendered
RESULT = out
"""


def test_prompts_match_opencompass_renderer(reference: Reference, data_dir: Path) -> None:
    bench = BENCHMARKS.get("agieval")
    items = bench.load(BenchmarkContext(data_dir, ModelKind.BASE, Mode.PPL, 0))
    chosen = {t: [i for i in items if i.task == t][:2] for t in agieval.TASKS}
    data = {t: [{"question": i.question, "options": i.options, "label": i.target} for i in its]
            for t, its in chosen.items()}
    expected = reference(REF_PROMPTS, data)
    for cfg, mode in (("agieval/agieval_mixed_e33d83.py", Mode.PPL),
                      ("agieval/agieval_gen_5c79b4.py", Mode.GEN)):
        ctx = BenchmarkContext(data_dir, ModelKind.BASE, mode, 0)
        for task, its in chosen.items():
            ref_mode, texts = expected[cfg][task]
            for item, ref in zip(its, texts, strict=True):
                reqs = bench.requests(item, ctx)
                if ref_mode == "ppl":
                    assert all(isinstance(r, LoglikelihoodRequest) for r in reqs), task
                    ours = [r.context.text + r.continuation for r in reqs  # type: ignore[union-attr]
                            if isinstance(r, LoglikelihoodRequest) and isinstance(r.context, TextPrompt)]
                    assert ours == ref, (cfg, task)
                else:
                    (r,) = reqs
                    assert isinstance(r, GenerateRequest) and isinstance(r.prompt, TextPrompt), task
                    assert r.prompt.text == ref, (cfg, task)


SINGLE = [
    ("答案是： B", "B"),
    ("答案是：(C)", "B"),
    ("The answer is (E).", "E"),
    ("The correct answer is D because ...", "D"),
    ("根据题意，选项A错误，B正确，故选B。", "B"),
    ("A", "A"),
    ("I am not sure.", "C"),
    ("", "A"),
    ("答案应该是 C 或 D", "C"),
    ("Answer: e", "E"),
]

MULTI = [
    ("AC", "AC"),
    ("A、C", "AC"),
    ("答案是： BCD", "BCD"),
    ("ABCD都对", "ABCD"),
    ("正确的是A和D", "AD"),
    ("无", "AB"),
    ("The answer is AB", "AB"),  # "T" is no A-D capital; "A" is, then "B"
    ("ＡＢ", "AB"),
]

CLOZE = [
    ("$\\frac{1}{2}$", "\\frac{1}{2}"),
    ("\\boxed{\\frac12}", "\\frac{1}{2}"),
    ("The answer is 1/2", "\\frac{1}{2}"),
    ("答案是：$x=3$", "3"),
    ("答案是：\\dfrac{3}{4}", "\\frac{3}{4}"),
    ("所以 a=2.", "2"),
    ("0.5", "\\frac{1}{2}"),
    ("$(3,4]$", "(3,4]"),
    ("50\\%", "50"),
    ("$10^{\\circ}$", "10"),
    ("no idea", "3"),
    ("", "1"),
    ("$\\sqrt3$", "\\sqrt{3}"),
    ("\\boxed{5", "5"),
    ("$5 \\text{ cm}$", "5"),
    ("$\\frac$", "\\frac{1}{2}"),
    ("$-\\frac{2}{3}$", "-\\frac{2}{3}"),
    ("答案是 $\\left(1, 2\\right)$", "(1,2)"),
]

REF_SCORE = """
pp = oc("opencompass.utils.text_postprocessors")
m = oc("opencompass.datasets.agieval.agieval")
acc = oc("opencompass.openicl.icl_evaluator").AccEvaluator()
def acc_rows(preds, refs):
    mapped = acc._preprocess(preds, refs)
    return [[p, a == b] for p, a, b in zip(preds, mapped["predictions"], mapped["references"])]
single = acc_rows([pp.first_option_postprocess(t, options="ABCDE") for t, _ in DATA["single"]],
                  [g for _, g in DATA["single"]])
mpreds = [pp.first_capital_postprocess_multi(t) for t, _ in DATA["multi"]]
mdet = m.AGIEvalEvaluator_mcq().score(mpreds, [g for _, g in DATA["multi"]])["details"]
multi = [[p, d["correct"]] for p, d in zip(mpreds, mdet)]
cdet = m.AGIEvalEvaluator().score([t for t, _ in DATA["cloze"]], [g for _, g in DATA["cloze"]])["details"]
RESULT = {"single": single, "multi": multi, "cloze": [[d["pred"], d["correct"]] for d in cdet]}
"""


@pytest.fixture(scope="module")
def expected(reference: Reference) -> dict[str, list[list[object]]]:
    return reference(REF_SCORE, {"single": SINGLE, "multi": MULTI, "cloze": CLOZE})  # type: ignore[no-any-return]


@pytest.mark.parametrize(("kind", "task", "cases"), [
    ("single", "logiqa-zh", SINGLE), ("multi", "jec-qa-kd", MULTI), ("cloze", "math", CLOZE),
])
def test_scoring_agrees_per_sample(
    expected: dict[str, list[list[object]]], kind: str, task: str, cases: list[tuple[str, str]]
) -> None:
    for (text, gold), (ref_pred, ref_correct) in zip(cases, expected[kind], strict=True):
        item = agieval.AGIEvalItem("x", gold, task, "q", "(A)a")
        score = agieval.score_generation(item, text, Mode.GEN)
        assert (score.extracted or "") == (ref_pred or ""), text
        assert bool(score.value) == ref_correct, text
        assert score.parse_failed == (ref_pred in (None, "")), text
