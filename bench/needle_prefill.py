"""Prefill saved by the order evals sends needle requests in.

Builds the single-needle cells of ``needle_haystack/single_needle_en.yaml`` for the embedded
SmolLM2 (default lengths 1k-7.5k, 20 depths, 1 repeat), times building one 200k-token
context, then sends the same prompts to one ``vllm.LLM`` twice with one new token each
(prefill only), resetting the prefix cache in between: in the engine's order
(``evals.run.engine.prefix_order``: raw prompt text, so contexts sharing a haystack prefix run
back to back) and in a shuffled order (what a harness that keeps dataset order does: cells
are generated length by length, depth by depth, but interleaved across tests and shards).
Prints prompt tokens, tokens served from vLLM's prefix cache, and wall time for each.

The saving depends on how many contexts vLLM's KV cache holds: with room for all of them
any order finds its prefixes; at 200k tokens a GPU holds a few contexts, which ``--kv-gb``
emulates here (1 GB holds ~23k SmolLM2 fp32 tokens).

    OMP_NUM_THREADS=2 .venv/bin/python bench/needle_prefill.py [--lengths 1000,2000,4000] [--kv-gb 1]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

from transformers import AutoTokenizer

from evals.benchmarks.long_context.needle.cells import build_cells
from evals.benchmarks.long_context.needle.spec import load_spec
from evals.embedded import resolve_model_path
from evals.records import ChatPrompt, Message
from evals.run.engine import prefix_order

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", default="1000,2000,4000,7500")
    ap.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--kv-gb", default="4", help="VLLM_CPU_KVCACHE_SPACE (GB of KV cache)")
    args = ap.parse_args()
    path = resolve_model_path("embedded:smollm2-135m-instruct")
    tok = AutoTokenizer.from_pretrained(path)
    spec = load_spec(REPO / "needle_haystack" / "single_needle_en.yaml")

    def render(text: str) -> str:
        out: str = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                           add_generation_prompt=True)
        return out

    t0 = time.perf_counter()
    big = build_cells(spec.model_copy(update={"repeats": 1, "depths": (50,)}), tok,
                      Path(args.data_dir), 210_000, 512, (200_000,), render)
    print(f"200k context: {time.perf_counter() - t0:.1f} s to build (incl. haystack "
          f"tokenization), {big[0].context_tokens} context tokens")

    lengths = tuple(int(x) for x in args.lengths.split(","))
    cells = build_cells(spec.model_copy(update={"repeats": 1}), tok, Path(args.data_dir),
                        8192, 512, lengths, render)
    requests = [ChatPrompt((Message("user", c.prompt),)) for c in cells]
    engine_order = [render(p.messages[0].content) for p in sorted(requests, key=prefix_order)]
    print(f"{len(requests)} cells, lengths {lengths}, KV cache {args.kv_gb} GB")

    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = args.kv_gb
    import vllm

    llm = vllm.LLM(model=path, dtype="float32", max_model_len=8192, enforce_eager=True,
                   enable_prefix_caching=True, seed=0)
    params = vllm.SamplingParams(max_tokens=1, temperature=0.0)
    shuffled = engine_order[:]
    random.Random(0).shuffle(shuffled)
    for label, order in (("evals order", engine_order), ("shuffled", shuffled)):
        llm.reset_prefix_cache()
        t = time.perf_counter()
        outs = llm.generate(order, params, use_tqdm=False)
        wall = time.perf_counter() - t
        total = sum(len(o.prompt_token_ids or []) for o in outs)
        cached = sum(int(o.num_cached_tokens or 0) for o in outs)
        print(f"{label:22s} prompt tokens {total:,}  from prefix cache {cached:,} "
              f"({100 * cached / total:.0f}%)  prefilled {total - cached:,}  wall {wall:.1f} s")


if __name__ == "__main__":
    main()
