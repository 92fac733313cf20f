"""HumanEval for base models: what evals scores is what OpenCompass 0.5.4 scores, per item.

OpenCompass's config (``humaneval_gen_a82cae``) generates without stop strings and keeps what
``humaneval_internal_v1_postprocess`` keeps. evals stops at top-level statements to save
tokens and generates again without them when a stop may have cut what OpenCompass keeps.
For every real item and several reply shapes (body first; ``"\\n" + signature + body``, which
the first stop cuts at offset 0; imports then the signature; a fenced block), the text evals
ends up scoring postprocesses to exactly OpenCompass's extraction of the whole reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.backends.base import truncate_at_stop
from evals.backends.mock import MockBackend
from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.coding.humaneval import BASE_STOPS, HumanEval, HumanEvalItem, postprocess
from evals.config import EvalsConfig, ModelSpec, SuiteSpec
from evals.records import GenerateRequest, GenerateResponse, Mode, ModelKind, TextPrompt
from evals.run.runner import run_model
from tests.fidelity.conftest import Reference


def _signature(item: HumanEvalItem) -> str:
    return next(line for line in item.prompt.split("\n")
                if line.startswith(f"def {item.entry_point}("))


def shapes(item: HumanEvalItem) -> dict[str, str]:
    sig, body = _signature(item), item.target
    return {
        "body then another def": body + "\n\ndef helper():\n    return 1\n",
        "restated signature": "\n" + sig + "\n" + body,
        "restated, then tests": "\n" + sig + "\n" + body + "\n\nprint(1)\nassert True\n",
        "imports, signature": "from typing import List\n\n\n" + sig + "\n" + body + "\n\ndef x():\n",
        "fenced": "```python\n" + sig + "\n" + body + "```\n\ndef other():\n    pass\n",
        "unindented body": body.replace("\n    ", "\n").lstrip() + "\ndef other():\n    pass\n",
        "class after body": body + "\nclass Helper:\n    pass\n",
        "empty": "",
    }


def scored_text(bench: HumanEval, item: HumanEvalItem, reply: str, ctx: BenchmarkContext) -> str:
    """What evals scores: the stopped reply, or the unstopped one when ``follow_up`` asks."""
    text, stopped = truncate_at_stop(reply, BASE_STOPS)
    first = GenerateResponse(text, 0, 0, "stop" if stopped else "length")
    more = bench.follow_up(item, [first], ctx)
    return reply if more else text


def test_extraction_equals_opencompass_on_every_item(reference: Reference,
                                                     data_dir: Path) -> None:
    bench, ctx = HumanEval(), BenchmarkContext(data_dir, ModelKind.BASE, Mode.GEN, 0)
    items = bench.load(ctx)
    replies = [(item.id, name, reply) for item in items for name, reply in shapes(item).items()]
    theirs = reference(
        "m = oc('opencompass.datasets.humaneval')\n"
        "RESULT = [m.humaneval_internal_v1_postprocess(r) for r in DATA]",
        [r for _, _, r in replies])
    by_item = {item.id: item for item in items}
    wrong = [(tid, name) for (tid, name, reply), expected in zip(replies, theirs, strict=True)
             if postprocess(scored_text(bench, by_item[tid], reply, ctx)) != expected]
    assert len(replies) == 164 * 8 and wrong == []


def test_restated_signatures_score_as_the_canonical_solutions(tmp_path: Path,
                                                              data_dir: Path) -> None:
    """Through the real runner and engine: the first request is stopped at offset 0, the
    second (unstopped) answer is scored, and every item passes."""
    items = {i.prompt: i for i in HumanEval().load(
        BenchmarkContext(data_dir, ModelKind.BASE, Mode.GEN, 0))}

    def reply(request: GenerateRequest) -> str:
        assert isinstance(request.prompt, TextPrompt)
        item = items[request.prompt.text]
        return "\n" + _signature(item) + "\n" + item.target + "\n\ndef unrelated():\n    pass\n"

    mock = MockBackend(generate_fn=reply)
    model = ModelSpec(name="base", path="embedded:smollm2-135m-instruct", kind="base",
                      stage="base")
    config = EvalsConfig.model_validate({
        "data_dir": str(data_dir), "output_dir": str(tmp_path / "out"),
        "runner": {"backend": "mock"}, "models": [model.model_dump()]})
    suite = SuiteSpec.model_validate({"name": "he", "benchmarks": [
        {"name": "humaneval", "limit": 20}]})
    (outcome,) = run_model(config, tmp_path, model, [suite], backend_builder=lambda spec: mock)
    (result,) = outcome.results
    assert result.primary.value == pytest.approx(100.0) and result.n == 20
    assert mock.calls == 40  # each item twice: stopped at offset 0, then unstopped
