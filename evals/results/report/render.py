"""The report as one self-contained HTML file: the jinja2 templates in ``reports/``, figures
inline as SVG, images as data URIs, samples as JSON read by a few lines of plain JS. No
CDN, no external asset: the file opens offline and can be attached to a CI run.

Autoescaping is on for everything; prompts and outputs reach the page either escaped by
jinja2 or as JSON made safe for a <script> element (``tojson`` escapes ``<``, ``>``, ``&``
and ``'``), and the JS writes them with ``textContent``, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from evals.config import REPO_ROOT
from evals.errors import ConfigError
from evals.records import JudgeUsage
from evals.results.report.figures import curves_svg, heatmap_svg
from evals.results.report.model import Column, Report, build_report
from evals.results.rundir import RunDir

TEMPLATES = REPO_ROOT / "reports"
TEMPLATE = "report.html.j2"


def _environment() -> Environment:
    if not (TEMPLATES / TEMPLATE).is_file():
        raise ConfigError(f"{TEMPLATES / TEMPLATE}: report template not found; run evals "
                          "from a checkout of the repository (the templates live in reports/)")
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["num"] = _num
    env.filters["tokens"] = _tokens
    env.filters["pvalue"] = _pvalue
    return env


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _tokens(value: int | None) -> str:
    if value is None:
        return ""
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(value)


def _pvalue(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def sample_data(report: Report) -> dict[str, Any]:
    """The sample browser's data: indices into checkpoint and column lists, and each
    distinct prompt once (checkpoints of one kind see the same prompts)."""
    checkpoints = [c.name for c in report.checkpoints]
    columns = [c.key for c in report.columns]
    prompts: dict[tuple[tuple[str, str], ...], int] = {}
    rows = []
    for s in report.samples:
        turns = tuple((t.role, t.content) for t in s.prompt)
        rows.append({
            "c": checkpoints.index(s.checkpoint), "b": columns.index(s.column),
            "id": s.sample_id, "g": s.group, "p": prompts.setdefault(turns, len(prompts)),
            "o": list(s.outputs), "x": s.extracted, "t": s.target, "s": round(s.value, 4),
            "pf": s.parse_failed, "f": s.failed, "u": s.unscored, "d": s.detail,
        })
    return {"checkpoints": checkpoints, "columns": columns,
            "prompts": [[list(t) for t in p] for p in prompts], "rows": rows,
            "sets": [{"c": s.checkpoint, "b": s.column, "shown": s.shown, "total": s.total}
                     for s in report.sample_sets]}


def groups(columns: Sequence[Column]) -> list[tuple[str, int]]:
    """Consecutive columns of one group (dimension or suite), for the header's spans."""
    out: list[tuple[str, int]] = []
    for c in columns:
        if out and out[-1][0] == c.group:
            out[-1] = (c.group, out[-1][1] + 1)
        else:
            out.append((c.group, 1))
    return out


def judge_cost(usage: JudgeUsage) -> str:
    return f"${usage.cost_usd:.2f}" if usage.cost_usd else "—"


def render_html(report: Report) -> str:
    env = _environment()
    return env.get_template(TEMPLATE).render(
        report=report,
        heatmap_svg=heatmap_svg(report.heatmap) if report.columns else "",
        curves_svg=curves_svg(report.curves) if report.curves else "",
        samples=sample_data(report),
        groups=groups(report.columns),
        judge_cost=judge_cost,
    )


def write_report(runs: list[RunDir], out: Path, **opts: Any) -> Path:
    """Build, render and write the report; ``opts`` go to :func:`build_report`."""
    html = render_html(build_report(runs, **opts))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
