"""MATH (Hendrycks et al.), 4-shot, test split (5,000 problems); accuracy over all problems.

Prompt: OpenCompass ``math_gen_265cce`` — four ``Problem:/Solution:`` exemplars ending in
"Final Answer: The final answer is $X$. I hope it is correct." as user/assistant turns (chat)
or newline-joined turns (base), at most 512 new tokens and no stop word (OpenCompass has
none; a base model's run-on text is handled by the postprocessor, as upstream). The exemplar
text keeps the doubled braces (``\\frac{{a}}{{b}}``) and the stray ``}}`` of the first problem:
OpenCompass fills templates with ``safe_format``, which never unescapes ``{{``, so that is
what its models are shown.

Scoring follows the report's settings (internlm2_eval.md §1.3): base models use
``math_postprocess`` + ``MATHEvaluator`` (v1), chat models ``math_evaluatorv2_gen_265cce``'s
``math_postprocess_v2`` (last ``\\boxed{}``) + ``MATHEvaluator(version='v2')``. In the 0.5.4
tree the file ``math_gen_265cce.py`` itself was later switched to v2; the prompt is the same.
The normalisation is a line-by-line port of ``opencompass/datasets/math.py`` (0.5.4), so the
verdict equals upstream's per sample; the v1 ``_strip_string`` reuses lm-eval's Hendrycks
helpers, which are the same code, except ``fix_fracs`` on a trailing ``\\frac`` (guarded).
math-verify's verdict on the raw reply is reported as the extra ``math_verify``.

Parse failures: upstream always yields *some* answer — with no ``Final Answer`` (v1), or no
``\\boxed{}``/``final answer``/``answer is`` (v2), it normalises the first sentence. We keep
that fallback (the verdict must agree with upstream), and record a parse failure when no
answer marker was found and the fallback is not the reference.

Reference answer: the last ``\\boxed{}`` of the solution (``MATHDataset`` uses
``extract_boxed_answer`` without stripping double braces). Data: the shared JSON-lines file
``math/test.json.gz`` (problem, level, type, solution, idx), OpenCompass's ``math/math.json``
(one object keyed by id), the upstream one-file-per-problem ``math/test/<type>/<n>.json``, or
the hub mirror ``EleutherAI/hendrycks_math``'s test parquet as ``evals data fetch`` stores
it (``hendrycks/competition_math`` is DMCA-disabled).
Groups are the seven subjects (``type``).
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from evals.benchmarks._extract import last_boxed_only_string
from evals.benchmarks._io import numbered_jsonl
from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import (
    BenchmarkContext,
    Defaults,
    Metric,
    load_local,
    only_text,
    parquet_rows,
    register,
)
from evals.data_sources import DataSpec, Layout, remote
from evals.errors import DataError
from evals.records import (
    GenerateRequest,
    GenerationParams,
    Mode,
    ModelKind,
    Prompt,
    Request,
    Response,
    Sample,
    Score,
)

Version = Literal["v1", "v2"]

# Verbatim from opencompass/configs/datasets/math/math_gen_265cce.py (0.5.4), as evaluated by
# Python: the braces stay doubled, since OpenCompass's safe_format never unescapes them.
EXEMPLARS: tuple[tuple[str, str], ...] = (
    (
        'Problem:\nFind the domain of the expression $\\frac{{\\sqrt{{x-2}}}}{{\\sqrt{{5-x}}}}$.}}\nSolution:',  # noqa: E501
        'The expressions inside each square root must be non-negative. Therefore, $x-2 \\ge 0$, so $x\\ge2$, and $5 - x \\ge 0$, so $x \\le 5$. Also, the denominator cannot be equal to zero, so $5-x>0$, which gives $x<5$. Therefore, the domain of the expression is $\\boxed{{[2,5)}}$.\nFinal Answer: The final answer is $[2,5)$. I hope it is correct.\n',  # noqa: E501
    ),
    (
        'Problem:\nIf $\\det \\mathbf{{A}} = 2$ and $\\det \\mathbf{{B}} = 12,$ then find $\\det (\\mathbf{{A}} \\mathbf{{B}}).$\nSolution:',  # noqa: E501
        'We have that $\\det (\\mathbf{{A}} \\mathbf{{B}}) = (\\det \\mathbf{{A}})(\\det \\mathbf{{B}}) = (2)(12) = \\boxed{{24}}.$\nFinal Answer: The final answer is $24$. I hope it is correct.\n',  # noqa: E501
    ),
    (
        'Problem:\nTerrell usually lifts two 20-pound weights 12 times. If he uses two 15-pound weights instead, how many times must Terrell lift them in order to lift the same total weight?\nSolution:',  # noqa: E501
        'If Terrell lifts two 20-pound weights 12 times, he lifts a total of $2\\cdot 12\\cdot20=480$ pounds of weight. If he lifts two 15-pound weights instead for $n$ times, he will lift a total of $2\\cdot15\\cdot n=30n$ pounds of weight. Equating this to 480 pounds, we can solve for $n$: \\begin{{align*}} 30n&=480\\\\ \\Rightarrow\\qquad n&=480/30=\\boxed{{16}} \\end{{align*}}\nFinal Answer: The final answer is $16$. I hope it is correct.\n',  # noqa: E501
    ),
    (
        'Problem:\nIf the system of equations: \\begin{{align*}} 6x-4y&=a,\\\\ 6y-9x &=b. \\end{{align*}}has a solution $(x, y)$ where $x$ and $y$ are both nonzero, find $\\frac{{a}}{{b}},$ assuming $b$ is nonzero.\nSolution:',  # noqa: E501
        'If we multiply the first equation by $-\\frac{{3}}{{2}}$, we obtain $$6y-9x=-\\frac{{3}}{{2}}a.$$Since we also know that $6y-9x=b$, we have $$-\\frac{{3}}{{2}}a=b\\Rightarrow\\frac{{a}}{{b}}=\\boxed{{-\\frac{{2}}{{3}}}}.$$\nFinal Answer: The final answer is $-\\frac{{2}}{{3}}$. I hope it is correct.\n',  # noqa: E501
    ),
)
QUESTION = 'Problem:\n{problem}\nSolution:\n'

HUB_ID = "EleutherAI/hendrycks_math"
HUB_CONFIGS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra",
               "number_theory", "prealgebra", "precalculus")


# --- opencompass/datasets/math.py (0.5.4), ported line by line -----------------------------

def remove_boxed(s: str) -> str | None:
    left = "\\boxed{"
    if s[: len(left)] == left and s[-1:] == "}":
        return s[len(left): -1]
    return None


def extract_boxed_answer(text: str, strip_double_curly_brace: bool = False) -> str | None:
    boxed = last_boxed_only_string(text)
    if boxed is None:
        return None
    answer = remove_boxed(boxed)
    if answer is None:
        return None
    if strip_double_curly_brace:
        match = re.match(r"^\{(.*)\}$", answer)
        if match:
            answer = match.group(1)
    return answer


_SUBSTITUTIONS = [("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), (r"\ ", ""), (" ", ""),
                  ("mbox", "text"), (",\\text{and}", ","), ("\\text{and}", ","),
                  ("\\text{m}", "\\text{}"), ("\\le", "<")]
_REMOVED_EXPRESSIONS = [
    "square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units",
    "\\ldots", "sue", "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm",
    "pounds", "meters", "meals", "edges", "students", "childrentickets", "multiples",
    "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2", "\\text{}^3", "\\text{\n}",
    "\\text{}", r"\mathrm{th}", r"^\circ", r"^{\circ}", r"\;", r",\!", "{,}", '"', "\\dots",
    "\n", "\r", "\f",
]


def normalize_final_answer(final_answer: str) -> str:
    """Upstream ``normalize_final_answer`` (Minerva's normalisation), unchanged."""
    for before, after in _SUBSTITUTIONS:
        final_answer = final_answer.replace(before, after)
    for expr in _REMOVED_EXPRESSIONS:
        final_answer = final_answer.replace(expr, "")
    final_answer = re.sub(r"(\\text\{)\((.*?)\)(\})", "\\2", final_answer)
    final_answer = re.sub(r"(\\text\{)(.*?)(\})", "\\2", final_answer)
    final_answer = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", final_answer)
    final_answer = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", final_answer)
    final_answer = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", final_answer)
    for pattern in (r"finalansweris(.*)", r"answer?is:?(.*)", r"oxed\{(.*?)\}", r"\$(.*?)\$"):
        found = re.findall(pattern, final_answer)
        if found:
            final_answer = found[-1]
    final_answer = final_answer.strip()
    if "rac" in final_answer and "\\frac" not in final_answer:
        final_answer = final_answer.replace("rac", "\\frac")
    final_answer = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", final_answer)
    final_answer = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", final_answer)
    final_answer = final_answer.replace("$", "")
    if final_answer.replace(",", "").isdigit():
        final_answer = final_answer.replace(",", "")
    return final_answer


def math_postprocess(text: str) -> tuple[str, bool]:
    """v1: the first sentence (split on '.') mentioning "final answer", else the first one.

    Also says whether a marker was found."""
    for maybe_ans in text.split("."):
        if "final answer" in maybe_ans.lower():
            return normalize_final_answer(maybe_ans), True
    return normalize_final_answer(text.split(".")[0]), False


def math_postprocess_v2(text: str) -> tuple[str, bool]:
    """v2: the last ``\\boxed{}`` (outer braces stripped), else as v1 with "answer is" too."""
    boxed = extract_boxed_answer(text, strip_double_curly_brace=True)
    if boxed:
        return boxed, True
    for maybe_ans in text.split("."):
        if re.search("final answer|answer is", maybe_ans.lower()):
            return normalize_final_answer(maybe_ans), True
    return normalize_final_answer(text.split(".")[0]), False


def _fix_fracs(string: str) -> str:
    """lm-eval's ``fix_fracs``, which indexes an empty piece where upstream gives up."""
    from lm_eval.tasks.hendrycks_math.utils import fix_fracs

    if "" in string.split("\\frac")[1:]:
        return string
    return str(fix_fracs(string))


def _fix_a_slash_b(string: str) -> str:
    from lm_eval.tasks.hendrycks_math.utils import fix_a_slash_b

    return str(fix_a_slash_b(string))


def _fix_sqrt_v2(string: str) -> str:
    return re.sub(r"\\sqrt(\w+)", r"\\sqrt{\1}", string)


def _strip_string_v1(string: str) -> str:
    """``MATHEvaluator._strip_string``: Hendrycks's ``strip_string``, built from lm-eval's
    helpers (identical code) with the guarded ``fix_fracs``. It may raise, as upstream's
    does (``\\sqrt`` at the end, two ``\\text{ ``): ``is_equiv`` then tries the next step."""
    from lm_eval.tasks.hendrycks_math.utils import fix_sqrt, remove_right_units

    string = string.replace("\n", "")
    string = string.replace("\\!", "")
    string = string.replace("\\\\", "\\")
    string = string.replace("tfrac", "frac")
    string = string.replace("dfrac", "frac")
    string = string.replace("\\left", "")
    string = string.replace("\\right", "")
    string = string.replace("^{\\circ}", "")
    string = string.replace("^\\circ", "")
    string = string.replace("\\$", "")
    string = str(remove_right_units(string))
    string = string.replace("\\%", "")
    string = string.replace(" .", " 0.")
    string = string.replace("{.", "{0.")
    if len(string) == 0:
        return string
    if string[0] == ".":
        string = "0" + string
    if len(string.split("=")) == 2 and len(string.split("=")[0]) <= 2:
        string = string.split("=")[1]
    string = str(fix_sqrt(string))
    string = string.replace(" ", "")
    string = _fix_fracs(string)
    if string == "0.5":
        string = "\\frac{1}{2}"
    return _fix_a_slash_b(string)


def _strip_string_v2(string: str) -> str:
    """``MATHEvaluator._strip_string_v2``, unchanged (quirks included: ``"and"`` is
    removed everywhere, ``j`` becomes ``i`` when there is no ``i``)."""
    string = str(string).strip()
    string = string.replace("\n", "")
    string = string.rstrip(".")
    string = string.replace("\\!", "")
    string = string.replace("\\ ", "")
    string = string.replace("\\\\", "\\")
    string = string.replace("\\\\", "\\")
    string = string.replace("tfrac", "frac")
    string = string.replace("dfrac", "frac")
    string = string.replace("\\left", "")
    string = string.replace("\\right", "")
    unitless = re.sub(r"\\text{.*?}$", "", string).strip()
    if unitless != "" and unitless != string:
        string = unitless
    string = string.replace("^{\\circ}", "")
    string = string.replace("^\\circ", "")
    string = string.replace("\\$", "")
    string = string.replace("$", "")
    string = string.replace("\\text", "")
    string = string.replace("x\\in", "")
    string = string.replace("\\%", "")
    string = string.replace("%", "")
    string = string.replace(" .", " 0.")
    string = string.replace("{.", "{0.")
    string = string.replace("\\cdot", "")
    string = string.replace("infinity", "\\infty")
    if "\\infty" not in string:
        string = string.replace("inf", "\\infty")
    string = string.replace("+\\inity", "\\infty")
    string = string.replace("and", "")
    string = string.replace("\\mathbf", "")
    string = re.sub(r"\\mbox{.*?}", "", string)
    if "j" in string and "i" not in string:
        string = string.replace("j", "i")
    string = re.sub(r"(\d+)\.0+([^\d])", r"\1\2", string)
    string = re.sub(r"(\d+)\.0+$", r"\1", string)
    if len(string) == 0:
        return string
    if string[0] == ".":
        string = "0" + string
    if len(string.split("=")) == 2 and len(string.split("=")[0]) <= 2:
        string = string.split("=")[1]
    string = _fix_sqrt_v2(string)
    string = string.replace(" ", "")
    string = _fix_fracs(string)
    return _fix_a_slash_b(string)


def is_equiv(pred: str | None, ref: str | None, version: Version) -> bool:
    """``MATHEvaluator.is_equiv``: stripped equality, then normalised-stripped, then
    normalised raw strings, then raw equality; any exception moves to the next step."""
    if pred is None and ref is None:
        return True
    if pred is None or ref is None:
        return False
    strip = _strip_string_v1 if version == "v1" else _strip_string_v2
    try:
        ss1, ss2 = strip(pred), strip(ref)
        if ss1 == ss2 or normalize_final_answer(ss1) == normalize_final_answer(ss2):
            return True
    except Exception:  # upstream swallows every error (asserts, bad indices) here
        pass
    try:
        if normalize_final_answer(pred) == normalize_final_answer(ref):
            return True
    except Exception:
        pass
    return pred == ref


def extract(text: str, version: Version) -> tuple[str, bool]:
    """The postprocessed prediction and whether an answer marker was found."""
    return math_postprocess(text) if version == "v1" else math_postprocess_v2(text)


# --- math-verify, an extra verdict --------------------------------------------------------

def math_verify_equal(text: str, ref: str) -> bool:
    """math-verify's verdict on the whole reply against ``$ref$``; False when it cannot parse.

    Its timeouts use SIGALRM, which only the main thread may set."""
    try:
        from math_verify import parse, verify  # type: ignore[import-untyped]
    except ImportError:
        return False
    kw: dict[str, Any] = {} if threading.current_thread() is threading.main_thread() else {
        "parsing_timeout": None}
    try:
        gold = parse(f"${ref}$", **kw)
        pred = parse(text, **kw)
        vkw: dict[str, Any] = {} if kw == {} else {"timeout_seconds": None}
        return bool(gold and pred and verify(gold, pred, **vkw))
    except Exception:  # sympy raises anything on odd input; "not verified"
        return False


# --- data ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class MATHItem(Sample):
    problem: str
    solution: str
    level: str
    subject: str


def _item(i: str, row: dict[str, Any], where: str) -> MATHItem:
    try:
        ref = extract_boxed_answer(row["solution"])
        return MATHItem(i, "" if ref is None else ref, row["problem"], row["solution"],
                        str(row.get("level", "")), str(row.get("type", "")))
    except (KeyError, TypeError) as exc:
        raise DataError(f"{where}: not a MATH record ({exc})") from None


def _load_local(path: Path) -> list[MATHItem]:
    if path.is_dir():  # upstream: test/<type>/<n>.json
        files = sorted(path.glob("*/*.json"),
                       key=lambda p: (p.parent.name, int(p.stem) if p.stem.isdigit() else 0))
        if not files:
            raise DataError(f"math: no <type>/<n>.json files under {path}")
        return [_item(f"{f.parent.name}/{f.stem}", json.loads(f.read_text(encoding="utf-8")), str(f))
                for f in files]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        text = fh.read()
    if path.name == "math.json" and text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
            return [_item(str(k), v, f"{path}[{k}]") for k, v in data.items()]
    rows = numbered_jsonl(path)
    return [_item(str(row.get("idx", k)), row, f"{path}:{n}") for k, (n, row) in enumerate(rows)]


def _load_hub(root: Path) -> list[MATHItem]:
    """``EleutherAI/hendrycks_math``'s seven configs' test parquet, as ``evals data fetch``
    stores them."""
    items: list[MATHItem] = []
    for config in HUB_CONFIGS:
        for n, row in enumerate(parquet_rows(root / config, "test-*.parquet")):
            items.append(_item(f"{config}/{n}", row, HUB_ID))
    return items


DATA = DataSpec(
    layouts=(Layout("evals", "math/test.json.gz"), Layout("evals", "math/test.jsonl"),
             Layout("opencompass", "math/math.json"), Layout("upstream", "math/test"),
             Layout("hub", f"hub/{HUB_ID}", (f"{HUB_CONFIGS[0]}",))),
    remote=remote("math"), items=5000, license="MIT")


@register
class HendrycksMATH(Defaults):
    name = "math"
    modes = (Mode.GEN,)
    default_shots = 4
    metric = Metric("accuracy")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[MATHItem]:
        if ctx.shots > len(EXEMPLARS):
            raise DataError(f"math: shots={ctx.shots}, but the protocol has {len(EXEMPLARS)}")
        local = _load_local
        return load_local(self.name, ctx, DATA, {
            "evals": local, "opencompass": local, "upstream": local, "hub": _load_hub})

    def group(self, sample: MATHItem) -> str:
        return sample.subject

    def requests(self, sample: MATHItem, ctx: BenchmarkContext) -> list[Request]:
        return [GenerateRequest(prompt_for(sample.problem, ctx.shots, ctx.kind),
                                GenerationParams(max_tokens=ctx.max_tokens or 512))]

    def score(self, sample: MATHItem, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        text = only_text(responses)
        return score_text(text, sample.target, "v1" if ctx.kind is ModelKind.BASE else "v2")


def prompt_for(problem: str, shots: int, kind: ModelKind) -> Prompt:
    rounds: list[Round] = []
    for q, a in EXEMPLARS[:shots]:
        rounds += [Round("HUMAN", q), Round("BOT", a)]
    rounds.append(Round("HUMAN", QUESTION.replace("{problem}", problem)))
    return rounds_to_prompt(rounds, kind)


def score_text(text: str, reference: str, version: Version) -> Score:
    """Upstream's verdict; an empty reference (no ``\\boxed{}`` in the solution) is
    upstream's None, which nothing equals."""
    pred, marked = extract(text, version)
    correct = is_equiv(pred, reference or None, version)
    extras = (("math_verify", float(math_verify_equal(text, reference))),)
    if not marked and not correct:
        return Score(0.0, pred, parse_failed=True, extras=extras,
                     detail=f"no answer marker ({version}); first-sentence fallback {pred!r}")
    return Score(float(correct), pred, extras=extras)
