"""Length x depth heatmaps and the "effective context length" of a needle test.

Figures are drawn on a bare ``Figure`` with the Agg canvas (the Agg backend; no pyplot state, no display), in
OpenCompass's NeedleBench colours (red 0 -> yellow -> green 100).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

#: Default pass mark for :func:`effective_length`. NeedleBench scores are 0-100 and a keyword
#: hit is worth 100, so 80 means "at least 4 in 5 needles found" along a whole length row.
DEFAULT_THRESHOLD = 80.0

_CMAP = LinearSegmentedColormap.from_list("needlebench", ["#F0496E", "#EBB839", "#0CD79F"])


@dataclass(frozen=True)
class CellRecord:
    """One scored sample of a needle test: where the needle was and what it scored (0-100)."""

    length: int
    depth: float
    score: float
    repeat: int = 0


@dataclass(frozen=True)
class Cell:
    length: int
    depth: float
    mean: float
    n: int


@dataclass(frozen=True)
class Grid:
    """Cell means on sorted axes; ``cells[d][l]`` is None where nothing was run."""

    lengths: tuple[int, ...]
    depths: tuple[float, ...]
    cells: tuple[tuple[Cell | None, ...], ...]


@dataclass(frozen=True)
class LengthMean:
    length: int
    mean: float  # mean of the cell means over depths, so each depth weighs the same
    n: int


@dataclass(frozen=True)
class EffectiveLength:
    """Longest length up to which every row mean is >= ``threshold``; None if the first fails."""

    threshold: float
    length: int | None
    by_length: tuple[LengthMean, ...]


def build_grid(records: Sequence[CellRecord]) -> Grid:
    if not records:
        raise ValueError("no needle records to summarise")
    groups: dict[tuple[int, float], list[float]] = defaultdict(list)
    for r in records:
        groups[(r.length, r.depth)].append(r.score)
    lengths = tuple(sorted({r.length for r in records}))
    depths = tuple(sorted({r.depth for r in records}))

    def cell(length: int, depth: float) -> Cell | None:
        scores = groups.get((length, depth))
        return Cell(length, depth, statistics.fmean(scores), len(scores)) if scores else None

    return Grid(lengths, depths, tuple(tuple(cell(ln, d) for ln in lengths) for d in depths))


def length_means(grid: Grid) -> tuple[LengthMean, ...]:
    out = []
    for i, length in enumerate(grid.lengths):
        cells = [c for row in grid.cells if (c := row[i]) is not None]
        out.append(LengthMean(length, statistics.fmean(c.mean for c in cells), sum(c.n for c in cells)))
    return tuple(out)


def effective_length(records: Sequence[CellRecord], threshold: float = DEFAULT_THRESHOLD) -> EffectiveLength:
    """Scan lengths upwards and stop at the first row whose mean falls below ``threshold``."""
    by_length = length_means(build_grid(records))
    best: int | None = None
    for row in by_length:
        if row.mean < threshold:
            break
        best = row.length
    return EffectiveLength(threshold, best, by_length)


def _label(length: int) -> str:
    return f"{length // 1000}k" if length >= 1000 and length % 1000 == 0 else str(length)


def draw(grid: Grid, title: str) -> Figure:
    """One annotated heatmap: x = context length, y = depth %, colour = mean score 0-100."""
    values = [[c.mean if c else float("nan") for c in row] for row in grid.cells]
    width, height = max(6.0, 0.9 * len(grid.lengths) + 2), max(4.0, 0.42 * len(grid.depths) + 1.5)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap=_CMAP, vmin=0, vmax=100, aspect="auto")
    for y, row in enumerate(grid.cells):
        for x, c in enumerate(row):
            if c is not None:
                # one line per cell: a second line doubles the text-rendering time
                ax.text(x, y, f"{c.mean:.0f} n={c.n}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(grid.lengths)), [_label(ln) for ln in grid.lengths])
    ax.set_yticks(range(len(grid.depths)), [f"{d:g}" for d in grid.depths])
    ax.set_xlabel("Context length (tokens)")
    ax.set_ylabel("Depth (%)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="Mean score")
    # margins in inches (room for the tick and axis labels); tight_layout costs a full draw
    fig.subplots_adjust(left=0.8 / width, right=1 - 0.3 / width, bottom=0.6 / height,
                        top=1 - 0.4 / height)
    return fig


def save_heatmap(
    records: Sequence[CellRecord], out_dir: Path, name: str, title: str | None = None
) -> tuple[Path, Path]:
    """Write ``<name>.png`` and ``<name>.svg`` into ``out_dir`` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig = draw(build_grid(records), title or name)
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    fig.savefig(png, dpi=100)
    with rc_context({"svg.fonttype": "none"}):  # text stays text: smaller and ~3x faster than glyph paths
        fig.savefig(svg)
    return png, svg
