# ruff: noqa: E501  (the exemplars are verbatim prompt text)
"""MBPP (sanitized), 3-shot, pass@1 with greedy decoding: the score is the % of tasks passed.

Follows OpenCompass ``sanitized_mbpp_gen_1e1056`` (kept in 0.5.4 as
``deprecated_sanitized_mbpp_gen_1e1056``): three worked tasks as HUMAN/BOT turns whose answers
are wrapped in ``[BEGIN] '...' [DONE]``, then the task's text and its tests, at most 512 new
tokens, no stop strings. Extraction is ``MBPPEvaluator._process_answer`` (the ``[BEGIN]``/
``[DONE]`` and fence cascade); the program is the extraction, then the task's ``test_list``
asserts, executed in ``evals.sandbox.process`` with a 10 s limit. Outcomes are upstream's four:
``pass``, ``wrong_answer`` (an assert failed), ``failed`` (any other exception) and
``timeout``.

Deliberate differences from OpenCompass 0.5.4:
- 0.5.4 rewrites every ``assert a == b`` into a type-aware comparison (``type(a) is
  type(b)``). That rejects 14 of the 500 reference solutions of the MBPP test split (a float
  ``240.0`` for an expected ``240``) and was not in the OpenCompass the InternLM2 report used,
  which ran the asserts as written. We run them as written; ``strict_types=True`` in
  ``assemble_program`` reproduces 0.5.4 (the fidelity test pins both).
- Chat models: the final BOT turn ``[BEGIN]\\n`` is an assistant prefill, which a chat
  request here cannot carry; the chat prompt ends at the task's HUMAN turn and the few-shot
  turns show the ``[BEGIN] ... [DONE]`` form, which the extraction reads either way. Base
  models get the prefill as OpenCompass renders it (turns joined by newlines, ending
  ``[BEGIN]\\n``).
- Upstream execs the program inside the evaluator process tree with ``swallow_io``; we run it
  through the sandbox's Python driver. A program that calls ``sys.exit`` is a failure in
  both; one that ends its process (``os._exit(0)``) is a failure here (no proof that the
  asserts ran), where upstream's ``execution`` gets no result from its worker and its
  ``key[0]`` raises ``IndexError``, ending the whole evaluation.

Data, in order of preference:
- upstream ``sanitized-mbpp.json`` (google-research, a JSON array) or OpenCompass's
  ``sanitized-mbpp.jsonl`` under ``<data_dir>/mbpp/``: records 7-263 (``SanitizedMBPPDataset``:
  ``train[7:264]``, the 257 tasks whose task_id is 11-510), prompts from ``prompt``;
- the hub's ``google-research-datasets/mbpp`` config ``sanitized``, split ``test`` (the same
  257 rows), as ``evals data fetch`` stores it;
- otherwise ``<data_dir>/mbpp/mbpp.jsonl``, the FULL set. !!! FALLBACK, NOT THE REPORT'S
  SETTING !!! Without a sanitized file, the run then scores
  the full set's test split (task_id 11-510, 500 tasks) with the full set's ``text`` prompts
  (OpenCompass ``mbpp_gen_1e1056``'s data): a different, harder task list whose numbers are
  not comparable with the report's sanitized MBPP. The loader logs a warning, the sample ids
  carry a ``full/`` prefix and the group is ``full-set-fallback``, so the results say so.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.benchmarks._io import read_jsonl
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
    Request,
    Response,
    Sample,
    Score,
)
from evals.sandbox.process import PythonProgram, SandboxLimits, run_python

log = logging.getLogger(__name__)

LIMITS = SandboxLimits(timeout_s=10.0, memory_mb=1024)
HUB_ID = "google-research-datasets/mbpp"
SANITIZED_FILES = ("mbpp/sanitized-mbpp.json", "mbpp/sanitized-mbpp.jsonl")
FULL_FILE = "mbpp/mbpp.jsonl"
FALLBACK_GROUP = "full-set-fallback"

# (HUMAN, BOT) turns of the config, verbatim; then TASK with the item's text and tests.
EXEMPLARS: tuple[tuple[str, str], ...] = (
    (
        "You are an expert Python programmer, and here is your task: Write a function to find the similar elements from the given two tuple lists. Your code should pass these tests:\n\n assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4) \n assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14) \n",
        "[BEGIN]\n 'def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & set(test_tup2))\r\n  return (res)' \n[DONE] \n\n ",
    ),
    (
        "You are an expert Python programmer, and here is your task: Write a python function to identify non-prime numbers. Your code should pass these tests:\n\n assert is_not_prime(2) == False \n assert is_not_prime(10) == True \n assert is_not_prime(35) == True \n",
        "[BEGIN]\n 'import math\r\ndef is_not_prime(n):\r\n    result = False\r\n    for i in range(2,int(math.sqrt(n)) + 1):\r\n        if n % i == 0:\r\n            result = True\r\n    return result' \n[DONE] \n\n ",
    ),
    (
        "You are an expert Python programmer, and here is your task: Write a function to find the largest integers from a given list of numbers using heap queue algorithm. Your code should pass these tests:\n\n assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] \n assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] \n assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35] \n",
        "[BEGIN]\n 'import heapq as hq\r\ndef heap_queue_largest(nums,n):\r\n  largest_nums = hq.nlargest(n, nums)\r\n  return largest_nums' \n[DONE] \n\n ",
    ),
)
TASK = ("You are an expert Python programmer, and here is your task: {text} Your code should "
        "pass these tests:\n\n {test_list}  \n")

# MBPPEvaluator._process_answer's cascade, each with the literals it cannot match without:
# skipping a pattern whose literal is absent changes no result and avoids the cubic
# backtracking of the unanchored ones on long outputs (upstream caps each search at 10 s).
_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\[BEGIN\]\s*'(.*)'\s*\[DONE\]", ("[BEGIN]", "'", "[DONE]")),
    (r"BEGIN\s*'(.*)'\s*\[DONE\]", ("BEGIN", "'", "[DONE]")),
    (r"\[BEGIN\]\s*'(.*)'\s*DONE", ("[BEGIN]", "'", "DONE")),
    (r"BEGIN\s*'(.*)'\s*DONE", ("BEGIN", "'", "DONE")),
    (r"\[BEGIN\]\s*'(.*)\s*\[DONE\]", ("[BEGIN]", "'", "[DONE]")),
    (r"BEGIN\s*'(.*)\s*\[DONE\]", ("BEGIN", "'", "[DONE]")),
    (r"\[BEGIN\]\s*'(.*)\s*DONE", ("[BEGIN]", "'", "DONE")),
    (r"BEGIN\s*'(.*)\s*DONE", ("BEGIN", "'", "DONE")),
    (r"\[BEGIN\]\s*(.*)\s*\[DONE\]", ("[BEGIN]", "[DONE]")),
    (r"BEGIN\s*(.*)\s*\[DONE\]", ("BEGIN", "[DONE]")),
    (r"\[BEGIN\]\s*(.*)\s*DONE", ("[BEGIN]", "DONE")),
    (r"BEGIN\s*(.*)\s*DONE", ("BEGIN", "DONE")),
    (r"```python\s*(.*)\s*```", ("```python",)),
    (r"```\s*(.*)\s*```", ("```",)),
    (r"```python\s*(.*)\s*$", ("```python",)),
    (r"```\s*(.*)\s*$", ("```",)),
    (r"(.*)\s*```.*", ("```",)),
    (r"\[BEGIN\]\s*'(.*)", ("[BEGIN]", "'")),
    (r"\[BEGIN\](.*)", ("[BEGIN]",)),
    (r"'(.*)'\s*\[DONE\]", ("'", "[DONE]")),
)
_PATTERNS_RE = tuple((re.compile(p, re.DOTALL), need) for p, need in _PATTERNS)
_DONE = re.compile(r"'?\s*\[?DONE\]?")


@dataclass(frozen=True)
class MBPPItem(Sample):
    text: str
    tests: tuple[str, ...]

    @property
    def test_list(self) -> str:
        return "\n".join(self.tests)


def extract_code(text: str) -> str:
    """``MBPPEvaluator._process_answer``: the first pattern of the cascade that matches, cut
    at a fence or ``DONE``, ``\\_`` unescaped, stripped."""
    for pattern, needed in _PATTERNS_RE:
        if not all(n in text for n in needed):
            continue
        match = pattern.search(text)
        if match:
            text = match.group(1)
            break
    text = text.split("```")[0]
    text = _DONE.split(text)[0]
    return text.replace("\\_", "_").strip()


TYPE_AWARE_EQUAL = "__opencompass_type_aware_equal"

_TYPE_AWARE_SOURCE = f'''
def {TYPE_AWARE_EQUAL}(actual, expected):
    from collections.abc import Mapping
    eq = {TYPE_AWARE_EQUAL}
    if type(actual) is not type(expected):
        return False
    if isinstance(actual, (list, tuple)):
        return len(actual) == len(expected) and all(eq(a, e) for a, e in zip(actual, expected))
    if isinstance(actual, Mapping):
        pairs, other = list(expected.items()), list(actual.items())
        return len(other) == len(pairs) and _match_all(
            other, pairs, lambda x, y: eq(x[0], y[0]) and eq(x[1], y[1]))
    if isinstance(actual, (set, frozenset)):
        return len(actual) == len(expected) and _match_all(list(actual), list(expected), eq)
    try:
        result = actual == expected
    except Exception:
        return False
    return type(result) is bool and result


def _match_all(actual, expected, same):
    used = set()
    for a in actual:
        hit = next((i for i, e in enumerate(expected) if i not in used and same(a, e)), None)
        if hit is None:
            return False
        used.add(hit)
    return True
'''


class _TypeAware(ast.NodeTransformer):
    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        self.generic_visit(node)
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            node.test = ast.Call(ast.Name(TYPE_AWARE_EQUAL, ast.Load()),
                                 [test.left, test.comparators[0]], [])
        return node


def type_aware_tests(source: str) -> str:
    """OpenCompass 0.5.4's ``make_assertions_type_aware`` (only with ``strict_types``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    return ast.unparse(ast.fix_missing_locations(_TypeAware().visit(tree)))


