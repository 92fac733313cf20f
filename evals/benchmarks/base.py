"""What a benchmark is: a data mapping, prompts, answer extraction and a metric, in one module."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from evals.data_sources import DataSpec, layout_files
from evals.errors import DataError
from evals.records import (
    BenchmarkResult,
    GenerateRequest,
    GenerateResponse,
    MetricDefinition,
    MetricValue,
    Mode,
    ModelKind,
    Request,
    Response,
    Sample,
    SampleResult,
    Score,
)
from evals.registry import Registry

S = TypeVar("S", bound=Sample)
S_co = TypeVar("S_co", bound=Sample, covariant=True)
S_contra = TypeVar("S_contra", bound=Sample, contravariant=True)


@dataclass(frozen=True)
class BenchmarkContext:
    """Settings one benchmark runs with, resolved from the suite line and the model."""

    data_dir: Path
    kind: ModelKind
    mode: Mode
    shots: int
    limit: int | None = None
    max_tokens: int | None = None
    # Pairwise judged protocols: both answer orders, or one order drawn per sample from a
    # fixed seed (AlpacaEval's default). None = the benchmark's own default.
    judge_order: Literal["both", "random"] | None = None
    # What tests sized in the evaluated model's tokens need (needle in a haystack): its
    # local folder, its window, and the suite line's context lengths (None = the test's).
    model_path: str | None = None
    max_model_len: int | None = None
    lengths: tuple[int, ...] | None = None
    repeats: int | None = None


@dataclass(frozen=True)
class Metric:
    """A metric is one object: its name, direction, and aggregate with stderr.

    ``by_group`` reproduces OpenCompass summaries that average subsets naively (MMLU is the
    mean of its 57 subject accuracies, not the mean over all questions).
    """

    name: str
    higher_is_better: bool = True
    by_group: bool = False
    # Per-sample values are fractions shown as percentages; judge grades (1-10) keep their scale.
    scale: float = 100.0
    aggregation: ClassVar[str] = ""
    """How ``aggregate`` makes the number, for readers without this code (results.json);
    empty: the mean over items, or over groups of group means with ``by_group``."""
    pairwise: ClassVar[bool] = False
    """Per-item values are win shares against a reference answer."""

    def definition(self) -> MetricDefinition:
        default = "mean of group means" if self.by_group else "mean over items"
        return MetricDefinition(self.name, self.scale, self.higher_is_better, self.by_group,
                                self.aggregation or default, self.pairwise)

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        values = [r.score.value for r in results]
        if not self.by_group:
            value, se = mean_and_stderr(values)
        else:
            groups: dict[str, list[float]] = {}
            for r in results:
                groups.setdefault(r.group, []).append(r.score.value)
            stats = [mean_and_stderr(v) for v in groups.values()]
            value = sum(m for m, _ in stats) / len(stats)
            se = math.sqrt(sum(s * s for _, s in stats)) / len(stats)
        return MetricValue(self.name, self.scale * value, self.scale * se, self.higher_is_better)

    def secondary(
        self, results: Sequence[SampleResult], ctx: BenchmarkContext | None = None
    ) -> tuple[MetricValue, ...]:
        """Summary scores the report prints beside the primary one (L-Eval's Close/Open,
        LongBench's six categories); none by default. ``ctx`` gives corpus-level metrics
        their data (AlpacaEval's length-control reference frame)."""
        return ()


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float]:
    """lm-eval's ``mean`` and ``mean_stderr`` (sample standard deviation / sqrt(n))."""
    from lm_eval.api.metrics import mean, mean_stderr

    if not values:
        return 0.0, 0.0
    return float(mean(values)), float(mean_stderr(values)) if len(values) > 1 else 0.0


class Benchmark(Protocol[S]):
    """The contract every benchmark module fulfils; registered with ``@register``."""

    name: str
    modes: tuple[Mode, ...]
    default_shots: int
    metric: Metric

    def load(self, ctx: BenchmarkContext) -> list[S]:
        """All evaluation items, in a stable order; raise ``DataError`` if data is missing."""
        ...

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        """Files whose hashes go into the run manifest."""
        ...

    def requests(self, sample: S, ctx: BenchmarkContext) -> list[Request]: ...

    def score(self, sample: S, responses: Sequence[Response], ctx: BenchmarkContext) -> Score: ...

    def group(self, sample: S) -> str: ...


@runtime_checkable
class MultiTurn(Protocol[S_contra]):
    """A benchmark whose samples take several rounds of engine calls (MT-Bench's second turn
    sees the first answer). Each round is batched across all samples of the run."""

    def follow_up(
        self, sample: S_contra, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> list[Request]:
        """The next round's requests given every response so far; [] when the sample is done."""
        ...


@runtime_checkable
class Judged(Protocol[S_contra]):
    """A benchmark scored by a judge model: after the evaluated model has answered every
    sample (and has been unloaded), the judge answers ``judge_requests``; ``score_judged``
    turns its outputs into a Score carrying one ``Judgement`` per call."""

    def judge_requests(
        self, sample: S_contra, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> list[GenerateRequest]: ...

    def score_judged(
        self,
        sample: S_contra,
        responses: Sequence[Response],
        verdicts: Sequence[GenerateResponse],
        ctx: BenchmarkContext,
    ) -> Score: ...


@runtime_checkable
class OffersJudgeScorer(Protocol):
    """A rule-scored benchmark that can be scored by the judge model instead (a suite line's
    ``scorer: judge``); the judged twin has its own name so that both can share a run."""

    def with_judge(self) -> Benchmark[Any]: ...


@runtime_checkable
class WritesArtifacts(Protocol):
    """A benchmark that leaves files beside its predictions (needle heatmaps), written from
    the scored results so that they can be rebuilt from disk."""

    def write_artifacts(
        self, results: Sequence[SampleResult], ctx: BenchmarkContext, out_dir: Path
    ) -> None: ...


BENCHMARKS: Registry[Benchmark[Any]] = Registry("benchmark")


def register(cls: type[Any]) -> type[Any]:
    """Class decorator: instantiate and register under the class's ``name``."""
    BENCHMARKS.register(cls.name)(cls())
    return cls


def select(samples: Sequence[S], limit: int | None, seed: int = 1234) -> list[S]:
    """A fixed-seed random slice, so small limits cover every subject of a benchmark."""
    if limit is None or limit >= len(samples):
        return list(samples)
    idx = sorted(random.Random(seed).sample(range(len(samples)), limit))
    return [samples[i] for i in idx]


class Defaults:
    """What most benchmarks share, inherited instead of written out: no groups (one summary
    over all items), and the manifest hashes every file of the layout ``data`` locates."""

    data: ClassVar[DataSpec]

    def group(self, sample: Any) -> str:
        return ""

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return layout_files(self.data, ctx.data_dir)


def spec_of(benchmark: str) -> DataSpec | None:
    """The registered benchmark's ``DataSpec`` (None for a name without one)."""
    spec = getattr(BENCHMARKS.get(benchmark), "data", None)
    return spec if isinstance(spec, DataSpec) else None


def only_text(responses: Sequence[Response]) -> str:
    """The text of a sample's one generation: what most benchmarks score (one question per
    sample, asked by generation)."""
    (resp,) = responses
    if not isinstance(resp, GenerateResponse):
        raise TypeError(f"expected one generation, got {type(resp).__name__}")
    return resp.text


def summarize(
    benchmark: Benchmark[Any], ctx: BenchmarkContext, results: Sequence[SampleResult]
) -> BenchmarkResult:
    primary = benchmark.metric.aggregate(results)
    extras: dict[str, list[float]] = {}
    for r in results:
        for name, value in r.score.extras:
            extras.setdefault(name, []).append(value)
    secondary = list(benchmark.metric.secondary(results, ctx))
    reported = {m.name for m in secondary}
    for name, vals in extras.items():
        if name in reported:  # the metric aggregates this extra its own way (weighted, ...)
            continue
        m, se = mean_and_stderr(vals)
        secondary.append(MetricValue(name, 100 * m, 100 * se))
    groups: dict[str, list[float]] = {}
    for r in results:
        if r.score.weight > 0:  # weight 0: a judged sample with no readable verdict
            groups.setdefault(r.group, []).append(r.score.value)
    return BenchmarkResult(
        benchmark=benchmark.name,
        mode=ctx.mode,
        shots=ctx.shots,
        n=len(results),
        primary=primary,
        metric=benchmark.metric.definition(),
        secondary=tuple(secondary),
        parse_failures=sum(r.score.parse_failed for r in results),
        groups=tuple(
            (g, benchmark.metric.scale * sum(v) / len(v), len(v))
            for g, v in sorted(groups.items()) if g
        ),
    )


def load_local(benchmark: str, ctx: BenchmarkContext, spec: DataSpec,
               readers: Mapping[str, Callable[[Path], list[S]]]) -> list[S]:
    """The benchmark's items from the first of its layouts present under ``data_dir``, read
    by that layout's reader; ``MissingDataError`` (one line, with the fetch command) when none
    is. Never the network: ``evals data fetch`` gets the files beforehand."""
    layout, path = spec.require(benchmark, ctx.data_dir)
    return readers[layout.name](path)


def parquet_rows(root: Path, pattern: str) -> list[dict[str, Any]]:
    """The rows of every parquet file under ``root`` matching ``pattern`` (a hub dataset's
    ``<config>/<split>-*.parquet`` shards, as ``evals data fetch`` stores them), in file
    order: what ``datasets.load_dataset`` would give, without it."""
    import pyarrow.parquet as pq

    files = sorted(root.glob(pattern))
    if not files:
        raise DataError(f"{root}: no {pattern} files; fetch them again with `evals data fetch`")
    rows: list[dict[str, Any]] = []
    for f in files:
        rows += pq.read_table(f).to_pylist()
    return rows
