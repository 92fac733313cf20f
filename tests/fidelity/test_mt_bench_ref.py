"""MT-Bench judging agrees with FastChat's ``llm_judge`` per sample: for real questions of
every category, turn 1 and turn 2, with and without GPT-4's reference answers, the judge's
system and user prompts evals sends are the ones FastChat's ``run_judge_single`` builds from
the same ``judge_prompts.jsonl``, and evals reads the same rating from the same judgment text
(``[[x]]``, else ``[x]``; -1 where FastChat finds none, a parse failure here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.benchmarks.alignment.mt_bench import MTBench, MTBenchItem, _judgement
from evals.benchmarks.base import BenchmarkContext
from evals.records import ChatPrompt, GenerateResponse, Mode, ModelKind
from tests.fidelity.conftest import Reference

JUDGMENTS = [
    "The answer is helpful. Rating: [[8]]",
    "Rating: [[8.5]]",
    "Rating: [7]",
    "I would give it [[3]] but then [[9]]",
    "no rating at all",
    "[[ 7 ]]",
    "[[7/10]]",
    "[[10]]",
    "Score [[1.]] overall",
    "[9] first, then [[4]]",
]

FASTCHAT = r"""
import importlib, sys, types
for name in ("openai", "anthropic"):
    sys.modules.setdefault(name, types.ModuleType(name))
class Conv:
    roles = ("user", "assistant")
    def set_system_message(self, text): pass
    def append_message(self, role, text): pass
model = types.ModuleType("fastchat.model"); model.__path__ = []
adapter = types.ModuleType("fastchat.model.model_adapter")
adapter.get_conversation_template = lambda name: Conv()
adapter.OPENAI_MODEL_LIST, adapter.ANTHROPIC_MODEL_LIST = ["judge"], []
sys.modules.update({"fastchat.model": model, "fastchat.model.model_adapter": adapter})
common = importlib.import_module("fastchat.llm_judge.common")
prompts = common.load_judge_prompts(DATA["prompts"])
RESULT = []
for case in DATA["cases"]:
    multi = case["turn"] == 2
    key = "single-math-v1" if case["category"] in common.NEED_REF_CATS else "single-v1"
    key += "-multi-turn" if multi else ""
    judge = common.Judge("judge", prompts[key], ref_based="math" in key, multi_turn=multi)
    ref = {"choices": [{"turns": case["ref"]}]} if "math" in key else None
    common.chat_completion_openai = lambda *a, text=case["judgment"], **k: text
    rating, user, _ = common.run_judge_single(
        {"turns": case["turns"]}, {"choices": [{"turns": case["answers"]}]}, judge, ref,
        multi_turn=multi)
    RESULT.append({"rating": rating, "user": user, "system": prompts[key]["system_prompt"]})
"""


def test_prompts_and_ratings_agree_with_fastchat(reference: Reference, data_dir: Path) -> None:
    ctx = BenchmarkContext(data_dir, ModelKind.CHAT, Mode.GEN, 0)
    items: list[MTBenchItem] = MTBench().load(ctx)
    chosen = [next(i for i in items if i.category == c) for c in dict.fromkeys(
        i.category for i in items)]
    assert len(chosen) == 8 and any(i.reference for i in chosen)
    cases, ours = [], []
    for k, item in enumerate(chosen):
        # FastChat stores answers stripped (gen_model_answer.py); evals strips them too
        answers = [f"Answer {k} to turn {t}: {item.turns[t][:40]}".strip() for t in range(2)]
        responses = [GenerateResponse(a, 0, 0, "stop") for a in answers]
        calls = MTBench().judge_requests(item, responses, ctx)
        for turn, call in enumerate(calls, start=1):
            judgment = JUDGMENTS[(2 * k + turn) % len(JUDGMENTS)]
            cases.append({"turn": turn, "category": item.category, "turns": list(item.turns),
                          "answers": answers, "ref": list(item.reference or ()),
                          "judgment": judgment})
            assert isinstance(call.prompt, ChatPrompt)
            ours.append((call.prompt, _judgement(f"turn{turn}", judgment)))
    theirs = reference(FASTCHAT, {"prompts": str(data_dir / "mt_bench" / "judge_prompts.jsonl"),
                                  "cases": cases})
    assert len(theirs) == 16
    for (prompt, judgement), ref in zip(ours, theirs, strict=True):
        roles = [m.role for m in prompt.messages]
        assert roles == ["system", "user"] and prompt.messages[0].content == ref["system"]
        assert prompt.messages[1].content == ref["user"]
        expected = None if ref["rating"] == -1 else float(ref["rating"])
        assert judgement.value == (pytest.approx(expected) if expected is not None else None)


def test_every_judgment_shape_parses_as_fastchat_parses_it(reference: Reference,
                                                            data_dir: Path) -> None:
    ctx = BenchmarkContext(data_dir, ModelKind.CHAT, Mode.GEN, 0)
    item = next(i for i in MTBench().load(ctx) if i.category == "writing")
    cases = [{"turn": 1, "category": "writing", "turns": list(item.turns), "answers": ["a", "b"],
              "ref": [], "judgment": j} for j in JUDGMENTS]
    theirs = reference(FASTCHAT, {"prompts": str(data_dir / "mt_bench" / "judge_prompts.jsonl"),
                                  "cases": cases})
    ratings = [r["rating"] for r in theirs]
    assert ratings == [8, 8.5, 7, 3, -1, -1, -1, 10, 1.0, 4]
    ours = [_judgement("turn1", j).value for j in JUDGMENTS]
    assert ours == [None if r == -1 else pytest.approx(r) for r in ratings]
