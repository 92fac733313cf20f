"""CIBench's tasks: loading, input files, and why a task cannot be scored here."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from evals.benchmarks.tool_use.cibench.notebook import (
    Notebook,
    gold_output,
    parse_ipynb,
    parse_markdown_notebook,
)
from evals.data_sources import DataSpec, Layout, MissingDataError, remote
from evals.records import Sample

NLTK_DATA_DIRS = ("/usr/share/nltk_data", "/usr/local/share/nltk_data", "/usr/lib/nltk_data",
                  "/usr/local/lib/nltk_data")
_DATA_PATH = re.compile(r"""(?<![\w/.])(?:\./)?(data/[^'"`\s,)，。；：）]+)""")

# ---------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task(Sample):
    module: str
    questions: tuple[str, ...]
    codes: tuple[str, ...]
    tags: tuple[str, ...]
    """The metric of each step: ``step_types``, else derived from the stored outputs."""
    gold: tuple[str | None, ...] | None
    """Stored gold outputs (text, or a base64 PNG for images); None: run the references."""
    inputs: tuple[tuple[str, str], ...]
    """(name in the session's working directory, host path) of each input file."""
    blockers: tuple[str, ...]
    """Why the task cannot be scored here; empty when it can."""


def build_task(path: Path, root: Path, datasources: Path, chinese: bool) -> Task:
    where = str(path)
    text = path.read_text(encoding="utf-8")
    nb = parse_ipynb(text, where) if path.suffix == ".ipynb" else parse_markdown_notebook(text, where)
    modules = [[m.strip() for m in group.split("&")] for group in nb.modules]
    questions, codes, outputs = [], [], []
    for cell in nb.cells:
        if cell.kind == "markdown":
            question = cell.source.strip()
            parts = question.split("\n\nThought: ")
            question = parts[0] if len(parts) == 2 else question
            if modules:
                names = modules.pop(0)
                question += (f"请用 {' 和 '.join(names)} 模块." if chinese
                             else f"Please use {' and '.join(names)} modules.")
            questions.append(question.strip() + "\n")
        else:
            codes.append(cell.source)
            outputs.append(gold_output(cell.outputs))
    n = min(len(questions), len(codes))
    tags = nb.step_types or tuple(tag for tag, _ in outputs)
    inputs, missing = _inputs(nb, datasources)
    task_id = str(path.relative_to(root).with_suffix(""))
    return Task(
        id=task_id, target=",".join(tags[:n]), module=path.parent.name,
        questions=tuple(questions[:n]), codes=tuple(codes[:n]), tags=tuple(tags[:n]),
        gold=tuple(value for _, value in outputs[:n]) if nb.executed else None,
        inputs=inputs, blockers=_blockers(missing, codes),
    )


def _inputs(nb: Notebook, datasources: Path) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """The ``data/...`` names the task's text and code mention, expanded to files (a named
    directory brings everything under it); names absent from ``datasources`` are missing."""
    names = sorted({m.rstrip(".") for c in nb.cells for m in _DATA_PATH.findall(c.source)})
    found: dict[str, str] = {}
    missing = []
    for name in names:
        source = datasources / name
        if source.is_file():
            found[name] = str(source)
        elif source.is_dir():
            for f in sorted(p for p in source.rglob("*") if p.is_file()):
                found[str(Path(name) / f.relative_to(source))] = str(f)
        elif not any(other != name and other.startswith(name) for other in names):
            missing.append(name)
    return tuple(found.items()), missing


def _blockers(missing_files: Sequence[str], codes: Sequence[str]) -> tuple[str, ...]:
    out = [f"input file missing: {name}" for name in missing_files]
    absent = sorted(m for m in _imported(codes) if not _installed(m))
    out += [f"package not installed: {name}" for name in absent]
    if any("nltk.download(" in code for code in codes) and not _nltk_data():
        out.append("needs NLTK data (nltk.download needs the network; none installed)")
    return tuple(out)


def _imported(codes: Sequence[str]) -> set[str]:
    names: set[str] = set()
    for code in codes:
        try:
            tree = ast.parse(code)
        except SyntaxError:  # magics: fall back to the import lines
            names |= set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", code, re.M))
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names}


@cache
def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@lru_cache(maxsize=1)
def _nltk_data() -> bool:
    dirs = (*NLTK_DATA_DIRS, *(str(Path(sys.prefix, d, "nltk_data"))
                               for d in ("", "share", "lib")))
    return any(Path(d).is_dir() for d in dirs)


def notebook_paths(subset: Path) -> list[Path]:
    """OpenCompass walks the subset with sorted directories and files; ``.ipynb`` notebooks
    are preferred over their jupytext markdown sources when both exist."""
    found: dict[Path, Path] = {}
    for path in sorted(subset.rglob("*")):
        if path.suffix in (".ipynb", ".md") and path.is_file():
            stem = path.with_suffix("")
            if path.suffix == ".ipynb" or stem not in found:
                found[stem] = path
    return [found[k] for k in sorted(found)]


ROOTS = ("cibench", "cibench_dataset")
"""Where the task notebooks and their ``datasources`` sit: shared data's ``cibench/`` or
OpenCompass's ``data/cibench_dataset/``."""


def spec(subset: str) -> DataSpec:
    """The notebooks of one subset, in either root; the input files beside them are optional
    (tasks missing theirs are counted as not scorable)."""
    return DataSpec(
        layouts=(Layout("evals", ROOTS[0], (subset,)), Layout("opencompass", ROOTS[1], (subset,))),
        remote=remote("cibench"), items=73, license="Apache-2.0")


@lru_cache(maxsize=8)
def load_tasks(data_dir: Path, subset: str) -> tuple[Task, ...]:
    found = spec(subset).locate(data_dir)
    base = found[1] if found else data_dir / ROOTS[0]
    root = base / subset
    paths = notebook_paths(root) if root.is_dir() else []
    if not paths:
        name = "cibench_zh" if "chinese" in subset else "cibench_en"
        raise MissingDataError(name, f"cibench: no task notebooks at {root}; put OpenCompass's "
                               f"cibench_dataset there or run `evals data fetch -b {name}`")
    return tuple(build_task(p, root, base / "datasources", "chinese" in subset) for p in paths)



def not_scorable_counts(data_dir: Path, subset: str) -> dict[str, int]:
    """Tasks excluded before running, in all and by kind of reason."""
    counts = {"tasks": 0, "missing_files": 0, "missing_packages": 0, "nltk_data": 0}
    for task in load_tasks(data_dir, subset):
        if not task.blockers:
            continue
        counts["tasks"] += 1
        kinds = {"missing_files" if b.startswith("input file") else
                 "missing_packages" if b.startswith("package") else "nltk_data"
                 for b in task.blockers}
        for kind in kinds:
            counts[kind] += 1
    return counts
