"""The report's view-model: everything the HTML shows, computed from run directories.

The template only lays out what is here, so every number in the report is testable without
parsing HTML. Nothing is hard-coded per benchmark: rows, columns, dimensions and sections
follow whatever the runs hold, so a benchmark or dimension added later appears unchanged.

A *checkpoint* is a model entry of the manifests (a training run's step, base, SFT or RLHF
model); it may have several run directories (one per suite), whose results are merged. A
*column* is one benchmark as the report shows it: its name, or ``name [suite]`` where some
checkpoint ran the same benchmark in two suites (PPL in a base suite, generation in a chat
suite), so that the two are never mixed.
"""

from __future__ import annotations

import base64
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from evals.errors import ConfigError
from evals.records import BenchmarkResult, DimensionScore, JudgeUsage, SampleResult
from evals.results.paired import compare_pairs, is_pairwise, pair_samples
from evals.results.rundir import RunDir, training_order
from evals.results.stats import PairedComparison

DELTA_STAGES = ("base", "sft", "rlhf")
"""The report's alignment chain (base -> SFT -> RLHF); pretraining steps are the curves."""
JUDGE_GRADE_SPAN = 10.0
"""Judge grades (MT-Bench, AlignBench; metric scale 1) run from 1 to 10: a grade's share of
the range is what a point is to a percentage when colouring changes."""
PROMPT_CHARS = 4000
OUTPUT_CHARS = 4000
HEAD_CHARS = 1000
"""Long texts keep their head and their tail (few-shot prompts end with the question)."""
MIN_TURN_CHARS = 200
MAX_BOOT_CELLS = 2_000_000
"""Paired bootstrap replicates x items per comparison, to bound memory on large sets."""


@dataclass(frozen=True)
class CheckpointInfo:
    name: str
    stage: str
    step: int | None
    tokens_seen: int | None
    kind: str
    runs: tuple[str, ...]


@dataclass(frozen=True)
class Column:
    """One benchmark as the report shows it; ``group`` is its dimension, or its suite for
    benchmarks in no dimension (the subjective sets)."""

    key: str
    benchmark: str
    suite: str
    group: str
    metric: str
    scale: float
    higher_is_better: bool
    pairwise: bool

    @property
    def span(self) -> float:
        """The metric's full range in its points: 100 for percentages, 10 for 1-10 grades."""
        return 100.0 if self.scale == 100.0 else JUDGE_GRADE_SPAN


@dataclass(frozen=True)
class ScoreCell:
    value: float
    stderr: float
    n: int
    parse_failures: int
    total: int | None = None
    """Items of the full set; with ``limited``, the cell is a slice (``--limit``)."""
    limited: bool = False
    partial: bool = False
    """From a run that did not complete (interrupted, failed): partial results."""


@dataclass(frozen=True)
class DimensionCell:
    """``stderr`` combines the members' stderrs as independent (weighted) errors."""

    value: float | None
    stderr: float | None
    missing: tuple[str, ...]


@dataclass(frozen=True)
class OverviewRow:
    checkpoint: CheckpointInfo
    dimensions: tuple[DimensionCell | None, ...]  # aligned with Report.dimensions
    scores: tuple[ScoreCell | None, ...]  # aligned with Report.columns
    not_run: tuple[bool, ...] = ()
    """Aligned with Report.columns: the benchmark was in this checkpoint's suite but did not
    run (its data was missing, ``--skip-missing``)."""


@dataclass(frozen=True)
class Change:
    """One benchmark from ``baseline`` to ``candidate`` (checkpoint names).

    ``delta`` is the difference of the primary scores users see (None when the baseline
    lacks the benchmark); ``test`` the paired comparison over the samples both scored
    (None without common samples, or for the baseline itself).
    """

    column: str
    baseline: str
    candidate: str
    score: float
    delta: float | None
    test: PairedComparison | None
    note: str = ""
    protocol: str = ""
    """Set when the two checkpoints ran the benchmark under different protocols (mode,
    shots), e.g. "ppl 5-shot → gen 0-shot": the delta is not like for like."""

    @property
    def significant(self) -> bool:
        return self.test is not None and self.test.significant


@dataclass(frozen=True)
class Heatmap:
    baseline: str
    checkpoints: tuple[str, ...]
    columns: tuple[Column, ...]
    cells: tuple[tuple[Change | None, ...], ...]  # [column][checkpoint]
    alpha: float


