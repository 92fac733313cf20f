"""``evals watch``: the sweep of ``evals run --all`` for a folder a training job fills.

Detection lives in :mod:`evals.run.watch`; each written checkpoint then goes through the same
steps as one checkpoint of a sweep (staleness check, one engine, results), and the index
and the report are refreshed after it, so the report is never more than one checkpoint
behind the trainer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from evals.config import (
    DEFAULT_CONFIG,
    EvalsConfig,
    ModelSpec,
    cache_path,
    load_config,
    resolve_path,
    writable_dir,
    writable_file,
)
from evals.errors import EvalsError
from evals.run.watch import Candidate, Watcher, WatchOptions

if TYPE_CHECKING:
    from evals.cli.commands import RunFlags, SuitesOf

console = Console(stderr=True)


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-c", "--config", "config_path", default=DEFAULT_CONFIG, show_default=True,
              help="The evals.yaml to read (runner, data, output; its models entries name "
              "folders they match).")
@click.option("-s", "--suite", "suites", multiple=True,
              help="Suite name or YAML path (default: the checkpoint's stage's suites).")
@click.option("--stage", type=click.Choice(["pretrain", "base", "sft", "rlhf"]),
              default="pretrain", show_default=True,
              help="Stage of the checkpoints that appear (decides kind and suites) unless "
              "evals.yaml has an entry for the folder.")
@click.option("--kind", type=click.Choice(["base", "chat"]), help="Override the model kind.")
@click.option("--backend", type=click.Choice(["vllm", "hf", "openai", "mock"]))
@click.option("--limit", type=click.IntRange(min=1), help="Items per benchmark.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Cap on new tokens per answer.")
@click.option("--output-dir", help="Where run directories go (overrides evals.yaml).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML report refreshed after each checkpoint (default: "
              "<output_dir>/report.html).")
@click.option("--interval", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds between looks at the folder.")
@click.option("--stable-polls", type=click.IntRange(min=1), default=2, show_default=True,
              help="Looks a checkpoint's files must stay unchanged before it is evaluated.")
@click.option("--idle-exit", type=click.FloatRange(min=0),
              help="Stop after this many seconds with nothing new (default: until Ctrl-C).")
@click.option("--skip-missing", is_flag=True,
              help="Run the benchmarks whose data is present; record the others as not run.")
def watch(folder: Path, config_path: str, suites: tuple[str, ...], stage: str,
          kind: str | None, backend: str | None, limit: int | None, max_tokens: int | None,
          output_dir: str | None, report_path: Path | None, interval: float,
          stable_polls: int, idle_exit: float | None, skip_missing: bool) -> None:
    """Evaluate each checkpoint written into FOLDER (or FOLDER itself), one at a time in
    training order, as soon as its files are complete; refresh the index and report after
    each. Restarted, it resumes: finished checkpoints are skipped, an interrupted one runs
    on from its cache."""
    from evals.cli import commands as _cli

    path = Path(config_path)
    config = load_config(path) if path.is_file() or config_path != DEFAULT_CONFIG \
        else EvalsConfig(models=[])
    config_dir = path.resolve().parent
    flags = _cli.RunFlags(kind, backend, output_dir, limit, max_tokens, sweep=True,
                          skip_missing=skip_missing)
    effective = flags.apply(config)
    out_dir = resolve_path(config_dir, effective.output_dir)
    writable_dir(out_dir, "output_dir")
    writable_dir(cache_path(effective, config_dir).parent, "cache_dir")
    report = report_path or out_dir / "report.html"
    writable_file(report, "watch --report")
    options = WatchOptions(interval, stable_polls, idle_exit)
    job = _Job(effective, config_dir, flags, _cli._suite_loader(suites, config_dir),
               stage, report, out_dir)
    console.print(f"watching {folder} every {interval:g} s: a checkpoint is evaluated once "
                  f"config.json and its weights are there and unchanged over {stable_polls} "
                  f"look(s){f'; stops after {idle_exit:g} s idle' if idle_exit is not None else ''}"
                  "; Ctrl-C stops (rerun to resume)", highlight=False, soft_wrap=True)
    watcher = Watcher(folder.resolve(), options, on_wait=_say_waiting)
    for _ in watcher.run(job.evaluate):
        pass
    console.print(f"watch: nothing new for {idle_exit:g} s; {job.count} checkpoint(s) "
                  f"evaluated, {job.failed} failed; report: {report}", highlight=False,
                  soft_wrap=True)


def _say_waiting(c: Candidate) -> None:
    console.print(f"[bold]{c.path.name}[/]: waiting ({c.waiting_for})", highlight=False)


class _Job:
    """One written checkpoint through a sweep's steps, then index and report."""

    def __init__(self, config: EvalsConfig, config_dir: Path, flags: RunFlags,
                 suites_of: SuitesOf, stage: str, report: Path, out_dir: Path) -> None:
        self.config, self.config_dir, self.flags = config, config_dir, flags
        self.suites_of, self.stage, self.report, self.out_dir = suites_of, stage, report, out_dir
        self.count = self.failed = 0

    def evaluate(self, c: Candidate) -> None:
        from evals.cli import commands as _cli

        model = self.model_for(c)
        try:
            todo = self.suites_of(self.config, model)
            _cli._refuse_collision(self.config, self.config_dir, model, todo)
        except EvalsError as err:
            console.print(f"[red]{model.name} failed:[/] {' '.join(str(err).split())}",
                          highlight=False, soft_wrap=True)
            self.failed += 1
            return
        job = _cli._sweep_job(self.config, self.config_dir, model, todo, self.flags)
        if isinstance(job, _cli.JobResult):
            self.failed += job.status == "failed"
            return
        (result,) = _cli._run_locally(self.config, self.config_dir, [(model, job)], self.flags)
        self.count += result.status == "complete"
        self.failed += result.status == "failed"
        self.refresh()

    def model_for(self, c: Candidate) -> ModelSpec:
        """evals.yaml's entry for this folder when it has one (its name, stage, tokens);
        else one named after the folder, at the watched stage, with the step of its name."""
        from evals.cli.commands import _same_checkpoint

        for m in self.config.models:
            if _same_checkpoint(str(resolve_path(self.config_dir, m.path)), str(c.path)):
                return m.model_copy(update={"path": str(c.path)})
        name = re.sub(r"[^A-Za-z0-9._\-]+", "-", c.path.name).strip("-") or "checkpoint"
        spec = {"name": name, "path": str(c.path), "stage": self.stage, "step": c.step}
        if self.flags.kind:
            spec["kind"] = self.flags.kind
        return ModelSpec.model_validate(spec)

    def refresh(self) -> None:
        """Index and report from every run under the output folder (a report that fails,
        e.g. on a run another process is writing, is said and retried next time)."""
        from evals.cli.commands import _refresh_index
        from evals.results.report import write_report
        from evals.results.rundir import find_runs

        _refresh_index(self.out_dir)
        try:
            write_report(find_runs([self.out_dir]), self.report)
        except EvalsError as err:
            console.print(f"[yellow]report not refreshed:[/] {err}", highlight=False)
            return
        console.print(f"report: {self.report}", highlight=False)
