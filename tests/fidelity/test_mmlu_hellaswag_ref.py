"""MMLU and HellaSwag (PPL, base models) agree with OpenCompass 0.5.4 per sample: the label
prompts its own retriever and templates build from ``mmlu_ppl_ac766d`` and
``hellaswag_ppl_47bff9`` for real items, and the option its report-era HuggingFace model
wrapper picks (``get_ppl``: the argmin of mean cross-entropy over the whole sequence) on a
stub model, against evals' pick from the same log-probabilities, scored in full and in
evals' single pass (one-token options sharing a context)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evals.benchmarks.base import BENCHMARKS, BenchmarkContext
from evals.records import LoglikelihoodRequest, LoglikelihoodResponse, Mode, ModelKind, TextPrompt
from tests.fidelity.conftest import Reference
from tests.fidelity.oc_render import CONFIG, RENDER
from tests.fidelity.stub_models import STUBS, log_prob

PROMPTS = RENDER + CONFIG + """
name, rows = DATA["name"], DATA["rows"]
if name == "mmlu":
    ds = next(d for d in load_config("mmlu/mmlu_ppl_ac766d.py")["mmlu_datasets"]
              if d["abbr"] == "lukaemon_mmlu_" + DATA["subject"])
    cfg = ds["infer_cfg"]
    strip = lambda t: {k: v for k, v in t.items() if k != "type"}
    RESULT = render(DATA["dev"], rows, ["input", "A", "B", "C", "D"], "target",
                    ice_template=strip(cfg["ice_template"]),
                    prompt_template=strip(cfg["prompt_template"]),
                    fix=cfg["retriever"]["fix_id_list"], labels=list("ABCD"))
else:
    ds = load_config("hellaswag/hellaswag_ppl_47bff9.py")["hellaswag_datasets"][0]
    tmpl = {k: v for k, v in ds["infer_cfg"]["prompt_template"].items() if k != "type"}
    RESULT = render(None, rows, ["ctx", "A", "B", "C", "D"], "label", prompt_template=tmpl,
                    labels=[0, 1, 2, 3])
"""
PICKS = STUBS + """
h, v = hf_model(), vllm_model()
RESULT = [{"hf": int(np.argmin(h.get_ppl(p))), "vllm": int(np.argmin(v.get_ppl(p)))}
          for p in DATA["prompts"]]
"""


def _items(name: str, data_dir: Path) -> list[Any]:
    items: list[Any] = BENCHMARKS.get(name).load(BenchmarkContext(data_dir, ModelKind.BASE,
                                                                  Mode.PPL, 5 if name == "mmlu" else 0))
    if name == "mmlu":
        subjects = sorted({i.subject for i in items})
        return [i for s in (subjects[0], subjects[25], subjects[-1])
                for i in [x for x in items if x.subject == s][:4]]
    return items[:: len(items) // 12][:12]


def _requests(name: str, item: Any, data_dir: Path) -> list[LoglikelihoodRequest]:
    ctx = BenchmarkContext(data_dir, ModelKind.BASE, Mode.PPL, 5 if name == "mmlu" else 0)
    reqs = BENCHMARKS.get(name).requests(item, ctx)
    assert all(isinstance(r, LoglikelihoodRequest) and isinstance(r.context, TextPrompt)
               for r in reqs)
    return reqs  # type: ignore[return-value]


def _oc_prompts(reference: Reference, name: str, items: list[Any]) -> list[list[str]]:
    if name == "hellaswag":
        rows = [{"ctx": i.ctx, **dict(zip("ABCD", i.endings, strict=True)),
                 "label": "ABCD".index(i.target)} for i in items]
        out: list[list[str]] = reference(PROMPTS, {"name": name, "rows": rows})
        return out
    def row(question: str, options: tuple[str, ...], target: str) -> dict[str, str]:
        return {"input": question, **dict(zip("ABCD", options, strict=True)), "target": target}

    prompts: list[list[str]] = []
    for subject in dict.fromkeys(i.subject for i in items):
        chosen = [i for i in items if i.subject == subject]
        prompts += reference(PROMPTS, {
            "name": name, "subject": subject,
            "dev": [row(s.question, s.options, s.target) for s in chosen[0].shots],
            "rows": [row(i.question, i.options, i.target) for i in chosen]})
    return prompts


@pytest.mark.parametrize("name", ["mmlu", "hellaswag"])
def test_prompts_and_picks_agree_with_opencompass(reference: Reference, data_dir: Path,
                                                  name: str) -> None:
    items = _items(name, data_dir)
    theirs = _oc_prompts(reference, name, items)
    ours = [_requests(name, item, data_dir) for item in items]
    for reqs, expected in zip(ours, theirs, strict=True):
        assert [r.context.text + r.continuation for r in reqs] == expected  # type: ignore[union-attr]

    vocab = sorted({w for labels in theirs for text in labels for w in text.split()})
    picks = reference(PICKS, {"vocab": vocab, "lp": {}, "prompts": theirs})
    bench = BENCHMARKS.get(name)
    ctx = BenchmarkContext(data_dir, ModelKind.BASE, Mode.PPL, 5 if name == "mmlu" else 0)
    differs_on_vllm = 0
    for item, reqs, pick in zip(items, ours, picks, strict=True):
        responses = []
        for r in reqs:
            context = r.context.text  # type: ignore[union-attr]
            ctx_lp, ctx_n = log_prob(context, {})
            cont_lp, cont_n = log_prob(r.continuation, {}, after=context)
            responses.append(LoglikelihoodResponse(cont_lp, cont_n, False, ctx_lp, ctx_n))
        full = bench.score(item, responses, ctx)
        assert full.extracted == "ABCD"[pick["hf"]], item.id
        if all(r.tokens == 1 for r in responses):  # evals' single pass: no context log-prob
            single = [LoglikelihoodResponse(r.logprob, 1, False, None, r.context_tokens)
                      for r in responses]
            assert bench.score(item, single, ctx).extracted == "ABCD"[pick["hf"]], item.id
        differs_on_vllm += pick["hf"] != pick["vllm"]
    if name == "mmlu":  # one-token options: dividing by n or n - 1 orders them alike
        assert differs_on_vllm == 0
