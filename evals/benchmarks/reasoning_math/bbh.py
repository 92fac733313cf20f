"""BIG-Bench Hard, 3-shot chain of thought, 27 subsets (6,511 items); score = naive subset mean.

Follows OpenCompass ``bbh_gen_5b92b0`` (the config named by the InternLM2 report's keyset; the
report's table header says "0-shot" but the config is the 3-shot CoT one): one HUMAN turn
"Follow the given examples and answer the question.\\n{cot prompt}\\n\\nQ: {input}\\nA: Let's
think step by step.", at most 512 new tokens, the same text for base (raw text) and chat (one
user message) models. The CoT prompts are the BIG-Bench-Hard ``cot-prompts`` files with their
canary header (everything up to ``-----``) removed, which makes them byte-identical to
OpenCompass's ``lib_prompt``.

Scoring is OpenCompass 0.5.4's: 17 multiple-choice subsets use ``bbh_mcq_postprocess`` on both
prediction and target and ``BBHEvaluator_mcq`` (exact equality); 10 free-form subsets use
``BBHEvaluator`` (``bbh_freeform_postprocess`` on both sides, case-insensitive equality). The
report-era free-form postprocess was simpler (text after the first "answer is ", first line,
one trailing "." dropped, case-sensitive); the 0.5.4 one also strips ``**bold**``, normalises
yes/no/true/false and commas, and takes the text after the *last* "answer is". Because a base
model otherwise runs on into an invented next example (whose "the answer is" would then be
the last one), base generation stops at "\\n\\nQ:"; the answer of the real question is
before that point, so this only removes text OpenCompass would have mis-read.

A multiple-choice reply with no capital letter is a parse failure (OpenCompass passes the raw
text on, which can only equal a target that has no letter either); an empty free-form answer is
one too. Two ``ruin_names`` targets in the upstream data are not letters ("dearth, wind, &
fire"); as in OpenCompass they stay in and can essentially only be scored wrong.

Data (``DATA``): the BIG-Bench-Hard repository layout (``bbh/bbh/<task>.json`` with
``{"examples": [{"input", "target"}]}`` and ``bbh/cot-prompts/<task>.txt``), which ``evals
data fetch`` takes from suzgunmirac/BIG-Bench-Hard at a pinned commit; OpenCompass's layout
(``BBH/data/<task>.json`` and ``BBH/lib_prompt/<task>.txt``, also under ``bbh/``) loads too.
The hub's ``SaylorTwift/bbh`` (lm-eval's id) has the items but not the CoT prompts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import BenchmarkContext, Metric, only_text, register
from evals.data_sources import DataSpec, Layout, remote
from evals.errors import DataError
from evals.records import (
    GenerateRequest,
    GenerationParams,
    Mode,
    ModelKind,
    Request,
    Response,
    Sample,
    Score,
)

MCQ_SUBSETS = (
    "temporal_sequences", "disambiguation_qa", "date_understanding",
    "tracking_shuffled_objects_three_objects", "penguins_in_a_table", "geometric_shapes",
    "snarks", "ruin_names", "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_five_objects", "logical_deduction_three_objects", "hyperbaton",
    "logical_deduction_five_objects", "logical_deduction_seven_objects", "movie_recommendation",
    "salient_translation_error_detection", "reasoning_about_colored_objects",
)
FREE_FORM_SUBSETS = (
    "multistep_arithmetic_two", "navigate", "dyck_languages", "word_sorting",
    "sports_understanding", "boolean_expressions", "object_counting", "formal_fallacies",
    "causal_judgement", "web_of_lies",
)
SUBSETS = MCQ_SUBSETS + FREE_FORM_SUBSETS
DATA_DIRS = ("bbh", "data", ".")
PROMPT_DIRS = ("cot-prompts", "lib_prompt")
_PROBE = (f"{SUBSETS[0]}.json", f"{SUBSETS[0]}.txt")
DATA = DataSpec(
    layouts=(Layout("upstream", "bbh", (f"bbh/{_PROBE[0]}", f"cot-prompts/{_PROBE[1]}")),
             Layout("opencompass", "BBH", (f"data/{_PROBE[0]}", f"lib_prompt/{_PROBE[1]}")),
             Layout("opencompass", "bbh", (_PROBE[0], f"lib_prompt/{_PROBE[1]}"))),
    remote=remote("bbh"), items=6511, license="MIT")


@dataclass(frozen=True)
class BBHItem(Sample):
    subset: str
    input: str
    cot_prompt: str

    @property
    def multiple_choice(self) -> bool:
        return self.subset in MCQ_SUBSETS


def strip_canary(text: str) -> str:
    """The repository's prompt files open with a canary line and ``-----``; OpenCompass's don't."""
    head, sep, rest = text.partition("-----\n")
    return rest if sep and "canary" in head else text


def prompt_text(item: BBHItem) -> str:
    return (
        f"Follow the given examples and answer the question.\n{item.cot_prompt}\n\n"
        f"Q: {item.input}\nA: Let's think step by step."
    )


def _mcq_tail(text: str) -> str:
    parts = text.split("answer is ")
    return parts[1].strip() if len(parts) != 1 else text


