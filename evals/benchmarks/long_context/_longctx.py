"""Pieces L-Eval and LongBench share: OpenCompass template filling, naive nested averages."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from evals.benchmarks.base import mean_and_stderr
from evals.records import MetricValue, SampleResult


def fill(template: str, fields: Sequence[tuple[str, str]]) -> str:
    """OpenCompass ``safe_format``: ``{name}`` replaced field by field, in the reader's column
    order, with plain string replacement (code contexts carry braces that ``str.format`` would
    choke on)."""
    for name, value in fields:
        template = template.replace("{" + name + "}", value)
    return template


def group_stats(results: Sequence[SampleResult]) -> dict[str, tuple[float, float]]:
    """Mean and stderr of the per-sample values of each group (task)."""
    values: dict[str, list[float]] = {}
    for r in results:
        values.setdefault(r.group, []).append(r.score.value)
    return {g: mean_and_stderr(v) for g, v in values.items()}


def naive_mean(stats: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """OpenCompass summary groups: the plain mean of the members' scores; the stderr of that
    mean, members taken as independent."""
    if not stats:
        return 0.0, 0.0
    n = len(stats)
    return sum(m for m, _ in stats) / n, math.sqrt(sum(s * s for _, s in stats)) / n


def category_values(
    tasks: Mapping[str, tuple[float, float]], categories: Mapping[str, Sequence[str]]
) -> dict[str, tuple[float, float]]:
    """Each category's naive mean over its tasks that were run (categories with none are left
    out, so a partial run never reports a category it did not evaluate)."""
    out = {}
    for name, members in categories.items():
        present = [tasks[m] for m in members if m in tasks]
        if present:
            out[name] = naive_mean(present)
    return out


def as_metric(name: str, stat: tuple[float, float]) -> MetricValue:
    return MetricValue(name, 100 * stat[0], 100 * stat[1])
