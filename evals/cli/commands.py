"""``evals``: run, ls, show. A thin layer over ``evals.run.runner``; errors are one line, exit 2."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evals.cli import data as _data_commands
from evals.cli import plan as _plan_command
from evals.cli import results as _results_commands
from evals.cli import watch as _watch_command
from evals.config import (
    DEFAULT_CONFIG,
    EvalsConfig,
    ModelSpec,
    SuiteSpec,
    cache_path,
    find_suite,
    load_config,
    load_suite,
    resolve_path,
    suite_dirs,
    writable_dir,
)
from evals.errors import BackendError, ConfigError, EvalsError, Interrupted
from evals.records import BenchmarkResult, ModelKind

if TYPE_CHECKING:
    from evals.run.runner import RunOutcome

console = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 200)
"""Tables on stdout; piped, not squeezed to 80 columns."""


PIPED_PROGRESS_S = 10.0
"""Seconds between progress lines when stderr is not a terminal."""


class RichProgress:
    """Requests done and tokens/s for each kind of request the engine works through."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: object = None
        self._tokens = 0
        self._t0 = self._said = 0.0
        self._label, self._total, self._done = "", 0, 0

    def start(self, label: str, total: int) -> None:
        import time

        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=console,
            disable=not console.is_terminal and os.environ.get("EVALS_PROGRESS") != "1",
        )
        self._progress.start()
        self._task = self._progress.add_task(label, total=total, rate="")
        self._tokens, self._t0 = 0, time.perf_counter()
        self._label, self._total, self._done, self._said = label, total, 0, self._t0

    def advance(self, requests: int, tokens: int) -> None:
        import time

        if self._progress is None:
            return
        self._tokens += tokens
        rate = self._tokens / max(time.perf_counter() - self._t0, 1e-9)
        self._progress.update(self._task, advance=requests, rate=f"{rate:,.0f} tok/s")  # type: ignore[arg-type]
        self._done += requests
        now = time.perf_counter()
        if not console.is_terminal and now - self._said >= PIPED_PROGRESS_S:
            self._said = now  # piped (a log file, CI): a line every PIPED_PROGRESS_S, not per batch
            console.print(f"  {self._label}: {self._done}/{self._total} requests, "
                          f"{rate:,.0f} tok/s", highlight=False)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def results_table(title: str, results: Sequence[BenchmarkResult]) -> Table:
    limited = any(r.limited for r in results)
    table = Table(title=title, caption="n of the full set: a limited run (--limit), not the "
                  "paper's number" if limited else None)
    for col in ("benchmark", "mode", "shots", "n", "metric", "score", "± stderr",
                "parse fail"):
        table.add_column(col, justify="left" if col in ("benchmark", "metric", "mode") else "right",
                         no_wrap=col in ("benchmark", "metric"))
    for r in results:
        n = f"{r.n} of {r.total}" if r.limited and r.total else str(r.n)
        table.add_row(r.benchmark, r.mode.value, str(r.shots), n, r.primary.name,
                      f"{r.primary.value:.2f}", f"{r.primary.stderr:.2f}",
                      f"{r.parse_failures} ({100 * r.parse_failures / max(r.n, 1):.0f}%)")
        for m in r.secondary:
            table.add_row("", "", "", "", f"  {m.name}", f"{m.value:.2f}", f"{m.stderr:.2f}", "")
    return table


def _guess_kind(path: str) -> ModelKind:
    folder = Path(path)
    if (folder / "chat_template.jinja").is_file():
        return ModelKind.CHAT
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file() and "chat_template" in json.loads(cfg.read_text(encoding="utf-8")):
        return ModelKind.CHAT
    return ModelKind.CHAT if path.startswith("embedded:") else ModelKind.BASE


def _model_from_flag(config: EvalsConfig | None, value: str, kind: str | None) -> ModelSpec:
    if config:
        for m in config.models:
            if m.name == value:
                return m.model_copy(update={"kind": ModelKind(kind)}) if kind else m
    name = Path(value.rstrip("/")).name.replace(":", "-") or "model"
    guessed = ModelKind(kind) if kind else _guess_kind(os.path.expanduser(value))
    return ModelSpec(name=name, path=value, kind=guessed,
                     stage="sft" if guessed is ModelKind.CHAT else "base")


