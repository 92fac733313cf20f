"""CIBench's per-step metrics agree with OpenCompass 0.5.4's ``CIBenchEvaluator`` per sample.

Each step is a list of interpreter calls as evals records them (the model's action, the
sandbox's ``CellResult``, lagent's formatted tool response). The same calls in the shape
OpenCompass's evaluator reads (lagent ``IPythonInterpreter`` actions: ``errmsg``, and a
``result`` with the response ``text`` and the figure links as ``image_path``, the figures
saved where the links point) go through its ``valid_step`` (tool_rate, executable),
``correct_step`` (numeric), ``text_step`` (ROUGE-1 with its ``RougeEvaluator``) and
``vis_similarity_step`` (SSIM); evals' ``step_score`` and step flags must give the same
numbers."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from evals.benchmarks.tool_use.cibench.react import Action, Turn, make_turn
from evals.benchmarks.tool_use.cibench.scoring import step_score
from evals.sandbox.interpreter import CellResult
from tests.fidelity.conftest import Reference

OC = r"""
import importlib, sys, types
m = importlib.import_module("opencompass.datasets.cibench")
ev = m.CIBenchEvaluator.__new__(m.CIBenchEvaluator)
ev.text_evaluator = importlib.import_module("opencompass.openicl.icl_evaluator").RougeEvaluator()
ev.text_eval_metric, ev.vis_evaluator, ev.lang = "rouge1", None, "en"
RESULT = []
for case in DATA:
    step, tag, gold = case["step"], case["tag"], case["gold"]
    tool, exe = m.CIBenchEvaluator.valid_step(step)
    if tag == "num":
        score = m.CIBenchEvaluator.correct_step(step, gold)["score"]
    elif tag == "text":
        score = ev.text_step(step, gold)["score"]
    elif tag == "vis":
        score = ev.vis_similarity_step(step, gold, "")["score"]
    else:
        score = None
    RESULT.append({"tool": bool(tool), "exec": bool(exe),
                   "score": None if score is None else float(score)})
"""


def _png(color: tuple[int, int, int], size: tuple[int, int] = (24, 16)) -> str:
    import numpy as np
    from PIL import Image

    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[..., :] = color
    pixels[: size[1] // 2, : size[0] // 3] = (255 - color[0], 40, 200)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _call(cell: CellResult | None, code: str = "x") -> Turn:
    return make_turn("Action: IPythonInterpreter", Action("ipython", code, code), cell)


def _ok(stdout: str = "", value: str | None = None, images: tuple[str, ...] = ()) -> CellResult:
    return CellResult("ok", stdout, value, None, 0.1, "", images)


def _oc_step(step: list[Turn], figures: Path) -> list[dict[str, object]]:
    """lagent's actions as OpenCompass's evaluator reads them."""
    actions: list[dict[str, object]] = []
    for k, turn in enumerate(step):
        if turn.action.kind != "ipython":
            actions.append({"type": "FinishAction", "errmsg": None, "result": None})
            continue
        if not turn.success:
            actions.append({"type": "IPythonInterpreter", "errmsg": turn.response, "result": None})
            continue
        links = []
        for i, image in enumerate(turn.cell.images if turn.cell else ()):
            path = figures / f"call{k}-fig-{i + 1:03d}.png"
            path.write_bytes(base64.b64decode(image))
            links.append(f"![fig-{i + 1:03d}]({path})")
        actions.append({"type": "IPythonInterpreter", "errmsg": None,
                        "result": {"text": turn.response, "image_path": "\n".join(links)}})
    return actions


def _cases() -> list[tuple[str, str, list[Turn], str | None]]:
    red, blue = _png((200, 30, 30)), _png((30, 30, 200), (40, 30))
    error = CellResult("error", "", None, "NameError: name 'df' is not defined", 0.1)
    return [
        ("num right value", "num", [_call(_ok(value="42"))], "42"),
        ("num inside stdout", "num", [_call(_ok(stdout="total: 42\n"))], "42"),
        ("num value beats stdout", "num", [_call(_ok(stdout="42", value="7"))], "42"),
        ("num wrong", "num", [_call(_ok(value="41.9"))], "42"),
        ("num after an error", "num", [_call(error), _call(_ok(value="42"))], "42"),
        ("num last call failed", "num", [_call(_ok(value="42")), _call(error)], "42"),
        ("num no output", "num", [_call(_ok())], "42"),
        ("exec error only", "exec", [_call(error)], None),
        ("exec ok", "exec", [_call(_ok(stdout="done"))], None),
        ("no tool call", "num", [Turn("Final Answer: 42", Action("finish", "42", ""), None,
                                      True, "42")], "42"),
        ("text close", "text", [_call(_ok(stdout="The mean price rose by ten percent"))],
         "the mean price rose ten percent in a year"),
        ("text unrelated", "text", [_call(_ok(value="'hello world'"))], "mean price"),
        ("vis same figure", "vis", [_call(_ok(images=(red,)))], red),
        ("vis other figure", "vis", [_call(_ok(images=(blue,)))], red),
        ("vis two figures", "vis", [_call(_ok(images=(blue, red)))], red),
        ("vis no figure", "vis", [_call(_ok(stdout="plotted"))], red),
    ]


def test_step_metrics_agree_with_opencompass(reference: Reference, tmp_path: Path) -> None:
    cases = _cases()
    data = []
    for k, (_, tag, step, gold) in enumerate(cases):
        (tmp_path / str(k)).mkdir()
        data.append({"step": _oc_step(step, tmp_path / str(k)), "tag": tag, "gold": gold})
    theirs = reference(OC, data)
    for (name, tag, step, gold), ref in zip(cases, theirs, strict=True):
        calls = [t for t in step if t.action.kind == "ipython"]
        assert bool(calls) == ref["tool"], name
        assert (bool(calls) and calls[-1].success) == ref["exec"], name
        if tag != "exec":
            assert step_score(tag, step, gold) == pytest.approx(ref["score"], abs=1e-6), name
    scores = [r["score"] for r in theirs]
    assert len(set(s for s in scores if s is not None)) > 3  # the cases tell scores apart
