"""The package's layout: what each folder may import, benchmark modules named as they
register, and the README's tree matching the folders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from evals.benchmarks import BENCHMARKS
from evals.dimensions import BY_KEY

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "evals"
FOLDERS = ("backends", "benchmarks", "judging", "sandbox", "run", "results", "cli")
MAY_IMPORT = {
    "backends": set(),
    "sandbox": set(),
    "results": set(),
    "benchmarks": {"sandbox", "judging"},
    "judging": {"backends", "run"},
    "run": {"benchmarks", "backends", "judging", "sandbox", "results"},
    "cli": set(FOLDERS),
    "core": set(),
}
"""The README's table (Layout); core modules (evals/*.py) are importable from everywhere."""
SEVERAL = {"cibench": ("cibench_en", "cibench_zh"), "teval": ("teval_en", "teval_zh")}
"""Modules registering one benchmark per language; the needle package one per definition."""


def _folder(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "evals":
        return None
    return parts[1] if len(parts) >= 2 and parts[1] in FOLDERS else "core"


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return out


def test_each_folder_imports_only_what_it_may() -> None:
    offending = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        here = _folder(module) if path.parent != PACKAGE else "core"
        if module in ("evals.__main__",):
            continue
        for name in _imports(path):
            there = _folder(name)
            if there not in (None, "core", here) and there not in MAY_IMPORT[str(here)]:
                offending.append(f"{path.relative_to(REPO)} imports {name}")
    assert offending == []


def test_benchmark_folders_are_the_dimensions_and_modules_their_names() -> None:
    folders = {p.name for p in (PACKAGE / "benchmarks").iterdir()
               if p.is_dir() and not p.name.startswith("_")}
    assert folders <= set(BY_KEY)
    for name in BENCHMARKS.names():
        module = type(BENCHMARKS.get(name)).__module__.split(".")
        assert module[2] in folders, name
        leaf = module[3]
        assert leaf == name or name in SEVERAL.get(leaf, ()) or leaf == "needle", name


def test_readme_tree_lists_every_folder_and_benchmark() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    tree = readme[readme.index("## Layout"):readme.index("## Benchmarks and suites")]
    tree = tree[tree.index("```") + 3:]
    tree = tree[:tree.index("```")]
    for folder in FOLDERS:
        assert f"  {folder}/" in tree
    for dim in (PACKAGE / "benchmarks").iterdir():
        if dim.is_dir() and not dim.name.startswith("_"):
            line = re.search(rf"^    {dim.name}/ +(.*)$", tree, re.M)
            assert line, dim.name
            modules = {p.stem for p in dim.glob("*.py") if p.stem != "__init__"}
            modules |= {p.name for p in dim.iterdir() if (p / "__init__.py").is_file()}
            listed = set(re.findall(r"[a-z_0-9]+", line.group(1)))
            assert modules <= listed, (dim.name, modules - listed)
    for name in BENCHMARKS.names():
        needle = ".needle." in type(BENCHMARKS.get(name)).__module__  # one per definition
        assert needle or name in tree, name
