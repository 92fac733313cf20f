"""The report's figures as inline SVG: matplotlib on a bare ``Figure`` (no pyplot state, no
display), text kept as text so the figures stay small and searchable.

Several SVGs share one HTML document, so each figure's element ids are prefixed to keep
them unique (matplotlib numbers its clip paths and patches the same way in every figure).
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

from matplotlib import colormaps, rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.typing import ColorType, RcKeyType

from evals.results.report.model import Change, Column, Curve, Heatmap

_RC: dict[RcKeyType, Any] = {"svg.fonttype": "none", "svg.hashsalt": "evals-report", "font.size": 9,
       "font.family": "sans-serif"}
_CMAP = "RdBu"
MIN_RANGE = 0.05
"""Colour scale reaches at least +-5% of a metric's range, so that tiny changes stay pale."""
SIGNIFICANT = "*"
PROTOCOL = "≠"
"""The compared checkpoints ran the benchmark under different protocols (mode, shots)."""


def to_svg(fig: Figure, prefix: str) -> str:
    FigureCanvasSVG(fig)
    buf = io.StringIO()
    with rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                    bbox_inches="tight")
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", svg)
    return re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', svg)


def gain(change: Change, column: Column) -> float | None:
    """The change as a share of the metric's range, positive when it is an improvement."""
    if change.delta is None:
        return None
    sign = 1.0 if column.higher_is_better else -1.0
    return sign * change.delta / column.span


def heatmap_svg(heatmap: Heatmap) -> str:
    rows, cols = len(heatmap.columns), len(heatmap.checkpoints)
    gains = [gain(ch, col) for col, row in zip(heatmap.columns, heatmap.cells, strict=True)
             for ch in row if ch is not None]
    limit = max([MIN_RANGE, *(abs(g) for g in gains if g is not None)])
    norm = Normalize(-limit, limit)
    with rc_context(_RC):
        fig = Figure(figsize=(2.2 + 0.95 * cols, 1.2 + 0.38 * rows))
        ax = fig.add_subplot()
        palette = colormaps[_CMAP]
        for i, (col, row) in enumerate(zip(heatmap.columns, heatmap.cells, strict=True)):
            for j, ch in enumerate(row):
                _cell(ax, i, j, ch, palette(norm(g)) if ch is not None and (
                    g := gain(ch, col)) is not None else "#eeeeee")
        ax.set_xlim(0, cols)
        ax.set_ylim(rows, 0)
        ax.set_xticks([j + 0.5 for j in range(cols)],
                      [f"{n}\n(baseline)" if n == heatmap.baseline else n
                       for n in heatmap.checkpoints], rotation=30, ha="right")
        ax.set_yticks([i + 0.5 for i in range(rows)], [c.key for c in heatmap.columns])
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_title(f"Change against {heatmap.baseline} ({SIGNIFICANT} and bold border: paired "
                     f"test p < {heatmap.alpha:g})", fontsize=9)
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=palette), ax=ax, fraction=0.04,
                           pad=0.02)
        bar.set_label("change, % of the metric's range (+ = better)")
        bar.ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:+.0f}")
    return to_svg(fig, "heatmap")


def _cell(ax: Axes, i: int, j: int, change: Change | None, colour: ColorType) -> None:
    if change is None:
        ax.add_patch(Rectangle((j, i), 1, 1, facecolor="white", edgecolor="#dddddd"))
        ax.text(j + 0.5, i + 0.5, "-", ha="center", va="center", color="#999999")
        return
    bold = change.significant
    ax.add_patch(Rectangle((j, i), 1, 1, facecolor=colour,
                           edgecolor="black" if bold else "white",
                           linewidth=2.0 if bold else 0.5))
    label = f"{change.score:.1f}{SIGNIFICANT if bold else ''}{PROTOCOL if change.protocol else ''}"
    r, g, b, _ = to_rgba(colour)
    dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
    ax.text(j + 0.5, i + 0.5, label, ha="center", va="center",
            fontweight="bold" if bold else "normal", color="white" if dark else "black")


def curves_svg(curves: tuple[Curve, ...]) -> str:
    n = len(curves)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    with rc_context(_RC):
        fig = Figure(figsize=(3.2 * ncols, 2.5 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for k, ax in enumerate(axes.flat):
            if k >= n:
                ax.set_visible(False)
                continue
            _curve(ax, curves[k])
    return to_svg(fig, "curves")


def _curve(ax: Axes, curve: Curve) -> None:
    x = [p.tokens_seen / 1e9 for p in curve.points]
    y = [p.value for p in curve.points]
    lo = [p.value - 1.96 * p.stderr for p in curve.points]
    hi = [p.value + 1.96 * p.stderr for p in curve.points]
    ax.fill_between(x, lo, hi, alpha=0.25, color="#4c72b0", linewidth=0)
    ax.plot(x, y, marker="o", color="#4c72b0")
    if len(x) > 1 and min(x) > 0 and max(x) / min(x) > 100:
        ax.set_xscale("log")
    ax.set_title(curve.column.key)
    ax.set_xlabel("tokens seen (B)")
    ax.set_ylabel(curve.column.metric)
    ax.grid(alpha=0.3)
