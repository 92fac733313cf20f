"""Turn one needle test definition into prompt-ready, score-ready cells.

Why this shape: the runner only needs (prompt, how to score the reply); everything a scorer
needs travels in a typed ``NeedleAnswer``, so no scorer re-reads data files. Needle choice
follows OpenCompass 0.5.4 (origin.py / parallel.py / multi.py / atc.py) with local
``random.Random`` streams instead of the global ``random`` so that cells are deterministic.

Window policy (default "shrink"): a cell whose target + prompt overhead + ``reserve`` exceeds
the model window is built at the largest context that fits; its ``length`` keeps the requested
target (the heatmap row stays) while ``context_tokens`` records what was actually built. With
policy "skip" such cells are left out. Lengths above the window are dropped beforehand by
``NeedleTestSpec.effective_lengths`` unless an explicit ``lengths`` override asks for them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from evals.benchmarks.long_context.needle.atc import generate_atc, load_names
from evals.benchmarks.long_context.needle.context import (
    Haystack,
    build_context,
    count_tokens,
    fit_prompt,
    load_haystack,
    measure_overhead,
)
from evals.benchmarks.long_context.needle.prompts import (
    Language,
    guide_question,
    multi_reasoning_prompt,
    parallel_prompt,
    parallel_question,
    single_prompt,
    wrap_needle,
)
from evals.benchmarks.long_context.needle.scoring import score_origin, score_parallel, score_reasoning
from evals.benchmarks.long_context.needle.spec import NeedleTestSpec
from evals.errors import DataError

Kind = Literal["single", "multi_retrieval", "multi_reasoning", "ancestral_trace"]
Policy = Literal["shrink", "skip"]
PromptFn = Callable[[str], str]

_OC_LANGUAGE: dict[Language, Literal["English", "Chinese"]] = {"en": "English", "zh": "Chinese"}
DEFAULT_NEEDLES = "needlebench/needles.jsonl"
_REBUILD_TRIES = 3


@dataclass(frozen=True)
class NeedleAnswer:
    """Everything scoring needs; ``keywords`` and ``depths`` align one-to-one for retrieval."""

    keywords: tuple[str, ...]  # single/ATC: one; retrieval: one per needle; reasoning: the answer
    needles: tuple[str, ...]  # needle texts as chosen (unwrapped), in insertion order
    depths: tuple[int, ...]  # requested depth per needle (ATC: empty)
    reference: str  # what similarity is measured against (needle, answer name, reasoning answer)
    question: str
    num_needles: int


@dataclass(frozen=True)
class NeedleCell:
    """One prompt of a needle test; ``length`` and ``depth`` are the heatmap coordinates."""

    id: str
    kind: Kind
    language: Language
    length: int  # requested context tokens (ATC: number of people)
    depth: float  # requested depth of the (first) needle (retrieval, ATC: 0)
    repeat: int
    prompt: str  # the user message; the runner applies the chat template
    context_tokens: int  # measured haystack + needles tokens (ATC: rendered prompt tokens)
    answer: NeedleAnswer


@dataclass(frozen=True)
class CellScore:
    score: float  # 0-100
    found: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class NeedleRecord:
    """One line of NeedleBench's needles.jsonl."""

    needle: str
    question: str
    keyword: str  # arg2


@dataclass(frozen=True)
class Derivation:
    """One multi_needle_reasoning_*.json record."""

    needles: tuple[str, ...]
    question: str
    answer: str


@dataclass(frozen=True)
class _Build:
    """What a cell kind contributes before sizing: needles at depths and the prompt."""

    needles: tuple[tuple[float, str], ...]
    prompt: PromptFn  # context text -> user message


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"needle file not found: {path}; point 'needles' at a NeedleBench data file")
    try:
        if path.suffix == ".jsonl":
            return [json.loads(s) for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno}); fix the file") from exc


def load_needles(path: Path, language: Language) -> list[NeedleRecord]:
    """needles.jsonl lines of one language, in file order (OC filters then picks)."""
    rows = _read_json(path)
    want = _OC_LANGUAGE[language]
    out = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not all(
            isinstance(row.get(k), str) for k in ("needle", "retrieval_question", "arg2")
        ):
            raise DataError(f"{path}:{n}: needs string fields needle, retrieval_question, arg2")
        if row.get("language") == want:
            out.append(NeedleRecord(row["needle"], row["retrieval_question"], row["arg2"]))
    if not out:
        raise DataError(f"{path}: no needles with language '{want}'; add some")
    return out


def load_derivations(path: Path, language: Language, count: int) -> list[Derivation]:
    """Reasoning records with ``derivation_count == count`` (language-filtered if tagged)."""
    rows = _read_json(path)
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON list of multi-needle reasoning records")
    want = _OC_LANGUAGE[language]
    out = []
    for row in rows:
        if not isinstance(row, dict) or row.get("derivation_count") != count:
            continue
        if row.get("language", want) != want:
            continue
        derivs, question, answer = row.get("derivations"), row.get("question"), row.get("answer")
        if not isinstance(derivs, list) or not isinstance(question, str) or not isinstance(answer, str):
            raise DataError(f"{path}: record needs derivations (list), question and answer (strings)")
        out.append(Derivation(tuple(str(d) for d in derivs), question, answer))
    if not out:
        raise DataError(f"{path}: no '{want}' records with derivation_count {count}; add some")
    return out


