"""Ancestral Trace Challenge (ATC): OpenCompass 0.5.4 ``NeedleBenchATCDataset`` as a seeded generator.

No haystack: the context is a shuffled chain of kinship statements over N people, and the model
must name the eldest ancestor of the last person. Templates and the question are OC's verbatim.
OC draws from the unseeded global ``random``; here one ``random.Random(seed)`` makes the same
calls in the same order, so ``random.seed(s)`` before OC's loader yields the very same prompts.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from evals.errors import DataError

Language = Literal["English", "Chinese"]

_TERMS: dict[Language, tuple[str, ...]] = {
    "Chinese": ("父亲", "母亲", "爸爸", "妈妈", "爷爷", "奶奶", "姥姥", "姥爷", "外公", "外婆"),
    "English": (
        "father", "mother", "dad", "mom", "grandfather", "grandmother", "maternal grandmother",
        "maternal grandfather", "paternal grandfather", "paternal grandmother",
    ),
}

# In every template {A} is the elder of {B}.
TEMPLATES: dict[Language, tuple[str, ...]] = {
    "Chinese": (
        "{A}是{B}的{relationship}。",
        "{B}的{relationship}是{A}。",
        "{A}作为{B}的{relationship}，对{B}的成长有重要影响。",
        "{A}不仅是{B}的{relationship}，还是{B}的榜样。",
        "{B}是{A}所生的孩子。",
        "{A}对{B}来说，不只是一个{relationship}，还是一个朋友。",
        "{A}在{B}的生命中扮演着{relationship}的角色。",
        "{B}把{A}视为其{relationship}。",
    ),
    "English": (
        "{A} is {B}'s {relationship}.",
        "{B}'s {relationship} is {A}.",
        "{A}, as {B}'s {relationship}, has a significant impact on {B}'s upbringing.",
        "{A} is not only {B}'s {relationship} but also {B}'s role model.",
        "{B} is the child of {A}.",
        "For {B}, {A} is not just a {relationship}, but also a friend.",
        "{A} plays the role of {B}'s {relationship} in {B}'s life.",
        "{B} considers {A} as their {relationship}.",
    ),
}

_QUESTION: dict[Language, str] = {
    "Chinese": """
在上面提供的打乱的家族关系文本中，'{last_person}'的能够向上追溯到的最年长的亲人是谁？
例如：
例子1.如果张强的父亲是马克，除此以外提供的文本中没有更多关于亲属关系的信息，那么在提供的文本中张强能够向上追溯到的最年长的亲人就是马克。
例子2.如果李明的姥姥是张红，而张红的父亲是张强，除此以外提供的文本中没有更多关于亲属关系的信息，那么在提供的文本中李明能够向上追溯到的最年长的亲人就是张强。
例子3.如果小明是张红的曾孙女，张红的祖母是王华，王华的父亲是王刚，除此以外提供的文本中没有更多关于亲属关系的信息，那么小明能够向上追溯到的最年长的亲人就是王刚。
""",
    "English": """
Given the scrambled family relationships described above, who is the eldest relative that '{last_person}' can trace back to in the context?
For example:
Example 1: If Zhang Qiang's father is Mark, and no further information about familial relationships is provided in the text, then the oldest relative Zhang Qiang can trace back to in the provided text is Mark.
Example 2: If Li Ming's grandmother is Zhang Hong, and Zhang Hong's father is Zhang Qiang, and no further information about familial relationships is provided in the text, then the oldest relative Li Ming can trace back to in the provided text is Zhang Qiang.
Example 3: If Xiao Ming is Zhang Hong's great-granddaughter, Zhang Hong's grandmother is Wang Hua, and Wang Hua's father is Wang Gang, and no further information about familial relationships is provided in the text, then the oldest relative Xiao Ming can trace back to in the provided text is Wang Gang.""",  # noqa: E501
}


@dataclass(frozen=True)
class Relation:
    """One kinship statement: ``elder`` is a direct ancestor of ``younger``."""

    elder: str
    younger: str
    text: str


@dataclass(frozen=True)
class AtcItem:
    """One ATC prompt; score it with ``score_origin(pred, needle=answer, keyword=answer)`` as OC does."""

    prompt: str
    answer: str
    language: Language
    num_needles: int
    repeat: int
    names: tuple[str, ...]  # eldest first, as chained
    relations: tuple[Relation, ...]  # chain order, before shuffling


def load_names(path: Path) -> dict[Language, tuple[str, ...]]:
    """Read OC's ``names.json``: ``{"English": "a,b,...", "Chinese": "..."}``."""
    if not path.is_file():
        raise DataError(f"ATC names file not found: {path}; point to a names.json in NeedleBench format")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); expected a NeedleBench names.json") from exc
    langs: tuple[Language, ...] = ("English", "Chinese")
    if not isinstance(raw, dict) or not any(isinstance(raw.get(lang), str) for lang in langs):
        raise DataError(f"{path}: not a NeedleBench names.json; expected {{'English': 'a,b,...'}}")
    return {lang: tuple(raw[lang].split(",")) for lang in langs if isinstance(raw.get(lang), str)}


def _item(rng: random.Random, names: tuple[str, ...], language: Language, repeat: int) -> AtcItem:
    relations: list[Relation] = []
    for elder, younger in itertools.pairwise(names):
        template = rng.choice(TEMPLATES[language])
        term = rng.choice(_TERMS[language])
        relations.append(Relation(elder, younger, template.format(A=elder, B=younger, relationship=term)))
    # OC splits 'r1*r2*...*rn*' on '*': the trailing empty fragment takes part in the shuffle.
    fragments = [r.text for r in relations] + [""]
    rng.shuffle(fragments)
    prompt = "".join(fragments) + " " + _QUESTION[language].format(last_person=names[-1])
    return AtcItem(prompt, names[0], language, len(names), repeat, names, tuple(relations))


def generate_atc(
    all_names: tuple[str, ...], num_needles: int, language: Language, repeats: int, seed: int = 0
) -> list[AtcItem]:
    """``repeats`` items over ``num_needles`` distinct people, all drawn from one seeded stream."""
    if not 2 <= num_needles <= len(all_names):
        raise ValueError(f"num_needles must be in 2..{len(all_names)} (names available), got {num_needles}")
    rng = random.Random(seed)
    return [_item(rng, tuple(rng.sample(all_names, num_needles)), language, r) for r in range(repeats)]
