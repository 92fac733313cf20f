"""OpenCompass's own model wrappers without a model, for ``run.py --dry``: the prompts
OpenCompass builds are recorded (its template parsing, the chat template's message list)
while every generation is empty and every option scores 0. Checking an adapter's prompts
then costs OpenCompass's start-up and the tokenizer, not a model load or generation."""

from __future__ import annotations

from typing import Any

from opencompass.models import VLLM, VLLMwithChatTemplate


class _NoEngine:
    def __init__(self, path: str) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)

    def get_tokenizer(self) -> Any:
        return self.tokenizer


class DryVLLM(VLLM):  # type: ignore[misc]
    def _load_model(self, path: str, *args: Any, **kwargs: Any) -> None:
        self.model = _NoEngine(path)

    def generate(self, inputs: list[str], max_out_len: int, *args: Any, **kwargs: Any) -> list[str]:
        return ["" for _ in inputs]

    def get_ppl(self, inputs: list[str], mask_length: Any = None) -> Any:
        import numpy as np

        return np.zeros(len(inputs))

    def get_loglikelihood(self, inputs: list[str], conts: list[str]) -> Any:
        import numpy as np

        return np.zeros(len(inputs))


class DryVLLMwithChatTemplate(VLLMwithChatTemplate):  # type: ignore[misc]
    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(path, **{**kwargs, "tokenizer_only": True})

    def generate(self, inputs: list[Any], max_out_len: int, *args: Any, **kwargs: Any) -> list[str]:
        return ["" for _ in inputs]
