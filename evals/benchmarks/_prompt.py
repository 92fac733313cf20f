"""OpenCompass's prompt rounds: one description renders a base model's text and a chat
model's messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evals.records import (
    ChatPrompt,
    Message,
    ModelKind,
    Prompt,
    TextPrompt,
)


@dataclass(frozen=True)
class Round:
    """One turn of an OpenCompass template: HUMAN (user) or BOT (assistant)."""

    role: str
    text: str


def rounds_to_prompt(rounds: Sequence[Round], kind: ModelKind) -> Prompt:
    """Chat models get the turns as messages (the tokenizer's chat template renders them);
    base models get them joined by newlines, as OpenCompass's template parser does for a
    model without a meta template (``opencompass/models/base.py``, ``last_sep = '\\n'``)."""
    if kind is ModelKind.CHAT:
        return ChatPrompt(
            tuple(Message("user" if r.role == "HUMAN" else "assistant", r.text) for r in rounds)
        )
    return TextPrompt("\n".join(r.text for r in rounds if r.text))
