"""Benchmark modules register themselves on import; importing this package loads them all.

Every public module in this package is a benchmark (``_``-prefixed ones are shared helpers),
so adding a benchmark is adding one file.
"""

import importlib
import pkgutil

from evals.benchmarks.base import BENCHMARKS, Benchmark, BenchmarkContext

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_") and _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["BENCHMARKS", "Benchmark", "BenchmarkContext"]
