"""Reading ``results.json`` files of schema 1, which carried no metric definitions.

Schema 1's readers took each benchmark's definition from its registered code (a name not
registered, such as a judged twin, got a percentage metric). The definitions of that
version are kept here as data, so an old run directory is read as it was written without
importing any benchmark code; new files carry their own (``RESULTS_SCHEMA``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from evals.records import MetricDefinition, MetricValue

V1_METRICS: dict[str, dict[str, Any]] = {
    "agieval": dict(by_group=True),
    "alignbench": dict(scale=1.0, aggregation="mean of 中文推理 and 中文语言, each a mean of "
                       "category means"),
    "alpaca_eval": dict(aggregation="win rate over readable verdicts, ties half", pairwise=True),
    "ancestral_trace_en": dict(aggregation="mean over items with a readable verdict"),
    "bbh": dict(by_group=True),
    "ceval": dict(by_group=True),
    "cibench_en": dict(aggregation="OpenCompass's CIBench summary over its metrics"),
    "cibench_zh": dict(aggregation="OpenCompass's CIBench summary over its metrics"),
    "cmmlu": dict(by_group=True),
    "compass_arena": dict(aggregation="pooled win rate over readable judgements, ties half",
                          pairwise=True),
    "flores": dict(aggregation="corpus BLEU per direction, mean over directions"),
    "gaokao": dict(aggregation="weighted mean of subset point ratios"),
    "humaneval_x": dict(by_group=True),
    "ifeval": dict(aggregation="mean of the four corpus-level accuracies"),
    "leval": dict(aggregation="mean over tasks (ROUGE tasks: bootstrap mid)"),
    "longbench": dict(aggregation="mean over categories of means over subtasks"),
    "mathbench": dict(by_group=True),
    "mathbench_react": dict(by_group=True),
    "mmlu": dict(by_group=True),
    "mt_bench": dict(scale=1.0, aggregation="mean of readable judge grades"),
    "multi_reasoning_en": dict(aggregation="mean over items with a readable verdict"),
    "multi_retrieval_en": dict(aggregation="mean over items with a readable verdict"),
    "single_needle_en": dict(aggregation="mean over items with a readable verdict"),
    "single_needle_zh": dict(aggregation="mean over items with a readable verdict"),
    "teval_en": dict(aggregation="T-Eval overall: mean of its subset metrics"),
    "teval_zh": dict(aggregation="T-Eval overall: mean of its subset metrics"),
}
"""Schema 1's definitions where they differ from a mean over items on a percentage scale."""


def v1_metric(benchmark: str, primary: MetricValue) -> MetricDefinition:
    kw = V1_METRICS.get(benchmark, {})
    aggregation = "mean of group means" if kw.get("by_group") else "mean over items"
    return MetricDefinition(primary.name, **{"aggregation": aggregation, **kw})


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 benchmark line with its definition added (as schema 2 writes it)."""
    return {**data, "metric": asdict(v1_metric(data["benchmark"],
                                                MetricValue(**data["primary"])))}
