"""The same items through OpenCompass 0.5.4's own pipeline and through evals, compared per item.

evals plans each benchmark with its suite's settings and a ``limit`` (its own fixed-seed
slice), then runs them through its runner on vLLM. The same items are written into each
benchmark's OpenCompass data layout by its adapter (``adapters.py``), and OpenCompass's CLI
runs its own dataset configs from the wheel (pointed at those files), prompt templates,
retrievers, inferencers, postprocessors and evaluators with its VLLM model wrapper (base) or
VLLMwithChatTemplate (chat) on the same checkpoint and engine, ``--dump-eval-details``.
Per item: the prompt each harness sent, the model's output (generated text, or the option a
PPL benchmark picked), what the extraction made of it and the per-item score; per benchmark
both scores. Every disagreement keeps a line of evidence for the table's notes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from evals.backends.base import truncate_at_stop
from evals.config import load_config, load_suite
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    LoglikelihoodRequest,
    ModelKind,
    Request,
    SampleResult,
    TextPrompt,
)
from evals.run.runner import PlannedBenchmark, plan_model

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SUITES = {ModelKind.BASE: REPO / "suites" / "internlm2_base.yaml",
          ModelKind.CHAT: REPO / "suites" / "internlm2_chat.yaml"}
MODEL_ABBR = "fidelity"
ROLES = {"HUMAN": "user", "BOT": "assistant", "SYSTEM": "system"}


@dataclass(frozen=True)
class Settings:
    work: Path
    model: str
    n: int
    data_dir: Path
    max_model_len: int = 4096
    mode: str = "model"
    """``model``: both harnesses run the model; ``dry``: prompts only; ``replay``: evals on its
    scripted mock backend, OpenCompass on wrappers that give the same replies
    (``dry_models.py``)."""


@dataclass(frozen=True)
class Located:
    """Where one evals sample is in OpenCompass's outputs: dataset abbreviation and index,
    and how many consecutive rows it spans there (one per request: a circular question's
    four rotations are four rows, evals' four requests)."""

    abbr: str
    index: int
    span: int = 1


@dataclass(frozen=True)
class OCPlan:
    """What an adapter made of a benchmark's items for OpenCompass: the import lines of its
    dataset configs (inside ``read_base()``), the code that appends the dataset dicts to
    ``datasets`` (``DATA`` is the data root), and each evals sample's place in the outputs."""

    imports: tuple[str, ...]
    code: str
    located: tuple[Located, ...]
    notes: tuple[str, ...] = ()
    """Known, named causes of differences (deliberate deviations and their tests)."""


Adapter = Callable[[PlannedBenchmark, Path], OCPlan]


@dataclass
class Row:
    benchmark: str
    setting: str
    n: int
    prompts: int = 0
    outputs: int = 0
    extracted: int = 0
    scores: int = 0
    compared_scores: int = 0
    """Items whose per-item correctness OpenCompass reports (its evaluator's details)."""
    oc_score: float | None = None
    """The reference harness's score: OpenCompass's, or lm-eval's where ``reference`` says."""
    evals_score: float | None = None
    notes: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    data: str = "shared"
    """Where the items came from: the shared data, or the repository's test fixtures (no
    real data here)."""
    reference: str = "OpenCompass"
    wall_s: float = 0.0
    """This row's share of its half's wall time (both harnesses)."""


# --- evals ---------------------------------------------------------------------------------


SHOTS = {"triviaqa": 5}
"""Where the report's shot count is not a member of the OpenCompass config family evals
follows, both harnesses run the config's nearest member: TriviaQA's header says 4-shot and
``triviaqa_wiki_gen_d18bf4`` has k in (0, 1, 5, 25), so the comparison is 5-shot."""


def suite_lines(kind: ModelKind, names: Sequence[str], n: int) -> list[dict[str, Any]]:
    """The benchmarks' lines of the report's suite for this half, with ``limit: n`` (and the
    shot counts of ``SHOTS``)."""
    spec = yaml.safe_load(SUITES[kind].read_text(encoding="utf-8"))
    lines = [dict(line, limit=n, **({"shots": SHOTS[line["name"]]} if line["name"] in SHOTS
                                    else {}))
             for line in spec["benchmarks"] if line["name"] in names]
    missing = sorted(set(names) - {line["name"] for line in lines})
    if missing:
        raise SystemExit(f"not in {SUITES[kind].name}: {', '.join(missing)}")
    return lines


def write_evals(s: Settings, kind: ModelKind, names: Sequence[str],
                lines: Sequence[dict[str, Any]] | None = None, folder: str = "") -> Path:
    """evals' config and suite for one half: the report suite's lines of ``names`` (or
    ``lines`` as given) in ``<work>/<folder or evals-half>``."""
    root = s.work / (folder or f"evals-{kind.value}")
    (root / "suites").mkdir(parents=True, exist_ok=True)
    suite = {"name": "fidelity",
             "benchmarks": list(lines) if lines is not None else suite_lines(kind, names, s.n)}
    (root / "suites" / "fidelity.yaml").write_text(yaml.safe_dump(suite), encoding="utf-8")
    config = {
        "data_dir": str(s.data_dir), "output_dir": "out", "cache_dir": "cache",
        "models": [{"name": MODEL_ABBR, "path": s.model, "kind": kind.value,
                    "stage": "base" if kind is ModelKind.BASE else "sft"}],
        "suites": ["fidelity"],
        "runner": {"backend": "mock" if s.mode == "replay" else "vllm", "dtype": "float32",
                   "max_model_len": s.max_model_len},
    }
    cfg = root / "evals.yaml"
    cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
    return cfg


def plan(cfg: Path) -> tuple[str, list[PlannedBenchmark]]:
    config = load_config(cfg)
    suite = load_suite(cfg.parent / "suites" / "fidelity.yaml")
    model_path, plans = plan_model(config, cfg.parent, config.models[0], [suite])
    return model_path, plans[0].benchmarks


def run_evals(cfg: Path) -> Path:
    log = cfg.parent / "run.log"
    with open(log, "w", encoding="utf-8") as out:
        done = subprocess.run([str(VENV_BIN / "evals"), "run", "--config", str(cfg)],
                              stdout=out, stderr=subprocess.STDOUT, env=_env(), check=False)
    if done.returncode != 0:
        raise SystemExit(f"evals run failed; see {log}")
    return cfg.parent / "out" / MODEL_ABBR / "fidelity"


def evals_results(run_dir: Path, name: str) -> list[SampleResult]:
    path = run_dir / "predictions" / f"{name}.jsonl"
    return [SampleResult.from_json(json.loads(line))
            for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def evals_score(run_dir: Path, name: str) -> float | None:
    data = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    for b in data["benchmarks"]:
        if b["benchmark"] == name:
            return float(b["primary"]["value"])
    return None


# --- OpenCompass ---------------------------------------------------------------------------

MODEL = {
    ModelKind.BASE: "VLLM",
    ModelKind.CHAT: "VLLMwithChatTemplate",
}
"""OpenCompass's wrappers on the same engine. With a model, the base half runs ``VLLM`` with
its HuggingFace wrapper's log-likelihood formula (``oc_fidelity.VLLMSummedLoglikelihood``:
the report ran the HuggingFace wrappers, and this is the one place their formulas differ for
the benchmarks here); everything else is the VLLM wrapper as shipped, on an engine that cuts
prompts over the model's window in the middle (``oc_fidelity.MiddleCut``, the chat wrapper
``ChatMiddleCut``): L-Eval's and LongBench's, which 0.5.4's VLLM wrappers would send whole."""
MAX_OUT_LEN = 512
"""The wrappers' ``max_out_len``: what a dataset config without its own generates up to."""
CHAT_META = """
    meta_template=dict(round=[dict(role='HUMAN', api_role='HUMAN'),
                              dict(role='BOT', api_role='BOT', generate=True)],
                       reserved_roles=[dict(role='SYSTEM', api_role='HUMAN')]),"""
"""The chat wrapper's meta template: OpenCompass 0.5.4's default adds a SYSTEM slot mapped to
HUMAN to every round, which appends "\\n" to every user turn when it merges the empty slot
(an artifact of that wrapper: the report's InternLM2 chat meta template has no such slot).
With SYSTEM as a reserved role mapped to HUMAN (as the default maps it, "on purpose"), a
config's system instruction joins the user turn after it and every other turn reaches the
chat template as the dataset config writes it, so both harnesses ask the same."""

CONFIG = '''from mmengine.config import read_base
{model_import}

with read_base():
{imports}

DATA = {data!r}
datasets = []
{code}
models = [dict(
    type={model_type}, abbr={abbr!r}, path={model!r}, max_seq_len={max_len},{meta}
    model_kwargs=dict(dtype='float32', max_model_len={max_len}, enforce_eager=True,
                      enable_prefix_caching=True, seed=0),
    generation_kwargs=dict(temperature=0), max_out_len={max_out}, batch_size=1024,
    run_cfg=dict(num_gpus=0))]
'''


def write_opencompass(s: Settings, kind: ModelKind, model_path: str,
                      plans: dict[str, OCPlan]) -> Path:
    """The config OpenCompass's CLI runs; in ``dry`` and ``replay`` mode its wrappers without
    a model (``dry_models.py``)."""
    root = s.work / f"oc-{kind.value}"
    prefix = {"model": "", "dry": "Dry", "replay": "Replay"}[s.mode]
    model_type = prefix + MODEL[kind]
    if s.mode == "model":
        model_type = "VLLMSummedLoglikelihood" if kind is ModelKind.BASE else "ChatMiddleCut"
    model_import = (f"from oc_fidelity import {model_type}" if s.mode == "model"
                    else f"from dry_models import {model_type}")
    imports = dict.fromkeys(line for p in plans.values() for line in p.imports)
    code = "\n".join(p.code for p in plans.values())
    cfg = root / "fidelity_config.py"
    cfg.write_text(CONFIG.format(
        model_type=model_type, model_import=model_import,
        imports="\n".join(f"    {i}" for i in imports),
        data=str(root / "data"), code=code, abbr=MODEL_ABBR, model=model_path,
        max_len=s.max_model_len, max_out=MAX_OUT_LEN,
        meta=CHAT_META if kind is ModelKind.CHAT else ""),
        encoding="utf-8")
    return cfg


def run_opencompass(s: Settings, cfg: Path) -> Path:
    """OpenCompass's CLI on ``cfg``: inference as one task (one engine load for every
    dataset), then, unless ``dry`` (prompts only), its evaluation tasks two at a time (one
    process per dataset, most of whose time is OpenCompass's import)."""
    sys.path.insert(0, str(REPO / "bench"))
    import _opencompass

    out = cfg.parent / "out"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    path = os.pathsep.join([str(_opencompass.site(s.work)), str(Path(__file__).parent),
                            *filter(None, [os.environ.get("PYTHONPATH")])])
    log = cfg.parent / "run.log"
    steps = [["-m", "infer", "--max-num-workers", "1"]]
    if s.mode != "dry":
        steps.append(["-m", "eval", "-r", "--max-num-workers", "2", "--dump-eval-details"])
    for step in steps:
        with open(log, "a" if step is not steps[0] else "w", encoding="utf-8") as f:
            done = subprocess.run(
                [sys.executable, "-m", "opencompass.cli.main", str(cfg), "-w", str(out), *step],
                stdout=f, stderr=subprocess.STDOUT, env=_env({"PYTHONPATH": path}), check=False)
        failed = [line.split("task ", 1)[-1] for line in log.read_text(encoding="utf-8")
                  .splitlines() if " fail, see" in line and "OpenICLInfer" in line]
        if done.returncode != 0 or failed:  # the CLI exits 0 when its tasks fail
            raise SystemExit(f"OpenCompass failed ({(failed or [''])[0][:200]}); see {log}")
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def eval_failure(run: Path, abbr: str) -> str | None:
    """The last line of an evaluation task's log when it wrote no results (an evaluator
    that cannot run here); None when it did."""
    if (run / "results" / MODEL_ABBR / f"{abbr}.json").is_file():
        return None
    log = run / "logs" / "eval" / MODEL_ABBR / f"{abbr}.out"
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() \
        if log.is_file() else []
    return lines[-1][:300] if lines else "no log"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    from evals.backends.vllm_backend import CPU_ENV

    return {"OMP_NUM_THREADS": "2", **CPU_ENV, **os.environ, **(extra or {})}


def oc_predictions(run: Path, abbr: str) -> dict[str, Any]:
    path = run / "predictions" / MODEL_ABBR / f"{abbr}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def oc_results(run: Path, abbr: str) -> dict[str, Any]:
    path = run / "results" / MODEL_ABBR / f"{abbr}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


# --- comparison ----------------------------------------------------------------------------


def our_prompts(requests: Sequence[Request]) -> list[Any]:
    """The texts evals sent, in the shape OpenCompass records: one string per label for PPL,
    the text (base) or the messages (chat) for generation."""
    first = requests[0]
    if isinstance(first, LoglikelihoodRequest):
        return [_plain(r.context) + r.continuation for r in requests
                if isinstance(r, LoglikelihoodRequest)]
    assert isinstance(first, GenerateRequest)
    return [_plain(first.prompt)]


def _plain(prompt: TextPrompt | ChatPrompt) -> Any:
    if isinstance(prompt, TextPrompt):
        return prompt.text
    return [(m.role, m.content) for m in prompt.messages]


def their_prompts(record: dict[str, Any], chat: bool = False) -> list[Any]:
    """What OpenCompass sent, from the prompt its predictions record. For the chat half that
    is the wrapper's own conversion (``_convert_chat_messages``): a string is one user turn,
    empty turns are dropped, consecutive turns of one role are joined with a newline."""
    labels = [k for k in record if k.startswith("label: ")]
    if labels:
        return [record[k]["prompt"] for k in labels]
    prompt = record.get("origin_prompt")
    if isinstance(prompt, list):
        return [_as_messages(prompt)]
    if chat and isinstance(prompt, str):
        return [[("user", prompt)]]
    return [prompt]


def _as_messages(prompt: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    messages: list[tuple[str, str]] = []
    for m in prompt:
        text = str(m.get("prompt") or "")
        if not text:
            continue
        role = ROLES.get(str(m.get("role")), str(m.get("role")))
        if messages and messages[-1][0] == role:
            messages[-1] = (role, messages[-1][1] + "\n" + text)
        else:
            messages.append((role, text))
    return messages


def compare(name: str, setting: str, pb: PlannedBenchmark, ours: Sequence[SampleResult],
            plan_: OCPlan, run: Path, evals_run: Path) -> Row:
    row = Row(name, setting, len(pb.samples), notes=list(plan_.notes))
    preds: dict[str, dict[str, Any]] = {}
    details: dict[str, Any] = {}
    for loc in plan_.located:
        if loc.abbr not in preds:
            preds[loc.abbr] = oc_predictions(run, loc.abbr)
            details[loc.abbr] = oc_results(run, loc.abbr).get("details", {})
    cuts: dict[str, int] = {"stop": 0, "length": 0}
    for i, (reqs, result, loc) in enumerate(zip(pb.requests, ours, plan_.located, strict=True)):
        rows = [_located_row(preds, details, loc.abbr, loc.index + k) for k in range(loc.span)]
        same_prompt, same_out, cut = _same_texts(reqs, result, rows, setting == "chat")
        row.prompts += same_prompt
        cuts[cut] = cuts.get(cut, 0) + 1
        row.outputs += same_out
        theirs_extracted, correct = _joined(rows) if loc.span > 1 else rows[0][1:]
        same_extracted = _norm(theirs_extracted) == _norm(result.score.extracted)
        row.extracted += same_extracted
        same_score = True
        if correct is not None:
            row.compared_scores += 1
            same_score = bool(correct) == (result.score.value > 0)
            row.scores += same_score
        if not (same_prompt and same_out and same_extracted and same_score) and \
                len(row.examples) < 3:
            row.examples.append(_example(i, result, theirs_extracted, correct, same_prompt,
                                         same_out, same_extracted, same_score))
    for abbr in preds:
        why = eval_failure(run, abbr)
        if why is not None:
            row.notes.append(f"OpenCompass's evaluation of {abbr} wrote no result: {why}")
    if cuts["stop"]:
        row.notes.append(f"{cuts['stop']} of {row.n} outputs: evals stopped at a stop string of "
                         "its own where OpenCompass generated on; OpenCompass's text cut there "
                         "is evals' (counted as equal), its postprocessing cuts there too")
    if cuts["length"]:
        first = pb.requests[0][0]
        limit = first.params.max_tokens if isinstance(first, GenerateRequest) else "?"
        row.notes.append(f"{cuts['length']} of {row.n} outputs: evals' is the start of "
                         f"OpenCompass's, cut at its max_tokens ({limit}) where OpenCompass "
                         f"generates up to the model's max_out_len ({MAX_OUT_LEN}); counted as "
                         "equal, the extraction column says whether the rest mattered")
    row.evals_score = evals_score(evals_run, name)
    row.oc_score = _oc_score({a: oc_results(run, a) for a in preds})
    return row


OCRow = tuple[dict[str, Any], object, object]
"""One OpenCompass row: its predictions record, what it extracted, whether it was right."""


def _located_row(preds: dict[str, dict[str, Any]], details: dict[str, Any], abbr: str,
                 index: int) -> OCRow:
    record = preds[abbr].get(str(index), {})
    extracted, correct = oc_detail(details[abbr], index, record)
    return record, as_letter(record, extracted), correct


def _same_texts(requests: Sequence[Request], result: SampleResult, rows: Sequence[OCRow],
                chat: bool) -> tuple[bool, bool, str]:
    """(prompts identical, outputs equal, how: "" as they are, "stop" or "length" once
    OpenCompass's text is cut where evals' stopped) over a sample's rows: one row for every
    request but a PPL benchmark's (one row, a prompt per label), whose requests are its
    labels."""
    if len(rows) == 1:
        prompt = their_prompts(rows[0][0], chat) == our_prompts(requests)
        out, cut = same_output(requests, result, rows[0][0])
        return prompt, out, cut
    pairs = list(zip(requests, result.outputs, rows, strict=True))
    prompt = all(their_prompts(r[0], chat) == our_prompts([q]) for q, _, r in pairs)
    outs = [same_output([q], replace(result, outputs=(text,)), r[0]) for q, text, r in pairs]
    return prompt, all(o for o, _ in outs), next((c for _, c in outs if c), "")


def _joined(rows: Sequence[OCRow]) -> tuple[str, bool | None]:
    """A circular question's extraction as evals writes it (one letter per rotation, "-" for
    none) and its verdict as CircularEvaluator's ``perf_4`` counts it: right under every
    rotation."""
    letters = "".join(_norm(extracted) or "-" for _, extracted, _ in rows)
    verdicts = [correct for _, _, correct in rows]
    return letters, None if None in verdicts else all(bool(v) for v in verdicts)


def oc_detail(details: Any, index: int, record: dict[str, Any]) -> tuple[object, object]:
    """(what OpenCompass's postprocessing extracted, whether it scored the item correct or
    None when its evaluator does not say), from ``--dump-eval-details``: a dict per item
    (PPL, or formatted details) or the evaluator's own list."""
    item: Any = {}
    if isinstance(details, dict):
        item = details.get(str(index), {})
        pred = item.get("predictions", item.get("completion", record.get("prediction")))
        correct = item.get("correct", item.get("is_correct", _circular(item, pred)))
    elif isinstance(details, list) and index < len(details):
        item = details[index]
        pred = item.get("pred", item.get("prediction", record.get("prediction")))
        if isinstance(item.get("programs"), list) and item["programs"]:  # MBPPEvaluator:
            pred = item["programs"][0][0]  # [[extracted code, its asserts]] per reply
        correct = item.get("correct", item.get("is_correct"))
    else:
        pred, correct = record.get("prediction"), None
    return _one(pred), _one(correct)


def _circular(item: dict[str, Any], pred: object) -> bool | None:
    """CircularEvaluator's row verdict: its reference is ``index--answer--pattern`` (the
    answer under this row's rotation), and a row is right when the extraction is it."""
    parts = str(item.get("references", "")).split("--")
    return _one(pred) == parts[1] if len(parts) == 3 else None


def as_letter(record: dict[str, Any], value: object) -> object:
    """A PPL label that is not a letter (HellaSwag's 0-3) as the letter of its position,
    which is what evals records."""
    labels = [k.removeprefix("label: ") for k in record if k.startswith("label: ")]
    if labels and str(value) in labels and not str(value).isalpha():
        return "ABCDEFGH"[labels.index(str(value))]
    return value


def _one(value: object) -> object:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _norm(value: object) -> str:
    """An extraction as text; OpenCompass's per-question lists (GAOKAO: ``[['A'], ['B', 'C']]``)
    as evals writes them: one answer per question, joined with ``,``. GAOKAO's evaluator
    writes ``'Z'`` for every answer when it found none (or too few): that is evals' None."""
    if isinstance(value, list):
        flat = [str(x) for v in value for x in (v if isinstance(v, list) else [v])]
        if flat and set(flat) == {"Z"}:  # GaokaoBenchEvaluator.ensure_same_length: no answer
            return ""
        return ",".join("".join(map(str, v)) if isinstance(v, list) else str(v) for v in value)
    return "" if value is None else str(value).strip()


def same_output(requests: Sequence[Request], result: SampleResult,
                record: dict[str, Any]) -> tuple[bool, str]:
    """(the output is the same, "" or how OpenCompass's text had to be cut to be it: at one
    of evals' stop strings, "stop", or at evals' max_tokens, "length": evals' text is the
    start of OpenCompass's, greedy decoding of the same prompt with a lower limit). A PPL
    output is the option picked: OpenCompass's label, by its position among the labels,
    against evals' letter."""
    first = requests[0]
    if isinstance(first, LoglikelihoodRequest):
        labels = [k.removeprefix("label: ") for k in record if k.startswith("label: ")]
        theirs = str(record.get("prediction"))
        picked = labels.index(theirs) if theirs in labels else -1
        ours = result.score.extracted or ""
        return picked >= 0 and (labels[picked] == ours or "ABCDEFGH"[picked] == ours), ""
    assert isinstance(first, GenerateRequest)
    ours = result.outputs[0] if result.outputs else ""
    theirs = str(record.get("prediction", ""))
    if theirs == ours:
        return True, ""
    cut, stopped = truncate_at_stop(theirs, first.params.stop)
    if stopped and cut == ours:
        return True, "stop"
    if ours and theirs.startswith(ours) and first.params.max_tokens < MAX_OUT_LEN:
        return True, "length"
    return False, ""


def _example(i: int, ours: SampleResult, theirs: object, correct: object, prompt: bool,
             out: bool, extracted: bool, score: bool) -> str:
    what = [w for w, same in (("prompt", prompt), ("output", out), ("extracted", extracted),
                              ("score", score)) if not same]
    return (f"item {i} ({ours.sample_id}): {', '.join(what)} differ; OpenCompass extracted "
            f"{_short(theirs)} (correct: {correct}) vs evals {_short(ours.score.extracted)} "
            f"(score {ours.score.value:g})")


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


METRIC_KEYS = ("accuracy", "score", "pass@1", "humaneval_pass@1", "bleu", "rouge1", "acc",
               "naive_average", "weighted_average")


def _oc_score(results: dict[str, dict[str, Any]]) -> float | None:
    """The benchmark's number from OpenCompass's results files: the first known metric of
    each dataset, averaged naively over the datasets (subjects, tasks)."""
    values = []
    for data in results.values():
        key = next((k for k in METRIC_KEYS if isinstance(data.get(k), int | float)), None)
        if key is not None:
            values.append(float(data[key]))
    return sum(values) / len(values) if values else None