def assemble_program(code: str, tests: str, strict_types: bool = False) -> PythonProgram:
    """``code`` then ``tests`` in one namespace, as upstream's ``exec`` pair runs them, through
    the sandbox's Python driver: a pass needs its proof that the last assert ran.
    ``SystemExit`` and friends raised by the code are failures, as upstream."""
    if strict_types:
        tests = textwrap.dedent(_TYPE_AWARE_SOURCE) + type_aware_tests(tests)
    return PythonProgram(code, tests)


def outcome(code: str, tests: str, strict_types: bool = False,
            limits: SandboxLimits = LIMITS) -> tuple[str, str]:
    """(``pass``/``wrong_answer``/``failed``/``timeout``, detail)."""
    result = run_python(assemble_program(code, tests, strict_types), limits)
    if result.status == "passed":
        return "pass", ""
    if result.status == "timeout":
        return "timeout", result.detail
    if result.detail.split(":")[0] == "AssertionError":
        return "wrong_answer", ""
    return "failed", result.detail


def mbpp_rounds(exemplars: Sequence[tuple[str, str]], task: str, sample: MBPPItem,
                kind: ModelKind) -> list[Round]:
    rounds = [Round(role, text) for human, bot in exemplars
              for role, text in (("HUMAN", human), ("BOT", bot))]
    rounds.append(Round("HUMAN", task.format(text=sample.text, test_list=sample.test_list)))
    if kind is ModelKind.BASE:
        rounds.append(Round("BOT", "[BEGIN]\n"))
    return rounds


