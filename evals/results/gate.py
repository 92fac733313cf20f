"""``evals gate``: may a candidate checkpoint replace its baseline?

Every benchmark of the baseline run is compared item by item with the candidate's answers to
the same items (paired by ``sample_id``), as a non-inferiority test. Each benchmark gets one
verdict:

- "regression": a drop beyond its margin is *shown* at ``alpha`` (or its extraction-failure
  rate rose beyond ``parse_failure_margin``: a checkpoint that stops producing parseable
  answers is broken even where its accuracy has not moved yet). Always fails.
- "underpowered": no regression shown, but the margin is below the minimum detectable drop
  (MDE, 80% power) of this many items: a drop of the margin's size would go unseen, so the
  comparison can say nothing at this margin. Identical runs land here at small n (their
  interval has zero width, which would otherwise read as a pass).
- "inconclusive": enough items for the margin, but the interval reaches past it.
- "pass": non-inferiority at the margin shown, with enough items to have seen a drop.
- "missing": the candidate lacks the benchmark or shares no items with it (bad input).

By default (``strict``) "underpowered" and "inconclusive" fail the gate (exit 1). This
deliberately differs from the first releases, which failed only shown regressions, so that a
10-point drop on 20 items was "inconclusive" and identical 20-item runs passed, both with exit
0: a CI user expects a green gate to mean "no drop beyond the margin", and a gate that could
not have seen one must not say so. ``gate.strict: false`` in evals.yaml is the opt-out: those
benchmarks are then reported (JUnit "skipped") but only shown regressions fail. Exit codes:
0 pass, 1 a failing benchmark, 2 bad input (a missing benchmark).

What is tested is the mean of the per-item values (``Score.value``) over the paired items.
For benchmarks whose headline metric is a macro average (MMLU's subjects), a weighted mean
(GAOKAO) or a corpus statistic (BLEU), that mean is close to, not equal to, results.json's
number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree as ET

from evals.config import GateConfig
from evals.errors import ConfigError
from evals.records import MetricDefinition
from evals.results.paired import Pair, compare_pairs, pair_samples
from evals.results.rundir import Checkpoint, RunDir
from evals.results.stats import Method, PairedComparison, compare

Verdict = Literal["pass", "regression", "underpowered", "inconclusive", "missing"]
Overall = Literal["pass", "regression", "underpowered", "inconclusive", "bad input"]

UNSHOWN: tuple[Verdict, ...] = ("underpowered", "inconclusive")
"""Verdicts where non-inferiority is not shown: failing under ``strict`` (the default)."""

@dataclass(frozen=True)
class RunRef:
    """Which run a side of the gate is."""

    path: str
    checkpoint: Checkpoint
    suite: str
    complete: bool
    """False for a run still going or killed midway: only the items it scored are paired."""


@dataclass(frozen=True)
class ParseFailureGate:
    """Extraction-failure rates (percent of the paired items) and the test of their rise."""

    baseline_rate: float
    candidate_rate: float
    margin: float
    p_rise: float
    failed: bool


@dataclass(frozen=True)
class BenchmarkGate:
    """One benchmark's row. ``score`` and ``parse`` are None for a "missing" row, whose
    ``note`` says what was missing."""

    benchmark: str
    verdict: Verdict
    margin: float
    n: int
    score: PairedComparison | None
    parse: ParseFailureGate | None
    note: str = ""

    @property
    def method(self) -> Method | None:
        return self.score.method if self.score else None

    @property
    def margin_below_mde(self) -> bool:
        """The margin is smaller than the drop this many items can detect."""
        return self.score is not None and self.margin < self.score.mde

    def failing(self, strict: bool) -> bool:
        return self.verdict in ("regression", "missing") or (strict and self.verdict in UNSHOWN)

    def explain(self, strict: bool) -> str:
        """One line: why this benchmark passed, failed or was let through, and for a
        benchmark that cannot show non-inferiority, what to change."""
        s, pf, name = self.score, self.parse, self.benchmark
        if s is None or pf is None:
            return f"{name}: {self.verdict}: {self.note}"
        shown = f"delta {s.delta:+.2f} [{s.ci_low:+.2f}, {s.ci_high:+.2f}]"
        if self.verdict == "regression":
            why = []
            if s.regression:
                why.append(f"a drop beyond its {self.margin:g}-point margin is shown ({shown}, "
                           f"p {_p(s.p_regression)})")
            if pf.failed:
                why.append(f"extraction failures rose {pf.baseline_rate:.1f}% -> "
                           f"{pf.candidate_rate:.1f}% (p {_p(pf.p_rise)}), beyond the "
                           f"{pf.margin:g}-point margin")
            return f"{name}: regression: " + "; ".join(why)
        if self.verdict == "pass":
            return (f"{name}: pass: no drop beyond its {self.margin:g}-point margin ({shown}; "
                    f"n={self.n} detects drops of {s.mde:.2f})")
        outcome = "fails (strict, the default)" if strict else "not failing (gate.strict: false)"
        if self.verdict == "underpowered":
            return (f"{name}: underpowered, {outcome}: n={self.n} items can only detect a drop "
                    f"of {s.mde:.2f} points (MDE, 80% power), more than its {self.margin:g}-point "
                    f"margin, so a drop of the margin's size would likely go unseen ({shown}). "
                    f"{_remedy(self, strict)}")
        return (f"{name}: inconclusive, {outcome}: no regression shown, but the interval reaches "
                f"{s.ci_low:+.2f}, past its {self.margin:g}-point margin ({shown}, n={self.n}). "
                f"{_remedy(self, strict)}")


@dataclass(frozen=True)
class GateReport:
    baseline: RunRef
    candidate: RunRef
    rows: tuple[BenchmarkGate, ...]
    alpha: float
    strict: bool
    """Underpowered and inconclusive benchmarks fail (the default; False: only reported)."""
    parse_failure_margin: float
    new_benchmarks: tuple[str, ...] = ()
    """In the candidate only: not gated (nothing to compare with), listed for the record."""

    @property
    def verdict(self) -> Overall:
        if not self.rows or any(r.verdict == "missing" for r in self.rows):
            return "bad input"
        for worst in ("regression", "underpowered", "inconclusive"):
            if any(r.verdict == worst for r in self.rows):
                return worst
        return "pass"


def gate(baseline: RunDir, candidate: RunDir, cfg: GateConfig) -> GateReport:
    """Every benchmark in the baseline's results, gated against the candidate's."""
    names = [r.benchmark for r in baseline.results]
    rows = tuple(_gate_one(name, baseline, candidate, cfg) for name in names)
    return GateReport(
        baseline=_ref(baseline), candidate=_ref(candidate), rows=rows, alpha=cfg.alpha,
        strict=cfg.strict, parse_failure_margin=cfg.parse_failure_margin,
        new_benchmarks=tuple(r.benchmark for r in candidate.results if r.benchmark not in names),
    )


def exit_code(report: GateReport) -> int:
    """0 pass, 1 a regression (or, under ``strict``, the default, an underpowered or
    inconclusive benchmark), 2 bad input. Bad input wins over a regression: the comparison
    is not the one asked for, and must be fixed first."""
    if report.verdict == "bad input":
        return 2
    return 1 if any(r.failing(report.strict) for r in report.rows) else 0


def _ref(run: RunDir) -> RunRef:
    return RunRef(path=str(run.path), checkpoint=run.checkpoint, suite=run.suite,
                  complete=run.complete)


def _gate_one(name: str, baseline: RunDir, candidate: RunDir, cfg: GateConfig) -> BenchmarkGate:
    margin = cfg.margins.get(name, cfg.default_margin)

    def missing(note: str) -> BenchmarkGate:
        return BenchmarkGate(name, "missing", margin, 0, None, None, note)

    result = candidate.result(name)
    if result is None:
        return missing(f"not in the candidate run ({candidate.suite})")
    try:
        b_items, c_items = baseline.predictions(name), candidate.predictions(name)
    except ConfigError as err:
        return missing(str(err))
    pairs = pair_samples(b_items, c_items)
    if not pairs:
        return missing(f"no scored sample ids in common ({len(b_items)} baseline, "
                       f"{len(c_items)} candidate items): different data or suites?")
    metric = result.metric
    score = compare_pairs(metric, pairs, margin=margin, alpha=cfg.alpha,
                          n_boot=cfg.bootstrap_samples, seed=cfg.seed)
    parse = _parse_gate(pairs, cfg)
    return BenchmarkGate(name, _verdict(score, parse), margin, len(pairs), score, parse,
                         _note(name, baseline, candidate, len(b_items), len(pairs), metric))


def _parse_gate(pairs: Sequence[Pair], cfg: GateConfig
                ) -> ParseFailureGate:
    """McNemar on the "parsed" flags: a rise of the failure rate is a drop of the parsed rate."""
    parsed = compare([float(not b.score.parse_failed) for b, _ in pairs],
                     [float(not c.score.parse_failed) for _, c in pairs],
                     margin=cfg.parse_failure_margin, alpha=cfg.alpha, method="mcnemar")
    return ParseFailureGate(baseline_rate=100.0 - parsed.baseline,
                            candidate_rate=100.0 - parsed.candidate,
                            margin=cfg.parse_failure_margin, p_rise=parsed.p_regression,
                            failed=parsed.regression)


def _verdict(score: PairedComparison, parse: ParseFailureGate) -> Verdict:
    """A shown regression first; then too few items for the margin, whatever the interval
    says (at small n it is a normal approximation, and of zero width for identical runs);
    then an interval reaching past the margin."""
    if score.regression or parse.failed:
        return "regression"
    if score.margin < score.mde:
        return "underpowered"
    if score.ci_low < -score.margin:
        return "inconclusive"
    return "pass"


def _remedy(r: BenchmarkGate, strict: bool) -> str:
    """What would let this benchmark show non-inferiority: more items (the MDE falls with
    the square root of n; the count is at the spread seen here), a per-benchmark margin that
    covers the MDE (underpowered) or the interval's low end (inconclusive), or the opt-out."""
    assert r.score is not None
    s = r.score
    fixes = []
    if r.verdict == "underpowered":
        what, wider = "Enough power", math.ceil(s.mde)
        if r.margin > 0:  # no number of items shows a 0-point margin
            fixes.append(f"about {math.ceil(r.n * (s.mde / r.margin) ** 2):,} items at this "
                         "spread")
    else:
        what, wider = "A pass", math.ceil(-s.ci_low)
        fixes.append("more items")
    fixes.append(f"a margin of at least {wider} for it (gate.margins: {{{r.benchmark}: {wider}}} "
                 "in evals.yaml)")
    need = f"{what} needs " + ", or ".join(fixes)
    return need + ("; or set gate.strict: false to report it without failing." if strict else ".")