@dataclass(frozen=True)
class CurvePoint:
    checkpoint: str
    tokens_seen: int
    value: float
    stderr: float


@dataclass(frozen=True)
class Curve:
    column: Column
    points: tuple[CurvePoint, ...]


@dataclass(frozen=True)
class StageStep:
    """Consecutive stages: the last checkpoint of one stage against the last of the next."""

    before: CheckpointInfo
    after: CheckpointInfo
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class NeedleView:
    checkpoint: str
    run: str
    test: str
    image: str  # a data: URI
    effective_length: int | None
    threshold: float | None
    by_length: tuple[tuple[int, float, int], ...]  # (length, mean, n)


@dataclass(frozen=True)
class JudgeView:
    checkpoint: str
    column: str
    usage: JudgeUsage


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


@dataclass(frozen=True)
class SampleView:
    """One prediction line as the sample browser shows it. ``failed``: below full marks or
    unparseable; ``unscored``: the judge's verdict was unreadable (weight 0)."""

    checkpoint: str
    column: str
    sample_id: str
    group: str
    prompt: tuple[Turn, ...]
    outputs: tuple[str, ...]
    extracted: str | None
    target: str
    value: float
    parse_failed: bool
    failed: bool
    unscored: bool
    detail: str


@dataclass(frozen=True)
class SampleSet:
    checkpoint: str
    column: str
    shown: int
    total: int


@dataclass(frozen=True)
class ManifestBenchmark:
    name: str
    mode: str
    shots: str
    n: str
    prompt_hash: str
    extractor_hash: str
    data_files: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ManifestView:
    run: str
    checkpoint: str
    suite: str
    status: str
    fields: tuple[tuple[str, str], ...]
    versions: tuple[tuple[str, str], ...]
    benchmarks: tuple[ManifestBenchmark, ...]
    raw: str  # the whole manifest, pretty-printed


@dataclass(frozen=True)
class ExtraSection:
    """A section added by another tool (``evals diff`` between the baseline and each run);
    ``html`` is trusted markup, already escaped by whoever made it."""

    id: str
    title: str
    html: str


@dataclass(frozen=True)
class Report:
    title: str
    generated: str
    baseline: str
    checkpoints: tuple[CheckpointInfo, ...]
    dimensions: tuple[str, ...]
    columns: tuple[Column, ...]
    overview: tuple[OverviewRow, ...]
    heatmap: Heatmap
    curves: tuple[Curve, ...]
    stage_steps: tuple[StageStep, ...]
    needles: tuple[NeedleView, ...]
    judges: tuple[JudgeView, ...]
    samples: tuple[SampleView, ...]
    sample_sets: tuple[SampleSet, ...]
    manifests: tuple[ManifestView, ...]
    samples_per_benchmark: int
    notes: tuple[str, ...] = ()
    extras: tuple[ExtraSection, ...] = field(default_factory=tuple)


# --- building -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One benchmark result of one checkpoint, and the run it came from."""

    checkpoint: str
    column: str
    run: RunDir
    result: BenchmarkResult


