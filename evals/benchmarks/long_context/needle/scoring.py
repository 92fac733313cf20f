"""Per-sample needle scorers that reproduce OpenCompass 0.5.4's NeedleBench evaluators exactly.

OpenCompass packs its references into strings (``needle*keyword``, ``k1*k2#d1*d2``); here the
parts arrive as typed arguments so a ``*`` inside a needle cannot corrupt the split. The scores
match OC's per-sample ``details`` (origin, CDME) or its per-depth sums (parallel) to float
precision; ``tests/fidelity/test_needle_ref.py`` checks this against OC itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import Levenshtein

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class SimilarityScore:
    """CDME score: Levenshtein similarity of the whitespace-free prediction to the needle."""

    value: float
    edit_distance: int
    prediction: str  # whitespace-free (and trimmed, if asked) text that was compared
    reference: str


@dataclass(frozen=True)
class OriginScore:
    """NeedleBench single-needle score: 100 on a keyword hit, else 0.2 x similarity."""

    value: float
    found: bool
    keyword: str
    similarity: SimilarityScore


@dataclass(frozen=True)
class ParallelScore:
    """Multi-needle retrieval: which needle's keyword (one per depth) the answer contains."""

    value: float  # 100 x hit rate over the needles of this sample
    keywords: tuple[str, ...]
    depths: tuple[int, ...]
    hits: tuple[bool, ...]

    @property
    def found(self) -> tuple[str, ...]:
        return tuple(k for k, hit in zip(self.keywords, self.hits, strict=True) if hit)


@dataclass(frozen=True)
class ParallelSummary:
    """OC's ``NeedleBenchParallelEvaluator`` output: score per depth and their mean."""

    by_depth: tuple[tuple[int, float], ...]
    average_score: float


@dataclass(frozen=True)
class ReasoningScore:
    """Multi-needle reasoning: share of the answer's lower-cased words found in the prediction."""

    value: float
    keywords: tuple[str, ...]
    found: tuple[str, ...]


def trim_prediction(prediction: str, reference: str) -> str:
    """OC's ``_trim_prediction``: cut verbose answers to about the needle's length.

    Keeps at most 1.2x the reference length and, past 0.8x, stops at the first occurrence of
    the reference's last character (normally the needle's closing full stop).
    """
    if not reference:
        return prediction
    l08 = int(0.8 * len(reference))
    l12 = int(1.2 * len(reference))
    trimmed = prediction[:l12]
    if len(trimmed) > l08 and reference[-1] in trimmed[l08:]:
        trimmed = trimmed[: l08 + trimmed[l08:].index(reference[-1]) + 1]
    return trimmed


def score_similarity(prediction: str, reference: str, *, use_trim: bool = False) -> SimilarityScore:
    """CDME (OC@e975a96f ``CDMEEvaluator``): ``100 x (1 - lev / max len)`` without whitespace.

    Two empty strings score 100, as in OC; an empty prediction against a needle scores 0.
    """
    pred = _WHITESPACE.sub("", prediction)
    ref = _WHITESPACE.sub("", reference)
    if use_trim:
        pred = trim_prediction(pred, ref)
    distance = Levenshtein.distance(pred, ref)
    max_len = max(len(pred), len(ref))
    value = 100 * (1 - distance / max_len) if max_len != 0 else 100.0
    return SimilarityScore(value=value, edit_distance=distance, prediction=pred, reference=ref)


def score_origin(prediction: str, needle: str, keyword: str, *, use_trim: bool = False) -> OriginScore:
    """``NeedleBenchOriginEvaluator``; the keyword is searched in the raw, untrimmed prediction.

    An empty keyword would match every answer in OC; it is rejected here as a data error.
    """
    if not keyword:
        raise ValueError("needle keyword is empty: every prediction would score 100")
    similarity = score_similarity(prediction, needle, use_trim=use_trim)
    found = keyword in prediction
    value = 100.0 if found else 0.2 * similarity.value
    return OriginScore(value=value, found=found, keyword=keyword, similarity=similarity)


def score_parallel(prediction: str, keywords: Sequence[str], depths: Sequence[int]) -> ParallelScore:
    """One sample of ``NeedleBenchParallelEvaluator``: a case-sensitive substring hit per needle."""
    if len(keywords) != len(depths) or not keywords:
        raise ValueError(f"need one keyword per depth, got {len(keywords)} keywords, {len(depths)} depths")
    hits = tuple(k in prediction for k in keywords)
    return ParallelScore(
        value=100 * sum(hits) / len(hits), keywords=tuple(keywords), depths=tuple(depths), hits=hits
    )


def aggregate_parallel(scores: Sequence[ParallelScore]) -> ParallelSummary:
    """OC's per-depth sums (``100 / N`` per hit) and ``average_score`` over distinct depths.

    OC takes the depths from the first sample and keys them in a dict, so repeated depths
    share one bucket; that is reproduced.
    """
    if not scores:
        raise ValueError("no parallel scores to aggregate")
    by_depth = dict.fromkeys(scores[0].depths, 0.0)
    for score in scores:
        for depth, hit in zip(scores[0].depths, score.hits, strict=True):
            if hit:
                by_depth[depth] += 100 / len(scores)
    average = sum(by_depth.values()) / len(by_depth)
    return ParallelSummary(by_depth=tuple(by_depth.items()), average_score=average)


def score_reasoning(prediction: str, answer: str) -> ReasoningScore:
    """``NeedleBenchMultiEvaluator``: every whitespace-separated answer word counts equally."""
    keywords = tuple(answer.lower().split())
    lowered = prediction.lower()
    found = tuple(k for k in keywords if k in lowered)
    value = len(found) * (100 / len(keywords)) if keywords else 0.0
    return ReasoningScore(value=value, keywords=keywords, found=found)
