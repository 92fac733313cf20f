"""Leaderboard tables in the InternLM2 report's layout (its Tables 5-18): one table per
dimension and half (base / chat models), the report's columns in its order, one row per
checkpoint, and optionally the report's published rows below ours for comparison.

Everything about the layout lives in ``evals/data/internlm2_tables.yaml``: which columns a
table has, which benchmark (and which of its metrics) fills each column, and the published
numbers. A benchmark added later therefore appears in its column without changes here, and
one that no table names lands in an "Other" table, so no score is hidden.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml

from evals.dimensions import BY_KEY
from evals.errors import ConfigError, DataError
from evals.records import BenchmarkResult, ModelKind
from evals.results.rundir import RunDir

log = logging.getLogger(__name__)

HALVES = (ModelKind.BASE, ModelKind.CHAT)
MISSING = "–"
# Training order of a checkpoint's stage: a sweep's rows read top to bottom as training went.
Source = Literal["ours", "paper"]


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaderRow:
    """One row: a checkpoint of ours, or a model the report published (``source="paper"``)."""

    model: str
    source: Source
    values: tuple[float | None, ...]
    note: str = ""
    flags: tuple[str, ...] = ()
    """``limited`` (scored on a slice, ``--limit``), ``interrupted``, ``failed``: shown with
    the name in every format."""

    @property
    def label(self) -> str:
        return self.model + (f" ({', '.join(self.flags)})" if self.flags else "")


@dataclass(frozen=True)
class LeaderTable:
    """One half (base or chat models) of a report table, as rendered.

    ``number`` is the report's table number; None where the report has no table for this
    half (its figures, a chat-only table's base half, and "Other"). ``decimals`` is the
    precision the report prints, used for the published rows.
    """

    number: int | None
    caption: str
    half: ModelKind
    columns: tuple[str, ...]
    rows: tuple[LeaderRow, ...]
    key: str
    dimension: str
    figure: str = ""
    decimals: int = 1
    notes: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        where = f"Table {self.number}" if self.number is not None else self.figure or self.dimension
        return f"{where} ({self.half.value}): {self.caption}"

    @property
    def slug(self) -> str:
        """File-name stem, unique among the tables of one leaderboard."""
        stem = f"{self.key}_{self.half.value}"
        return f"table{self.number:02d}_{stem}" if self.number is not None else stem


@dataclass(frozen=True)
class Column:
    """A report column and where our score for it comes from (see the data file's header)."""

    label: str
    benchmark: str | None = None
    metric: str | None = None
    groups: str | None = None
    mean_of: tuple[str, ...] = ()
    paper_metric: str | None = None
    """Beside published rows: the OpenCompass-compatible metric, where our primary deviates
    from OpenCompass on purpose (TriviaQA's and NQ's ``accuracy_oc``)."""

    def beside_paper(self) -> Column:
        """The column as shown next to the report's rows."""
        if self.paper_metric is None:
            return self
        return replace(self, metric=self.paper_metric, paper_metric=None)


@dataclass(frozen=True)
class PaperTable:
    number: int
    half: ModelKind
    caption: str
    rows: tuple[LeaderRow, ...]


@dataclass(frozen=True)
class Section:
    """One table layout of the report: a dimension's columns and its tables per half."""

    key: str
    dimension: str
    """The heading: its ``title``, else its dimension's title (``evals/dimensions.py``)."""
    columns: tuple[Column, ...]
    dimension_key: str = ""
    tables: tuple[PaperTable, ...] = ()
    figure: str = ""
    caption: str = ""
    decimals: int = 1
    notes: tuple[str, ...] = ()

    def paper_table(self, half: ModelKind) -> PaperTable | None:
        return next((t for t in self.tables if t.half is half), None)

    def benchmarks(self) -> frozenset[str]:
        return frozenset(c.benchmark for c in self.columns if c.benchmark)


# --- the data file -------------------------------------------------------------------------


DATA_FILE = files("evals") / "data" / "internlm2_tables.yaml"


@cache
def load_sections() -> tuple[Section, ...]:
    """The report's table layouts and published rows, from the package's data file."""
    where = str(DATA_FILE)
    try:
        data = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise DataError(f"{where}: unreadable ({err}); reinstall evals") from None
    return tuple(_section(s, where) for s in _list(_dict(data, where).get("sections"), where))


def mapped_benchmarks(sections: Iterable[Section]) -> frozenset[str]:
    """Every benchmark some report table has a column for."""
    return frozenset().union(*(s.benchmarks() for s in sections))


def _section(raw: Any, where: str) -> Section:
    d = _dict(raw, where)
    key = str(d.get("key"))
    here = f"{where}: section {key}"
    columns = tuple(_column(c, here) for c in _list(d.get("columns"), here))
    labels = [c.label for c in columns]
    for c in columns:
        if not (c.benchmark or c.mean_of) or any(m not in labels for m in c.mean_of):
            raise DataError(f"{here}: column {c.label!r} names no benchmark or an unknown column")
    tables = tuple(_paper_table(t, here, len(columns)) for t in _list(d.get("tables", []), here))
    dim = str(d.get("dimension"))
    if dim not in BY_KEY:
        raise DataError(f"{here}: dimension {dim!r} is none of evals/dimensions.py's keys "
                        f"({', '.join(BY_KEY)})")
    return Section(key=key, dimension=str(d.get("title", BY_KEY[dim].title)), columns=columns,
                   dimension_key=dim, tables=tables,
                   figure=str(d.get("figure", "")), caption=str(d.get("caption", "")),
                   decimals=int(d.get("decimals", 1)),
                   notes=tuple(str(n) for n in _list(d.get("notes", []), here)))


def _column(raw: Any, where: str) -> Column:
    d = _dict(raw, where)
    return Column(label=str(d["label"]), benchmark=_opt_str(d.get("benchmark")),
                  metric=_opt_str(d.get("metric")), groups=_opt_str(d.get("groups")),
                  mean_of=tuple(str(m) for m in _list(d.get("mean_of", []), where)),
                  paper_metric=_opt_str(d.get("paper_metric")))


def _paper_table(raw: Any, where: str, width: int) -> PaperTable:
    d = _dict(raw, where)
    here = f"{where}: table {d.get('number')}"
    rows = []
    for r in _list(d.get("rows"), here):
        row = _dict(r, here)
        values = tuple(None if v is None else float(v) for v in _list(row.get("values"), here))
        if len(values) != width:
            raise DataError(f"{here}: row {row.get('model')!r} has {len(values)} values, "
                            f"the section {width} columns")
        rows.append(LeaderRow(str(row["model"]), "paper", values, str(row.get("note", ""))))
    return PaperTable(int(d["number"]), ModelKind(d["half"]), str(d["caption"]), tuple(rows))


def _dict(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected a mapping, got {type(raw).__name__}")
    return raw


def _list(raw: Any, where: str) -> list[Any]:
    if not isinstance(raw, list):
        raise DataError(f"{where}: expected a list, got {type(raw).__name__}")
    return raw


def _opt_str(raw: Any) -> str | None:
    return None if raw is None else str(raw)


# --- our scores ----------------------------------------------------------------------------


@dataclass
class _Scores:
    """One checkpoint's results merged over its run directories (one per suite)."""

    name: str
    kind: ModelKind
    order: tuple[tuple[int, bool, int, bool, int, str], int]
    results: dict[str, BenchmarkResult] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)
    not_run: set[str] = field(default_factory=set)
    """Benchmarks a suite skipped for missing data (and no other run of it has)."""
    unfinished: set[str] = field(default_factory=set)
    """Statuses of runs that did not complete (interrupted, failed): their results are
    partial, and the row says so."""

    def add(self, result: BenchmarkResult, created: str) -> None:
        """A benchmark run by several suites keeps the larger run (a full set beats a
        ``limit`` slice); between equal sizes, the newer one."""
        old = self.results.get(result.benchmark)
        if old is None or (result.n, created) > (old.n, self.created[result.benchmark]):
            self.results[result.benchmark] = result
            self.created[result.benchmark] = created


def _collect(runs: Sequence[RunDir]) -> list[_Scores]:
    scores: dict[tuple[str, ModelKind], _Scores] = {}
    read = 0
    for i, run in enumerate(runs):
        if not (run.path / "results.json").is_file():
            log.warning("%s: no results.json yet; left out of the leaderboard", run.path)
            continue
        read += 1
        ckpt = run.checkpoint
        entry = scores.get((ckpt.name, ckpt.kind))
        if entry is None:
            entry = scores[(ckpt.name, ckpt.kind)] = _Scores(ckpt.name, ckpt.kind,
                                                             (ckpt.order, i))
        for result in run.results:
            entry.add(result, str(run.manifest.get("created", "")))
        entry.not_run |= {s.benchmark for s in run.skipped}
        if not run.complete:
            entry.unfinished.add(str(run.manifest.get("status", "unfinished")))
    if runs and not read:
        raise ConfigError(f"{runs[0].path}: none of the {len(runs)} run directories has a "
                          "results.json; finish a run with 'evals run' first")
    return sorted(scores.values(), key=lambda s: s.order)


def column_values(columns: Sequence[Column],
                  results: Mapping[str, BenchmarkResult]) -> tuple[float | None, ...]:
    """Our score for each column; None where the runs lack it."""
    by_label = {c.label: _value(c, results) for c in columns if not c.mean_of}
    for c in columns:
        if c.mean_of:
            parts = [by_label.get(m) for m in c.mean_of]
            by_label[c.label] = None if None in parts else math.fsum(
                p for p in parts if p is not None) / len(parts)
    return tuple(by_label[c.label] for c in columns)


def _value(column: Column, results: Mapping[str, BenchmarkResult]) -> float | None:
    result = results.get(column.benchmark or "")
    if result is None:
        return None
    value: float | None = result.primary.value
    if column.metric is not None:
        value = next((m.value for m in result.secondary if m.name == column.metric), None)
    elif column.groups is not None:
        scores = [v for g, v, _ in result.groups if fnmatch(g, column.groups)]
        value = math.fsum(scores) / len(scores) if scores else None
    return None if value is None or math.isnan(value) else value


# --- tables ---------------------------------------------------------------------------------


def build_tables(runs: Sequence[RunDir], *, paper: bool,
                 allow_limited: bool = False) -> list[LeaderTable]:
    """The leaderboard: each report table's half that has rows, then "Other" tables for
    benchmarks no report table names. Several runs of one checkpoint merge into one row.

    A row scored on a slice (``--limit``) or from an unfinished run is labelled, with n of
    the full set in its note; beside the paper's full-set rows (``paper``) such a row is
    refused unless ``allow_limited``."""
    sections = load_sections()
    checkpoints = _collect(runs)
    tables = []
    for section in sections:
        for half in HALVES:
            published = section.paper_table(half) if paper else None
            columns = [c.beside_paper() for c in section.columns] if published else section.columns
            ours = _our_rows(columns, [c for c in checkpoints if c.kind is half])
            if published and not allow_limited:
                _refuse_limited(section, ours)
            rows = ours + (list(published.rows) if published else [])
            if rows:
                table = _table(section, half, tuple(rows))
                if published and ours:
                    table = replace(table, notes=(*table.notes, *_paper_metric_notes(section)))
                not_run = _not_run_notes(section, [c for c in checkpoints if c.kind is half])
                tables.append(replace(table, notes=(*table.notes, *not_run)))
    return tables + _other_tables(checkpoints, mapped_benchmarks(sections))


def _not_run_notes(section: Section, checkpoints: Sequence[_Scores]) -> list[str]:
    mapped = section.benchmarks()
    return [f"{c.name}: {', '.join(sorted(b))} not run (data missing, --skip-missing)"
            for c in checkpoints
            if (b := {n for n in c.not_run & mapped if n not in c.results})]


def _paper_metric_notes(section: Section) -> list[str]:
    return [f"{c.label}: our rows show {c.paper_metric}, the OpenCompass-compatible number the "
            "report's rows use, not our primary metric (a deliberate fix, see the benchmark's "
            "docstring); without --paper the primary is shown"
            for c in section.columns if c.paper_metric]


def _table(section: Section, half: ModelKind, rows: tuple[LeaderRow, ...]) -> LeaderTable:
    published = section.paper_table(half)
    number, caption = (published.number, published.caption) if published else (None, section.caption)
    if published is None and not section.figure:
        other = section.tables[0]
        caption = (f"no such table in the report (its Table {other.number} has "
                   f"{other.half.value} models only)")
    return LeaderTable(number=number, caption=caption, half=half,
                       columns=tuple(c.label for c in section.columns), rows=rows,
                       key=section.key, dimension=section.dimension, figure=section.figure,
                       decimals=section.decimals, notes=section.notes)


def _other_tables(checkpoints: Sequence[_Scores], mapped: frozenset[str]) -> list[LeaderTable]:
    tables = []
    for half in HALVES:
        mine = [c for c in checkpoints if c.kind is half]
        names = sorted({b for c in mine for b in c.results} - mapped)
        columns = tuple(Column(n, n) for n in names)
        rows = _our_rows(columns, mine)
        if rows:
            tables.append(LeaderTable(None, "benchmarks in no table of the report", half,
                                      tuple(names), tuple(rows), key="other", dimension="Other"))
    return tables


def _our_rows(columns: Sequence[Column], checkpoints: Iterable[_Scores]) -> list[LeaderRow]:
    """A row per checkpoint with at least one of the columns; labelled when a column's
    number comes from a slice of its set or from an unfinished run."""
    rows = []
    for c in checkpoints:
        values = column_values(columns, c.results)
        if not any(v is not None for v in values):
            continue
        benchmarks = {col.benchmark for col in columns if col.benchmark}
        limited = [r for b in sorted(benchmarks) if (r := c.results.get(b)) and r.limited]
        labels = ["limited"] * bool(limited) + sorted(c.unfinished)
        notes = [f"{'; '.join(sorted(c.unfinished))} run: partial results"] * bool(c.unfinished)
        if limited:
            notes.append("limited run (--limit), n of the full set: " + ", ".join(
                f"{r.benchmark} {r.n} of {r.total if r.total is not None else '?'}"
                for r in limited))
        rows.append(LeaderRow(c.name, "ours", values, "; ".join(notes), tuple(labels)))
    return rows


def _refuse_limited(section: Section, rows: Sequence[LeaderRow]) -> None:
    """The paper's rows are full sets: a slice beside them would read as a comparison."""
    bad = [r for r in rows if r.flags]
    if bad:
        raise ConfigError(
            f"leaderboard --paper: {bad[0].model}: {bad[0].note} (table "
            f"{section.key}{f' and {len(bad) - 1} more row(s)' if len(bad) > 1 else ''}); the "
            "report's rows are full sets: run without --limit, or pass --allow-limited to show "
            "them labelled")


# --- rendering -----------------------------------------------------------------------------


def format_value(value: float | None, row: LeaderRow, table: LeaderTable) -> str:
    """Published numbers at the report's precision; ours at two decimals."""
    if value is None:
        return MISSING
    return f"{value:.{table.decimals if row.source == 'paper' else 2}f}"


def _row_notes(table: LeaderTable) -> list[str]:
    return [f"{r.label} ({r.source}): {r.note}" for r in table.rows if r.note]


def to_markdown(tables: Sequence[LeaderTable]) -> str:
    lines = ["# Leaderboard", "",
             "Scores are each benchmark's primary metric on its own scale (percent; 0-10 for "
             f"judge grades); {MISSING} = not run. Rows marked (paper) are the numbers "
             "published in the InternLM2 report.", ""]
    for t in tables:
        lines += [f"## {_md(t.title)}", "",
                  "| " + " | ".join(["Model", *map(_md, t.columns)]) + " |",
                  "|---|" + "---:|" * len(t.columns)]
        for r in t.rows:
            name = r.label + (" (paper)" if r.source == "paper" else "")
            cells = [_md(name), *(format_value(v, r, t) for v in r.values)]
            lines.append("| " + " | ".join(cells) + " |")
        notes = [*t.notes, *_row_notes(t)]
        lines += ["", *(f"- {_md(n)}" for n in notes), ""] if notes else [""]
    return "\n".join(lines)


def _md(text: str) -> str:
    """A table cell: a pipe escaped, a line break a space (either would split the row)."""
    return " ".join(text.replace("|", "\\|").splitlines())


def to_csv(table: LeaderTable) -> str:
    """Missing cells are empty, so that spreadsheet and pandas readers see them as NA."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Model", "Source", *table.columns, "Note"])
    for r in table.rows:
        cells = ["" if v is None else format_value(v, r, table) for v in r.values]
        writer.writerow([r.label, r.source, *cells, r.note])
    return out.getvalue()


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "–": "--", "—": "---",
}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def to_latex(tables: Sequence[LeaderTable]) -> str:
    """booktabs tables (``\\usepackage{booktabs}``), our rows first, then the published ones
    under their own rule."""
    parts = ["% Generated by `evals leaderboard`; needs \\usepackage{booktabs}."]
    for t in tables:
        parts.append("\n".join(_latex_table(t)))
    return "\n\n".join(parts) + "\n"


def _latex_table(t: LeaderTable) -> list[str]:
    width = len(t.columns) + 1
    lines = ["\\begin{table}[htbp]", "\\centering", "\\small",
             f"\\caption{{{latex_escape(t.title)}}}",
             f"\\label{{tab:{t.slug.replace('_', '-')}}}",
             f"\\begin{{tabular}}{{l{'r' * len(t.columns)}}}", "\\toprule",
             " & ".join(["Model", *map(latex_escape, t.columns)]) + " \\\\", "\\midrule"]
    ours = [r for r in t.rows if r.source == "ours"]
    published = [r for r in t.rows if r.source == "paper"]
    lines += [_latex_row(r, t) for r in ours]
    if published:
        if ours:
            lines.append("\\midrule")
        lines.append(f"\\multicolumn{{{width}}}{{l}}{{\\textit{{Published in the InternLM2 "
                     "report}} \\\\")
        lines += [_latex_row(r, t) for r in published]
    lines += ["\\bottomrule", "\\end{tabular}"]
    notes = [latex_escape(n) for n in t.notes]
    notes += [f"$^\\dagger${latex_escape(r.label)}: {latex_escape(r.note)}" for r in t.rows if r.note]
    if notes:
        lines.append("\\par\\footnotesize " + " ".join(notes))
    lines.append("\\end{table}")
    return lines


def _latex_row(r: LeaderRow, t: LeaderTable) -> str:
    cells = [latex_escape(r.label) + ("$^\\dagger$" if r.note else "")]
    cells += [format_value(v, r, t).replace(MISSING, "--") for v in r.values]
    return " & ".join(cells) + " \\\\"


def write_leaderboard(tables: Sequence[LeaderTable], out_dir: Path) -> list[Path]:
    """``leaderboard.md``, ``leaderboard.tex`` and one CSV per table, in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "leaderboard.md", out_dir / "leaderboard.tex"]
    written[0].write_text(to_markdown(tables), encoding="utf-8")
    written[1].write_text(to_latex(tables), encoding="utf-8")
    for t in tables:
        path = out_dir / f"{t.slug}.csv"
        path.write_text(to_csv(t), encoding="utf-8")
        written.append(path)
    return written
