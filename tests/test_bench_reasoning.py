"""WinoGrande, BBH and TheoremQA: loaders on the real shared data, pinned prompts, extraction
edge cases, parse-failure accounting, and one end-to-end pass through the mock backend each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evals.benchmarks.base import BENCHMARKS, BenchmarkContext, select
from evals.benchmarks.reasoning_math.bbh import (
    BBH,
    MCQ_SUBSETS,
    SUBSETS,
    freeform_answer,
    mcq_answer,
    score_text,
)
from evals.benchmarks.reasoning_math.theoremqa import TheoremQA, extract_answer
from evals.benchmarks.reasoning_math.theoremqa import score_text as tqa_score
from evals.benchmarks.reasoning_math.winogrande import WinoGrande, from_derived, from_upstream
from evals.errors import DataError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
    Message,
    Mode,
    ModelKind,
    TextPrompt,
)
from tests.oracle import Reply, score_with, target

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _ctx(data_dir: Path, kind: ModelKind, mode: Mode, shots: int) -> BenchmarkContext:
    return BenchmarkContext(data_dir, kind, mode, shots)


# ---------------------------------------------------------------- WinoGrande

def test_winogrande_shared_data(data_dir: Path) -> None:
    items = WinoGrande().load(_ctx(data_dir, ModelKind.BASE, Mode.PPL, 0))
    assert len(items) == 1267
    first = items[0]
    assert first.prefixes == ("Sarah was a much better surgeon than Maria so Sarah",
                              "Sarah was a much better surgeon than Maria so Maria")
    assert first.cont == " always got the easier cases." and first.target == "B"
    assert {i.target for i in items} == {"A", "B"}
    assert WinoGrande().data_files(_ctx(data_dir, ModelKind.BASE, Mode.PPL, 0))


def test_winogrande_derived_layout_restores_the_space_after_the_blank() -> None:
    upstream = from_upstream(0, {"sentence": "He ate the _'s food.", "option1": "dog",
                                 "option2": "cat", "answer": "2"})
    derived = from_derived(0, {"context_options": ["He ate the dog", "He ate the cat"],
                               "continuation": "'s food.", "gold": 1})
    assert upstream == derived
    plain = from_derived(0, {"context_options": ["a x", "a y"], "continuation": "ran.", "gold": 0})
    assert plain.sentences == ("a x ran.", "a y ran.")


def test_winogrande_requests_and_scores(data_dir: Path) -> None:
    bench = WinoGrande()
    base = _ctx(data_dir, ModelKind.BASE, Mode.PPL, 0)
    item = bench.load(base)[0]
    reqs = bench.requests(item, base)
    assert reqs == [
        LoglikelihoodRequest(TextPrompt(p), " always got the easier cases.") for p in item.prefixes
    ]
    lls = [LoglikelihoodResponse(-9.0, 5, False, -30.0, 10),
           LoglikelihoodResponse(-4.0, 5, False, -40.0, 10)]
    score = bench.score(item, lls, base)
    assert (score.value, score.extracted) == (1.0, "B")
    assert dict(score.extras)["acc_sentence_ppl"] == 0.0  # whole sentence: 39/15 < 44/15 picks A
    tie = [LoglikelihoodResponse(-4.0, 5, False, -30.0, 10)] * 2
    assert bench.score(item, tie, base).extracted == "A"  # list.index(max): option 1

    chat = _ctx(data_dir, ModelKind.CHAT, Mode.GEN, 0)
    (req,) = bench.requests(item, chat)
    assert isinstance(req, GenerateRequest)
    assert req.prompt == ChatPrompt((Message("user", (
        "Which of the following is a good sentence:\n"
        "A. Sarah was a much better surgeon than Maria so Sarah always got the easier cases.\n"
        "B. Sarah was a much better surgeon than Maria so Maria always got the easier cases.\n"
        "Answer:")),))
    assert bench.score(item, [GenerateResponse("B", 0, 1, "stop")], chat).value == 1.0
    failed = bench.score(item, [GenerateResponse("neither", 0, 1, "stop")], chat)
    assert failed.parse_failed and failed.value == 0.0


def test_winogrande_fixture_and_bad_input(tmp_path: Path) -> None:
    items = WinoGrande().load(_ctx(FIXTURES, ModelKind.BASE, Mode.PPL, 0))
    assert len(items) == 7 and items[2].cont == "'s weight was too great."
    (tmp_path / "winogrande").mkdir()
    (tmp_path / "winogrande" / "dev.jsonl").write_text('{"sentence": "no blank", "option1": "a", '
                                                       '"option2": "b", "answer": "1"}\n')
    with pytest.raises(DataError, match="blank"):
        WinoGrande().load(_ctx(tmp_path, ModelKind.BASE, Mode.PPL, 0))
    with pytest.raises(DataError, match="0-shot"):
        WinoGrande().load(_ctx(FIXTURES, ModelKind.BASE, Mode.PPL, 5))


# ---------------------------------------------------------------- BBH

def test_bbh_shared_data(data_dir: Path) -> None:
    ctx = _ctx(data_dir, ModelKind.BASE, Mode.GEN, 3)
    items = BBH().load(ctx)
    assert len(items) == 6511
    assert {i.subset for i in items} == set(SUBSETS) and len(SUBSETS) == 27
    assert len(MCQ_SUBSETS) == 17
    assert len(BBH().data_files(ctx)) == 54
    nav = next(i for i in items if i.subset == "navigate")
    assert not nav.cot_prompt.startswith("BENCHMARK DATA")
    assert nav.cot_prompt.startswith("Given a series of navigation instructions")


def test_bbh_prompt_is_the_same_for_base_and_chat(data_dir: Path) -> None:
    bench = BBH()
    base = _ctx(data_dir, ModelKind.BASE, Mode.GEN, 3)
    chat = _ctx(data_dir, ModelKind.CHAT, Mode.GEN, 3)
    item = bench.load(base)[0]
    (b,), (c,) = bench.requests(item, base), bench.requests(item, chat)
    assert isinstance(b, GenerateRequest) and isinstance(c, GenerateRequest)
    assert isinstance(b.prompt, TextPrompt) and isinstance(c.prompt, ChatPrompt)
    assert c.prompt.messages == (Message("user", b.prompt.text),)
    assert b.prompt.text.startswith("Follow the given examples and answer the question.\n"
                                    "Task description: Answer questions about which times")
    assert b.prompt.text.endswith(f"\n\nQ: {item.input}\nA: Let's think step by step.")
    assert b.params.max_tokens == c.params.max_tokens == 512
    assert b.params.stop == ("\n\nQ:",) and c.params.stop == ()
    with pytest.raises(DataError, match="shots"):
        bench.load(_ctx(data_dir, ModelKind.BASE, Mode.GEN, 0))


@pytest.mark.parametrize(("text", "letter"), [
    ("(A)", "A"), ("A)", "A"), ("the answer is (B).", "B"), ("So the answer is C.", "C"),
    ("no capital here", None), ("", None), ("I think so", "I"),
])
def test_bbh_mcq_extraction(text: str, letter: str | None) -> None:
    assert mcq_answer(text) == letter


@pytest.mark.parametrize(("text", "answer"), [
    ("So the answer is Yes.", "Yes"), ("the answer is valid.", "valid"),
    ("So the answer is **True**.", "True"), ("So the answer is 1,234.", "1,234"),
    ("So the answer is a, b, c.", "a b c"), ("So the answer is ] ).", "] )"),
    ("the answer is 3.\nQ: x. So the answer is 4.", "4"),
])
def test_bbh_freeform_extraction(text: str, answer: str) -> None:
    assert freeform_answer(text) == answer


def test_bbh_parse_failures() -> None:
    assert score_text("no letter", "(A)", True).parse_failed
    assert score_text("", "Yes", False).parse_failed
    assert score_text("So the answer is VALID.", "valid", False).value == 1.0
    assert not score_text("So the answer is (B).", "(A)", True).parse_failed


# ---------------------------------------------------------------- TheoremQA

def test_theoremqa_shared_data(data_dir: Path) -> None:
    ctx = _ctx(data_dir, ModelKind.BASE, Mode.GEN, 0)
    items = TheoremQA().load(ctx)
    assert len(items) == 800 and len({i.id for i in items}) == 800
    first = items[0]
    assert first.target == "11760" and first.answer_type == "integer"
    (req,) = TheoremQA().requests(first, ctx)
    assert isinstance(req, GenerateRequest) and isinstance(req.prompt, TextPrompt)
    assert req.prompt.text.startswith("You are a mathematician, you are supposed to answer")
    assert req.prompt.text.endswith(
        "4. an option like (a), (b), (c), (d)\n\nQuestion: How many ways are there to divide a "
        "set of 8 elements into 5 non-empty ordered subsets?\nLet's think step by step.")
    assert req.params.max_tokens == 512


def test_theoremqa_csv_layout(tmp_path: Path) -> None:
    (tmp_path / "theoremqa").mkdir()
    (tmp_path / "theoremqa" / "test.csv").write_text(
        'Question,Answer,Answer_type,Picture\n"Is it, really?",True,bool,null\nHow many?,"[1, 1]",'
        "list of integer,null\n")
    items = TheoremQA().load(_ctx(tmp_path, ModelKind.CHAT, Mode.GEN, 0))
    assert [(i.question, i.target) for i in items] == [("Is it, really?", "True"), ("How many?", "[1, 1]")]


@pytest.mark.parametrize(("text", "pred"), [
    ("Therefore, the answer is 0.5.", "0.5"), ("the answer is [2, 3, 4].", "[2"),
    ("the answer is True!", "True"), ("the answer is (c).", "(c)"), ("no final line", None),
    ("the answer is 4e-05.", "4e-05"),
])
def test_theoremqa_extraction(text: str, pred: str | None) -> None:
    assert extract_answer(text) == pred


def test_theoremqa_parse_failures() -> None:
    assert tqa_score("I give up.", "1.0").parse_failed
    bare = tqa_score(" 1.0\n", "1.0")
    assert bare.value == 1.0 and not bare.parse_failed
    assert tqa_score("Therefore, the answer is 0.50.", "0.5").value == 0.0


# ---------------------------------------------------------------- end to end (mock backend)

REPLIES: dict[str, Reply] = {
    "winogrande": target,
    "bbh": lambda s, _: f"So the answer is {s.target}.",
    "theoremqa": lambda s, _: f"Therefore, the answer is {s.target}.",
}
"""The reply each benchmark's extraction must map to the target."""