class _Builder:
    def __init__(self, runs: Sequence[RunDir], alpha: float) -> None:
        self.alpha = alpha
        self.notes: list[str] = []
        usable = [r for r in runs if self._has_results(r)]
        if not usable:
            raise ConfigError(f"{', '.join(str(r.path) for r in runs) or '(none)'}: no run "
                              "with results.json; finish a run with 'evals run' first")
        self.runs = usable
        self.notes += [f"{r.checkpoint.name} / {r.suite}: not run (data missing): "
                       f"{', '.join(s.benchmark for s in r.skipped)}" for r in usable if r.skipped]
        self.notes += [f"{r.checkpoint.name} / {r.suite}: the run is {r.manifest.get('status')}"
                       " (it did not complete): its scores, marked †, are partial"
                       for r in usable if not r.complete]
        self.notes += [f"{r.checkpoint.name} / {r.suite}: scored on a slice (--limit), marked *,"
                       " n of the full set: " + ", ".join(
                           f"{x.benchmark} {x.n} of {x.total or '?'}" for x in r.results
                           if x.limited) for r in usable if any(x.limited for x in r.results)]
        self.checkpoints = _checkpoints(usable)
        self.order = {c.name: i for i, c in enumerate(self.checkpoints)}
        self.entries, self.columns = self._columns()
        self.cell = {(e.checkpoint, e.column): e for e in self.entries}
        self._predictions: dict[tuple[str, str], list[SampleResult] | None] = {}
        self.protocol_notes: defaultdict[str, set[str]] = defaultdict(set)
        """Per column, the compared pairs that ran it under different protocols."""

    def _has_results(self, run: RunDir) -> bool:
        if (run.path / "results.json").is_file():
            return True
        self.notes.append(f"{run.path}: no results.json yet (status "
                          f"{run.manifest.get('status', '?')}); left out")
        return False

    def _columns(self) -> tuple[list[_Entry], tuple[Column, ...]]:
        pairs = [(run.checkpoint.name, run.suite, r.benchmark) for run in self.runs
                 for r in run.results]
        keys = _keys(pairs)
        dims = _dimension_of(self.runs)
        entries = []
        columns: dict[str, Column] = {}
        for run in sorted(self.runs, key=lambda r: self.order[r.checkpoint.name]):
            for r in run.results:
                key = keys[(run.checkpoint.name, run.suite, r.benchmark)]
                entries.append(_Entry(run.checkpoint.name, key, run, r))
                if key not in columns:
                    columns[key] = _column(key, run, r, dims.get((run.suite, r.benchmark)))
        group_order = [*_ordered(d.name for run in self.runs for d in run.dimensions),
                       *_ordered(c.group for c in columns.values())]
        ordered = sorted(columns.values(), key=lambda c: group_order.index(c.group))
        return entries, tuple(ordered)

    # --- overview ---

    def dimension_keys(self) -> list[tuple[str, str, DimensionScore, RunDir]]:
        """(checkpoint, key, score, run) for every dimension of every checkpoint's runs."""
        pairs = [(run.checkpoint.name, run.suite, d.name) for run in self.runs
                 for d in run.dimensions]
        keys = _keys(pairs)
        return [(run.checkpoint.name, keys[(run.checkpoint.name, run.suite, d.name)], d, run)
                for run in self.runs for d in run.dimensions]

    def overview(self) -> tuple[tuple[str, ...], tuple[OverviewRow, ...]]:
        dims = self.dimension_keys()
        names = tuple(_ordered(k for _, k, _, _ in sorted(dims, key=lambda x: self.order[x[0]])))
        by_key = {(c, k): _dimension_cell(d, run) for c, k, d, run in dims}
        rows = []
        skipped = {(run.checkpoint.name, name) for run in self.runs for s in run.skipped
                   for name in (s.benchmark, f"{s.benchmark} [{run.suite}]")}
        for ckpt in self.checkpoints:
            scores = []
            for col in self.columns:
                e = self.cell.get((ckpt.name, col.key))
                scores.append(None if e is None else _score_cell(e))
            rows.append(OverviewRow(ckpt, tuple(by_key.get((ckpt.name, n)) for n in names),
                                    tuple(scores), tuple((ckpt.name, col.key) in skipped
                                                         for col in self.columns)))
        return names, tuple(rows)

    # --- comparisons ---

    def predictions(self, entry: _Entry) -> list[SampleResult] | None:
        key = (entry.checkpoint, entry.column)
        if key not in self._predictions:
            try:
                self._predictions[key] = entry.run.predictions(entry.result.benchmark)
            except ConfigError as err:
                self.notes.append(str(err))
                self._predictions[key] = None
        return self._predictions[key]

    def change(self, column: Column, baseline: str, candidate: str) -> Change | None:
        new = self.cell.get((candidate, column.key))
        if new is None:
            return None
        old = self.cell.get((baseline, column.key))
        score = new.result.primary.value
        if old is None:
            return Change(column.key, baseline, candidate, score, None, None,
                          f"{baseline} has no {column.key}")
        delta = score - old.result.primary.value
        if baseline == candidate:
            return Change(column.key, baseline, candidate, score, 0.0, None)
        protocol = _protocol_change(old.result, new.result)
        if protocol:
            self.protocol_notes[column.key].add(
                f"{baseline} {_protocol(old.result)}, {candidate} {_protocol(new.result)}")
        b, c = self.predictions(old), self.predictions(new)
        if b is None or c is None:
            return Change(column.key, baseline, candidate, score, delta, None, "no predictions",
                          protocol)
        pairs = pair_samples(b, c)
        if not pairs:
            return Change(column.key, baseline, candidate, score, delta, None,
                          "no samples in common", protocol)
        test = compare_pairs(new.result.metric, pairs, alpha=self.alpha,
                             n_boot=_n_boot(len(pairs)))
        return Change(column.key, baseline, candidate, score, delta, test, protocol=protocol)

    def heatmap(self, baseline: str) -> Heatmap:
        names = tuple(c.name for c in self.checkpoints)
        cells = tuple(tuple(self.change(col, baseline, n) for n in names)
                      for col in self.columns)
        return Heatmap(baseline, names, self.columns, cells, self.alpha)

    def stage_steps(self) -> tuple[StageStep, ...]:
        last = {c.stage: c for c in self.checkpoints if c.stage in DELTA_STAGES}
        chain = [last[s] for s in DELTA_STAGES if s in last]
        steps = []
        for before, after in pairwise(chain):
            changes = [self.change(col, before.name, after.name) for col in self.columns]
            steps.append(StageStep(before, after, tuple(
                ch for ch in changes if ch is not None and ch.delta is not None)))
        return tuple(steps)

    def curves(self) -> tuple[Curve, ...]:
        seen = [c for c in self.checkpoints if c.tokens_seen is not None]
        out = []
        for col in self.columns:
            points = [CurvePoint(c.name, c.tokens_seen, e.result.primary.value,
                                 e.result.primary.stderr)
                      for c in sorted(seen, key=lambda c: c.tokens_seen or 0)
                      if c.tokens_seen is not None
                      and (e := self.cell.get((c.name, col.key))) is not None]
            if points:
                out.append(Curve(col, tuple(points)))
        return tuple(out)

    # --- artefacts ---

    def needles(self) -> tuple[NeedleView, ...]:
        out = []
        for run in self.runs:
            folder = run.path / "needle"
            for summary in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                view = _needle(run, summary)
                if view is not None:
                    out.append(view)
                else:
                    self.notes.append(f"{summary}: no heatmap image beside it")
        return tuple(sorted(out, key=lambda v: (self.order[v.checkpoint], v.test)))

    def judges(self) -> tuple[JudgeView, ...]:
        return tuple(JudgeView(e.checkpoint, e.column, e.result.judge) for e in self.entries
                     if e.result.judge is not None)

    def samples(self, per_benchmark: int) -> tuple[tuple[SampleView, ...], tuple[SampleSet, ...]]:
        """The first ``per_benchmark`` samples of each checkpoint x benchmark, ordered by
        benchmark, then item, then checkpoint: one item's answers across training sit
        together."""
        views: list[SampleView] = []
        sets = []
        columns = {c.key: c for c in self.columns}
        for e in sorted(self.entries, key=lambda e: (self.order[e.checkpoint],
                                                     self.columns.index(columns[e.column]))):
            preds = self.predictions(e)
            if preds is None:
                continue
            shown = preds[:per_benchmark]
            views += [sample_view(e.checkpoint, columns[e.column], s) for s in shown]
            sets.append(SampleSet(e.checkpoint, e.column, len(shown), len(preds)))
        position: dict[tuple[str, str], int] = {}
        for v in views:
            position.setdefault((v.column, v.sample_id), len(position))
        views.sort(key=lambda v: (self.columns.index(columns[v.column]),
                                  position[(v.column, v.sample_id)], self.order[v.checkpoint]))
        return tuple(views), tuple(sets)

    def manifests(self) -> tuple[ManifestView, ...]:
        runs = sorted(self.runs, key=lambda r: (self.order[r.checkpoint.name], r.suite))
        return tuple(manifest_view(r) for r in runs)


