"""Pairing two runs' predictions of one benchmark and testing the change: the one place the
gate and the report's heatmap and stage deltas get their comparisons from, so that both
always agree on which items count and which test applies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from evals.records import MetricDefinition, SampleResult
from evals.results.stats import PairedComparison, choose_method, compare

PAIRWISE_LABELS = frozenset({"AB", "BA"})
"""Judgements in both answer orders: per-item values are win shares against a reference."""

Pair = tuple[SampleResult, SampleResult]


def pair_samples(baseline: Sequence[SampleResult], candidate: Sequence[SampleResult]
                 ) -> list[Pair]:
    """The items both runs scored, in the baseline's order. Weight-0 samples (a judge
    verdict that could not be read) carry no score and are left out."""
    scored = {r.sample_id: r for r in candidate if r.score.weight > 0}
    return [(r, scored[r.sample_id]) for r in baseline
            if r.score.weight > 0 and r.sample_id in scored]


def is_pairwise(metric: MetricDefinition, samples: Iterable[SampleResult] = ()) -> bool:
    """A win rate against a reference (by its definition, or answers judged in both orders);
    per-item values are then compared by signs."""
    return metric.pairwise or any(j.label in PAIRWISE_LABELS for s in samples
                                  for j in s.score.judgements)


def compare_pairs(metric: MetricDefinition, pairs: Sequence[Pair], *, margin: float = 0.0,
                  alpha: float = 0.05, n_boot: int = 10_000, seed: int = 0) -> PairedComparison:
    """Candidate minus baseline on the metric's scale (its definition as results.json
    records it); a lower-is-better metric is negated so that a drop is always the bad
    direction."""
    sign = 1.0 if metric.higher_is_better else -1.0
    b = [sign * x.score.value for x, _ in pairs]
    c = [sign * y.score.value for _, y in pairs]
    method = choose_method(b, c, pairwise=is_pairwise(metric, (x for x, _ in pairs)))
    return compare(b, c, margin=margin, alpha=alpha, scale=metric.scale, method=method,
                   n_boot=n_boot, seed=seed)
