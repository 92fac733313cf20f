"""bench/compare.py hands every harness the same work: lm-eval's own task loader rebuilds
exactly evals' requests from the task files, OpenCompass's data files hold the same items in
its layouts, and the floor's vLLM calls are evals' backend's. (The timed runs themselves are
the bench's job, not CI's.)"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from evals.records import GenerateRequest, LoglikelihoodRequest, TextPrompt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import _opencompass
import compare


@pytest.fixture(scope="module")
def work(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    s = compare.Settings(tmp_path_factory.mktemp("bench"), "embedded:smollm2-135m-instruct",
                         mmlu=6, hellaswag=3, gsm8k=2, gsm8k_max_tokens=64,
                         max_model_len=4096, data_dir=data_dir, ceval=3, winogrande=2)
    return s, compare.plan(s)


def _text(p: object) -> str:
    assert isinstance(p, TextPrompt)
    return p.text


def test_lm_eval_builds_evals_requests_from_the_task_files(work: tuple[Any, Any]) -> None:
    from lm_eval.tasks import TaskManager, get_task_dict

    s, w = work
    tasks = compare.write_lmeval_tasks(s, w)
    manager = TaskManager(include_path=str(tasks), include_defaults=False)
    for pb in w.planned:
        task = get_task_dict([f"bench_{pb.benchmark.name}"], manager)[f"bench_{pb.benchmark.name}"]
        task.build_all_requests(limit=None, rank=0, world_size=1)
        theirs = sorted(tuple(i.arguments[:2]) if i.request_type == "loglikelihood"
                        else (i.arguments[0], json.dumps(i.arguments[1], sort_keys=True))
                        for i in task.instances)
        ours = []
        for reqs in pb.requests:
            for r in reqs:
                if isinstance(r, LoglikelihoodRequest):
                    ours.append((_text(r.context), r.continuation))
                else:
                    assert isinstance(r, GenerateRequest)
                    kwargs = {"until": list(r.params.stop), "max_gen_toks": r.params.max_tokens,
                              "do_sample": False, "temperature": 0.0}
                    ours.append((_text(r.prompt), json.dumps(kwargs, sort_keys=True)))
        assert theirs == sorted(ours), pb.benchmark.name


def test_opencompass_files_hold_the_same_items(work: tuple[Any, Any], tmp_path: Path) -> None:
    _, w = work
    names = _opencompass.write_data(tmp_path, w)
    mmlu = next(pb for pb in w.planned if pb.benchmark.name == "mmlu")
    def rows(split: str, sub: str) -> list[list[str]]:
        text = (tmp_path / "mmlu" / split / f"{sub}_{split}.csv").read_text(encoding="utf-8")
        return list(csv.reader(io.StringIO(text)))

    tests = [r for sub in names["mmlu"] for r in rows("test", sub)]
    assert sorted(r[0] for r in tests) == sorted(smp.question for smp in mmlu.samples)
    assert all(len(rows("dev", sub)) == 5 for sub in names["mmlu"])
    hs = [json.loads(x) for x in (tmp_path / "hellaswag.jsonl").read_text().splitlines()]
    hella = next(pb for pb in w.planned if pb.benchmark.name == "hellaswag")
    # OpenCompass cuts the activity label off the query itself, as evals does
    assert [h["query"].split(": ", 2)[-1] for h in hs] == [smp.ctx for smp in hella.samples]
    assert names["gsm8k"] == {"max_out_len": 64, "stop": ["Question:"]}


def test_floor_sends_evals_backend_calls(work: tuple[Any, Any]) -> None:
    s, w = work
    passes, steps, gens = compare.floor_calls(w, s.max_model_len, 128)
    by_kind = [("logprob_token_ids" in c.params, "prompt_logprobs" in c.params)
               for c in passes]
    # one pass per MMLU and C-Eval question (their options share a context), a full pass
    # per HellaSwag ending and WinoGrande option (each its own context)
    assert by_kind.count((True, False)) == 6 + 3
    assert by_kind.count((False, True)) == 3 * 4 + 2 * 2
    assert len(steps) == 3 * 2  # C-Eval's two seam tokens (" ", "\n"), one step each
    assert all(c.params["logprob_token_ids"] for c in steps)
    assert len(gens) == 2 and all("stop" in c.params for c in gens)


def test_table_reports_ratios_and_agreement() -> None:
    evals = compare.Measured("evals", 10.0, 100.0, engine_s=5.0, prefilled=1000, generated=10,
                             warm_s=0.5, scores={"mmlu": 50.0}, picks={"mmlu": [0, 1]},
                             ppl_picks={"mmlu": [0, 2]}, ppl_scores={"mmlu": 0.0})
    oc = compare.Measured("opencompass", 40.0, 120.0, scores={"mmlu": 0.0}, picks={"mmlu": [0, 2]})
    lm = compare.Measured("lm-eval", 20.0, 110.0, scores={"mmlu": 50.0}, picks={"mmlu": [0, 1]})
    text = compare.table([evals, lm, oc], evals, 3)
    assert "| lm-eval | 20.0 | - | - | - | - | 110 | 0.50 | 50.0 | mmlu 2/2 |" in text
    assert "| opencompass | 40.0 | - | - | - | - | 120 | 0.25 | 0.0 | mmlu 2/2 |" in text
    assert "medians of 3 run(s)" in text