def build_report(runs: list[RunDir], *, baseline: str | None = None,
                 samples_per_benchmark: int = 200, alpha: float = 0.05,
                 title: str = "Evaluation report") -> Report:
    """Read every run once and compute all sections; ``baseline`` names the checkpoint the
    heatmap compares against (default: the first in training order)."""
    b = _Builder(runs, alpha)
    names = [c.name for c in b.checkpoints]
    if baseline is None:
        baseline = names[0]
    elif baseline not in names:
        raise ConfigError(f"--baseline {baseline!r}: no such checkpoint in these runs "
                          f"(known: {', '.join(names)})")
    dimensions, overview = b.overview()
    samples, sets = b.samples(samples_per_benchmark)
    heatmap, stage_steps = b.heatmap(baseline), b.stage_steps()
    b.notes += [f"{col}: compared across protocols ({'; '.join(sorted(pairs))}); its heatmap "
                "cells (≠) and stage deltas (⚠) mix the model's change with the protocol's"
                for col, pairs in b.protocol_notes.items()]
    return Report(
        title=title,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        baseline=baseline,
        checkpoints=tuple(b.checkpoints),
        dimensions=dimensions,
        columns=b.columns,
        overview=overview,
        heatmap=heatmap,
        curves=b.curves(),
        stage_steps=stage_steps,
        needles=b.needles(),
        judges=b.judges(),
        samples=samples,
        sample_sets=sets,
        manifests=b.manifests(),
        samples_per_benchmark=samples_per_benchmark,
        notes=tuple(dict.fromkeys(b.notes)),
    )


