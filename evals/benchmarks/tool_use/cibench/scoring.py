"""CIBench's scores: ``CIBenchEvaluator.single_exp`` per step, OpenCompass's summary
over modules."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from evals.benchmarks._metrics import rouge1
from evals.benchmarks.base import BenchmarkContext, Metric
from evals.benchmarks.tool_use.cibench.data import not_scorable_counts
from evals.benchmarks.tool_use.cibench.react import Turn
from evals.records import MetricValue, SampleResult

TEMPLATE_WEIGHTS: dict[str, tuple[int, int, int, int]] = {
    "lightgbm": (30, 15, 0, 0), "matplotlib": (42, 0, 0, 36), "nltk": (70, 30, 20, 10),
    "opencv": (60, 10, 0, 40), "pandas": (60, 40, 0, 10), "pytorch": (28, 0, 0, 0),
    "scipy": (60, 40, 0, 0), "seaborn": (42, 0, 0, 35), "sklearn": (42, 6, 0, 18),
    "tensorflow": (36, 6, 0, 12),
}
"""OpenCompass's ``_cibench_template_weight``: per module, the step counts weighting
(tool_rate and executable, numeric_correct, text_score, vis_sim)."""
METRICS = {"exec": "executable", "general": "general_correct", "num": "numeric_correct",
           "text": "text_score", "vis": "vis_sim"}
WEIGHT_INDEX = {"tool_rate": 0, "executable": 0, "general_correct": 0, "numeric_correct": 1,
                "text_score": 2, "vis_sim": 3}
PRIMARY = ("executable", "numeric_correct", "text_score", "vis_sim")
_IMAGE_LINK = re.compile(r"!\[fig-[0-9]*\]\((.*?)\)", re.S)
_EXEC_BLOCK = re.compile(r"execute_result:\n\n```\n(.*?)\n```", re.S)
_STDOUT_BLOCK = re.compile(r"stdout:\n\n```\n(.*?)\n```", re.S)
_ANY_BLOCK = re.compile(r"```\n(.*?)\n```", re.S)

def ssim(pred_png: str, gold_png: str) -> float:
    """``sklearn_ssim``: the prediction resized to the gold's size, both uint8, SSIM over
    channels."""
    import imageio.v3 as iio
    import numpy as np
    from skimage.metrics import structural_similarity
    from skimage.transform import resize

    gold = iio.imread(io.BytesIO(base64.b64decode(gold_png)))
    pred = iio.imread(io.BytesIO(base64.b64decode(pred_png)))
    pred = (255 * resize(pred, gold.shape[:2])).astype(np.uint8)  # type: ignore[no-untyped-call]
    return float(structural_similarity(pred, gold, channel_axis=-1))  # type: ignore[no-untyped-call]


def step_score(tag: str, step: Sequence[Turn], gold: str | None) -> float:
    """``correct_step`` / ``text_step`` / ``vis_similarity_step`` on the step's last call that
    returned a result (only a successful call does)."""
    for turn in reversed(step):
        if turn.action.kind != "ipython" or not turn.success or turn.cell is None:
            continue
        try:
            if tag in ("num", "general"):
                match = _EXEC_BLOCK.search(turn.response) or _STDOUT_BLOCK.search(turn.response)
                if match:
                    if gold is None:
                        return 0.0
                    out, target = match.group(1).strip(), gold.strip()
                    return float(out == target or target in out)
            elif tag == "text":
                match = _ANY_BLOCK.search(turn.response)
                if match:
                    return rouge1(match.group(1), gold) if gold is not None else 0.0
            elif tag == "vis":
                link = _IMAGE_LINK.search(turn.response)
                if link is None or gold is None:
                    return 0.0
                index = int(re.sub(r"\D", "", link.group(1)) or 0) - 1
                return ssim(turn.cell.images[index], gold)
        except Exception:  # OpenCompass scores any failure of the comparison as 0
            return 0.0
    return 0.0


# ---------------------------------------------------------------- the benchmark


@dataclass(frozen=True)
class CIBenchMetric(Metric):
    """OpenCompass's CIBench summary; see the module docstring."""

    aggregation = "OpenCompass's CIBench summary over its metrics"

    subset: str = ""

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        scored = [r for r in results if r.score.weight > 0]
        values = [v for name in PRIMARY if (v := _weighted(scored, name)) is not None]
        mean = sum(values) / len(values) if values else 0.0
        per_task = [r.score.value for r in scored]
        se = 0.0
        if len(per_task) > 1:
            m = sum(per_task) / len(per_task)
            var = sum((v - m) ** 2 for v in per_task) / (len(per_task) - 1)
            se = (var / len(per_task)) ** 0.5
        return MetricValue(self.name, self.scale * mean, self.scale * se, True)

    def secondary(self, results: Sequence[SampleResult],
                  ctx: BenchmarkContext | None = None) -> tuple[MetricValue, ...]:
        scored = [r for r in results if r.score.weight > 0]
        out = []
        for name in ("tool_rate", *PRIMARY, "general_correct"):
            value = _weighted(scored, name)
            if value is not None:
                out.append(MetricValue(name, 100 * value, 0.0))
            steps = sum(dict(r.score.extras).get(f"{name}_steps", 0.0) for r in scored)
            out.append(MetricValue(f"{name}_steps", steps, 0.0))
        failing = len(results) - len(scored)
        static = not_scorable_counts(ctx.data_dir, self.subset) if ctx is not None else {}
        out.append(MetricValue("not_scorable", float(static.get("tasks", 0) + failing), 0.0,
                               False))
        out.append(MetricValue("not_scorable_reference_fails", float(failing), 0.0, False))
        for reason in ("missing_files", "missing_packages", "nltk_data"):
            if reason in static:
                out.append(MetricValue(f"not_scorable_{reason}", float(static[reason]), 0.0,
                                       False))
        return tuple(out)


def _weighted(results: Sequence[SampleResult], name: str) -> float | None:
    """Per module, the step-weighted mean of the tasks' means; across modules, OpenCompass's
    weights (a module it does not list weighs its step count)."""
    modules: dict[str, list[float]] = {}
    for r in results:
        extras = dict(r.score.extras)
        n = extras.get(f"{name}_steps", 0.0)
        if n:
            acc = modules.setdefault(r.group, [0.0, 0.0])
            acc[0] += extras[name] * n
            acc[1] += n
    total = weight_sum = 0.0
    for module, (s, n) in modules.items():
        weights = TEMPLATE_WEIGHTS.get(module)
        w = float(weights[WEIGHT_INDEX[name]]) if weights else n
        total += w * s / n
        weight_sum += w
    return total / weight_sum if weight_sum else None
