"""Pieces several benchmarks share: OpenCompass prompt rounds, option extraction, PPL scoring."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from evals.errors import DataError
from evals.records import (
    ChatPrompt,
    LoglikelihoodResponse,
    Message,
    ModelKind,
    Prompt,
    Response,
    Score,
    TextPrompt,
)

LETTERS = "ABCDEFGHIJ"


def read_text(path: Path) -> str:
    """A data file's text, gunzipped when it ends in .gz (large shared files are)."""
    raw = path.read_bytes()
    return (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8")


T = TypeVar("T")


def numbered_jsonl(path: Path) -> list[tuple[int, Any]]:
    """(line number, record) of each non-blank line, split on "\n" only: str.splitlines()
    would also split on U+0085 and U+2028, which occur inside some records. A line that is
    not JSON is a DataError naming the file and line."""
    rows = []
    for i, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            rows.append((i, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{i}: invalid JSON ({exc.msg})") from None
    return rows


def jsonl_records(lines: Iterable[str], where: str, what: str,
                  build: Callable[[int, Any], T]) -> list[T]:
    """``build(i, record)`` for each non-blank line, ``i`` its 0-based line number (which
    several benchmarks keep as the item id). A line that is not JSON, or a record ``build``
    cannot read (a missing key, a wrong type), is a DataError naming the file, the line and
    the record expected."""
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(build(i, json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{where}:{i + 1}: not a {what} record ({exc})") from None
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in numbered_jsonl(path)]


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


def responses_as(responses: Sequence[Response], cls: type[LoglikelihoodResponse]) -> list[
    LoglikelihoodResponse
]:
    out = [r for r in responses if isinstance(r, cls)]
    if len(out) != len(responses):
        raise TypeError("expected loglikelihood responses")
    return out


def _argmax(values: Sequence[float]) -> int:
    """First index of the maximum, as numpy's argmax (ties go to the earliest option)."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def score_ppl(
    responses: Sequence[Response], gold: int, choices: Sequence[str]
) -> Score:
    """OpenCompass PPL (argmin of mean token cross-entropy over the whole sequence) as the
    primary value, and lm-eval's ``acc`` (argmax summed continuation log-probability) and
    ``acc_norm`` (divided by the choice's character length) as extras."""
    lls = responses_as(responses, LoglikelihoodResponse)
    ce = shared_context_mean_ce(lls)
    acc = _argmax([r.logprob for r in lls])
    pred = acc if ce is None else _argmax([-x for x in ce])
    acc_norm = _argmax([r.logprob / len(c) for r, c in zip(lls, choices, strict=True)])
    return Score(
        value=float(pred == gold),
        extracted=LETTERS[pred],
        extras=(("acc_ll", float(acc == gold)), ("acc_norm", float(acc_norm == gold))),
        detail=("ll=" + ",".join(f"{r.logprob:.4f}" for r in lls)) if ce is None
        else "mean_ce=" + ",".join(f"{x:.4f}" for x in ce),
    )


def shared_context_mean_ce(lls: Sequence[LoglikelihoodResponse]) -> list[float] | None:
    """OpenCompass's mean token cross-entropy over context + option, for options that share
    one context. An option scored in one pass with its siblings (``choice_groups``) has no
    context log-probability: it is taken from a sibling that has one. When none has, every
    option is one token long, and the mean cross-entropy orders them exactly as their own
    log-probabilities do: None tells the caller to rank by those."""
    known = [r.context_logprob for r in lls if r.context_logprob is not None]
    if not known:
        return None
    ctx = known[0]
    return [
        -((ctx if r.context_logprob is None else r.context_logprob) + r.logprob)
        / (r.context_tokens + r.tokens)
        for r in lls
    ]


# OpenCompass ``first_option_postprocess`` (opencompass 0.5.4, utils/text_postprocessors.py):
# an ordered cascade of Chinese and English answer patterns, then a bare-letter fallback.
def _option_patterns(o: str) -> list[str]:
    return [
        rf"答案是?\s*([{o}])",
        rf"答案是?\s*：\s*([{o}])",
        rf"答案是?\s*:\s*([{o}])",
        rf"答案选项应?该?是\s*([{o}])",
        rf"答案选项应?该?为\s*([{o}])",
        rf"答案应该?是\s*([{o}])",
        rf"答案应该?选\s*([{o}])",
        rf"答案选项为?\s*：\s*([{o}])",
        rf"答案选项为?\s+\(?\*?\*?([{o}])\*?\*?\)?",
        rf"答案选项是?\s*:\s*([{o}])",
        rf"答案为\s*([{o}])",
        rf"答案选\s*([{o}])",
        rf"选择?\s*([{o}])",
        # upstream lacks a comma after the next pattern, so Python joins it with the one after
        rf"故选?\s*([{o}])只有选?项?\s?([{o}])\s?是?对",
        rf"只有选?项?\s?([{o}])\s?是?错",
        rf"只有选?项?\s?([{o}])\s?不?正确",
        rf"只有选?项?\s?([{o}])\s?错误",
        rf"说法不?对选?项?的?是\s?([{o}])",
        rf"说法不?正确选?项?的?是\s?([{o}])",
        rf"说法错误选?项?的?是\s?([{o}])",
        rf"([{o}])\s?是正确的",
        rf"([{o}])\s?是正确答案",
        rf"选项\s?([{o}])\s?正确",
        rf"所以答\s?([{o}])",
        rf"所以\s?([{o}][.。$]?$)",
        rf"所有\s?([{o}][.。$]?$)",
        rf"[\s，：:,]([{o}])[。，,\.]?$",
        rf"[\s，,：:][故即]([{o}])[。\.]?$",
        rf"[\s，,：:]因此([{o}])[。\.]?$",
        rf"[是为。]\s?([{o}])[。\.]?$",
        rf"因此\s?([{o}])[。\.]?$",
        rf"显然\s?([{o}])[。\.]?$",
        r"答案是\s?(\S+)(?:。|$)",
        r"答案应该是\s?(\S+)(?:。|$)",
        r"答案为\s?(\S+)(?:。|$)",
        rf"(?i)ANSWER\s*:\s*([{o}])",
        rf"[Tt]he answer is:?\s+\(?([{o}])\)?",
        rf"[Tt]he answer is:?\s+\(?\*?\*?([{o}])\*?\*?\)?",
        rf"[Tt]he answer is option:?\s+\(?([{o}])\)?",
        rf"[Tt]he correct answer is:?\s+\(?([{o}])\)?",
        rf"[Tt]he correct answer is option:?\s+\(?([{o}])\)?",
        rf"[Tt]he correct answer is:?.*?boxed{{([{o}])}}",
        rf"[Tt]he correct option is:?.*?boxed{{([{o}])}}",
        rf"[Tt]he correct answer option is:?.*?boxed{{([{o}])}}",
        rf"[Tt]he answer to the question is:?\s+\(?([{o}])\)?",
        rf"^选项\s?([{o}])",
        rf"^([{o}])\s?选?项",
        rf"(\s|^)[{o}][\s。，,：:\.$]",
        r"1.\s?(.*?)$",
        rf"1.\s?([{o}])[.。$]?$",
        rf"([{o}]):",
        rf"([{o}])",
    ]


def first_option(text: str, options: str = "ABCD") -> str | None:
    """The option letter a free-form answer picks, or None when none can be found."""
    text = text.strip()
    for pattern in _option_patterns(options):
        match = re.search(pattern, text, re.DOTALL)
        if not match:
            continue
        outputs = match.group(1) if match.group(1) else match.group(0)
        for letter in options:
            if letter in outputs:
                return letter
    return None


def score_option(text: str, gold: str, options: str = "ABCD") -> Score:
    pred = first_option(text, options)
    if pred is None:
        return Score(0.0, None, parse_failed=True, detail="no option letter found")
    return Score(float(pred == gold), pred)
