"""Whether a run directory is current: complete, and made by the plan a run would make now.

A status flag alone cannot say so: a suite gains a benchmark, a limit rises, a data file or
a prompt changes, the checkpoint's files are rewritten, and the old run still says
``complete``. ``evals run --all`` and ``evals watch`` re-plan every (checkpoint, suite)
without loading the model and compare the plan's identity (each benchmark's settings,
samples, prompts, scoring code and data hashes; the checkpoint and runner identity) with
the manifest that made the run; what differs is re-run (answers already in the cache cost
nothing) and named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.backends.base import BackendSpec, load_identity
from evals.config import EvalsConfig, ModelSpec, SuiteSpec
from evals.run.manifest import plan_identity
from evals.run.runner import PlannedSuite, plan_model

FIELDS = ("mode", "shots", "limit", "n", "prompt_hash", "sampling", "version",
          "extractor_hash", "data_files")
LABELS = {"prompt_hash": "prompts", "extractor_hash": "scoring code",
          "data_files": "data files", "sampling": "generation settings"}


@dataclass(frozen=True)
class Freshness:
    """One (checkpoint, suite): why it must run, empty when its run is current."""

    suite: SuiteSpec
    run_dir: Path
    reasons: tuple[str, ...]

    @property
    def current(self) -> bool:
        return not self.reasons


def freshness(config: EvalsConfig, config_dir: Path, model: ModelSpec,
              suites: Sequence[SuiteSpec], limit: int | None = None,
              max_tokens: int | None = None) -> list[Freshness]:
    """Every suite's freshness for this checkpoint, from a plan (data and tokenizer only)."""
    model_path, plans = plan_model(config, config_dir, model, suites, limit, max_tokens)
    identity = load_identity(BackendSpec(model, model_path, config.runner))
    return [Freshness(p.suite, p.run_dir, tuple(_reasons(p, identity))) for p in plans]


def _reasons(plan: PlannedSuite, identity: str) -> list[str]:
    manifest = _manifest(plan.run_dir)
    if manifest is None:
        return ["not run yet"]
    status = str(manifest.get("status", "?"))
    if status != "complete":
        return [f"last run {status}"]
    out = []
    if manifest.get("load_identity") != identity:
        out.append("checkpoint files or runner settings changed"
                   if manifest.get("load_identity") else "made before runs recorded their "
                   "checkpoint identity")
    planned = json.loads(json.dumps(plan_identity(plan), default=str))  # as written to disk
    out += compare(manifest.get("benchmarks", {}), planned)
    was = {s.get("benchmark") for s in manifest.get("skipped", [])}
    now = {s.benchmark for s in plan.skipped}
    out += [f"{b}: data now present" for b in sorted(was - now) if b not in
            manifest.get("benchmarks", {})]
    return out


def compare(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
            ) -> list[str]:
    """What changed between two plans' benchmark identities, one phrase per benchmark."""
    out = [f"{b}: added" for b in new if b not in old]
    out += [f"{b}: removed" for b in old if b not in new]
    for name in (b for b in new if b in old):
        changes = [_change(f, old[name].get(f), new[name].get(f)) for f in FIELDS
                   if old[name].get(f) != new[name].get(f)]
        if changes:
            out.append(f"{name}: {', '.join(changes)}")
    return out


def _change(field: str, before: Any, after: Any) -> str:
    if field in LABELS:
        return f"{LABELS[field]} changed"
    if field == "version":
        return f"protocol version {before or 'not recorded'}→{after}"
    return f"{field} {_show(before)}→{_show(after)}"


def _show(value: Any) -> str:
    return "full set" if value is None else str(value)


def _manifest(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "manifest.json"
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data