class _Group(click.Group):
    """Ctrl-C inside a command becomes ``Interrupted`` (one line, exit 130) instead of
    click's blank line and silent Abort."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted("interrupted: the run directories say so and finished "
                              "responses are cached; rerun the same command to resume") from None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("evals")
    except PackageNotFoundError:
        return "unknown"


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True,
              help="Log debug messages, and show the engines' own logs (also after the "
              "subcommand: evals run -v).")
@click.version_option(_version(), "--version", prog_name="evals")
def cli(verbose: bool) -> None:
    """Evaluate LLM checkpoints with the InternLM2 report's protocol."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("-c", "--config", "config_path", default=DEFAULT_CONFIG, show_default=True,
              help="The evals.yaml to read.")
@click.option("-m", "--model", "models", multiple=True,
              help="Checkpoint folder, hub id, embedded:NAME, or a model name from evals.yaml.")
@click.option("-s", "--suite", "suites", multiple=True, help="Suite name or YAML path.")
@click.option("--kind", type=click.Choice(["base", "chat"]), help="Override the model kind.")
@click.option("--backend", type=click.Choice(["vllm", "hf", "openai", "mock"]))
@click.option("--limit", type=click.IntRange(min=1), help="Items per benchmark (overrides the suite).")
@click.option("--max-tokens", type=click.IntRange(min=1),
              help="Cap on new tokens per generation (smoke runs; scores then differ).")
@click.option("--output-dir", help="Where run directories go (overrides evals.yaml).")
@click.option("--all", "sweep", is_flag=True,
              help="Sweep: every checkpoint of evals.yaml that has no complete run yet (one "
              "engine each); finished (checkpoint, suite) runs are skipped, a failing "
              "checkpoint does not stop the others.")
@click.option("--executor", type=click.Choice(["local", "ray"]),
              help="ray: one task per (checkpoint, shard) on a Ray cluster (overrides "
              "runner.executor).")
@click.option("--address", help="The Ray cluster to use (overrides runner.ray.address; e.g. "
              "auto, HOST:6379).")
@click.option("--shards", type=click.IntRange(min=1),
              help="Data-parallel shards per checkpoint under ray (runner.data_parallel_size).")
@click.option("--skip-missing", is_flag=True,
              help="Run the benchmarks whose data is present; record the others as not run "
              "(by default any missing set stops the run before the model loads).")
def run(config_path: str, models: tuple[str, ...], suites: tuple[str, ...], kind: str | None,
        backend: str | None, limit: int | None, max_tokens: int | None,
        output_dir: str | None, sweep: bool, executor: str | None, address: str | None,
        shards: int | None, skip_missing: bool) -> None:
    """Evaluate checkpoints on suites; with no flags, what evals.yaml declares."""
    flags = RunFlags(kind, backend, output_dir, limit, max_tokens, sweep, executor, address,
                     shards, skip_missing)
    _run(config_path, models, flags, _suite_loader(suites, Path(config_path).resolve().parent))


SuitesOf = Callable[[EvalsConfig, ModelSpec], list[SuiteSpec]]


def _suite_loader(suites: Sequence[str], config_dir: Path) -> SuitesOf:
    """A checkpoint's suites: ``--suite`` when given, else its own, evals.yaml's or its
    stage's; each suite file read once."""
    loaded: dict[str, SuiteSpec] = {}

    def suites_of(cfg: EvalsConfig, model: ModelSpec) -> list[SuiteSpec]:
        names = list(suites) or cfg.suites_for(model)
        if not names:
            raise ConfigError(f"{model.name}: no suites (stage {model.stage}); pass --suite, "
                              "or give suites (or stage_suites) in evals.yaml")
        for s in names:
            if s not in loaded:
                loaded[s] = load_suite(find_suite(s, config_dir))
        return [loaded[s] for s in names]

    return suites_of


