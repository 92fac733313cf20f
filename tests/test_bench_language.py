"""Language & knowledge benchmarks: loaders on real data, prompts pinned against the
OpenCompass configs, extraction edge cases, parse failures, and a mock end-to-end run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evals.backends.mock import MockBackend
from evals.benchmarks.base import BENCHMARKS, BenchmarkContext, summarize
from evals.benchmarks.language_knowledge.c3 import first_capital
from evals.errors import DataError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    LoglikelihoodRequest,
    Mode,
    ModelKind,
    SampleResult,
    TextPrompt,
    request_key,
)
from evals.run.engine import Engine
from tests.oracle import score_with

FIXTURES = Path(__file__).parent / "fixtures"


def _ctx(data: Path, kind: ModelKind = ModelKind.BASE, mode: Mode = Mode.GEN, shots: int = 0
         ) -> BenchmarkContext:
    return BenchmarkContext(data, kind, mode, shots)


def _gen(text: str) -> list[GenerateResponse]:
    return [GenerateResponse(text, 0, 0, "stop")]


def test_counts_on_shared_data(data_dir: Path) -> None:
    assert len(BENCHMARKS.get("triviaqa").load(_ctx(data_dir))) == 3000
    assert len(BENCHMARKS.get("nq").load(_ctx(data_dir))) == 3610
    assert len(BENCHMARKS.get("c3").load(_ctx(data_dir))) == 3816
    flores = BENCHMARKS.get("flores").load(_ctx(data_dir))
    assert len(flores) == 202 * 100
    assert len(BENCHMARKS.get("race_high").load(_ctx(FIXTURES))) == 6


def test_triviaqa_question_keeps_u0085(data_dir: Path) -> None:
    items = BENCHMARKS.get("triviaqa").load(_ctx(data_dir))
    assert sum("\x85" in x.question for x in items) == 1
    assert items[0].target == "Onion" and items[0].question.endswith("vegetable?")


def test_triviaqa_prompt_base_and_chat(data_dir: Path) -> None:
    b = BENCHMARKS.get("triviaqa")
    item = b.load(_ctx(data_dir))[0]
    (req,) = b.requests(item, _ctx(data_dir, shots=1))
    assert isinstance(req, GenerateRequest) and isinstance(req.prompt, TextPrompt)
    assert req.prompt.text == (
        "Q: Which American-born Sinclair won the Nobel Prize for Literature in 1930?\n"
        "A: Sinclair Lewis.\n\n"
        "Q: Brunswick, Lancastrian and Pearl Pickler are types of which vegetable?\nA:"
    )
    assert req.params.stop == ("Q:", "\n") and req.params.max_tokens == 50
    (chat,) = b.requests(item, _ctx(data_dir, ModelKind.CHAT, shots=0))
    assert isinstance(chat, GenerateRequest) and isinstance(chat.prompt, ChatPrompt)
    assert [m.content for m in chat.prompt.messages] == [f"Q: {item.question}"]
    assert chat.params.stop == ()


def test_nq_prompt_and_scoring(data_dir: Path) -> None:
    b = BENCHMARKS.get("nq")
    ctx = _ctx(data_dir, shots=5)
    item = b.load(ctx)[0]
    (req,) = b.requests(item, ctx)
    assert isinstance(req, GenerateRequest) and isinstance(req.prompt, TextPrompt)
    assert req.prompt.text.startswith("Q: where did they film hot tub time machine?\n"
                                      "A: Fernie Alpine Resort.\n\nQ: who has")
    assert req.prompt.text.endswith("\n\nQ: when was the last time anyone was on the moon?\nA:")
    assert b.score(item, _gen(" December 1972.\n"), ctx).value == 1.0
    failed = b.score(item, _gen("..."), ctx)
    assert failed.parse_failed and failed.value == 0.0


def test_c3_prompts_pinned(data_dir: Path) -> None:
    b = BENCHMARKS.get("c3")
    item = b.load(_ctx(data_dir))[0]
    reqs = b.requests(item, _ctx(data_dir, mode=Mode.PPL))
    assert all(isinstance(r, LoglikelihoodRequest) for r in reqs) and len(reqs) == 4
    r0 = reqs[0]
    assert isinstance(r0, LoglikelihoodRequest) and isinstance(r0.context, TextPrompt)
    assert r0.context.text == ("文章：男：听说你们公司要派你去南方工作? 女：是呀，虽说那边环境好，"
                               "待遇也不错，可我还是觉得在家里最好。\n问题：他们在谈论什么?")
    assert [r.continuation for r in reqs if isinstance(r, LoglikelihoodRequest)] == [
        "\n答案：旅行", "\n答案：坏境", "\n答案：工作", "\n答案：家庭"]
    (gen,) = b.requests(item, _ctx(data_dir, ModelKind.CHAT))
    assert isinstance(gen, GenerateRequest) and isinstance(gen.prompt, ChatPrompt)
    assert gen.prompt.messages[0].content.endswith(
        "\n问：他们在谈论什么?\nA. 旅行\nB. 坏境\nC. 工作\nD. 家庭\n请从“A”，“B”，“C”，“D”中进行选择。\n答：")
    assert item.target == "C"


def test_c3_short_questions_and_extraction(data_dir: Path) -> None:
    b = BENCHMARKS.get("c3")
    two = next(x for x in b.load(_ctx(data_dir)) if len(x.choices) == 2)
    assert len(b.requests(two, _ctx(data_dir, mode=Mode.PPL))) == 2
    (gen,) = b.requests(two, _ctx(data_dir, ModelKind.CHAT))
    assert isinstance(gen, GenerateRequest) and isinstance(gen.prompt, ChatPrompt)
    assert "C. [NULL]\nD. [NULL]\n" in gen.prompt.messages[0].content
    assert first_capital("答：B") == "B" and first_capital("无法判断") is None
    s = b.score(two, _gen("无法判断"), _ctx(data_dir, ModelKind.CHAT))
    assert s.parse_failed and s.value == 0.0
    with pytest.raises(DataError):
        b.load(_ctx(data_dir, shots=5))


def test_race_prompt_pinned() -> None:
    b = BENCHMARKS.get("race_high")
    item = b.load(_ctx(FIXTURES))[0]
    reqs = b.requests(item, _ctx(FIXTURES, mode=Mode.PPL))
    r0 = reqs[0]
    assert isinstance(r0, LoglikelihoodRequest) and isinstance(r0.context, TextPrompt)
    assert r0.context.text.startswith(
        "Read the article, and answer the question by replying A, B, C or D.\n\nArticle:\nMia had")
    assert r0.context.text.endswith(
        "\n\nQ: How did Mia get the money to repair the violin?\n\nA. Her grandfather paid for it.\n"
        "B. She walked dogs for her neighbours.\nC. She sold her old toys.\n"
        "D. The repairman fixed it for free.")
    assert [r.continuation for r in reqs if isinstance(r, LoglikelihoodRequest)] == [
        "\nA: A", "\nA: B", "\nA: C", "\nA: D"]
    ctx = _ctx(FIXTURES, ModelKind.CHAT)
    assert b.score(item, _gen("The answer is B."), ctx).value == 1.0
    assert b.score(item, _gen("none"), ctx).parse_failed


def test_race_missing_data_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="ehovy/race"):
        BENCHMARKS.get("race_high").load(_ctx(tmp_path))


def test_flores_prompt_and_shots_outside_eval(data_dir: Path) -> None:
    b = BENCHMARKS.get("flores")
    items = b.load(_ctx(data_dir, shots=8))
    first = items[0]
    assert first.direction == "eng-afr" and first.id == "eng-afr/0"
    eval_sources = {x.source for x in items if x.direction == "eng-afr"}
    assert len(first.shots) == 8 and not {s for s, _ in first.shots} & eval_sources
    (req,) = b.requests(first, _ctx(data_dir, shots=1))
    assert isinstance(req, GenerateRequest) and isinstance(req.prompt, TextPrompt)
    src, tgt = first.shots[0]
    assert req.prompt.text == (
        f"Translate the following English statements to Afrikaans.\n{src}\n{tgt}\n"
        f"Translate the following English statements to Afrikaans.\n{first.source}")
    zh = next(x for x in items if x.direction == "zho_simpl-eng")
    (zreq,) = b.requests(zh, _ctx(data_dir, ModelKind.CHAT, shots=0))
    assert isinstance(zreq.prompt, ChatPrompt)
    assert zreq.prompt.messages[0].content.startswith(
        "Translate the following Chinese (Simpl) statements to English.\n")
    s = b.score(first, _gen("\n\n"), _ctx(data_dir))
    assert s.parse_failed and s.extracted == ""


def _run(name: str, data: Path, kind: ModelKind, mode: Mode, shots: int, n: int) -> Any:
    b = BENCHMARKS.get(name)
    ctx = _ctx(data, kind, mode, shots)
    samples = b.load(ctx)[:n]
    reqs = {s.id: b.requests(s, ctx) for s in samples}
    answers = Engine(MockBackend(), None).run([r for rs in reqs.values() for r in rs])
    results = [
        SampleResult(s.id, b.group(s), "", s.target, (),
                     b.score(s, [answers[request_key(r)] for r in reqs[s.id]], ctx))
        for s in samples
    ]
    return summarize(b, ctx, results)


@pytest.mark.parametrize(("name", "kind", "mode", "shots"), [
    ("triviaqa", ModelKind.BASE, Mode.GEN, 4), ("nq", ModelKind.CHAT, Mode.GEN, 5),
    ("c3", ModelKind.BASE, Mode.PPL, 0), ("c3", ModelKind.CHAT, Mode.GEN, 0),
    ("race_high", ModelKind.BASE, Mode.PPL, 0), ("race_high", ModelKind.CHAT, Mode.GEN, 0),
    ("flores", ModelKind.BASE, Mode.GEN, 8),
])
def test_mock_end_to_end(data_dir: Path, name: str, kind: ModelKind, mode: Mode, shots: int
                         ) -> None:
    """Replies that are the targets (the gold option for PPL) score 100 through requests,
    extraction, metric and summary; empty replies (the worst option) score 0, unparsed."""
    b = BENCHMARKS.get(name)
    ctx = _ctx(FIXTURES if name == "race_high" else data_dir, kind, mode, shots)
    samples = [s for s in b.load(ctx)[:250] if "a:" not in s.target.lower()]
    # OpenCompass's open-QA extraction keeps what follows "a:" (an answer prefix), so a
    # target holding it ("Nairobi Errata: ...") cannot be replied verbatim
    right, wrong = score_with(b, ctx, samples), score_with(b, ctx, samples, right=False)
    assert right.n == wrong.n == len(samples) > 0
    assert right.primary.value == pytest.approx(100.0) and right.parse_failures == 0
    assert wrong.primary.value == 0.0
    assert wrong.parse_failures == (len(samples) if mode is Mode.GEN else 0)