def _prompt_fn(template: Callable[[str, str, Language], str], question: str, lang: Language) -> PromptFn:
    def prompt(context: str) -> str:
        return template(context, question, lang)

    return prompt


def _fmt(depth: float) -> str:
    return f"{depth:g}"


_HAYSTACKS: dict[tuple[Path, str, str, float], Haystack] = {}


def cached_haystack(path: Path, tokenizer: Any, text_field: str) -> Haystack:
    """A haystack is tokenized once per process and tokenizer (several tests of a suite, and
    repeated planning, share it); a changed file is read again."""
    stamp = path.stat().st_mtime if path.exists() else 0.0
    key = (path, str(getattr(tokenizer, "name_or_path", id(tokenizer))), text_field, stamp)
    if key not in _HAYSTACKS:
        if len(_HAYSTACKS) >= 4:
            _HAYSTACKS.clear()
        _HAYSTACKS[key] = load_haystack(path, tokenizer, text_field)
    return _HAYSTACKS[key]


class _Builder:
    """Sizes and builds haystack cells; caches haystacks and prompt overheads per call."""

    def __init__(
        self,
        spec: NeedleTestSpec,
        tokenizer: Any,
        data_dir: Path,
        max_len: int,
        reserve: int,
        render: PromptFn | None,
        policy: Policy,
    ) -> None:
        self.spec, self.tok, self.data_dir = spec, tokenizer, data_dir
        self.max_len, self.reserve, self.policy = max_len, reserve, policy
        self.render: PromptFn = render if render is not None else (lambda s: s)

    def haystack(self) -> Haystack:
        assert self.spec.haystack is not None  # the spec validator requires it for these kinds
        path = self.spec.resolve(self.spec.haystack, self.data_dir)
        return cached_haystack(path, self.tok, self.spec.text_field)

    def cell(
        self, cid: str, length: int, depth: float, repeat: int, build: _Build, answer: NeedleAnswer
    ) -> NeedleCell | None:
        """Build at the fitted size; re-check the rendered prompt and shrink on a seam overflow."""
        overhead = measure_overhead(lambda c: self.render(build.prompt(c)), self.tok)
        budget = fit_prompt(length, overhead, self.max_len, self.reserve, self.policy)
        if budget.skipped:
            if self.policy == "shrink":
                raise DataError(
                    f"{self.spec.name}: a {self.max_len}-token window leaves no room for context after "
                    f"{overhead} prompt + {self.reserve} output tokens; raise max_len or lower the reserve"
                )
            return None
        target = budget.context_tokens
        for _ in range(_REBUILD_TRIES):
            ctx = build_context(self.haystack(), target, build.needles, self.tok, repeat)
            prompt = build.prompt(ctx.text)
            excess = count_tokens(self.render(prompt), self.tok) + self.reserve - self.max_len
            if excess <= 0:
                kind = self.spec.kind
                return NeedleCell(
                    cid, kind, self.spec.language, length, depth, repeat, prompt, ctx.token_count, answer
                )
            target -= excess
        raise DataError(f"{self.spec.name}: cell {cid} does not fit a {self.max_len}-token window")


def _single(b: _Builder, lengths: Sequence[int], needles_path: Path) -> list[NeedleCell | None]:
    lang = b.spec.language
    records = load_needles(needles_path, lang)
    cells: list[NeedleCell | None] = []
    for r in range(b.spec.repeats):
        rec = random.Random(r).choice(records)  # origin.py: random.seed(counter); random.choice
        question = guide_question(rec.question, lang)
        for length in lengths:
            for d in b.spec.depths:
                build = _Build(((d, wrap_needle(rec.needle)),), _prompt_fn(single_prompt, question, lang))
                ans = NeedleAnswer((rec.keyword,), (rec.needle,), (d,), rec.needle, question, 1)
                cells.append(b.cell(f"L{length}-D{_fmt(d)}-R{r}", length, d, r, build, ans))
    return cells


