"""Needle test definitions -> cells with the real SmolLM2 tokenizer and the NeedleBench fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evals.benchmarks.long_context.needle.cells import NeedleCell, build_cells, score_cell
from evals.benchmarks.long_context.needle.context import count_tokens
from evals.benchmarks.long_context.needle.spec import NeedleTestSpec
from evals.embedded import resolve_model_path
from evals.errors import DataError
from tests.conftest import SHARED_DATA

TOK_DIR = Path(resolve_model_path("embedded:smollm2-135m-instruct"))  # converts once
PG = SHARED_DATA / "niah_haystack"
FIX = Path(__file__).parent / "fixtures/needlebench"
MAX_LEN, RESERVE = 8192, 512
SMALL: dict[str, Any] = {"lengths": (1000, 2000), "depths": (0, 50, 100), "repeats": 2}

pytestmark = [
    pytest.mark.skipif(not PG.is_dir(), reason="no PG essays"),
]


@pytest.fixture(scope="module")
def tok() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TOK_DIR))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("data")
    (d / "needlebench").symlink_to(FIX.resolve())
    (d / "niah_haystack").symlink_to(PG)
    return d


@pytest.fixture(scope="module")
def render(tok: Any) -> Callable[[str], str]:
    def chat(message: str) -> str:
        msgs = [{"role": "user", "content": message}]
        return str(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))

    return chat


def _spec(kind: str, **kw: Any) -> NeedleTestSpec:
    base: dict[str, Any] = {"name": kind, "kind": kind, "language": "en"}
    if kind != "ancestral_trace":
        base["haystack"] = "niah_haystack/PaulGrahamEssays"
    return NeedleTestSpec.model_validate(base | kw)


def _build(spec: NeedleTestSpec, tok: Any, data_dir: Path, render: Callable[[str], str]) -> list[NeedleCell]:
    return build_cells(spec, tok, data_dir, MAX_LEN, RESERVE, render=render)


def _fits(cells: list[NeedleCell], tok: Any, render: Callable[[str], str]) -> None:
    assert len({c.id for c in cells}) == len(cells)
    for c in cells:
        assert count_tokens(render(c.prompt), tok) + RESERVE <= MAX_LEN, c.id


@pytest.fixture(scope="module")
def single(tok: Any, data_dir: Path, render: Callable[[str], str]) -> list[NeedleCell]:
    return _build(_spec("single", **SMALL), tok, data_dir, render)


def test_single_cells(single: list[NeedleCell], tok: Any, render: Callable[[str], str]) -> None:
    assert len(single) == 2 * 3 * 2
    _fits(single, tok, render)
    for c in single:
        assert c.kind == "single" and c.context_tokens == c.length  # exact, well under the window
        assert "\n" + c.answer.needles[0] + "\n" in c.prompt
        assert c.prompt.endswith(c.answer.question) and "Before answering" in c.answer.question
    # origin.py: random.seed(repeat); random.choice -> repeats may pick different needles
    assert {c.answer.needles for c in single if c.repeat == 0} == {single[0].answer.needles}


def test_single_scores(single: list[NeedleCell]) -> None:
    c = single[0]
    keyword = c.answer.keywords[0]
    hit = score_cell(c, keyword)
    assert hit.score == 100 and hit.found == (keyword,)
    miss = score_cell(c, "")
    assert miss.score == 0 and miss.found == ()
    near = score_cell(c, c.answer.needles[0].replace(keyword, "x"))
    assert 0 < near.score < 20  # OC: 0.2 x similarity without the keyword


def test_shrink_keeps_requested_length(tok: Any, data_dir: Path, render: Callable[[str], str]) -> None:
    spec = _spec("single", lengths=(8000,), depths=(50,), repeats=1)
    (cell,) = _build(spec, tok, data_dir, render)
    assert cell.length == 8000 and MAX_LEN - RESERVE - 300 < cell.context_tokens < 8000
    _fits([cell], tok, render)
    assert build_cells(spec, tok, data_dir, MAX_LEN, RESERVE, render=render, policy="skip") == []


def test_lengths_capped_and_override(tok: Any, data_dir: Path) -> None:
    spec = _spec("single", lengths=(1000, 16000), depths=(0,), repeats=1)
    assert [c.length for c in build_cells(spec, tok, data_dir, MAX_LEN, RESERVE)] == [1000]
    cells = build_cells(spec, tok, data_dir, MAX_LEN, RESERVE, lengths=[1500])
    assert [c.length for c in cells] == [1500]
    assert cells[0].context_tokens == 1500  # render=None: raw text sized


def test_multi_retrieval(tok: Any, data_dir: Path, render: Callable[[str], str]) -> None:
    spec = _spec("multi_retrieval", needles="needlebench/needles.jsonl", **SMALL)
    cells = _build(spec, tok, data_dir, render)
    assert len(cells) == 2 * 2 and all(c.depth == 0 for c in cells)
    _fits(cells, tok, render)
    for c in cells:
        a = c.answer
        assert a.depths == (0, 50, 100) and len(a.keywords) == 3
        assert all("\n" + n + "\n" in c.prompt for n in a.needles)
        full = score_cell(c, " ".join(a.keywords))
        assert full.score == 100 and set(full.found) == set(a.keywords)
        assert score_cell(c, a.keywords[0]).score == pytest.approx(100 / 3)
        assert score_cell(c, "").score == 0


def test_multi_retrieval_needs_enough_needles(tok: Any, data_dir: Path) -> None:
    spec = _spec("multi_retrieval", needles="needlebench/needles.jsonl", lengths=(1000,),
                 depths=tuple(range(0, 100, 6)))
    with pytest.raises(DataError, match="15 'en' needles for 17 depths"):
        build_cells(spec, tok, data_dir, MAX_LEN, RESERVE)


def test_multi_reasoning(tok: Any, data_dir: Path, render: Callable[[str], str]) -> None:
    spec = _spec(
        "multi_reasoning", needles="needlebench/multi_needle_reasoning_en.json", num_needles=(2, 3), **SMALL
    )
    cells = _build(spec, tok, data_dir, render)
    assert len(cells) == 2 * 2 * 3 * 2
    _fits(cells, tok, render)
    for c in cells:
        a = c.answer
        assert len(a.needles) == a.num_needles and c.id.startswith(f"N{a.num_needles}-")
        assert a.depths[0] == c.depth and all(d <= 100 for d in a.depths)
        assert c.prompt.index(a.needles[0]) <= c.prompt.index(a.needles[-1])
        assert score_cell(c, f"It is {a.reference.upper()}.").score == 100
        assert score_cell(c, "").score == 0
    c = next(c for c in cells if c.depth == 0 and c.answer.num_needles == 3)
    assert c.answer.depths == (0, 10, 20)


def test_ancestral_trace(tok: Any, data_dir: Path, render: Callable[[str], str]) -> None:
    spec = _spec("ancestral_trace", needles="needlebench/names.json", num_needles=(2, 11), repeats=2)
    cells = _build(spec, tok, data_dir, render)
    assert [c.id for c in cells] == ["N2-R0", "N2-R1", "N11-R0", "N11-R1"]
    _fits(cells, tok, render)
    for c in cells:
        assert c.length == c.answer.num_needles and c.context_tokens == count_tokens(render(c.prompt), tok)
        assert score_cell(c, f"The eldest is {c.answer.keywords[0]}.").score == 100
        assert score_cell(c, "").score == 0
    window = max(c.context_tokens for c in cells if c.answer.num_needles == 2) + RESERVE
    tiny = build_cells(spec, tok, data_dir, window, RESERVE, render=render)
    assert [c.id for c in tiny] == ["N2-R0", "N2-R1"]  # longer chains overflow: skipped


def test_chinese_single(tok: Any, data_dir: Path, render: Callable[[str], str]) -> None:
    spec = NeedleTestSpec(
        name="zh",
        kind="single",
        language="zh",
        haystack="needlebench/zh_haystack.jsonl",
        lengths=(1000,),
        depths=(0, 50, 100),
        repeats=1,
    )
    cells = _build(spec, tok, data_dir, render)
    assert len(cells) == 3
    for c in cells:
        assert "现在请问：" in c.prompt and c.answer.needles[0] in c.prompt
        assert score_cell(c, c.answer.keywords[0]).score == 100
