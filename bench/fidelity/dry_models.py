"""OpenCompass's own model wrappers without a model.

``run.py --dry``: the prompts OpenCompass builds are recorded (its template parsing, the chat
template's message list) while every generation is empty and every option scores 0. Checking
an adapter's prompts then costs OpenCompass's start-up and the tokenizer, not a model load.

``run.py --replay``: each generation is the reply evals' scripted mock backend gives the same
prompt (``evals.backends.mock.scripted_reply``, cut at the wrapper's stop words as vLLM cuts
it), while evals runs on that mock backend. Both pipelines then score identical texts, so
the comparison checks everything but the model: prompts, stops, OpenCompass's
postprocessors and evaluators against evals' extraction and scoring, in seconds per item.
Only generation benchmarks replay (a PPL option's score would need evals' context split).
"""

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


def _replies(prompts: list[Any], stops: list[str]) -> list[str]:
    from evals.backends.base import truncate_at_stop
    from evals.backends.mock import scripted_reply

    return [truncate_at_stop(scripted_reply(p), stops)[0] for p in prompts]


class ReplayVLLM(DryVLLM):
    def generate(self, inputs: list[str], max_out_len: int, stopping_criteria: list[str] = [],  # noqa: B006
                 **kwargs: Any) -> list[str]:
        from evals.records import TextPrompt

        return _replies([TextPrompt(x) for x in inputs],
                        list({*self.stop_words, *stopping_criteria}))


class ReplayVLLMwithChatTemplate(DryVLLMwithChatTemplate):
    def generate(self, inputs: list[Any], max_out_len: int, stopping_criteria: list[str] = [],  # noqa: B006
                 **kwargs: Any) -> list[str]:
        from opencompass.models.huggingface_above_v4_33 import _convert_chat_messages

        from evals.records import ChatPrompt, Message

        prompts = [ChatPrompt(tuple(Message(m["role"], m["content"]) for m in conv))
                   for conv in _convert_chat_messages(inputs)]
        return _replies(prompts, list({*self.stop_words, *stopping_criteria}))