@dataclass(frozen=True)
class RunFlags:
    """Command-line overrides of evals.yaml for a run."""

    kind: str | None = None
    backend: str | None = None
    output_dir: str | None = None
    limit: int | None = None
    max_tokens: int | None = None
    sweep: bool = False
    executor: str | None = None
    address: str | None = None
    shards: int | None = None
    skip_missing: bool = False

    def apply(self, config: EvalsConfig) -> EvalsConfig:
        runner = config.runner
        updates: dict[str, object] = {
            k: v for k, v in (("backend", self.backend), ("executor", self.executor),
                              ("data_parallel_size", self.shards)) if v is not None}
        if self.address:
            updates["ray"] = runner.ray.model_copy(update={"address": self.address})
        new: dict[str, object] = {"runner": runner.model_copy(update=updates)}
        if self.output_dir:
            new["output_dir"] = os.path.abspath(self.output_dir)
        if self.skip_missing:
            new["skip_missing"] = True
        return config.model_copy(update=new)


def _run(config_path: str, models: tuple[str, ...], flags: RunFlags,
         suites_of: SuitesOf) -> None:
    path = Path(config_path)
    config = load_config(path) if path.is_file() or config_path != DEFAULT_CONFIG else None
    if config is None and not models:
        raise EvalsError(f"{path}: not found; create it or pass --model PATH --suite SUITE")
    config_dir = path.resolve().parent
    kind = flags.kind
    selected = _flag_models(config, models, kind) if models else (
        [m.model_copy(update={"kind": ModelKind(kind)}) if kind else m
         for m in config.models] if config else []
    )
    if not selected:
        raise ConfigError(f"{path}: field 'models': no checkpoints to run; add entries under "
                          "models: or pass --model PATH")
    effective = flags.apply(config or EvalsConfig(models=selected))
    writable_dir(resolve_path(config_dir, effective.output_dir), "output_dir")
    writable_dir(cache_path(effective, config_dir).parent, "cache_dir")
    jobs: list[tuple[ModelSpec, list[SuiteSpec]]] = []
    finished: list[JobResult] = []
    for model in selected:
        suite_specs = suites_of(effective, model)
        _refuse_collision(effective, config_dir, model, suite_specs)
        if not flags.sweep:
            jobs.append((model, suite_specs))
            continue
        job = _sweep_job(effective, config_dir, model, suite_specs, flags)
        if isinstance(job, JobResult):
            finished.append(job)
        else:
            jobs.append((model, job))
    run_jobs = _run_on_ray if effective.runner.executor == "ray" else _run_locally
    finished += run_jobs(effective, config_dir, jobs, flags) if jobs else []
    _refresh_index(resolve_path(config_dir, effective.output_dir))
    if flags.sweep or len(selected) > 1:
        _print_summary(effective, config_dir, selected, finished)
    failed = [j.model.name for j in finished if j.status == "failed"]
    if failed:
        done = [j.model.name for j in finished if j.status in ("complete", "current")]
        others = (f"these are complete: {', '.join(done)}" if done
                  else "none of them completed")
        raise EvalsError(f"sweep: {len(failed)} of {len(selected)} checkpoint(s) failed "
                         f"({', '.join(failed)}); {others}; fix and re-run 'evals run --all'")


@dataclass(frozen=True)
class JobResult:
    """One checkpoint of a run or sweep, for the closing summary."""

    model: ModelSpec
    status: str
    """complete, failed, or current (a sweep found its runs made by the plan it would make)."""
    seconds: float = 0.0
    run_dirs: tuple[Path, ...] = ()
    error: str = ""


def _sweep_job(config: EvalsConfig, config_dir: Path, model: ModelSpec,
               suites: list[SuiteSpec], flags: RunFlags) -> list[SuiteSpec] | JobResult:
    """The suites whose runs are not what a new plan would make, each with why; or the
    checkpoint's result when none is (current) or it cannot be planned (failed)."""
    from evals.run.staleness import freshness

    try:
        states = freshness(config, config_dir, model, suites, flags.limit, flags.max_tokens)
    except EvalsError as err:
        text = " ".join(str(err).split())
        console.print(f"[red]{model.name}: cannot plan:[/] {text}", soft_wrap=True,
                      highlight=False)
        return JobResult(model, "failed", error=text)
    stale = [f for f in states if not f.current]
    if not stale:
        console.print(f"[bold]{model.name}[/]: {', '.join(s.name for s in suites)} current "
                      "(made by the same plan), skipped", highlight=False)
        return JobResult(model, "current", run_dirs=tuple(f.run_dir for f in states))
    for f in stale:
        console.print(f"[bold]{model.name}[/] · {f.suite.name}: to run: {'; '.join(f.reasons)}",
                      soft_wrap=True, highlight=False)
    return [f.suite for f in stale]


