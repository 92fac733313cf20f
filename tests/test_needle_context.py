"""Token-exact needle contexts with the real SmolLM2 tokenizer, and test-definition specs."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from evals.benchmarks.long_context.needle.context import (
    Haystack,
    build_context,
    check_prompt,
    count_tokens,
    fit_prompt,
    load_haystack,
    measure_overhead,
)
from evals.benchmarks.long_context.needle.prompts import single_prompt, wrap_needle
from evals.benchmarks.long_context.needle.spec import CDME_DEPTHS, load_spec
from evals.embedded import resolve_model_path
from evals.errors import ConfigError
from tests.conftest import SHARED_DATA

TOK_DIR = Path(resolve_model_path("embedded:smollm2-135m-instruct"))  # converts once
PG = SHARED_DATA / "niah_haystack" / "PaulGrahamEssays"
FIX = Path(__file__).parent / "fixtures/needlebench"
ROOT = Path(__file__).parent.parent
NEEDLE = wrap_needle("Hidden on Emerald Island is the legendary Stardust Shard.")



@pytest.fixture(scope="module")
def tok() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TOK_DIR))


@pytest.fixture(scope="module")
def pg(tok: Any) -> Haystack:
    if not PG.is_dir():
        pytest.skip("PG essays absent")
    return load_haystack(PG, tok)


def _ids(text: str, tok: Any) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("target", [1000, 8000, 200_000])
def test_token_exact_sizing(pg: Haystack, tok: Any, target: int) -> None:
    ctx = build_context(pg, target, [(50, NEEDLE)], tok, repeat=0)
    assert ctx.exact
    assert len(_ids(ctx.text, tok)) == target == ctx.token_count


def test_200k_build_time_and_cycling(pg: Haystack, tok: Any) -> None:
    assert pg.token_count < 200_000  # the haystack is cycled to reach 200k
    start = time.perf_counter()
    ctx = build_context(pg, 200_000, [(37, NEEDLE)], tok, repeat=3)
    elapsed = time.perf_counter() - start
    print(f"200k context built in {elapsed:.2f} s")
    assert elapsed < 30
    assert ctx.token_count == 200_000


def test_no_special_tokens(pg: Haystack, tok: Any) -> None:
    ctx = build_context(pg, 8000, [(0, NEEDLE), (50, NEEDLE), (100, NEEDLE)], tok, repeat=1)
    specials = set(tok.all_special_ids)
    assert specials and not specials & set(_ids(ctx.text, tok))
    assert "<|im_start|>" not in ctx.text and "\ufffd" not in ctx.text


@pytest.mark.parametrize("depth", [0, 21, 50, 84, 100])
def test_depth_placement(pg: Haystack, tok: Any, depth: int) -> None:
    ctx = build_context(pg, 8000, [(depth, NEEDLE)], tok, repeat=2)
    placed = ctx.needles[0]
    assert ctx.text[placed.char_offset :].startswith(NEEDLE)
    if depth == 0:
        assert ctx.text.startswith(NEEDLE)
    elif depth == 100:
        assert ctx.text.endswith(NEEDLE)
    # nearest sentence boundary: no boundary of the haystack stream is closer to the request
    _, bounds = pg.stream(ctx.haystack_tokens, 2)
    want = ctx.haystack_tokens * depth / 100
    got = round(placed.depth_percent * ctx.haystack_tokens / 100)
    assert got in bounds
    assert all(abs(b - want) >= abs(got - want) for b in bounds)
    # and the needle follows a sentence end (100% is the cut end of the haystack prefix)
    before = ctx.text[: placed.char_offset].rstrip(" ")
    assert depth in (0, 100) or before[-1] in ".!?\n\"')"


def test_multi_needle_order_and_spacing(pg: Haystack, tok: Any) -> None:
    needles = [wrap_needle(f"The code word number {i} is heron-{i}.") for i in range(4)]
    depths = [10.0, 20.0, 30.0, 40.0]
    ctx = build_context(pg, 8000, list(zip(depths, needles, strict=True)), tok, repeat=0)
    offsets = [ctx.text.index(n) for n in needles]
    assert offsets == sorted(offsets) == [p.char_offset for p in ctx.needles]
    actual = [p.depth_percent for p in ctx.needles]
    gaps = [b - a for a, b in itertools.pairwise(actual)]
    assert all(5 < g < 15 for g in gaps)
    positions = [p.token_position for p in ctx.needles]
    assert positions == sorted(positions)
    assert ctx.token_count == 8000


def test_chinese_haystack(tok: Any) -> None:
    hay = load_haystack(FIX / "zh_haystack.jsonl", tok)
    needle = wrap_needle("小明最喜欢的实习的地点就是上海人工智能实验室。")
    for target in (1000, 8000):  # 8000 cycles the few-KB fixture
        ctx = build_context(hay, target, [(50, needle)], tok, repeat=0)
        n = len(_ids(ctx.text, tok))
        # guarantee: never over the target, within a few tokens, exact flagged honestly
        assert n == ctx.token_count and target - 4 <= n <= target
        assert ctx.exact == (n == target)
        assert "\ufffd" not in ctx.text
        before = ctx.text[: ctx.needles[0].char_offset]
        assert before[-1] in "。！？\n"


def test_fit_prompt_never_exceeds(pg: Haystack, tok: Any) -> None:
    question = "What legendary item is hidden on Emerald Island?"

    def render(context: str) -> str:
        msgs = [{"role": "user", "content": single_prompt(context, question, "en")}]
        return str(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))

    overhead = measure_overhead(render, tok)
    budget = fit_prompt(8192, overhead, max_len=8192, reserve_tokens=512)
    assert budget.shrunk and budget.context_tokens == 8192 - overhead - 512
    ctx = build_context(pg, budget.context_tokens, [(50, NEEDLE)], tok)
    n = check_prompt(render(ctx.text), tok, 8192, 512)
    assert n + 512 <= 8192
    assert fit_prompt(8192, overhead, 8192, 512, policy="skip").skipped
    assert not fit_prompt(4000, overhead, 8192, 512).shrunk
    with pytest.raises(Exception, match="exceeds max length"):
        check_prompt(render(ctx.text) + "x" * 2000, tok, 8192, 512)


def test_count_tokens_matches(tok: Any) -> None:
    """Known counts of SmolLM2's BPE (no special tokens): Hello / ▁world / . and the
    byte-level pieces of four CJK characters."""
    assert count_tokens("Hello world.", tok) == 3
    assert count_tokens("", tok) == 0
    assert count_tokens("大海捞针", tok) == 8


@pytest.mark.parametrize(
    "name",
    [
        "single_needle_en",
        "single_needle_zh",
        "multi_retrieval_en",
        "multi_reasoning_en",
        "ancestral_trace_en",
    ],
)
def test_specs_load(name: str) -> None:
    spec = load_spec(ROOT / "needle_haystack" / f"{name}.yaml")
    assert spec.name == name
    if name == "single_needle_en":
        assert len(spec.lengths) == 13 and spec.depths == CDME_DEPTHS
        assert spec.effective_lengths(8192) == ()
        assert spec.effective_lengths(8192, (1000, 2000, 8000)) == (1000, 2000, 8000)
        assert spec.effective_lengths(32768) == (16000, 32000)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("kind: single\nlanguage: fr\nhaystack: x\n", "language"),
        ("kind: single\nlanguage: en\n", "haystack"),
        ("kind: single\nlanguage: en\nhaystack: x\ndepths: [0, 120]\n", "depths"),
        ("kind: multi_reasoning\nlanguage: en\nhaystack: x\nneedles: y\n", "num_needles"),
        ("kind: single\nlanguage: en\nhaystack: x\nrepeats: 0\n", "repeats"),
        ("kind: single\nlanguage: en\nhaystack: x\nbogus: 1\n", "bogus"),
    ],
)
def test_spec_errors_one_line(tmp_path: Path, body: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and f"'{field}'" in msg