def score_generation(sample: MBPPItem, responses: Sequence[Response]) -> Score:
    text = only_text(responses)
    code = extract_code(text)
    verdict, why = outcome(code, sample.test_list)
    return Score(float(verdict == "pass"), code, detail=f"{verdict}: {why}".rstrip(": "))


def _record(r: dict[str, object], prompt_key: str, prefix: str) -> MBPPItem:
    tests = r["test_list"]
    if not isinstance(tests, list):
        raise KeyError("test_list")
    return MBPPItem(f"{prefix}{r['task_id']}", str(r["code"]), str(r[prompt_key]),
                    tuple(str(t) for t in tests))


def _read_records(path: Path) -> list[dict[str, object]]:
    text = path.read_text(encoding="utf-8")
    if not text.lstrip().startswith("["):
        rows: object = read_jsonl(path)
    else:
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not JSON ({exc})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"{path}: expected a list of MBPP records")
    return rows


def _items(rows: Sequence[dict[str, object]], key: str, prefix: str, where: str) -> list[MBPPItem]:
    try:
        return [_record(r, key, prefix) for r in rows]
    except KeyError as exc:
        raise DataError(f"{where}: not an MBPP record (missing {exc})") from None


def load_sanitized(path: Path) -> list[MBPPItem]:
    """``SanitizedMBPPDataset``: records 7-263 of the file (``train[7:264]``)."""
    return _items(_read_records(path)[7:264], "prompt", "", str(path))


