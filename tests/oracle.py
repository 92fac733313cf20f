"""Backends that answer every sample right (or every one wrong), so an end-to-end test on
the mock can assert the score a benchmark must give (100, or 0) instead of a range.

Generation requests get the reply a benchmark's extraction must map to the sample's target
(``reply``); PPL requests give the gold option (the target's letter: the i-th request is the
i-th option) the highest log-likelihood. With ``right=False`` a generation gets an empty
reply and the gold option the lowest log-likelihood.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from evals.backends.mock import MockBackend
from evals.benchmarks.base import summarize
from evals.records import (
    BenchmarkResult,
    GenerateRequest,
    LoglikelihoodRequest,
    Request,
    SampleResult,
    request_key,
)
from evals.run.engine import Engine

Reply = Callable[[Any, int], str]
"""(sample, index of the generation request within the sample) -> the right reply."""


def target(sample: Any, _: int) -> str:
    return str(sample.target)


def oracle(asked: Sequence[tuple[Any, Sequence[Request]]], reply: Reply = target,
           right: bool = True) -> MockBackend:
    gold: set[LoglikelihoodRequest] = set()
    replies: dict[GenerateRequest, str] = {}
    for sample, requests in asked:
        options = [r for r in requests if isinstance(r, LoglikelihoodRequest)]
        if options:
            gold.add(options["ABCDEFGH".index(str(sample.target)[0])])
        gen = [r for r in requests if isinstance(r, GenerateRequest)]
        for k, r in enumerate(gen):
            replies[r] = reply(sample, k) if right else ""
    top, bottom = (0.0, -5.0) if right else (-5.0, 0.0)
    return MockBackend(generate_fn=lambda r: replies[r],
                       loglikelihood_fn=lambda r: top if r in gold else bottom)


def score_with(bench: Any, ctx: Any, samples: Sequence[Any], reply: Reply = target,
               right: bool = True) -> BenchmarkResult:
    """``samples`` asked through the engine of an oracle backend, scored and summarized as
    the runner does."""
    asked = [(s, bench.requests(s, ctx)) for s in samples]
    answers = Engine(oracle(asked, reply, right), None).run([r for _, rs in asked for r in rs])
    results = [SampleResult(s.id, bench.group(s), "", s.target, (),
                            bench.score(s, [answers[request_key(r)] for r in rs], ctx))
               for s, rs in asked]
    return summarize(bench, ctx, results)