def _retrieval(b: _Builder, lengths: Sequence[int], needles_path: Path) -> list[NeedleCell | None]:
    lang, depths = b.spec.language, b.spec.depths
    pool = load_needles(needles_path, lang)
    random.Random(0).shuffle(pool)  # parallel.py get_unique_entries: shuffle, take len(depths)
    if len(pool) < len(depths):
        raise DataError(
            f"{needles_path}: {len(pool)} '{lang}' needles for {len(depths)} depths; "
            "add needles or use fewer depths"
        )
    chosen = pool[: len(depths)]
    cells: list[NeedleCell | None] = []
    for r in range(b.spec.repeats):
        recs = chosen.copy()
        random.Random(r).shuffle(recs)  # parallel.py: random.seed(counter); shuffle(needles)
        question = guide_question(parallel_question([x.question for x in recs], lang), lang)
        placed = tuple((float(d), wrap_needle(x.needle)) for d, x in zip(depths, recs, strict=True))
        build = _Build(placed, _prompt_fn(parallel_prompt, question, lang))
        ans = NeedleAnswer(
            tuple(x.keyword for x in recs),
            tuple(x.needle for x in recs),
            tuple(depths),
            "",
            question,
            len(recs),
        )
        for length in lengths:
            cells.append(b.cell(f"L{length}-R{r}", length, 0.0, r, build, ans))
    return cells


def _reasoning(b: _Builder, lengths: Sequence[int], needles_path: Path) -> list[NeedleCell | None]:
    lang, diff = b.spec.language, b.spec.depth_diff
    cells: list[NeedleCell | None] = []
    for n in b.spec.num_needles:
        records = load_derivations(needles_path, lang, n)
        for r in range(b.spec.repeats):
            rec = random.Random(r).choice(records)  # multi.py get_random_needles
            for length in lengths:
                for d in b.spec.depths:
                    # multi.py: later needles diff% of the haystack after the previous one, capped at the end
                    ds = tuple(min(d + i * diff, 100) for i in range(len(rec.needles)))
                    placed = tuple((float(x), wrap_needle(t)) for x, t in zip(ds, rec.needles, strict=True))
                    build = _Build(placed, _prompt_fn(multi_reasoning_prompt, rec.question, lang))
                    ans = NeedleAnswer((rec.answer,), rec.needles, ds, rec.answer, rec.question, n)
                    cells.append(b.cell(f"N{n}-L{length}-D{_fmt(d)}-R{r}", length, d, r, build, ans))
    return cells


def _atc(b: _Builder, needles_path: Path) -> list[NeedleCell | None]:
    """ATC prompts cannot shrink: one that overflows the window is skipped (either policy)."""
    lang = b.spec.language
    names = load_names(needles_path).get(_OC_LANGUAGE[lang])
    if names is None:
        raise DataError(f"{needles_path}: no '{_OC_LANGUAGE[lang]}' names; add them")
    cells: list[NeedleCell | None] = []
    for n in b.spec.num_needles:
        for item in generate_atc(names, n, _OC_LANGUAGE[lang], b.spec.repeats, seed=0):
            tokens = count_tokens(b.render(item.prompt), b.tok)
            if tokens + b.reserve > b.max_len:
                cells.append(None)
                continue
            relations = tuple(rel.text for rel in item.relations)
            ans = NeedleAnswer((item.answer,), relations, (), item.answer, "", n)
            cells.append(
                NeedleCell(
                    f"N{n}-R{item.repeat}",
                    "ancestral_trace",
                    lang,
                    n,
                    0.0,
                    item.repeat,
                    item.prompt,
                    tokens,
                    ans,
                )
            )
    return cells


def build_cells(
    spec: NeedleTestSpec,
    tokenizer: Any,
    data_dir: Path,
    max_len: int,
    reserve: int,
    lengths: Sequence[int] | None = None,
    render: PromptFn | None = None,
    *,
    policy: Policy = "shrink",
) -> list[NeedleCell]:
    """All cells of one test, rendered prompt + ``reserve`` always within ``max_len``.

    ``render`` maps a user message to the exact model input (chat template applied) so the
    template's tokens are counted; None sizes the raw message.
    """
    b = _Builder(spec, tokenizer, data_dir, max_len, reserve, render, policy)
    needles_path = spec.resolve(spec.needles or DEFAULT_NEEDLES, data_dir)
    grid = spec.effective_lengths(max_len, tuple(lengths) if lengths else None)
    if spec.kind == "ancestral_trace":
        built = _atc(b, needles_path)
    elif spec.kind == "single":
        built = _single(b, grid, needles_path)
    elif spec.kind == "multi_retrieval":
        built = _retrieval(b, grid, needles_path)
    else:
        built = _reasoning(b, grid, needles_path)
    return [c for c in built if c is not None]


def score_cell(cell: NeedleCell, prediction: str) -> CellScore:
    """The cell kind's OpenCompass evaluator on one reply."""
    a = cell.answer
    if cell.kind == "multi_retrieval":
        p = score_parallel(prediction, a.keywords, a.depths)
        return CellScore(p.value, p.found, f"{len(p.found)}/{len(p.keywords)} keywords found")
    if cell.kind == "multi_reasoning":
        m = score_reasoning(prediction, a.reference)
        return CellScore(m.value, m.found, f"{len(m.found)}/{len(m.keywords)} answer words found")
    o = score_origin(prediction, a.reference, a.keywords[0])
    if o.found:
        return CellScore(o.value, (o.keyword,), f"keyword '{o.keyword}' found")
    return CellScore(o.value, (), f"keyword missing; similarity {o.similarity.value:.1f} x 0.2")