def load_full_test(path: Path) -> list[MBPPItem]:
    """``MBPPDataset``'s test split: records 10-509 (task_id 11-510 in the full set)."""
    return _items(_read_records(path)[10:510], "text", "full/", str(path))


def _load_hub(root: Path) -> list[MBPPItem]:
    """The hub's ``sanitized`` test split (the same 257 tasks), as ``evals data fetch``
    stores it."""
    return _items(parquet_rows(root, "test-*.parquet"), "prompt", "", str(root))


def _load_fallback(path: Path) -> list[MBPPItem]:
    log.warning(
        "mbpp: no sanitized-mbpp.json: FALLING BACK to the FULL MBPP test split (%s, task_id "
        "11-510); scores are NOT comparable with the report's sanitized MBPP; get the sanitized "
        "set with `evals data fetch -b mbpp`", path)
    return load_full_test(path)


DATA = DataSpec(
    layouts=(Layout("upstream", SANITIZED_FILES[0]), Layout("opencompass", SANITIZED_FILES[1]),
             Layout("hub", f"hub/{HUB_ID}/sanitized"), Layout("fallback", FULL_FILE)),
    remote=remote("mbpp"), items=257, license="CC BY 4.0")
"""``evals data fetch`` takes the hub's ``sanitized`` test parquet (lm-eval's ``mbpp`` task reads
the ``full`` config: OpenCompass's and the report's MBPP is the sanitized set)."""


@register
class MBPP(Defaults):
    name = "mbpp"
    modes = (Mode.GEN,)
    default_shots = 3
    metric = Metric("pass@1")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[MBPPItem]:
        if ctx.shots != len(EXEMPLARS):
            raise DataError(f"mbpp: shots={ctx.shots} unsupported (the protocol is 3-shot)")
        return load_local(self.name, ctx, DATA, {
            "upstream": load_sanitized, "opencompass": load_sanitized, "hub": _load_hub,
            "fallback": _load_fallback})

    def group(self, sample: MBPPItem) -> str:
        return FALLBACK_GROUP if sample.id.startswith("full/") else ""

    def requests(self, sample: MBPPItem, ctx: BenchmarkContext) -> list[Request]:
        rounds = mbpp_rounds(EXEMPLARS, TASK, sample, ctx.kind)
        params = GenerationParams(max_tokens=ctx.max_tokens or 512)
        return [GenerateRequest(rounds_to_prompt(rounds, ctx.kind), params)]

    def score(self, sample: MBPPItem, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        return score_generation(sample, responses)
