"""NeedleBench prompts (OpenCompass 0.5.4 origin.py / parallel.py / multi.py, position End).

Kept verbatim so that scores stay comparable with OpenCompass; the texts live in code, not
in the YAML test definitions.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "zh"]

_ZH_HEAD = (
    "你是一个善于回答用户问题的智能AI助手\n"
    "请保持你的回答简洁清楚。不要说和下面文档中的无关的话，或重复你的回答\n"
)
_EN_HEAD = (
    "You are an intelligent AI assistant skilled in answering user questions.\n"
    "Please keep your answers concise and clear. Do not talk about irrelevant topics or "
    "repeat your answers.\n"
)
_ZH_GUIDE = "在回答之前，请思考文档中与此问题最相关的内容是什么。"
_EN_GUIDE = "Before answering, please consider what in the document is most relevant to this question."


def wrap_needle(needle: str) -> str:
    """OpenCompass inserts every needle on its own line."""
    return "\n" + needle + "\n"


def guide_question(question: str, language: Language) -> str:
    """origin.py/parallel.py ``guide=True``: the guide sentence goes before the format hint."""
    if language == "zh":
        head, _, tail = question.partition("请按照")
        return head + _ZH_GUIDE + "请按照" + tail
    head, _, tail = question.partition("Please answer in the format")
    return head + _EN_GUIDE + " Please answer in the format" + tail


def single_prompt(context: str, question: str, language: Language) -> str:
    """origin.py prompt; ``question`` already guided."""
    if language == "zh":
        return f"{_ZH_HEAD}用户现在给你的文档是{context}\n\n现在请问：{question}"
    return f"{_EN_HEAD}The document given to you by the user is {context}\n\nNow, the question is: {question}"


def multi_reasoning_prompt(context: str, question: str, language: Language) -> str:
    """multi.py prompt: the guide sentence is appended to the question."""
    if language == "zh":
        return single_prompt(context, question + _ZH_GUIDE, language)
    return single_prompt(context, question + _EN_GUIDE, language)


def parallel_question(questions: list[str], language: Language) -> str:
    """parallel.py: join the needles' questions and answer formats into one question."""
    if language == "zh":
        qs = "、".join(q.split("？")[0] + "？" for q in questions)
        fmt = "、".join(q.split("'")[1].split("。")[0] for q in questions)
        return qs + "请按照'" + fmt + "'的格式回答。"
    qs = "、".join(q.split("?")[0] + "?" for q in questions)
    fmt = "、".join(q.split("'")[1].split(".")[0] for q in questions)
    return qs + "Please answer in the format of '" + fmt + "'"


def parallel_prompt(context: str, question: str, language: Language) -> str:
    """parallel.py prompt; ``question`` from ``parallel_question`` then ``guide_question``."""
    if language == "zh":
        return (
            f"{_ZH_HEAD}请先仔细阅读下面的文档再依次回答最后提出的问题\n"
            f"用户现在给你的文档是{context}\n\n现在请问：{question}\n"
        )
    return (
        f"{_EN_HEAD}The document given to you by the user is {context}"
        f"\n\nNow, the questions are: {question}\n"
    )
