"""T-Eval's evaluators agree with OpenCompass 0.5.4's ``TEvalEvaluator``, per sample, on the
fixtures (EN and ZH) and on right, partly right and unparseable answers.

OpenCompass loads sentence-transformers models, which the reference environment lacks and
tests may not download: a stand-in ``sentence_transformers`` package is put in front of it
whose ``cos_sim`` is our lexical cosine (its source is sent over), so both sides compare the
evaluators' logic with the same similarity. Left out: a plan that is only ``FinishAction``,
on which upstream crashes (we score 0; tests/test_teval.py checks that).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from evals.benchmarks.tool_use.teval import benchmark as teval
from evals.benchmarks.tool_use.teval import scoring as _teval_scoring
from evals.benchmarks.tool_use.teval.scoring import LexicalSimilarity, postprocess
from tests.fidelity.conftest import Reference
from tests.test_teval import _right_answer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "teval"
OC_SUBSET = {"instruct": "instruct", "plan_json": "plan", "plan_str": "plan",
             "reason_str": "reason", "retrieve_str": "retrieve", "understand_str": "understand",
             "reason_retrieve_understand_json": "reason_retrieve_understand",
             "review_str": "review"}

REF = """
import json, math, re, sys, types
from collections import Counter
import numpy as np

exec(DATA["lexical"])

class Emb:
    def __init__(self, texts):
        self.texts = texts
    def __getitem__(self, i):
        return Emb([self.texts[i]])

class Model:
    def __init__(self, name):
        self.name = name
    def encode(self, x, convert_to_tensor=False):
        return Emb([x] if isinstance(x, str) else list(x))

class Tensor:
    def __init__(self, a):
        self.a = a
    def cpu(self):
        return self
    def numpy(self):
        return self.a

def cos_sim(a, b):
    return Tensor(np.array([[lexical_cosine(x, y) for y in b.texts] for x in a.texts]))

st = types.ModuleType("sentence_transformers")
util = types.ModuleType("sentence_transformers.util")
util.cos_sim = cos_sim
st.util = util
st.SentenceTransformer = Model
sys.modules["sentence_transformers"] = st
sys.modules["sentence_transformers.util"] = util

plugin = oc("opencompass.openicl.icl_evaluator.icl_plugin_evaluator")
post = oc("opencompass.datasets.teval").teval_postprocess
evaluators = {}
RESULT = []
for subset, datum, text in DATA["cases"]:
    ev = evaluators.setdefault(subset, plugin.TEvalEvaluator(subset))
    scores = ev.score([post(text)], [json.dumps(datum)])
    RESULT.append({k: float(v) for k, v in scores.items()})
"""


def _items(lang: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for base in teval.SUBSETS:
        stem = teval.file_stem(base, "v1", lang)
        data = json.loads((FIXTURES / lang.upper() / f"{stem}.json").read_text())
        out += [(base, datum) for datum in data.values()]
    return out


def _variants(base: str, datum: dict[str, Any]) -> list[str]:
    right = _right_answer(datum, base)
    out = [right, "I am not sure.", "```json\n" + right + "\n```<|im_end|>", "{" + right + "}"]
    if base == "instruct":
        out.append(right.replace("2024", "2025"))
        out.append(right.replace("{", "(", 1))
    if base.startswith("plan"):
        gt = [s for s in datum["ground_truth"] if s["name"] != "FinishAction"]
        steps = [{"id": i, "name": s["name"], "args": str(s["args"])}
                 for i, s in enumerate(reversed(gt))]
        out.append(json.dumps(steps) if base == "plan_json" else
                   "\n".join(f"Use {s['name']} now" for s in steps))
        out.append(json.dumps([*steps[:1], {"id": 1, "name": "Email.send", "args": "{}"}]))
    if base == "reason_retrieve_understand_json":
        gt = datum["ground_truth"]
        out.append(json.dumps({"thought": "next step", "name": gt["name"] + "x",
                               "args": json.dumps(gt["args"])}))
        out.append(json.dumps({"name": gt["name"]}))
    if base == "retrieve_str":
        out.append(right + " and FinishAction")
    if base == "review_str":
        out += ["Answer: C", "answer - B", "D"]
    return out


def _cases(lang: str) -> list[tuple[str, dict[str, Any], str]]:
    suffix = "_zh" if lang == "zh" else ""
    return [(OC_SUBSET[base] + suffix, datum, text) for base, datum in _items(lang)
            for text in _variants(base, datum)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_teval_evaluators_agree_with_opencompass(reference: Reference, lang: str) -> None:
    cases = _cases(lang)
    source = inspect.getsource(_teval_scoring.lexical_cosine)
    regex = f"_WORD = re.compile({_teval_scoring._WORD.pattern!r})\n"
    expected = reference(REF, {"lexical": regex + source, "cases": cases})
    bases = {v: k for k, v in OC_SUBSET.items()}
    sim = LexicalSimilarity()
    checked = 0
    for (subset, datum, text), theirs in zip(cases, expected, strict=True):
        base = subset.removesuffix("_zh")
        if base == "plan":
            base = "plan_json" if datum["meta"]["prompt_type"] == "json" else "plan_str"
        else:
            base = bases[base]
        ours = dict(teval.score_answer(base, datum, postprocess(text), sim).metrics)
        for name, value in ours.items():
            if base in teval.ROUNDED:  # these evaluators round their means to 4 decimals
                value = teval._round4(value)
            assert 100 * value == pytest.approx(theirs[name], abs=1e-9), (subset, text, name)
            checked += 1
    assert checked > 6 * len(cases) // 3



GROUPS = """
import os, opencompass
path = os.path.join(os.path.dirname(opencompass.__file__), "configs", "summarizers", "groups",
                    "teval.py")
scope = {}
exec(open(path).read(), scope)
RESULT = [[g["name"], g.get("metric", "naive_average"), g["subsets"]]
          for g in scope["teval_summary_groups"]]
"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_overall_averages_the_summarizers_entries(reference: Reference, lang: str) -> None:
    """Our six dimensions, two entries each, are the summarizer's twelve-entry ``teval``
    group, whose instruct entries are the means of the string and JSON metrics."""
    groups = {(name, metric): [tuple(s) for s in subsets]
              for name, metric, subsets in reference(GROUPS, None)}
    suffix = "_zh" if lang == "zh" else ""
    instruct = f"teval-instruct_v1{suffix}"

    def resolve(dataset: str, metric: str) -> tuple[str, str]:
        if dataset.startswith("copy_"):  # upstream's "review * 2" hack
            ((inner, inner_metric),) = groups[dataset, "naive_average"]
            return inner, inner_metric
        return dataset, metric

    theirs = sorted(resolve(d, m) for d, m in groups[f"teval{suffix}", "naive_average"])
    ours = []
    for entries in teval.DIMENSIONS.values():
        for subset, metric in entries:
            if subset == "instruct":  # (string + json) / 2 == (format + args_em) / 2
                metric = "format_metric" if metric == "string_metric" else "args_em_metric"
                ours.append((instruct, metric))
            else:
                ours.append((f"teval-{teval.file_stem(subset, 'v1', lang)}", metric))
    assert sorted(ours) == theirs
    for metric in ("format_metric", "args_em_metric"):
        assert sorted(groups[instruct, metric]) == [(instruct, f"json_{metric}"),
                                                     (instruct, f"string_{metric}")]
    for fmt in ("string", "json"):
        assert sorted(groups[instruct, f"{fmt}_metric"]) == [
            (instruct, f"{fmt}_args_em_metric"), (instruct, f"{fmt}_format_metric")]
