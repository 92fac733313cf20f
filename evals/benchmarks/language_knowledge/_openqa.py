"""Open-domain QA pieces shared by TriviaQA and NaturalQuestions (OpenCompass 0.5.4).

``general_postprocess`` and the two evaluators' prediction clean-ups are transcribed from
``opencompass/utils/text_postprocessors.py`` and ``opencompass/datasets/{triviaqa,
natural_question}.py``. Both evaluators count a prediction correct when any normalised
reference is a *substring* of the normalised prediction (not exact match); see
``score_aliases`` for the one deliberate difference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.records import GenerateRequest, GenerationParams, ModelKind, Score


def general_postprocess(text: str) -> str:
    truncated = re.split(r"[\n.,]", text, maxsplit=1)[0]
    no_punctuation = re.sub(r"[^\w\s]", "", truncated)
    no_articles = re.sub(r"\b(a|an|the)\b", "", no_punctuation, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", no_articles).strip()


def triviaqa_prediction(text: str) -> str:
    """``TriviaQAEvaluator``: first line, lower-cased, after the last answer marker."""
    p = text.strip().split("\n")[0].lower()
    p = p.split("answer is")[-1].split("a:")[-1].split("answer:")[-1].strip()
    return general_postprocess(p)


def nq_prediction(text: str) -> str:
    """``NQEvaluator``: like TriviaQA's, but only ``answer is`` is cut."""
    p = text.strip().split("\n")[0].lower()
    if "answer is" in p:
        p = p.split("answer is")[-1]
    return general_postprocess(p)


def oc_match(pred: str, aliases: Sequence[str]) -> bool:
    """Upstream's rule exactly: any normalised alias is a substring of the prediction."""
    return any(general_postprocess(a).lower() in pred for a in aliases)


def score_aliases(pred: str, aliases: Sequence[str]) -> Score:
    """Primary value: upstream's rule over the aliases that survive normalisation.

    Deliberate difference: an alias that normalises to "" (emoji aliases such as "🐴", or
    "A. Lincoln", cut at its first period to the article "A") is a substring of every string,
    so upstream scores such an item correct whatever the model says (135 of the 3,000
    TriviaQA subset questions). We drop those aliases; upstream's value is kept as the extra
    ``accuracy_oc`` so the OpenCompass number can still be read off.
    """
    refs = [r for r in (general_postprocess(a).lower() for a in aliases) if r]
    extras = (("accuracy_oc", float(oc_match(pred, aliases))),)
    if not pred:
        return Score(0.0, None, parse_failed=True, extras=extras,
                     detail="empty answer after normalisation")
    return Score(float(any(r in pred for r in refs)), pred, extras=extras)


def fixk_request(
    shots: Sequence[tuple[str, str]], question: str, kind: ModelKind, max_tokens: int | None
) -> GenerateRequest:
    """OpenCompass's ``*_wiki`` / ``nq_open`` FixK template; ``shots`` are (HUMAN text, answer).

    Each shot is a HUMAN turn and ``A: {answer}.\\n`` as the BOT turn. A base model sees the
    turns joined by newlines, ending in the BOT prefix ``A:``; for a chat model OpenCompass's
    meta template drops that prefix at the generation point, so the chat prompt ends in the
    assistant's generation prompt. With shots, generation stops at ``Q:`` or a newline.
    """
    rounds: list[Round] = []
    for q, a in shots:
        rounds += [Round("HUMAN", q), Round("BOT", f"A: {a}.\n")]
    rounds.append(Round("HUMAN", question))
    if kind is ModelKind.BASE:
        rounds.append(Round("BOT", "A:"))
    stop = ("Q:", "\n") if shots else ()
    params = GenerationParams(max_tokens=max_tokens or 50, stop=stop)
    return GenerateRequest(rounds_to_prompt(rounds, kind), params)
