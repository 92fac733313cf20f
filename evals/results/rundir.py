"""Reading finished run directories: the one entry point for reports, tables, gates and the
results index, which all work from disk and never from a live run.

A run directory is ``<output_dir>/<model>/<suite>/`` with ``manifest.json`` (what ran, on
what), ``results.json`` (scores) and ``predictions/<benchmark>.jsonl`` (one SampleResult per
line).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from evals.errors import ConfigError
from evals.records import (
    RESULTS_SCHEMA,
    SCHEMA_VERSION,
    BenchmarkResult,
    DimensionScore,
    ModelKind,
    SampleResult,
    SkippedBenchmark,
)
from evals.results.legacy import upgrade_v1

STAGES = ("pretrain", "base", "sft", "rlhf")


def training_order(stage: str, step: int | None, tokens_seen: int | None,
                   name: str) -> tuple[int, bool, int, bool, int, str]:
    """Stage, then step, then tokens seen (unknown last), then name: the order every table,
    curve and index listing shows checkpoints in."""
    rank = STAGES.index(stage) if stage in STAGES else len(STAGES)
    return (rank, step is None, step or 0, tokens_seen is None, tokens_seen or 0, name)


@dataclass(frozen=True)
class Checkpoint:
    """Who was evaluated: the model entry of the manifest (a training run's checkpoint)."""

    name: str
    path: str
    kind: ModelKind
    stage: str
    step: int | None
    tokens_seen: int | None

    @property
    def order(self) -> tuple[int, bool, int, bool, int, str]:
        return training_order(self.stage, self.step, self.tokens_seen, self.name)


class RunDir:
    """A finished (or partly finished) run directory, read lazily."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not (self.path / "manifest.json").is_file():
            raise ConfigError(f"{self.path}: no manifest.json; give a run directory "
                              "(<output_dir>/<model>/<suite>), as printed by 'evals run'")

    def __repr__(self) -> str:
        return f"RunDir({self.path})"

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return _read_json(self.path / "manifest.json")

    @property
    def complete(self) -> bool:
        return self.manifest.get("status") == "complete" and (self.path / "results.json").is_file()

    @cached_property
    def checkpoint(self) -> Checkpoint:
        m = self.manifest.get("model", {})
        return Checkpoint(name=str(m.get("name", self.path.parent.name)),
                          path=str(m.get("path", "")), kind=ModelKind(m.get("kind", "chat")),
                          stage=str(m.get("stage", "base")), step=m.get("step"),
                          tokens_seen=m.get("tokens_seen"))

    @property
    def suite(self) -> str:
        return str(self.manifest.get("suite", {}).get("name", self.path.name))

    @cached_property
    def _results(self) -> dict[str, Any]:
        path = self.path / "results.json"
        if not path.is_file():
            raise ConfigError(f"{path}: not found; the run has not finished a benchmark yet "
                              f"(resume it with 'evals run')")
        return _read_json(path, (RESULTS_SCHEMA, 1))

    @cached_property
    def results(self) -> tuple[BenchmarkResult, ...]:
        """Each benchmark's scores with its metric definition (schema 1: that version's)."""
        old = self._results.get("schema") == 1
        return tuple(BenchmarkResult.from_json(upgrade_v1(b) if old else b)
                     for b in self._results["benchmarks"])

    @cached_property
    def dimensions(self) -> tuple[DimensionScore, ...]:
        return tuple(DimensionScore.from_json(d) for d in self._results.get("dimensions", []))

    @cached_property
    def skipped(self) -> tuple[SkippedBenchmark, ...]:
        """Benchmarks of the suite that did not run (data missing, ``--skip-missing``)."""
        raw = self._results.get("skipped") if (self.path / "results.json").is_file() else None
        return tuple(SkippedBenchmark.from_json(s)
                     for s in (raw or self.manifest.get("skipped", [])))

    def result(self, benchmark: str) -> BenchmarkResult | None:
        return next((r for r in self.results if r.benchmark == benchmark), None)

    def predictions(self, benchmark: str) -> list[SampleResult]:
        path = self.path / "predictions" / f"{benchmark}.jsonl"
        if not path.is_file():
            raise ConfigError(f"{path}: not found; the run directory lacks {benchmark}'s "
                              "predictions")
        return list(_iter_samples(path))


def _iter_samples(path: Path) -> Iterator[SampleResult]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield SampleResult.from_json(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ConfigError(f"{path}:{n}: not a prediction line ({err})") from None


def _read_json(path: Path, schemas: tuple[int, ...] = (SCHEMA_VERSION,)) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: unreadable ({err}); re-run the suite to rewrite it") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    if data.get("schema") not in schemas:
        raise ConfigError(f"{path}: schema {data.get('schema')} (this evals reads "
                          f"{' or '.join(map(str, schemas))}); re-run with this version")
    return data


def find_runs(roots: list[Path]) -> list[RunDir]:
    """Every run directory at or below ``roots`` (a run dir itself, a model folder, or a
    whole output_dir), in path order."""
    found: dict[Path, RunDir] = {}
    for root in roots:
        if not root.exists():
            raise ConfigError(f"{root}: no such directory")
        candidates = [root / "manifest.json"] if (root / "manifest.json").is_file() else sorted(
            root.rglob("manifest.json"))
        for m in candidates:
            if ".cache" not in m.parts:
                found.setdefault(m.parent.resolve(), RunDir(m.parent))
    if not found:
        raise ConfigError(f"{', '.join(map(str, roots))}: no run directories (manifest.json) "
                          "found; run 'evals run' first")
    return [found[k] for k in sorted(found)]
