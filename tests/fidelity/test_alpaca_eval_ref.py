"""AlpacaEval's judge messages equal those alpaca_eval 0.6.6 builds from its own template
(``alpaca_eval_clf_gpt4_turbo/alpaca_eval_clf.txt``, formatted by ``make_prompts`` and split
into chat messages by ``prompt_to_chatml``), on real instructions and baseline outputs."""

from __future__ import annotations

from pathlib import Path

from evals.benchmarks.alignment.alpaca_eval import AlpacaEval
from evals.benchmarks.base import BenchmarkContext
from evals.records import ChatPrompt, GenerateResponse, Mode, ModelKind
from tests.fidelity.conftest import Reference

REF = r"""
import os, pandas as pd, alpaca_eval
from alpaca_eval import utils
path = os.path.join(os.path.dirname(alpaca_eval.__file__), "evaluators_configs",
                    "alpaca_eval_clf_gpt4_turbo", "alpaca_eval_clf.txt")
template = open(path).read()
df = pd.DataFrame(DATA)
prompts, _ = utils.make_prompts(df, template=template, batch_size=1)
RESULT = [utils.prompt_to_chatml(p) for p in prompts]
"""


def test_judge_messages_match_alpaca_eval(reference: Reference, data_dir: Path) -> None:
    bench = AlpacaEval()
    ctx = BenchmarkContext(data_dir, ModelKind.CHAT, Mode.GEN, 0, judge_order="both")
    items = bench.load(ctx)[:40:4]
    rows, ours = [], []
    for item in items:
        answer = f"My answer to: {item.instruction[:60]} {{with braces}}"
        first, second = bench.judge_requests(item, [GenerateResponse(answer, 1, 1, "stop")],
                                             ctx)
        rows += [{"instruction": item.instruction, "output_1": answer,
                  "output_2": item.target},
                 {"instruction": item.instruction, "output_1": item.target,
                  "output_2": answer}]
        for req in (first, second):
            assert isinstance(req.prompt, ChatPrompt)
            ours.append([{"role": m.role, "content": m.content} for m in req.prompt.messages])
    theirs = reference(REF, {k: [r[k] for r in rows] for k in rows[0]})
    assert len(theirs) == len(ours) == 20
    for a, b in zip(ours, theirs, strict=True):
        assert a == b