def _note(name: str, baseline: RunDir, candidate: RunDir, n_baseline: int, n_pairs: int,
          metric: MetricDefinition) -> str:
    notes = []
    if n_pairs < n_baseline:
        notes.append(f"{n_pairs} of {n_baseline} baseline items paired")
    b, c = baseline.result(name), candidate.result(name)
    if b and c and (b.mode, b.shots) != (c.mode, c.shots):
        notes.append(f"protocols differ: {b.mode.value} {b.shots}-shot vs "
                     f"{c.mode.value} {c.shots}-shot")
    if not metric.higher_is_better:
        notes.append("lower is better: values negated")
    if b and c and b.metric != c.metric:
        notes.append(f"metric definitions differ ({b.metric.name}, {b.metric.aggregation} vs "
                     f"{c.metric.name}, {c.metric.aggregation}): the candidate's is used")
    return "; ".join(notes)


# ---------------------------------------------------------------------------- rendering


def _num(x: float) -> str:
    return f"{x:.2f}"


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row_cells(r: BenchmarkGate) -> list[str]:
    s, pf = r.score, r.parse
    if s is None or pf is None:
        return [r.benchmark, r.verdict, "", "0", "", "", "", "", _num(r.margin), "", "",
                _cell(r.note)]
    parse = f"{pf.baseline_rate:.1f}% -> {pf.candidate_rate:.1f}% (p {_p(pf.p_rise)})"
    if pf.failed:
        parse += " FAILED"
    return [r.benchmark, r.verdict, s.method, str(r.n), _num(s.baseline), _num(s.candidate),
            f"{s.delta:+.2f} [{s.ci_low:+.2f}, {s.ci_high:+.2f}]", _p(s.p_regression),
            _num(r.margin), _num(s.mde), parse, _cell(r.note)]


