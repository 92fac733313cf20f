"""Reply cleanup HumanEval and HumanEval-X share (OpenCompass's postprocessors' first step)."""

from __future__ import annotations

import ast
import re


def first_code_block(text: str) -> str:
    """The step OpenCompass's HumanEval and HumanEval-X postprocessors share: a reply that is
    a quoted string literal is unquoted (``ast.literal_eval`` where upstream calls ``eval``),
    then the first fenced block is kept, minus its language tag line."""
    try:
        literal = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        pass
    else:
        if isinstance(literal, str):
            text = literal
    text = text.lstrip("\n")
    if "```" in text:
        blocks = re.findall(r"```(.*?)```", text, re.DOTALL)
        if not blocks:
            text = text.split("```")[1]
        else:
            text = blocks[0]
            if not text.startswith("\n"):
                text = text[max(text.find("\n") + 1, 0) :]
    return text