def _flag_models(config: EvalsConfig | None, values: Sequence[str], kind: str | None
                 ) -> list[ModelSpec]:
    """``--model`` values as checkpoints; two folders with one name (``/runA/step-1``,
    ``/runB/step-1``) are told apart by their parent folder (``runA-step-1``)."""
    made = [_model_from_flag(config, v, kind) for v in values]
    names = [m.name for m in made]
    out = []
    for m, value in zip(made, values, strict=True):
        clash = names.count(m.name) > 1 and not (config and any(c.name == value
                                                                  for c in config.models))
        out.append(m.model_copy(update={"name": _qualified(value)}) if clash else m)
    return out


def _qualified(value: str) -> str:
    parts = Path(value.rstrip("/")).parts
    return "-".join(p.replace(":", "-") for p in parts[-2:]) or "model"


def _same_checkpoint(a: str, b: str) -> bool:
    def norm(p: str) -> str:
        q = Path(p).expanduser()
        return os.path.realpath(q) if q.exists() else p

    return a == b or norm(a) == norm(b)


def _refuse_collision(config: EvalsConfig, config_dir: Path, model: ModelSpec,
                      suites: Sequence[SuiteSpec]) -> None:
    """A run directory belongs to one checkpoint: another checkpoint under the same name
    is refused, never written over it. A re-run of the same checkpoint stays in place."""
    from evals.run.runner import run_dir_for

    for suite in suites:
        run_dir = run_dir_for(config, config_dir, model, suite.name)
        manifest = run_dir / "manifest.json"
        if not manifest.is_file():
            continue
        try:
            held = str(json.loads(manifest.read_text(encoding="utf-8"))["model"]["path"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _same_checkpoint(held, model.path):
            raise ConfigError(f"{run_dir} holds the results of {held}; {model.path} has the "
                              f"same name {model.name!r}: give it another name (models[].name "
                              "in evals.yaml) or another output_dir")


Jobs = Sequence[tuple[ModelSpec, list[SuiteSpec]]]


def _run_locally(config: EvalsConfig, config_dir: Path, jobs: Jobs, flags: RunFlags
                 ) -> list[JobResult]:
    """One engine per checkpoint in this process, one after the other."""
    import time

    from evals.run.runner import run_model

    if config.runner.data_parallel_size > 1:
        raise ConfigError("evals.yaml: field 'runner.data_parallel_size': shards need "
                          "'runner.executor: ray' (or --executor ray); the local executor "
                          "runs one engine")
    done: list[JobResult] = []
    for i, (model, todo) in enumerate(jobs, 1):
        count = f" [{i}/{len(jobs)}]" if len(jobs) > 1 else ""
        console.print(f"[bold]{model.name}[/]{count} ({model.kind.value}, {model.stage}) on "
                      f"{', '.join(s.name for s in todo)} with {config.runner.backend}",
                      highlight=False)
        started = time.perf_counter()
        try:
            outcomes = run_model(config, config_dir, model, todo, limit=flags.limit,
                                 max_tokens=flags.max_tokens, progress=RichProgress())
        except EvalsError as err:
            if not flags.sweep and len(jobs) == 1:
                raise
            text = " ".join(str(err).split())
            console.print(f"[red]{model.name} failed:[/] {text}", soft_wrap=True,
                          highlight=False)
            done.append(JobResult(model, "failed", time.perf_counter() - started, error=text))
            continue
        _print_outcomes(model, outcomes)
        done.append(JobResult(model, "complete", time.perf_counter() - started,
                              tuple(o.run_dir for o in outcomes)))
    return done


def _run_on_ray(config: EvalsConfig, config_dir: Path, jobs: Jobs, flags: RunFlags
                ) -> list[JobResult]:
    """Every (checkpoint, shard) as a Ray task at once; a failing checkpoint is named with
    its shard and does not stop the others."""
    from evals.run.ray_executor import Job, run_jobs

    for model, todo in jobs:
        console.print(f"[bold]{model.name}[/] ({model.kind.value}, {model.stage}) on "
                      f"{', '.join(s.name for s in todo)} with {config.runner.backend} on Ray",
                      highlight=False)
    bar = Progress(TextColumn("[bold]ray"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[tokens]} tokens"), TimeElapsedColumn(),
                   console=console, disable=not console.is_terminal)
    task = bar.add_task("ray", total=None, tokens=0)

    def progress(done: int, total: int, tokens: int) -> None:
        bar.update(task, completed=done, total=total or None, tokens=f"{tokens:,}")

    with bar:
        results = run_jobs(config, config_dir, [Job(m, tuple(s)) for m, s in jobs],
                           limit=flags.limit, max_tokens=flags.max_tokens, progress=progress)
    done = []
    for result in results:
        if result.failure is not None:
            console.print(f"[red]{result.model.name} failed:[/] {result.failure}")
            done.append(JobResult(result.model, "failed", error=str(result.failure)))
        else:
            _print_outcomes(result.model, result.outcomes)
            done.append(JobResult(result.model, "complete",
                                  run_dirs=tuple(o.run_dir for o in result.outcomes)))
    return done


def _print_summary(config: EvalsConfig, config_dir: Path, selected: Sequence[ModelSpec],
                   finished: Sequence[JobResult]) -> None:
    """One table at the end: checkpoint, status, wall time, the main scores."""
    by_name = {j.model.name: j for j in finished}
    table = Table(title="sweep", show_lines=False)
    for col in ("checkpoint", "stage", "status", "wall", "scores"):
        table.add_column(col, overflow="fold", no_wrap=col != "scores")
    for model in selected:
        job = by_name.get(model.name)
        if job is None:
            continue
        status = {"complete": "[green]complete[/]", "current": "current",
                  "failed": "[red]failed[/]"}.get(job.status, job.status)
        wall = f"{job.seconds:.0f} s" if job.seconds else "-"
        table.add_row(model.name, model.stage, status, wall,
                      job.error if job.status == "failed" else _main_scores(job.run_dirs))
    _wide().print(table)


def _main_scores(run_dirs: Sequence[Path]) -> str:
    """Per suite: its dimensions when it has them, else each benchmark's primary score."""
    from evals.results.rundir import RunDir

    parts = []
    for path in run_dirs:
        try:
            run = RunDir(path)
            dims = [f"{d.name} {d.value:.1f}" for d in run.dimensions if d.value is not None]
            scores = dims or [f"{r.benchmark} {r.primary.value:.1f}" for r in run.results]
        except EvalsError:
            continue
        parts.append(f"{run.suite}: {', '.join(scores)}")
    return "; ".join(parts) or "-"


def _wide() -> Console:
    """The console for tables: as wide as the terminal, and not squeezed when piped."""
    return console if console.is_terminal else Console(stderr=True, width=200)


def _print_outcomes(model: ModelSpec, outcomes: Sequence[RunOutcome]) -> None:
    for outcome in outcomes:
        out.print(results_table(f"{model.name} · {outcome.run_dir.name}", outcome.results))
        _print_dimensions(outcome.run_dir)
        _print_judge(outcome.results)
        _print_needle(outcome.run_dir)
        console.print(f"run directory: {outcome.run_dir}")


def _refresh_index(output_dir: Path) -> None:
    from evals.results.index import default_index_path, refresh_index

    if output_dir.is_dir() and any(output_dir.rglob("manifest.json")):
        stats = refresh_index(default_index_path(output_dir), [output_dir])
        logging.getLogger(__name__).info("index: %s", stats)


@cli.command()
@click.option("-c", "--config", "config_path", default=DEFAULT_CONFIG, show_default=True,
              help="The evals.yaml to read.")
@click.option("-m", "--model", "models", multiple=True,
              help="Checkpoint folder, hub id, embedded:NAME, or a model name from evals.yaml.")
@click.option("-t", "--test", "tests", multiple=True,
              help="A definition in needle_haystack/ (default: single_needle_en).")
@click.option("--lengths", help="Context lengths in the model's tokens, e.g. 1000,2000,4000,8000 "
              "(default: the test's grid, capped at the model's window).")
@click.option("--repeats", type=click.IntRange(min=1), help="Repeats per cell (default: the test's).")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Cap on new tokens per answer.")
@click.option("--scorer", type=click.Choice(["rule", "judge"]), default="rule", show_default=True,
              help="judge: grade answers with the judge: model of evals.yaml instead of "
              "NeedleBench's keyword rule.")
@click.option("--kind", type=click.Choice(["base", "chat"]), help="Override the model kind.")
@click.option("--backend", type=click.Choice(["vllm", "hf", "openai", "mock"]))
@click.option("--limit", type=click.IntRange(min=1), help="Cells per test (a fixed-seed slice).")
@click.option("--output-dir", help="Where run directories go (overrides evals.yaml).")
def needle(config_path: str, models: tuple[str, ...], tests: tuple[str, ...],
           lengths: str | None, repeats: int | None, max_tokens: int | None, scorer: str,
           kind: str | None, backend: str | None, limit: int | None,
           output_dir: str | None) -> None:
    """Needle-in-a-haystack tests: heatmaps and effective context length per model."""
    try:
        grid = [int(x) for x in lengths.split(",")] if lengths else None
    except ValueError:
        raise EvalsError(f"--lengths {lengths!r}: expected comma-separated integers") from None
    lines = [{"name": t, "lengths": grid, "repeats": repeats, "scorer": scorer}
             for t in (tests or ("single_needle_en",))]
    suite = SuiteSpec.model_validate({"name": "needle", "benchmarks": lines})
    _run(config_path, models, RunFlags(kind, backend, output_dir, limit, max_tokens),
         lambda cfg, model: [suite])


def _print_needle(run_dir: Path) -> None:
    for f in sorted((run_dir / "needle").glob("*.json")):
        data = json.loads(f.read_text(encoding="utf-8"))
        rows = ", ".join(f"{m['length']}: {m['mean']:.0f}" for m in data["by_length"])
        console.print(f"{data['test']}: effective context length {data['effective_length']} "
                      f"(threshold {data['threshold']:g}; mean by length {rows}); heatmap "
                      f"{f.with_suffix('.png')}")


@cli.command(name="ls")
@click.option("-c", "--config", "config_path", default=DEFAULT_CONFIG, show_default=True)
def ls_cmd(config_path: str) -> None:
    """List benchmarks, suites and the models evals.yaml declares."""
    from evals.benchmarks import BENCHMARKS

    table = Table(title="benchmarks")
    for col in ("name", "modes", "default shots", "metric"):
        table.add_column(col)
    for name in BENCHMARKS:
        b = BENCHMARKS.get(name)
        table.add_row(name, ", ".join(m.value for m in b.modes), str(b.default_shots),
                      b.metric.name)
    out.print(table)
    path = Path(config_path)
    suites = Table(title="suites")
    suites.add_column("name")
    suites.add_column("benchmarks")
    for d in suite_dirs(path.resolve().parent):
        for f in sorted(d.glob("*.yaml")):
            spec = load_suite(f)
            suites.add_row(spec.name, ", ".join(b.name for b in spec.benchmarks))
    out.print(suites)
    if path.is_file():
        models = Table(title=f"models ({path})")
        for col in ("name", "path", "kind", "stage", "step", "tokens seen"):
            models.add_column(col)
        for m in load_config(path).models:
            models.add_row(m.name, m.path, m.kind.value, m.stage, str(m.step or ""),
                           str(m.tokens_seen or ""))
        out.print(models)


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
def show(run_dir: Path) -> None:
    """Print a run's results table and its status (interrupted and failed runs say so)."""
    from evals.results.rundir import RunDir

    run = RunDir(run_dir)
    m = run.manifest
    status = str(m.get("status", "?"))
    title = f"{m['model']['name']} · {m['suite']['name']} · {m['backend']} · {status}"
    if status != "complete":
        why = f" ({m['error']})" if m.get("error") else ""
        console.print(f"{run_dir}: {status}{why}; the results below are partial: rerun the "
                      "same command to resume", soft_wrap=True, highlight=False)
    if not (run.path / "results.json").is_file():
        console.print(f"{title}: no benchmark finished yet", highlight=False)
        return
    out.print(results_table(title, list(run.results)))
    _print_dimensions(run_dir)
    _print_judge(run.results)


def _print_judge(results: Sequence[BenchmarkResult]) -> None:
    judged = [(r.benchmark, r.judge) for r in results if r.judge is not None]
    if not judged:
        return
    judges = ", ".join(sorted({j.judge for _, j in judged}))
    table = Table(title=f"judge {judges} (unreadable verdicts are left out of the scores)")
    for col in ("benchmark", "calls", "cached", "unreadable", "tokens in/out", "cost $",
                "flip %", "s"):
        table.add_column(col, justify="left" if col == "benchmark" else "right")
    for name, j in judged:
        flip = f"{j.flip_rate:.0f} (n={j.flip_pairs})" if j.flip_rate is not None else "—"
        table.add_row(name, str(j.calls), str(j.cached), str(j.parse_failures),
                      f"{j.prompt_tokens:,}/{j.output_tokens:,}", f"{j.cost_usd:.2f}", flip,
                      f"{j.seconds:.0f}")
    out.print(table)


def _print_dimensions(run_dir: Path) -> None:
    from evals.results.rundir import RunDir

    dims = list(RunDir(run_dir).dimensions)
    if not dims:
        return
    table = Table(title="dimensions (average of the benchmarks' primary scores)")
    for col in ("dimension", "score", "benchmarks"):
        table.add_column(col, justify="right" if col == "score" else "left")
    for d in dims:
        score = f"{d.value:.2f}" if d.value is not None else "— (" + ", ".join(d.missing) + " not run)"
        members = ([f"{w:g} × {b}" for b, w in zip(d.benchmarks, d.weights, strict=True)]
                   if d.weights else list(d.benchmarks))
        table.add_row(d.name, score, ", ".join(members))
    out.print(table)


_results_commands.register(cli)
cli.add_command(_data_commands.data)
cli.add_command(_watch_command.watch)
cli.add_command(_plan_command.plan)


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _verbose_first(args: list[str]) -> list[str]:
    """``-v`` / ``--verbose`` anywhere before ``--`` is the group's option."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in ("-v", "--verbose")]
    return flags[:1] + [a for a in args[:end] if a not in ("-v", "--verbose")] + args[end:]


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler's kill, ``timeout``) ends a run like Ctrl-C: marked interrupted."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    import signal

    args = _verbose_first(list(argv) if argv is not None else sys.argv[1:])
    previous = signal.signal(signal.SIGTERM, _terminate) if threading_main() else None
    try:
        _main(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(args: list[str]) -> None:
    try:
        cli.main(args=args, standalone_mode=False)
    except EvalsError as err:
        prefix = "" if isinstance(err, Interrupted) else "[red]error:[/] "
        console.print(f"{prefix}{' '.join(str(err).split())}", soft_wrap=True,
                      highlight=False)
        sys.exit(err.exit_code)
    except BackendError as err:
        console.print(f"[red]backend error:[/] {err} (finished responses are cached; rerun to "
                      "resume)", soft_wrap=True, highlight=False)
        sys.exit(1)
    except click.ClickException as err:
        command = f"evals {err.ctx.command_path.split(' ', 1)[-1]}" \
            if isinstance(err, click.UsageError) and err.ctx else "evals"
        console.print(f"[red]error:[/] {' '.join(err.format_message().split())} (see "
                      f"'{command} --help')", soft_wrap=True, highlight=False)
        sys.exit(2)
    except OSError as err:  # a path the checks before the run could not foresee
        where = f"{err.filename}: " if err.filename else ""
        console.print(f"[red]error:[/] {where}{err.strerror or err}; check the path and its "
                      "permissions (finished responses are cached)", soft_wrap=True,
                      highlight=False)
        sys.exit(2)
    except (click.exceptions.Abort, KeyboardInterrupt):
        console.print("interrupted: finished responses are cached; rerun the same command to "
                      "resume", highlight=False)
        sys.exit(130)
