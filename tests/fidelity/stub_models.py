"""OpenCompass's own model wrappers over stub models, run in the reference environment.

``STUBS`` defines ``vllm_model()`` (``opencompass.models.vllm.VLLM`` over a stub engine that
returns ``prompt_logprobs``) and ``hf_model()`` (the report-era
``opencompass.models.huggingface.HuggingFaceCausalLM`` over stub logits) for a word-level
vocabulary ``DATA["vocab"]``: log p(next | previous) comes from ``DATA["lp"]`` (keys
``"prev|next"``, otherwise ``default_lp``: a fixed hash of the pair), identically in both,
so tests see only the wrappers' own arithmetic (``get_ppl``, ``get_loglikelihood``) and
evals' on the same numbers
(``log_prob``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from itertools import pairwise

STUBS = r"""
import numpy as np, torch, types, zlib
V = DATA["vocab"]; LP = {tuple(k.split("|")): v for k, v in DATA["lp"].items()}
PAD = len(V); INDEX = {w: i for i, w in enumerate(V)}
def ids(text): return [INDEX[w] for w in text.split()]
def lp(prev, tok):
    return LP.get((prev, tok), -0.01 - (zlib.crc32(f"{prev}|{tok}".encode()) % 1000) / 200)

def vllm_model():
    vm = oc("opencompass.models.vllm")
    vm.SamplingParams = lambda **kw: kw  # no vllm in the reference environment
    class Logprob:
        def __init__(self, v): self.logprob = v
    class Engine:
        def generate(self, inputs, params):
            outs = []
            for text in inputs:
                t = ids(text)
                plp = [None] + [{t[j]: Logprob(lp(V[t[j-1]], V[t[j]]))} for j in range(1, len(t))]
                outs.append(types.SimpleNamespace(prompt_logprobs=plp, prompt_token_ids=t))
            return outs
        def get_tokenizer(self):
            return types.SimpleNamespace(encode=lambda s, add_special_tokens=True: ids(s))
    v = vm.VLLM.__new__(vm.VLLM); v.model = Engine(); v.generation_kwargs = {}
    return v

def _logits(rows):
    L = max(len(r) for r in rows)
    logits = torch.full((len(rows), L, len(V) + 1), -1e9)
    for i, r in enumerate(rows):
        for j in range(len(r) - 1):
            p = float(np.exp(lp(V[r[j]], V[r[j + 1]])))
            logits[i, j, :len(V)] = float(np.log((1 - p) / (len(V) - 1)))
            logits[i, j, r[j + 1]] = float(np.log(p))
    return logits

def hf_model():
    hm = oc("opencompass.models.huggingface")
    class Tok:
        padding_side = "right"; pad_token = "<pad>"; pad_token_id = PAD
        def __call__(self, texts, **kw):
            if isinstance(texts, str):
                return {"input_ids": ids(texts)}
            t = [ids(x) for x in texts]
            out = {"input_ids": torch.tensor(t), "length": torch.tensor([len(x) for x in t])}
            return types.SimpleNamespace(to=lambda d: out)
    h = hm.HuggingFaceCausalLM.__new__(hm.HuggingFaceCausalLM)
    h.tokenizer = Tok(); h.max_seq_len = 256; h.batch_padding = False
    h.model = types.SimpleNamespace(device="cpu")
    h.model = lambda input_ids: {"logits": _logits([list(map(int, r)) for r in input_ids])}
    h.model.device = "cpu"
    def get_logits(inputs):  # the forward pass only; get_ppl's arithmetic is OpenCompass's
        t = [ids(x) for x in inputs]
        return _logits(t), {"tokens": {"input_ids": torch.tensor(t)}}
    h.get_logits = get_logits
    return h
"""


def default_lp(prev: str, token: str) -> float:
    return -0.01 - (zlib.crc32(f"{prev}|{token}".encode()) % 1000) / 200


def log_prob(text: str, table: Mapping[str, float], after: str = "") -> tuple[float, int]:
    """evals' side of the same stub: the summed log-probability of ``text``'s tokens (the
    first conditioned on ``after``'s last word, or skipped without one) and their count."""
    words = text.split()
    pairs = pairwise([after.split()[-1], *words] if after.split() else words)
    return sum(table.get(f"{a}|{b}", default_lp(a, b)) for a, b in pairs), len(words)