HEADER = ("Benchmark", "Verdict", "Test", "n", "Baseline", "Candidate", "Delta [CI]",
          "p (drop > margin)", "Margin", "MDE", "Parse failures", "Note")


def _side(ref: RunRef) -> str:
    return f"`{ref.checkpoint.name}` ({ref.suite}{'' if ref.complete else ', incomplete run'})"


def _mode(report: GateReport) -> str:
    return ("strict (the default): underpowered and inconclusive benchmarks fail"
            if report.strict else
            "lenient (gate.strict: false): only shown regressions fail")


def to_markdown(report: GateReport) -> str:
    """A GitHub job summary: the verdict and exit code, the runs, one row per benchmark, and
    one line per benchmark that did not pass saying why (and what would let it pass).

    Long lines on purpose (a table row per benchmark): whoever prints this must not wrap it."""
    b, c = report.baseline, report.candidate
    lines = [
        f"## evals gate: {report.verdict.upper()} (exit {exit_code(report)})",
        "",
        f"Baseline {_side(b)} vs candidate {_side(c)}: paired per item, one-sided at alpha "
        f"{report.alpha:g}; {1 - 2 * report.alpha:.0%} intervals; MDE at 80% power; "
        f"extraction-failure margin {report.parse_failure_margin:g} points; {_mode(report)}.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    lines += ["| " + " | ".join(_row_cells(r)) + " |" for r in report.rows]
    not_passed = [r for r in report.rows if r.verdict != "pass"]
    if not_passed:
        lines += ["", "Why:", ""]
        lines += [f"- {_cell(r.explain(report.strict))}" for r in not_passed]
    if report.new_benchmarks:
        lines += ["", "Not gated (in the candidate only): " + ", ".join(report.new_benchmarks)
                  + "."]
    return "\n".join(lines) + "\n"


def _summary(r: BenchmarkGate) -> str:
    if r.score is None or r.parse is None:
        return f"{r.benchmark}: {r.verdict}: {r.note}"
    s, pf = r.score, r.parse
    return (f"{r.benchmark}: {r.verdict}: {s.method}, n={r.n}, {s.baseline:.2f} -> "
            f"{s.candidate:.2f}, delta {s.delta:+.2f} [{s.ci_low:+.2f}, {s.ci_high:+.2f}], "
            f"p(drop > {r.margin:g}) = {_p(s.p_regression)}, MDE {s.mde:.2f}; parse failures "
            f"{pf.baseline_rate:.1f}% -> {pf.candidate_rate:.1f}% (p {_p(pf.p_rise)})"
            + (f"; {r.note}" if r.note else ""))


def to_junit(report: GateReport) -> str:
    """JUnit XML for CI test reporters: a regression is a failure, a missing benchmark an
    error; an underpowered or inconclusive one a failure under ``strict`` (the default),
    skipped otherwise. Each message is the one-line why; the details go to system-out."""
    unshown = [r.verdict in UNSHOWN for r in report.rows]
    failures = sum(r.verdict == "regression" or (report.strict and u)
                   for r, u in zip(report.rows, unshown, strict=True))
    errors = sum(r.verdict == "missing" for r in report.rows)
    skipped = sum(not report.strict and u for u in unshown)
    counts = {"tests": str(len(report.rows)), "failures": str(failures),
              "errors": str(errors), "skipped": str(skipped), "time": "0"}
    root = ET.Element("testsuites", {"name": "evals", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": "evals-gate", **counts})
    props = ET.SubElement(suite, "properties")
    for side, ref in (("baseline", report.baseline), ("candidate", report.candidate)):
        ET.SubElement(props, "property", {"name": side, "value": ref.checkpoint.name})
        ET.SubElement(props, "property", {"name": f"{side}_run", "value": ref.path})
    ET.SubElement(props, "property", {"name": "mode", "value": _mode(report)})
    for r in report.rows:
        case = ET.SubElement(suite, "testcase",
                             {"classname": "evals-gate", "name": r.benchmark, "time": "0"})
        why, text = r.explain(report.strict), _summary(r)
        if r.verdict == "regression" or (report.strict and r.verdict in UNSHOWN):
            ET.SubElement(case, "failure", {"type": r.verdict, "message": why}).text = text
        elif r.verdict == "missing":
            ET.SubElement(case, "error", {"type": "missing", "message": why}).text = text
        elif r.verdict in UNSHOWN:
            ET.SubElement(case, "skipped", {"message": why})
        ET.SubElement(case, "system-out").text = f"{why}\n{text}"
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
