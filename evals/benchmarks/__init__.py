"""Benchmark modules register themselves on import; importing this package loads them all.

Benchmarks live in one folder per report dimension (``evals/dimensions.py``'s keys):
every public module or subpackage there is a benchmark, named as it registers, except
where one module registers several (``cibench`` and ``teval``: one per language; the
``needle`` package: one per test definition); the big ones are subpackages whose docstring
is the protocol and whose ``benchmark`` module registers. ``_``-prefixed modules are a folder's shared
helpers; ``base`` and the package's own ``_io``, ``_prompt``, ``_choice``, ``_extract`` and
``_metrics`` are everyone's. Adding a benchmark: docs/adding_a_benchmark.md.
"""

import importlib
import pkgutil

from evals.benchmarks.base import BENCHMARKS, Benchmark, BenchmarkContext

for _folder in pkgutil.iter_modules(__path__):
    if _folder.ispkg:
        _package = importlib.import_module(f"{__name__}.{_folder.name}")
        for _info in pkgutil.walk_packages(_package.__path__, f"{_package.__name__}."):
            if not _info.name.rpartition(".")[2].startswith("_"):
                importlib.import_module(_info.name)

__all__ = ["BENCHMARKS", "Benchmark", "BenchmarkContext"]
