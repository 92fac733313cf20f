"""Text metrics several benchmarks score with (L-Eval, CIBench)."""

from __future__ import annotations

import importlib
from typing import Any


def rouge1(prediction: str, ref: str) -> float:
    """rouge-1 F of one pair, as HF ``evaluate``'s rouge scores it (default tokenizer)."""
    return float(_scorer().score(ref, prediction)["rouge1"].fmeasure)


_SCORER: list[Any] = []


def _scorer() -> Any:
    if not _SCORER:
        rouge_scorer = importlib.import_module("rouge_score.rouge_scorer")
        _SCORER.append(rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False))
    return _SCORER[0]
