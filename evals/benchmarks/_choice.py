"""Multiple choice: PPL picks (OpenCompass's and lm-eval's formulas) and option-letter
extraction from replies."""

from __future__ import annotations

import re
from collections.abc import Sequence

from evals.records import (
    LoglikelihoodResponse,
    Response,
    Score,
)

LETTERS = "ABCDEFGHIJ"


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
