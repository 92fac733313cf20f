"""Benchmark modules register themselves on import; importing this package loads them all."""

from evals.benchmarks import gsm8k, hellaswag, humaneval, mmlu
from evals.benchmarks.base import BENCHMARKS, Benchmark, BenchmarkContext

__all__ = ["BENCHMARKS", "Benchmark", "BenchmarkContext", "gsm8k", "hellaswag", "humaneval", "mmlu"]
