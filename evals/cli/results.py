"""The commands that read finished runs: index, diff, report, leaderboard, gate. They work
from run directories only (never from a live engine), so they run anywhere the outputs are
(a laptop, a CI job) without a GPU or the model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from evals.config import (
    DEFAULT_CONFIG,
    EvalsConfig,
    GateConfig,
    load_config,
    resolve_path,
    writable_dir,
    writable_file,
)
from evals.errors import ConfigError

if TYPE_CHECKING:
    from evals.results.index import ScoreRow

console = Console(stderr=True, soft_wrap=True)
out = Console()
PIPE_WIDTH = 200
"""Least width of tables written to a pipe or file (rich's default there is 80 columns)."""

RUN_DIRS = click.argument("run_dirs", nargs=-1, required=True,
                          type=click.Path(exists=True, file_okay=False, path_type=Path))


def register(cli: click.Group) -> None:
    for command in (index, diff, gate, leaderboard, report):
        cli.add_command(command)


@click.command()
@click.argument("roots", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-c", "--config", "config_path", default=DEFAULT_CONFIG, show_default=True,
              help="Without ROOTS, index this config's output_dir.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="Index file (default: <first root>/index.sqlite).")
@click.option("--benchmark", help="Only this benchmark.")
@click.option("--checkpoint", help="Only this checkpoint.")
@click.option("--suite", help="Only runs of this suite.")
@click.option("--csv", "as_csv", is_flag=True, help="Long-format CSV on stdout.")
def index(roots: tuple[Path, ...], config_path: str, db: Path | None, benchmark: str | None,
          checkpoint: str | None, suite: str | None, as_csv: bool) -> None:
    """Refresh the results index from run directories and print every score of every
    checkpoint (ROOTS: output dirs or run dirs; default: evals.yaml's output_dir)."""
    from evals.results.index import default_index_path, query_scores, refresh_index

    if not roots:
        path = Path(config_path)
        output_dir = load_config(path).output_dir if path.is_file() else "outputs"
        roots = (resolve_path(path.resolve().parent, output_dir),)
    db = db or default_index_path(roots[0])
    stats = refresh_index(db, list(roots))
    console.print(f"index {db}: {stats.added} added, {stats.updated} updated, "
                  f"{stats.unchanged} unchanged, {stats.removed} removed")
    rows = query_scores(db, benchmark=benchmark, checkpoint=checkpoint, suite=suite)
    if not rows and (benchmark or checkpoint or suite):
        given = {"benchmark": benchmark, "checkpoint": checkpoint, "suite": suite}
        console.print("no scores match " + ", ".join(f"{k} {v!r}" for k, v in given.items() if v)
                      + " together", highlight=False)
    if as_csv:
        import csv
        import sys

        w = csv.writer(sys.stdout)
        w.writerow(["checkpoint", "kind", "stage", "step", "tokens_seen", "suite", "benchmark",
                    "metric", "value", "stderr", "n", "total", "limited", "status", "run_dir"])
        for r in rows:
            w.writerow([r.checkpoint, r.kind, r.stage, r.step, r.tokens_seen, r.suite,
                        r.benchmark, r.metric, r.value, r.stderr, r.n, r.total, int(r.limited),
                        r.status, r.run_dir])
        return
    checkpoints = list(dict.fromkeys(r.checkpoint for r in rows))
    table = Table(title="primary scores (checkpoints in training order)")
    # names (benchmark, checkpoint) fold onto a second line where space runs out, never cut
    table.add_column("benchmark", overflow="fold")
    for c in checkpoints:
        table.add_column(c, justify="right", overflow="fold")
    cells = {(r.benchmark, r.checkpoint): r for r in rows}
    for b in sorted({r.benchmark for r in rows}):
        table.add_row(b, *[_cell(cells.get((b, c))) for c in checkpoints])
    print_table(table)
    for note in _index_notes(rows):  # with the table: a pipe keeps what the marks mean
        click.echo(note)


LIMITED_MARK, PARTIAL_MARK = "*", "†"


def _index_notes(rows: Sequence[ScoreRow]) -> list[str]:
    """What the marks in the index table mean, naming each marked score: a slice is not the
    full set's number, and an unfinished run's results are partial."""
    limited = [f"{r.checkpoint} {r.benchmark} {r.n} of {r.total if r.total else '?'}"
               for r in rows if r.limited]
    partial = sorted({f"{r.checkpoint}/{r.suite} ({r.status})" for r in rows if r.partial})
    notes = []
    if limited:
        notes.append(f"{LIMITED_MARK} scored on a slice (--limit), n of the full set: "
                     + ", ".join(limited))
    if partial:
        notes.append(f"{PARTIAL_MARK} from a run that did not complete, partial results: "
                     + ", ".join(partial))
    return notes


def stdout_console(*renderables: Table) -> Console:
    """The console for stdout: the terminal's on a terminal; piped or redirected, one at
    least PIPE_WIDTH wide and wide enough for every table given, so that no row wraps."""
    if out.is_terminal:
        return out
    from rich.measure import Measurement

    probe = Console(width=1_000_000)
    widths = [Measurement.get(probe, probe.options, r).maximum for r in renderables]
    return Console(width=max([PIPE_WIDTH, *widths]))


def print_table(table: Table) -> None:
    stdout_console(table).print(table)


def echo_markdown(text: str) -> None:
    """Markdown on stdout as written: no wrapping, markup or highlighting of any kind."""
    click.echo(text, nl=not text.endswith("\n"))


def _cell(row: ScoreRow | None) -> str:
    """A score, marked when it comes from a slice or an unfinished run; "not run" for a
    benchmark whose data was missing; a dash where none ran."""
    from evals.results.index import NOT_RUN

    if row is None:
        return "–"
    if row.value is not None:
        marks = LIMITED_MARK * row.limited + PARTIAL_MARK * row.partial
        return f"{row.value:.2f}{marks}"
    return NOT_RUN if row.metric == NOT_RUN else "–"


@click.command()
@click.argument("run_a", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("run_b", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--markdown", "md_path", type=click.Path(path_type=Path, allow_dash=True),
              help="Also write the diff as markdown here ('-': on stdout, instead of the "
              "tables).")
def diff(run_a: Path, run_b: Path, md_path: Path | None) -> None:
    """What differs between two runs (data, prompts, template, tokenizer, backend,
    sampling, judge, extractor code, versions) and how their scores moved."""
    from evals.results.diff import diff_runs, to_markdown
    from evals.results.rundir import RunDir

    md_stdout = md_path == Path("-")
    if md_path and not md_stdout:
        writable_file(md_path, "diff --markdown")
    d = diff_runs(RunDir(run_a), RunDir(run_b))
    if md_stdout:
        echo_markdown(to_markdown(d))
        return
    scores = Table(title="scores (B − A)")
    for col in ("benchmark", "metric", "A", "B", "B − A"):
        scores.add_column(col, justify="right" if col in ("A", "B", "B − A") else "left",
                          overflow="fold")  # names fold where space runs out, never cut
    for s in d.scores:
        scores.add_row(s.benchmark, s.metric, *(f"{v:.2f}" if v is not None else "–"
                                                for v in (s.a, s.b)),
                       f"{s.delta:+.2f}" if s.delta is not None else "–")
    stdout = stdout_console(scores)  # not as wide as the differences: values run long
    stdout.print(scores)
    if not d.differences:
        stdout.print("no differences in model, data, prompts, template, settings or code")
    else:
        table = Table(title="what differs")
        for col in ("scope", "field", "A", "B"):
            table.add_column(col, overflow="fold")
        for x in d.differences:
            table.add_row(x.scope, x.field, x.a, x.b)
        stdout.print(table)
    if md_path:
        md_path.write_text(to_markdown(d), encoding="utf-8")
        console.print(f"markdown: {md_path}")


def gate_config(config_path: str) -> GateConfig:
    """The gate section of evals.yaml, or the defaults when there is no config file."""
    path = Path(config_path)
    if path.is_file():
        return load_config(path).gate
    if config_path != DEFAULT_CONFIG:
        raise ConfigError(f"{path}: not found; pass -c evals.yaml or leave it out for defaults")
    return EvalsConfig.model_fields["gate"].default  # type: ignore[no-any-return]


@click.command()
@click.option("-c", "--config", "config_path", default=DEFAULT_CONFIG, show_default=True,
              help="evals.yaml with the gate: section (margins); defaults without it.")
@click.option("--baseline", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--candidate", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--margin", type=float, help="Default non-inferiority margin in points "
              "(overrides evals.yaml's gate.default_margin).")
@click.option("--strict/--lenient", default=None, help="--strict (the default) also fails "
              "benchmarks whose non-inferiority is not shown (underpowered or inconclusive); "
              "--lenient fails only shown regressions. Overrides evals.yaml's gate.strict.")
@click.option("--markdown", "md_path", type=click.Path(path_type=Path),
              help="Write the summary here (e.g. $GITHUB_STEP_SUMMARY).")
@click.option("--junit", "junit_path", type=click.Path(path_type=Path),
              help="Write JUnit XML here for CI test reports.")
def gate(config_path: str, baseline: Path, candidate: Path, margin: float | None,
         strict: bool | None, md_path: Path | None, junit_path: Path | None) -> None:
    """Regression gate: paired per-sample tests of CANDIDATE against BASELINE on every
    benchmark, with non-inferiority margins. Exit 0 pass, 1 failed (a regression, or unless
    --lenient a benchmark too small for its margin or inconclusive), 2 bad input."""
    from evals.results import gate as gating
    from evals.results.rundir import RunDir

    cfg = gate_config(config_path)
    for path, what in ((md_path, "gate --markdown"), (junit_path, "gate --junit")):
        if path:
            writable_file(path, what)
    updates: dict[str, object] = {}
    if margin is not None:
        updates["default_margin"] = margin
    if strict is not None:
        updates["strict"] = strict
    report = gating.gate(RunDir(baseline), RunDir(candidate), cfg.model_copy(update=updates))
    summary = gating.to_markdown(report)
    echo_markdown(summary)
    if md_path:
        with md_path.open("a", encoding="utf-8") as f:  # job summaries are appended to
            f.write(summary)
    if junit_path:
        junit_path.write_text(gating.to_junit(report), encoding="utf-8")
    raise SystemExit(gating.exit_code(report))


@click.command()
@RUN_DIRS
@click.option("-o", "--out-dir", type=click.Path(path_type=Path),
              default=Path("reports/out/leaderboard"), show_default=True,
              help="Where leaderboard.md, leaderboard.tex and one CSV per table go.")
@click.option("--paper", is_flag=True, help="Add the InternLM2 report's published rows.")
@click.option("--allow-limited", is_flag=True, help="With --paper: show rows scored on a "
              "slice of a set (--limit) or from an unfinished run beside the paper's, labelled "
              "(refused by default).")
def leaderboard(run_dirs: tuple[Path, ...], out_dir: Path, paper: bool,
                allow_limited: bool) -> None:
    """Tables in the InternLM2 report's layout (tables 5-18, base and chat halves) from run
    directories (or folders holding them): markdown, CSV and LaTeX."""
    from evals.results.leaderboard import build_tables, to_markdown, write_leaderboard
    from evals.results.rundir import find_runs

    writable_dir(out_dir, "leaderboard -o")
    tables = build_tables(find_runs(list(run_dirs)), paper=paper, allow_limited=allow_limited)
    echo_markdown(to_markdown(tables))
    for path in write_leaderboard(tables, out_dir):
        console.print(f"wrote {path}")


@click.command()
@RUN_DIRS
@click.option("-o", "--output", "out_path", type=click.Path(path_type=Path),
              default=Path("reports/out/report.html"), show_default=True)
@click.option("--baseline", help="Checkpoint name the heatmap compares against "
              "(default: the first in training order).")
@click.option("--samples", type=click.IntRange(min=0), default=200, show_default=True,
              help="Samples per checkpoint and benchmark in the sample browser.")
def report(run_dirs: tuple[Path, ...], out_path: Path, baseline: str | None,
           samples: int) -> None:
    """One self-contained HTML report from run directories (or folders holding them)."""
    from evals.results.report import write_report
    from evals.results.rundir import find_runs

    writable_file(out_path, "report -o")
    path = write_report(find_runs(list(run_dirs)), out_path, baseline=baseline,
                        samples_per_benchmark=samples)
    console.print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB)")
