"""``evals diff RUN_A RUN_B``: what differs between two runs, the first question when a
score moves. Everything compared comes from the two manifests (data hashes, prompt hashes,
chat template, tokenizer, backend and runner settings, sampling, judge, each benchmark's
protocol version and the code of every module it uses, package versions) beside the score
changes from results.json.

Bookkeeping that differs on every run (timestamps, host, wall time, engine counters) is
left out, so an empty list of differences means the two runs asked the same questions of
the same model the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from evals.results.rundir import RunDir

NOT_RECORDED = "(not recorded)"
# Run-level manifest fields, by what they answer; nested dicts are compared key by key.
RUN_FIELDS = ("model_path", "model_fingerprint", "tokenizer", "chat_template", "backend",
              "runner", "judge", "versions", "git_commit", "python")
BENCH_FIELDS = ("mode", "shots", "limit", "n", "prompt_hash", "sampling", "version",
                "extractor_hash", "code", "data_files")
"""``version`` is the benchmark's declared protocol version, ``extractor_hash`` one hash over
its code and ``code`` that code module by module, so a changed shared helper is named."""
IGNORED_JUDGE_KEYS = ("engine",)  # counters, not identity


@dataclass(frozen=True)
class Difference:
    """One field that differs; ``scope`` is "run" or a benchmark name."""

    scope: str
    field: str
    a: str
    b: str


@dataclass(frozen=True)
class ScoreChange:
    benchmark: str
    metric: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class RunDiff:
    a: RunDir
    b: RunDir
    differences: tuple[Difference, ...]
    scores: tuple[ScoreChange, ...]


def diff_runs(a: RunDir, b: RunDir) -> RunDiff:
    diffs = _compare("run", _run_fields(a.manifest), _run_fields(b.manifest))
    bench_a = a.manifest.get("benchmarks", {})
    bench_b = b.manifest.get("benchmarks", {})
    for name in sorted(set(bench_a) | set(bench_b)):
        if name not in bench_a or name not in bench_b:
            diffs.append(Difference(name, "benchmark", "ran" if name in bench_a else "absent",
                                    "ran" if name in bench_b else "absent"))
            continue
        diffs += _compare(name, _pick(bench_a[name], BENCH_FIELDS),
                          _pick(bench_b[name], BENCH_FIELDS))
    return RunDiff(a, b, tuple(diffs), _score_changes(a, b))


def _run_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    fields = _pick(manifest, RUN_FIELDS)
    judge = fields.get("judge")
    if isinstance(judge, dict):
        fields["judge"] = {k: v for k, v in judge.items() if k not in IGNORED_JUDGE_KEYS}
    return fields


def _pick(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: data[k] for k in keys if k in data}


def _compare(scope: str, a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[Difference]:
    out: list[Difference] = []
    for key in sorted(set(a) | set(b), key=str):
        va, vb = a.get(key, NOT_RECORDED), b.get(key, NOT_RECORDED)
        name = f"{prefix}{key}"
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _compare(scope, va, vb, f"{name}.")
        elif va != vb:
            out.append(Difference(scope, name, _show(va), _show(vb)))
    return out


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _score_changes(a: RunDir, b: RunDir) -> tuple[ScoreChange, ...]:
    ra = {r.benchmark: r for r in a.results} if (a.path / "results.json").is_file() else {}
    rb = {r.benchmark: r for r in b.results} if (b.path / "results.json").is_file() else {}
    out = []
    for name in sorted(set(ra) | set(rb)):
        x, y = ra.get(name), rb.get(name)
        ref = x if x is not None else y
        assert ref is not None
        out.append(ScoreChange(name, ref.primary.name, x.primary.value if x else None,
                               y.primary.value if y else None))
    return tuple(out)


def to_markdown(d: RunDiff) -> str:
    lines = [f"# evals diff\n\nA: `{d.a.path}`  \nB: `{d.b.path}`\n", "## Scores\n",
             "| benchmark | metric | A | B | B − A |", "|---|---|---:|---:|---:|"]
    for s in d.scores:
        lines.append(f"| {_cell(s.benchmark, None)} | {_cell(s.metric, None)} | {_num(s.a)} | {_num(s.b)} | "
                     f"{_num(s.delta, signed=True)} |")
    lines += ["", "## What differs\n"]
    if not d.differences:
        lines.append("Nothing: same model, data, prompts, template, settings and code.")
    else:
        lines += ["| scope | field | A | B |", "|---|---|---|---|"]
        lines += [f"| {_cell(x.scope, None)} | {_cell(x.field, None)} | {_cell(x.a)} | {_cell(x.b)} |"
                  for x in d.differences]
    return "\n".join(lines) + "\n"


def _num(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "–"
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def _cell(text: str, width: int | None = 80) -> str:
    """A table cell on one line; values (not names: ``width=None``) cut at ``width``."""
    text = text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return text if width is None or len(text) <= width else text[: width - 1] + "…"