def mcq_answer(text: str) -> str | None:
    """``bbh_mcq_postprocess``, with None where upstream gives up and returns the text."""
    ans = _mcq_tail(text)
    match = re.search(r"\(([A-Z])\)*", ans) or re.search(r"([A-Z])", ans)
    return match.group(1) if match else None


def mcq_postprocess(text: str) -> str:
    """``bbh_mcq_postprocess`` exactly: the letter, else the (tail of the) text itself."""
    letter = mcq_answer(text)
    return letter if letter is not None else _mcq_tail(text)


def freeform_answer(text: str) -> str:
    """``bbh_freeform_postprocess`` of OpenCompass 0.5.4."""
    ans = text
    parts = re.split(r"answer is\s*:?\s*", ans, flags=re.IGNORECASE)
    if len(parts) != 1:
        ans = parts[-1].strip()
    ans = ans.split("\n")[0].strip()
    if ans.endswith("."):
        ans = ans[:-1].strip()
    bold = re.search(r"\*\*(.*?)\*\*", ans)
    if bold:
        ans = bold.group(1).strip()
    word = re.match(r"^(yes|no)\b", ans, flags=re.IGNORECASE) or re.match(
        r"^(true|false)\b", ans, flags=re.IGNORECASE)
    if word:
        return word.group(1).capitalize()
    if not re.search(r"\d\s*,\s*\d", ans):
        ans = re.sub(r"\s*,\s*", " ", ans)
    return re.sub(r"\s+", " ", ans).strip()


def score_text(text: str, target: str, multiple_choice: bool) -> Score:
    if multiple_choice:
        pred, correct = mcq_answer(text), mcq_postprocess(text) == mcq_postprocess(target)
        if pred is None and not correct:
            return Score(0.0, None, parse_failed=True, detail="no option letter found")
        return Score(float(correct), mcq_postprocess(text))
    answer = freeform_answer(text)
    if not answer:
        return Score(0.0, None, parse_failed=True, detail="empty answer")
    return Score(float(answer.casefold() == freeform_answer(target).casefold()), answer)


def _first_dir(root: Path, candidates: Sequence[str], probe: str) -> Path | None:
    return next((root / c for c in candidates if (root / c / probe).is_file()), None)


def _read_prompts(root: Path) -> dict[str, str]:
    where = _first_dir(root, PROMPT_DIRS, f"{SUBSETS[0]}.txt")
    if where is None:
        raise DataError(
            f"bbh: CoT prompts not found at {' or '.join(str(root / d) for d in PROMPT_DIRS)} "
            "(the BIG-Bench-Hard repository's cot-prompts/ folder)"
        )
    prompts = {}
    for name in SUBSETS:
        path = where / f"{name}.txt"
        if not path.is_file():
            raise DataError(f"bbh: {path} missing (the CoT prompt of {name})")
        prompts[name] = strip_canary(path.read_text(encoding="utf-8"))
    return prompts


def _read_examples(path: Path) -> list[tuple[str, str]]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["examples"]
        return [(str(r["input"]), str(r["target"])) for r in rows]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a BBH task file ({type(exc).__name__}: {exc})") from None


def _examples(root: Path) -> dict[str, list[tuple[str, str]]]:
    where = _first_dir(root, DATA_DIRS, f"{SUBSETS[0]}.json")
    if where is None:
        raise DataError(f"bbh: no {SUBSETS[0]}.json under {root}")
    missing = [n for n in SUBSETS if not (where / f"{n}.json").is_file()]
    if missing:
        raise DataError(f"bbh: {where} lacks {', '.join(m + '.json' for m in missing)}")
    return {n: _read_examples(where / f"{n}.json") for n in SUBSETS}


@register
class BBH:
    name = "bbh"
    modes = (Mode.GEN,)
    default_shots = 3
    metric = Metric("accuracy", by_group=True)

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[BBHItem]:
        if ctx.shots != 3:
            raise DataError(f"bbh: shots={ctx.shots} unsupported (the CoT prompts hold 3 shots)")
        _, root = DATA.require(self.name, ctx.data_dir)
        examples = _examples(root)
        prompts = _read_prompts(root)
        return [
            BBHItem(f"{name}/{i}", target, name, text, prompts[name])
            for name in SUBSETS
            for i, (text, target) in enumerate(examples[name])
        ]

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        found = DATA.locate(ctx.data_dir)
        if found is None:
            return []
        files: list[Path] = []
        for dirs, ext in ((DATA_DIRS, "json"), (PROMPT_DIRS, "txt")):
            where = _first_dir(found[1], dirs, f"{SUBSETS[0]}.{ext}")
            if where is not None:
                files += [where / f"{n}.{ext}" for n in SUBSETS if (where / f"{n}.{ext}").is_file()]
        return files

    def group(self, sample: BBHItem) -> str:
        return sample.subset

    def requests(self, sample: BBHItem, ctx: BenchmarkContext) -> list[Request]:
        stop = ("\n\nQ:",) if ctx.kind is ModelKind.BASE else ()
        params = GenerationParams(max_tokens=ctx.max_tokens or 512, stop=stop)
        prompt = rounds_to_prompt([Round("HUMAN", prompt_text(sample))], ctx.kind)
        return [GenerateRequest(prompt, params)]

    def score(self, sample: BBHItem, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        text = only_text(responses)
        return score_text(text, sample.target, sample.multiple_choice)
