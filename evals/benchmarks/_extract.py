"""Answer extraction several dimensions share (MATH's and AGIEval's boxed answers)."""

from __future__ import annotations


def last_boxed_only_string(string: str) -> str | None:
    """The last ``\\boxed{...}`` (or ``\\fbox{...}``) with balanced braces, or None.

    Upstream's, not lm-eval's: lm-eval also accepts ``\\boxed 5``, OpenCompass does not."""
    idx = string.rfind("\\boxed")
    if idx < 0:
        idx = string.rfind("\\fbox")
        if idx < 0:
            return None
    depth = 0
    for i in range(idx, len(string)):
        if string[i] == "{":
            depth += 1
        if string[i] == "}":
            depth -= 1
            if depth == 0:
                return string[idx: i + 1]
    return None