@pytest.mark.parametrize(("name", "kind", "mode", "shots"), [
    ("winogrande", ModelKind.BASE, Mode.PPL, 0),
    ("winogrande", ModelKind.CHAT, Mode.GEN, 0),
    ("bbh", ModelKind.CHAT, Mode.GEN, 3),
    ("theoremqa", ModelKind.BASE, Mode.GEN, 0),
])
def test_end_to_end_through_the_mock_backend(data_dir: Path, name: str, kind: ModelKind,
                                             mode: Mode, shots: int) -> None:
    """Right replies (the gold option for PPL) score 100 in every group, empty ones 0.
    TheoremQA's list answers are left out: OpenCompass's extraction keeps the text before
    the first comma, so no reply to them is ever right (pinned in test_theoremqa_ref)."""
    bench: Any = BENCHMARKS.get(name)
    ctx = _ctx(data_dir, kind, mode, shots)
    samples = [s for s in select(bench.load(ctx), 60) if "," not in s.target]
    summary = score_with(bench, ctx, samples, REPLIES[name])
    wrong = score_with(bench, ctx, samples, REPLIES[name], right=False)
    assert summary.n == wrong.n == len(samples) > 40
    assert summary.primary.value == 100.0 and summary.parse_failures == 0
    assert all(v == 100.0 for _, v, _ in summary.groups)
    assert wrong.primary.value == 0.0
    if name == "bbh":
        assert len(summary.groups) > 1
