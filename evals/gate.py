"""``evals gate``: may a candidate checkpoint replace its baseline?

Every benchmark of the baseline run is compared item by item with the candidate's answers to
the same items (paired by ``sample_id``), as a non-inferiority test: the candidate fails a
benchmark only when a drop beyond that benchmark's margin is *shown* at ``alpha``, so noise
never fails a CI job; a benchmark whose interval merely reaches past the margin is
"inconclusive" (failing only under ``strict``). The extraction-failure rate is gated the same
way, because a checkpoint that stops producing parseable answers is broken even where its
accuracy has not moved yet. The minimum detectable effect says, per benchmark, which margins
this many items can ever show: a margin below it is meaningless at this size.

What is tested is the mean of the per-item values (``Score.value``) over the paired items.
For benchmarks whose headline metric is a macro average (MMLU's subjects), a weighted mean
(GAOKAO) or a corpus statistic (BLEU), that mean is close to, not equal to, results.json's
number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree as ET

from evals.benchmarks.base import Metric
from evals.config import GateConfig
from evals.errors import ConfigError
from evals.paired import Pair, compare_pairs, metric_of, pair_samples
from evals.rundir import Checkpoint, RunDir
from evals.stats import Method, PairedComparison, compare

Verdict = Literal["pass", "regression", "inconclusive", "missing"]
Overall = Literal["pass", "regression", "inconclusive", "bad input"]

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
        return self.verdict in ("regression", "missing") or (
            strict and self.verdict == "inconclusive")


@dataclass(frozen=True)
class GateReport:
    baseline: RunRef
    candidate: RunRef
    rows: tuple[BenchmarkGate, ...]
    alpha: float
    strict: bool
    parse_failure_margin: float
    new_benchmarks: tuple[str, ...] = ()
    """In the candidate only: not gated (nothing to compare with), listed for the record."""

    @property
    def verdict(self) -> Overall:
        if not self.rows or any(r.verdict == "missing" for r in self.rows):
            return "bad input"
        if any(r.verdict == "regression" for r in self.rows):
            return "regression"
        if any(r.verdict == "inconclusive" for r in self.rows):
            return "inconclusive"
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
    """0 pass, 1 regression (or inconclusive under strict), 2 bad input. Bad input wins over
    a regression: the comparison is not the one asked for, and must be fixed first."""
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

    if candidate.result(name) is None:
        return missing(f"not in the candidate run ({candidate.suite})")
    try:
        b_items, c_items = baseline.predictions(name), candidate.predictions(name)
    except ConfigError as err:
        return missing(str(err))
    pairs = pair_samples(b_items, c_items)
    if not pairs:
        return missing(f"no scored sample ids in common ({len(b_items)} baseline, "
                       f"{len(c_items)} candidate items): different data or suites?")
    metric = metric_of(name)
    score = compare_pairs(name, pairs, margin=margin, alpha=cfg.alpha,
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
    if score.regression or parse.failed:
        return "regression"
    if score.ci_low < -score.margin:
        return "inconclusive"
    return "pass"


def _note(name: str, baseline: RunDir, candidate: RunDir, n_baseline: int, n_pairs: int,
          metric: Metric) -> str:
    notes = []
    if n_pairs < n_baseline:
        notes.append(f"{n_pairs} of {n_baseline} baseline items paired")
    b, c = baseline.result(name), candidate.result(name)
    if b and c and (b.mode, b.shots) != (c.mode, c.shots):
        notes.append(f"protocols differ: {b.mode.value} {b.shots}-shot vs "
                     f"{c.mode.value} {c.shots}-shot")
    if not metric.higher_is_better:
        notes.append("lower is better: values negated")
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


def to_markdown(report: GateReport) -> str:
    """A GitHub job summary: the verdict, the runs, one row per benchmark, and which margins
    are below what this many items can detect."""
    b, c = report.baseline, report.candidate
    lines = [
        f"## evals gate: {report.verdict.upper()}",
        "",
        f"Baseline {_side(b)} vs candidate {_side(c)}: paired per item, one-sided at alpha {report.alpha:g}; "
        f"{1 - 2 * report.alpha:.0%} intervals; extraction-failure margin "
        f"{report.parse_failure_margin:g} points" + ("; strict" if report.strict else "") + ".",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    lines += ["| " + " | ".join(_row_cells(r)) + " |" for r in report.rows]
    low = [r for r in report.rows if r.margin_below_mde]
    if low:
        lines += ["", "Margins below the minimum detectable effect (MDE, 80% power), "
                  "meaningless at this n: " + ", ".join(
                      f"{r.benchmark} (margin {r.margin:g} < MDE {r.score.mde:.2f})"
                      for r in low if r.score) + "."]
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
    error, an inconclusive one skipped (a failure under strict)."""
    failures = sum(r.verdict == "regression" or (report.strict and r.verdict == "inconclusive")
                   for r in report.rows)
    errors = sum(r.verdict == "missing" for r in report.rows)
    skipped = sum(not report.strict and r.verdict == "inconclusive" for r in report.rows)
    counts = {"tests": str(len(report.rows)), "failures": str(failures),
              "errors": str(errors), "skipped": str(skipped), "time": "0"}
    root = ET.Element("testsuites", {"name": "evals", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": "evals-gate", **counts})
    props = ET.SubElement(suite, "properties")
    for side, ref in (("baseline", report.baseline), ("candidate", report.candidate)):
        ET.SubElement(props, "property", {"name": side, "value": ref.checkpoint.name})
        ET.SubElement(props, "property", {"name": f"{side}_run", "value": ref.path})
    for r in report.rows:
        case = ET.SubElement(suite, "testcase",
                             {"classname": "evals-gate", "name": r.benchmark, "time": "0"})
        text = _summary(r)
        if r.verdict == "regression":
            ET.SubElement(case, "failure", {"type": "regression", "message": text}).text = text
        elif r.verdict == "missing":
            ET.SubElement(case, "error", {"type": "missing", "message": text}).text = text
        elif r.verdict == "inconclusive" and report.strict:
            ET.SubElement(case, "failure", {"type": "inconclusive", "message": text}).text = text
        elif r.verdict == "inconclusive":
            ET.SubElement(case, "skipped", {"message": text})
        ET.SubElement(case, "system-out").text = text
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