# --- helpers ------------------------------------------------------------------------------


def checkpoint_order(c: CheckpointInfo) -> tuple[int, bool, int, bool, int, str]:
    return training_order(c.stage, c.step, c.tokens_seen, c.name)


def _checkpoints(runs: Sequence[RunDir]) -> list[CheckpointInfo]:
    """One entry per checkpoint name; the first run that names it says where it sits."""
    found: dict[str, CheckpointInfo] = {}
    paths: dict[str, list[str]] = {}
    for run in runs:
        cp = run.checkpoint
        paths.setdefault(cp.name, []).append(str(run.path))
        found.setdefault(cp.name, CheckpointInfo(cp.name, cp.stage, cp.step, cp.tokens_seen,
                                                 cp.kind.value, ()))
    out = [CheckpointInfo(c.name, c.stage, c.step, c.tokens_seen, c.kind, tuple(paths[c.name]))
           for c in found.values()]
    return sorted(out, key=checkpoint_order)


def _ordered(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _keys(pairs: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """(checkpoint, suite, name) -> the name shown; ``name [suite]`` for names that some
    checkpoint has in two suites."""
    suites: dict[tuple[str, str], set[str]] = {}
    for ckpt, suite, name in pairs:
        suites.setdefault((ckpt, name), set()).add(suite)
    clashing = {name for (_, name), s in suites.items() if len(s) > 1}
    return {(c, s, n): f"{n} [{s}]" if n in clashing else n for c, s, n in pairs}


def _dimension_of(runs: Sequence[RunDir]) -> dict[tuple[str, str], str]:
    """(suite, benchmark) -> dimension; a judge-scored twin (``<name>_judge``) belongs
    where its suite line does."""
    out: dict[tuple[str, str], str] = {}
    for run in runs:
        for d in run.dimensions:
            for b in d.benchmarks:
                out.setdefault((run.suite, b), d.name)
                out.setdefault((run.suite, f"{b}_judge"), d.name)
    return out


def _score_cell(e: _Entry) -> ScoreCell:
    r = e.result
    return ScoreCell(r.primary.value, r.primary.stderr, r.n, r.parse_failures, r.total,
                     r.limited, not e.run.complete)


def _protocol(r: BenchmarkResult) -> str:
    return f"{r.mode.value} {r.shots}-shot"


def _protocol_change(old: BenchmarkResult, new: BenchmarkResult) -> str:
    """"ppl 5-shot → gen 0-shot" where two results were made under different protocols
    (a base suite's PPL beside a chat suite's generation): their delta mixes the change of
    the model with the change of the protocol."""
    a, b = _protocol(old), _protocol(new)
    return "" if a == b else f"{a} → {b}"


def _column(key: str, run: RunDir, r: BenchmarkResult, dimension: str | None) -> Column:
    scale, pairwise = r.metric.scale, is_pairwise(r.metric)
    return Column(key, r.benchmark, run.suite, dimension or run.suite, r.primary.name, scale,
                  r.primary.higher_is_better, pairwise)


def _dimension_cell(d: DimensionScore, run: RunDir) -> DimensionCell:
    if d.value is None:
        return DimensionCell(None, None, d.missing)
    weights = d.weights or (1.0,) * len(d.benchmarks)
    errors = []
    for name, w in zip(d.benchmarks, weights, strict=True):
        r = run.result(name) or run.result(f"{name}_judge")
        errors.append(None if r is None else w * r.primary.stderr)
    if any(e is None for e in errors):
        return DimensionCell(d.value, None, ())
    se = math.sqrt(sum(e * e for e in errors if e is not None)) / sum(weights)
    return DimensionCell(d.value, se, ())


def _n_boot(n: int) -> int:
    return max(500, min(5000, MAX_BOOT_CELLS // max(n, 1)))


def _needle(run: RunDir, summary: Path) -> NeedleView | None:
    images = [p for p in (summary.with_suffix(".svg"), summary.with_suffix(".png"))
              if p.is_file()]
    if not images:
        return None
    image = min(images, key=lambda p: p.stat().st_size)
    media = "image/svg+xml" if image.suffix == ".svg" else "image/png"
    uri = f"data:{media};base64,{base64.b64encode(image.read_bytes()).decode('ascii')}"
    try:
        data: dict[str, Any] = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        data = {}
    by_length = tuple((int(m["length"]), float(m["mean"]), int(m["n"]))
                      for m in data.get("by_length", []))
    return NeedleView(run.checkpoint.name, str(run.path), str(data.get("test", summary.stem)),
                      uri, data.get("effective_length"), data.get("threshold"), by_length)


def clip(text: str, limit: int) -> str:
    """Head and tail of a long text, with a note of what was cut."""
    if len(text) <= limit:
        return text
    head = min(HEAD_CHARS, limit // 4)
    return (f"{text[:head]}\n[... {len(text) - limit} characters cut by the report ...]\n"
            f"{text[len(text) - (limit - head):]}")


def _prompt(prompt: str | list[dict[str, str]]) -> tuple[Turn, ...]:
    if isinstance(prompt, str):
        return (Turn("text", clip(prompt, PROMPT_CHARS)),)
    turns = [Turn(str(m.get("role", "")), str(m.get("content", ""))) for m in prompt]
    # the last turns (the question) whole where they fit; earlier ones cut to their ends
    budget = PROMPT_CHARS
    kept: list[Turn] = []
    for t in reversed(turns):
        size = max(budget, MIN_TURN_CHARS)
        kept.append(Turn(t.role, clip(t.content, size)))
        budget -= min(size, len(t.content))
    return tuple(reversed(kept))


def sample_view(checkpoint: str, column: Column, s: SampleResult) -> SampleView:
    full = 1.0 if column.scale == 100.0 else JUDGE_GRADE_SPAN
    return SampleView(
        checkpoint=checkpoint, column=column.key, sample_id=s.sample_id, group=s.group,
        prompt=_prompt(s.prompt), outputs=tuple(clip(o, OUTPUT_CHARS) for o in s.outputs),
        extracted=s.score.extracted, target=clip(s.target, OUTPUT_CHARS), value=s.score.value,
        parse_failed=s.score.parse_failed,
        failed=s.score.parse_failed or (s.score.weight != 0 and s.score.value < full),
        unscored=s.score.weight == 0, detail=s.score.detail,
    )


MANIFEST_FIELDS = (
    ("model", ("model", "name")), ("path", ("model_path",)), ("kind", ("model", "kind")),
    ("stage", ("model", "stage")), ("step", ("model", "step")),
    ("tokens seen", ("model", "tokens_seen")), ("fingerprint", ("model_fingerprint",)),
    ("backend", ("backend",)), ("tokenizer", ("tokenizer",)),
    ("chat template", ("chat_template",)), ("suite", ("suite", "name")),
    ("status", ("status",)), ("created", ("created",)), ("git commit", ("git_commit",)),
    ("judge", ("judge", "name")), ("python", ("python",)), ("host", ("host",)),
    ("wall seconds", ("wall_seconds",)),
)


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def manifest_view(run: RunDir) -> ManifestView:
    m = run.manifest
    fields = tuple((label, _text(_dig(m, path))) for label, path in MANIFEST_FIELDS
                   if _dig(m, path) is not None)
    versions = tuple((k, _text(v)) for k, v in sorted((m.get("versions") or {}).items()))
    benches = tuple(
        ManifestBenchmark(name, _text(b.get("mode")), _text(b.get("shots")), _text(b.get("n")),
                          _text(b.get("prompt_hash")), _text(b.get("extractor_hash")),
                          tuple((f, _text(h)) for f, h in sorted(
                              (b.get("data_files") or {}).items())))
        for name, b in (m.get("benchmarks") or {}).items() if isinstance(b, dict))
    return ManifestView(str(run.path), run.checkpoint.name, run.suite,
                        _text(m.get("status")), fields, versions, benches,
                        json.dumps(m, indent=2, ensure_ascii=False, default=str))
