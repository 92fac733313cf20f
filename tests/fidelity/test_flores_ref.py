"""FLORES: per-direction corpus BLEU agrees with OpenCompass 0.5.4's BleuEvaluator (+ the
``flores`` postprocessor for zho_simpl targets) to 1e-6 on real devtest references; the
first-line cut we apply to every target is pinned as a deliberate difference."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.language_knowledge.flores import Flores, FloresBleu, corpus_bleu, flores_postprocess
from evals.records import GenerateResponse, Mode, ModelKind, SampleResult
from tests.fidelity.conftest import Reference

REF = """
f = oc("opencompass.datasets.flores")
e = oc("opencompass.openicl.icl_evaluator")
out = []
for direction, preds, refs in DATA:
    if direction.endswith("zho_simpl"):
        preds = [f.flores_postprocess(p) for p in preds]
    out.append(e.BleuEvaluator().score(preds, refs)["score"])
RESULT = out
"""


def _fake(ref: str, i: int) -> str:
    """Deterministic imperfect translations: exact, word-dropped, truncated, empty, padded."""
    words = ref.split(" ")
    return [ref, " ".join(w for j, w in enumerate(words) if j % 3), ref[: len(ref) // 2], "",
            f"  {ref}  ", ref[::-1]][i % 6]


@pytest.fixture(scope="module")
def items(data_dir: Path) -> dict[str, list]:  # type: ignore[type-arg]
    bench = Flores()
    object.__setattr__(bench, "directions", ("eng-deu", "eng-zho_simpl", "eng-jpn", "kor-eng"))
    ctx = BenchmarkContext(data_dir, ModelKind.CHAT, Mode.GEN, 8)
    out: dict[str, list] = {}  # type: ignore[type-arg]
    for it in bench.load(ctx):
        out.setdefault(it.direction, []).append(it)
    return out


def test_corpus_bleu_agrees_per_direction(reference: Reference, items: dict) -> None:  # type: ignore[type-arg]
    data = [(d, [_fake(x.target, i) for i, x in enumerate(xs)], [x.target for x in xs])
            for d, xs in items.items()]
    expected = reference(REF, data)
    bench, ctx = Flores(), BenchmarkContext(Path("."), ModelKind.CHAT, Mode.GEN, 8)
    results, ours = [], []
    for (d, preds, refs), xs in zip(data, items.values(), strict=True):
        scores = [bench.score(x, [GenerateResponse(p, 0, 0, "stop")], ctx) for x, p in zip(
            xs, preds, strict=True)]
        ours.append(corpus_bleu([s.extracted or "" for s in scores], refs))
        results += [SampleResult(x.id, d, "", x.target, (p,), s) for x, p, s in zip(
            xs, preds, scores, strict=True)]
    assert ours == pytest.approx(expected, abs=1e-6)
    agg = FloresBleu("bleu", resamples=20).aggregate(results)
    assert agg.value == pytest.approx(sum(expected) / len(expected), abs=1e-6)
    assert 0 < agg.stderr < 10


def test_first_line_cut_is_deliberate_for_non_chinese_targets(
    reference: Reference, items: dict  # type: ignore[type-arg]
) -> None:
    xs = items["eng-deu"][:10]
    preds = [f"{x.target}\nTranslate the following English statements to German." for x in xs]
    refs = [x.target for x in xs]
    (upstream,) = reference(REF, [("eng-deu", preds, refs)])
    assert upstream < 100.0
    assert corpus_bleu([flores_postprocess(p) for p in preds], refs) == pytest.approx(100.0)
