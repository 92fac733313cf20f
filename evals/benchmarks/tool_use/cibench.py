"""CIBench (template subset), EN and ZH: Jupyter-style data-analysis tasks solved step by step
with a sandboxed IPython session; the InternLM2 report's "CIBench" (Table 16, Fig. 19).

Data: OpenCompass's ``cibench_dataset`` layout under ``<data_dir>/cibench/``:
``cibench_template/<module>/<task>.md`` (EN) or ``cibench_template_chinese/...`` (ZH), task
notebooks in jupytext markdown (``.ipynb`` notebooks with stored outputs are read too, and
preferred, as OpenCompass's loader reads only those), and the tasks' input files under
``datasources/data/`` (the notebooks open them as ``data/<name>``).

Loading follows OpenCompass 0.5.4 ``load_experiment``: each markdown cell is a step's question
(a ``Thought:`` paragraph split off, "Please use <modules> modules." / "请用 <modules> 模块."
appended from the notebook's ``modules`` metadata), each code cell its reference solution,
``step_types`` the metric of each step (exec / num / text / vis), and the gold output of a
step is its cell's image, else its last stdout or ``execute_result``.

The staged notebooks are the jupytext sources and hold no outputs, so the gold outputs are
made here the way the authors made theirs: the reference cells run once per task in the same
sandboxed IPython session the model gets (same libraries, same input files), at scoring time.
A task whose reference solution fails here is reported as not scorable, never as a failure.

Protocol (OpenCompass ``AgentInferencer(infer_mode='every')`` with CIBench's ``CIReAct`` and
lagent 0.1's ReAct protocol and IPython interpreter, as in CIBench's ``eval_cibench.py``):
one step's question per round; the model answers ``Thought: / Action: IPythonInterpreter /
Action Input: <code block>``; the code runs; a successful run ends the step, its response
(``Response:`` + lagent's formatted outputs, trimmed to 1,024 characters) is kept in the
history and the next step's question follows; an error, a reply without a parsable action or
an unknown action gets its error message back and another try, at most three calls a step
(then the step's answer is lagent's fixed apology). OpenCompass's prompt adapter folds every
system message into the next user message (the instruction before the first question, each
tool response before the next question, or after the last reply: after two failed tries
both error responses arrive together behind both replies); so do we. Images
are shown to the model as ``![fig-NNN](fig-NNN.png)`` links, as lagent shows saved figures.
Each call may generate 512 tokens.

State: sessions are not kept alive across rounds (hundreds of idle kernels with pandas and
matplotlib loaded while the engine runs); each round a fresh session replays the sample's
earlier cells (failed tries included, as the kernel ran them) and runs the new one. Measured
on the fixture task (tests/fixtures/cibench, 2 shared cores): spawning an isolated session and
starting IPython takes about 1.4 s, reading the CSV with pandas 0.49 s, drawing a figure
0.13 s, the other cells under 0.01 s; a whole replay of its four steps 2.1-2.2 s wall. A
seven-step task thus costs a few seconds a round, against kernels kept alive for every sample
of a batch at once. A cell that timed out is not replayed (lagent interrupts the kernel and
goes on; our session dies), so state it built before the interrupt is lost on replay.
Observations are remembered per sample and cell sequence, so ``score`` replays nothing in the
same process and uses what the model saw.

Scoring per ``CIBenchEvaluator.single_exp``: per step ``tool_rate`` (the interpreter was
called), ``executable`` (its last call ran without error), and by step type
``numeric_correct`` (the gold text equals, or is contained in, the ``execute_result`` block,
else the ``stdout`` block, of the step's successful call), ``text_score`` (ROUGE-1 F1 of the
first output block against the gold) and ``vis_sim`` (SSIM of the call's first figure, resized
to the gold's size, against the gold figure). OpenCompass's summary (``configs/summarizers/
groups/cibench.py`` and ``agent_bench.py``): each metric is the mean over the modules of the
module's step average, weighted by OpenCompass's per-module step counts (modules with no step
of that kind drop out); the CIBench number is the plain mean of executable, numeric_correct,
text_score and vis_sim. The per-task value (mean of its metrics) only serves the groups and
the stderr, which is therefore approximate.

Not scorable (excluded before any model call, counted in the ``not_scorable*`` secondaries):
tasks whose input files are missing under ``datasources/data/``, tasks importing a package
this venv lacks (seaborn, lightgbm, tensorflow here), and tasks that download NLTK data
(``nltk.download`` needs the network the sandbox does not have) unless NLTK data is installed
in a system location. With the staged data every EN and ZH template task needs an input file
or NLTK data, so none is scorable until OpenCompass's ``datasources`` are put in place; a
run then stops with a DataError saying so rather than reporting zeros.

Deviations: gold outputs are regenerated here (above); jupytext gives ``scipy_exp04`` (EN and
ZH, a CRLF file with a doubled blank line) an extra empty markdown cell that shifts its later
questions against their code in OpenCompass, our parser does not (it agrees with jupytext's
cells on the other 304 staged notebooks); the tool's stdout and stderr come back
as two blocks rather than as interleaved stream messages; ``!`` lines are disabled as lagent's
start code disables them; outputs longer than the session's per-field cap lose their tail
before lagent's head-and-tail trim.
"""

from __future__ import annotations

import ast
import base64
import importlib.util
import io
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from evals.benchmarks._metrics import rouge1
from evals.benchmarks.base import BenchmarkContext, Metric, register
from evals.data_sources import DataSpec, Layout, MissingDataError, remote
from evals.errors import ConfigError, DataError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    GenerationParams,
    Message,
    MetricValue,
    Mode,
    ModelKind,
    Request,
    Response,
    Sample,
    SampleResult,
    Score,
)
from evals.sandbox.tools import CellMemo, CellResult, InterpreterSession, SessionLimits

MAX_TURN = 3
"""Model calls per step (CIBench's ``max_turn=3``)."""
TRIM_OUTPUT = 1024
APOLOGY = "对不起，我无法回答你的问题"
"""lagent's ``default_response`` when a step's tries are used up."""
TOOL = "IPythonInterpreter"
IPYTHON_DESCRIPTION = ("It can run Python code in a manner as jupyter notebook. The code must "
                       "be a valid code that contains only python method.")
INSTRUCTION = """\
You are an assistant who can utilize external tools.
{tool_description}
To use a tool, please response with the following format:
```
{thought} Think what you need to solve, do you need to use tools?
{action} The tool name, should be one of [{action_names}].
{action_input} The input to the tool that you want to use.
```
The tool will give you response after your response using the following format:
```
{response} the results after call the tool.
```
Therefore DO NOT generate tool response by yourself.

Also please follow the guidelines:
1. Always use code interpreter to solve the problem.
2. The generated codes should always in a markdown code block format.
3. The generated codes will be executed in an ipython manner and the results will be cached.
4. Your responded code should always be simple and only solves the problem in current step.

For example:

File url: `xxxx`
### Step 1. Load the dataset from the url into a pandas DataFrame named `df`.

{thought} We should use `pandas` to solve this step.
{action} IPythonInterpreter
{action_input} ```python
import pandas as pd
url = "xxxx"
data = pd.read_csv(url)
```
{response} The code is succeed without any outputs.

Let us begin from here!
"""
SYSTEM_PROMPT = INSTRUCTION.format(
    tool_description={TOOL: IPYTHON_DESCRIPTION}, action_names=[TOOL], thought="Thought:",
    action="Action:", action_input="Action Input:", response="Response:")
"""lagent 0.1 fills ``tool_description`` with ``{name: description}`` and ``action_names``
with a list, both by ``str.format``, hence their Python reprs."""
START_CODE = """\
import os
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
def input(*args, **kwargs):
    raise NotImplementedError('Python input() function is disabled.')

get_ipython().system = lambda *args: print('Assume we have this package, ! is disabled!')
"""
LIMITS = SessionLimits(call_timeout_s=60.0, memory_mb=4096, cpu_s=900, max_output_chars=8000,
                       max_processes=64, max_file_mb=64, start_timeout_s=60.0)
"""60 s a call as CIBench's ``CIReAct`` asks; room for pandas, sklearn and torch."""
TEMPLATE_WEIGHTS: dict[str, tuple[int, int, int, int]] = {
    "lightgbm": (30, 15, 0, 0), "matplotlib": (42, 0, 0, 36), "nltk": (70, 30, 20, 10),
    "opencv": (60, 10, 0, 40), "pandas": (60, 40, 0, 10), "pytorch": (28, 0, 0, 0),
    "scipy": (60, 40, 0, 0), "seaborn": (42, 0, 0, 35), "sklearn": (42, 6, 0, 18),
    "tensorflow": (36, 6, 0, 12),
}
"""OpenCompass's ``_cibench_template_weight``: per module, the step counts weighting
(tool_rate and executable, numeric_correct, text_score, vis_sim)."""
METRICS = {"exec": "executable", "general": "general_correct", "num": "numeric_correct",
           "text": "text_score", "vis": "vis_sim"}
WEIGHT_INDEX = {"tool_rate": 0, "executable": 0, "general_correct": 0, "numeric_correct": 1,
                "text_score": 2, "vis_sim": 3}
PRIMARY = ("executable", "numeric_correct", "text_score", "vis_sim")
NLTK_DATA_DIRS = ("/usr/share/nltk_data", "/usr/local/share/nltk_data", "/usr/lib/nltk_data",
                  "/usr/local/lib/nltk_data")
_DATA_PATH = re.compile(r"""(?<![\w/.])(?:\./)?(data/[^'"`\s,)，。；：）]+)""")
_IMAGE_LINK = re.compile(r"!\[fig-[0-9]*\]\((.*?)\)", re.S)
_EXEC_BLOCK = re.compile(r"execute_result:\n\n```\n(.*?)\n```", re.S)
_STDOUT_BLOCK = re.compile(r"stdout:\n\n```\n(.*?)\n```", re.S)
_ANY_BLOCK = re.compile(r"```\n(.*?)\n```", re.S)
_FENCE_OPEN = re.compile(r"^```(\w+)\s*$")


# ---------------------------------------------------------------- notebooks


@dataclass(frozen=True)
class Output:
    """One stored cell output, in nbformat's terms."""

    kind: Literal["stream", "execute_result", "display_data"]
    text: str
    stream: str = ""
    png: str | None = None


@dataclass(frozen=True)
class Cell:
    kind: Literal["markdown", "code"]
    source: str
    outputs: tuple[Output, ...] = ()


@dataclass(frozen=True)
class Notebook:
    cells: tuple[Cell, ...]
    step_types: tuple[str, ...]
    modules: tuple[str, ...]
    executed: bool
    """True for an ``.ipynb`` with stored outputs (the gold); jupytext markdown has none."""


def parse_markdown_notebook(text: str, where: str) -> Notebook:
    """Jupytext's markdown format as these notebooks use it: a YAML header whose ``jupyter``
    mapping is the notebook metadata, fenced blocks with a language are code cells, the text
    between them one markdown cell (blank lines around it dropped)."""
    lines = text.split("\n")
    metadata: dict[str, Any] = {}
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is None:
            raise DataError(f"{where}: unterminated YAML header")
        header = yaml.safe_load("\n".join(lines[1:end])) or {}
        metadata = header.get("jupyter", {}) if isinstance(header, dict) else {}
        lines = lines[end + 1:]
    cells: list[Cell] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        if _FENCE_OPEN.match(lines[i]):
            close = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```"),
                         None)
            if close is None:
                raise DataError(f"{where}: unterminated code block at line {i + 1}")
            _flush_prose(prose, cells)
            cells.append(Cell("code", "\n".join(lines[i + 1:close])))
            i = close + 1
            continue
        prose.append(lines[i])
        i += 1
    _flush_prose(prose, cells)
    return _notebook(cells, metadata, executed=False, where=where)


def _flush_prose(prose: list[str], cells: list[Cell]) -> None:
    """Two blank lines in a row split markdown cells; blank lines around a cell go."""
    chunk: list[str] = []
    for i, line in enumerate([*prose, "", ""]):
        blank = not line.strip()
        if blank and i + 1 < len(prose) + 2 and not [*prose, "", ""][i + 1].strip():
            while chunk and not chunk[-1].strip():
                chunk.pop()
            if chunk:
                cells.append(Cell("markdown", "\n".join(chunk)))
            chunk = []
        elif chunk or not blank:
            chunk.append(line)
    prose.clear()


def parse_ipynb(text: str, where: str) -> Notebook:
    try:
        raw = json.loads(text)
        cells = [Cell(c["cell_type"], "".join(c["source"]),
                      tuple(_output(o) for o in c.get("outputs", [])))
                 for c in raw["cells"] if c["cell_type"] in ("markdown", "code")]
        return _notebook(cells, raw.get("metadata", {}), executed=True, where=where)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{where}: not a notebook ({type(exc).__name__}: {exc})") from None


def _output(raw: dict[str, Any]) -> Output:
    kind = raw["output_type"]
    if kind == "stream":
        return Output("stream", "".join(raw["text"]), stream=raw["name"])
    data = raw.get("data", {})
    png = data.get("image/png")
    return Output("display_data" if kind == "display_data" else "execute_result",
                  "".join(data.get("text/plain", "")), png=png if isinstance(png, str) else None)


def _notebook(cells: Sequence[Cell], metadata: dict[str, Any], executed: bool,
              where: str) -> Notebook:
    step_types = [str(t).strip() for t in metadata.get("step_types", []) or []]
    modules = [str(m) for m in metadata.get("modules", []) or []]
    if modules and len(modules) != len(step_types):
        raise DataError(f"{where}: {len(modules)} modules but {len(step_types)} step_types")
    return Notebook(tuple(cells), tuple(step_types), tuple(modules), executed)


def gold_output(outputs: Sequence[Output]) -> tuple[str, str | None]:
    """``load_experiment``'s rule: a displayed image, else the last stdout stream or
    ``execute_result`` text, else execution only."""
    for out in outputs:
        if out.kind == "display_data" and out.png is not None:
            return "vis", out.png
    for out in reversed(outputs):
        if (out.kind == "stream" and out.stream == "stdout") or out.kind == "execute_result":
            return "general", out.text
    return "exec", None


# ---------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task(Sample):
    module: str
    questions: tuple[str, ...]
    codes: tuple[str, ...]
    tags: tuple[str, ...]
    """The metric of each step: ``step_types``, else derived from the stored outputs."""
    gold: tuple[str | None, ...] | None
    """Stored gold outputs (text, or a base64 PNG for images); None: run the references."""
    inputs: tuple[tuple[str, str], ...]
    """(name in the session's working directory, host path) of each input file."""
    blockers: tuple[str, ...]
    """Why the task cannot be scored here; empty when it can."""


def build_task(path: Path, root: Path, datasources: Path, chinese: bool) -> Task:
    where = str(path)
    text = path.read_text(encoding="utf-8")
    nb = parse_ipynb(text, where) if path.suffix == ".ipynb" else parse_markdown_notebook(text, where)
    modules = [[m.strip() for m in group.split("&")] for group in nb.modules]
    questions, codes, outputs = [], [], []
    for cell in nb.cells:
        if cell.kind == "markdown":
            question = cell.source.strip()
            parts = question.split("\n\nThought: ")
            question = parts[0] if len(parts) == 2 else question
            if modules:
                names = modules.pop(0)
                question += (f"请用 {' 和 '.join(names)} 模块." if chinese
                             else f"Please use {' and '.join(names)} modules.")
            questions.append(question.strip() + "\n")
        else:
            codes.append(cell.source)
            outputs.append(gold_output(cell.outputs))
    n = min(len(questions), len(codes))
    tags = nb.step_types or tuple(tag for tag, _ in outputs)
    inputs, missing = _inputs(nb, datasources)
    task_id = str(path.relative_to(root).with_suffix(""))
    return Task(
        id=task_id, target=",".join(tags[:n]), module=path.parent.name,
        questions=tuple(questions[:n]), codes=tuple(codes[:n]), tags=tuple(tags[:n]),
        gold=tuple(value for _, value in outputs[:n]) if nb.executed else None,
        inputs=inputs, blockers=_blockers(missing, codes),
    )


def _inputs(nb: Notebook, datasources: Path) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """The ``data/...`` names the task's text and code mention, expanded to files (a named
    directory brings everything under it); names absent from ``datasources`` are missing."""
    names = sorted({m.rstrip(".") for c in nb.cells for m in _DATA_PATH.findall(c.source)})
    found: dict[str, str] = {}
    missing = []
    for name in names:
        source = datasources / name
        if source.is_file():
            found[name] = str(source)
        elif source.is_dir():
            for f in sorted(p for p in source.rglob("*") if p.is_file()):
                found[str(Path(name) / f.relative_to(source))] = str(f)
        elif not any(other != name and other.startswith(name) for other in names):
            missing.append(name)
    return tuple(found.items()), missing


def _blockers(missing_files: Sequence[str], codes: Sequence[str]) -> tuple[str, ...]:
    out = [f"input file missing: {name}" for name in missing_files]
    absent = sorted(m for m in _imported(codes) if not _installed(m))
    out += [f"package not installed: {name}" for name in absent]
    if any("nltk.download(" in code for code in codes) and not _nltk_data():
        out.append("needs NLTK data (nltk.download needs the network; none installed)")
    return tuple(out)


def _imported(codes: Sequence[str]) -> set[str]:
    names: set[str] = set()
    for code in codes:
        try:
            tree = ast.parse(code)
        except SyntaxError:  # magics: fall back to the import lines
            names |= set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", code, re.M))
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names}


@cache
def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@lru_cache(maxsize=1)
def _nltk_data() -> bool:
    dirs = (*NLTK_DATA_DIRS, *(str(Path(sys.prefix, d, "nltk_data"))
                               for d in ("", "share", "lib")))
    return any(Path(d).is_dir() for d in dirs)


def notebook_paths(subset: Path) -> list[Path]:
    """OpenCompass walks the subset with sorted directories and files; ``.ipynb`` notebooks
    are preferred over their jupytext markdown sources when both exist."""
    found: dict[Path, Path] = {}
    for path in sorted(subset.rglob("*")):
        if path.suffix in (".ipynb", ".md") and path.is_file():
            stem = path.with_suffix("")
            if path.suffix == ".ipynb" or stem not in found:
                found[stem] = path
    return [found[k] for k in sorted(found)]


ROOTS = ("cibench", "cibench_dataset")
"""Where the task notebooks and their ``datasources`` sit: shared data's ``cibench/`` or
OpenCompass's ``data/cibench_dataset/``."""


def spec(subset: str) -> DataSpec:
    """The notebooks of one subset, in either root; the input files beside them are optional
    (tasks missing theirs are counted as not scorable)."""
    return DataSpec(
        layouts=(Layout("evals", ROOTS[0], (subset,)), Layout("opencompass", ROOTS[1], (subset,))),
        remote=remote("cibench"), items=73, license="Apache-2.0")


@lru_cache(maxsize=8)
def load_tasks(data_dir: Path, subset: str) -> tuple[Task, ...]:
    found = spec(subset).locate(data_dir)
    base = found[1] if found else data_dir / ROOTS[0]
    root = base / subset
    paths = notebook_paths(root) if root.is_dir() else []
    if not paths:
        name = "cibench_zh" if "chinese" in subset else "cibench_en"
        raise MissingDataError(name, f"cibench: no task notebooks at {root}; put OpenCompass's "
                               f"cibench_dataset there or run `evals data fetch -b {name}`")
    return tuple(build_task(p, root, base / "datasources", "chinese" in subset) for p in paths)


# ---------------------------------------------------------------- the agent protocol


@dataclass(frozen=True)
class Action:
    """What one reply asks for, per lagent's ReAct ``parse`` and action executor."""

    kind: Literal["ipython", "finish", "none", "invalid"]
    text: str
    """The action input (or the final answer)."""
    code: str


def parse_reply(message: str) -> Action:
    if "Final Answer:" in message:
        return Action("finish", message.split("Final Answer:")[-1], "")
    actions = re.findall(r"Action:(.*?)\n", message)
    inputs = re.findall(r"Action Input:(.*)", message, re.S)
    if not actions or not inputs:
        return Action("none", "", "")
    text = inputs[-1].strip().strip('"')
    if actions[-1].strip() != TOOL:
        return Action("invalid", text, "")
    return Action("ipython", text, extract_code(text))


def extract_code(text: str) -> str:
    """lagent's ``extract_code``: a fenced block, else an inline one, else JSON's ``code``
    (lagent reads JSON5), else the text itself."""
    triple = re.search(r"```[^\n]*\n(.+?)```", text, re.S)
    if triple:
        return triple.group(1)
    single = re.search(r"`([^`]*)`", text, re.S)
    if single:
        return single.group(1)
    try:
        loaded = json.loads(text)
        if isinstance(loaded, dict) and isinstance(code := loaded.get("code"), str):
            return code
    except ValueError:
        pass
    return text


def format_result(cell: CellResult) -> tuple[bool, str]:
    """lagent's IPython interpreter: each output as ``<kind>:`` and a fenced block, figures as
    image links, trimmed head and tail to 1,024 characters; (succeeded, text). A cell that
    ended the interpreter itself (``os._exit``, a fatal signal) is an error with the reason,
    never the timeout text."""
    parts = []
    for kind, text in (("stdout", cell.stdout), ("stderr", cell.stderr),
                       ("execute_result", cell.value or "")):
        if text:
            parts.append(f"\n\n{kind}:\n\n```\n{text}\n```")
    parts += [f"\n\n![fig-{i:03d}](fig-{i:03d}.png)" for i in range(1, len(cell.images) + 1)]
    if cell.status in ("error", "dead"):  # dead: the cell ended the interpreter (os._exit)
        parts.append(f"\n\nerror:\n\n```\n{cell.error or ''}\n```")
    elif cell.status == "timeout":
        parts.append(f"\n\nerror:\n\n```\nTimeout. No response after {LIMITS.call_timeout_s:g} "
                     "seconds.\n```")
    result = "".join(parts)
    if len(result) > TRIM_OUTPUT:
        half = (TRIM_OUTPUT - len("......")) // 2
        result = result[:half] + "......" + result[-half:]
    return cell.status == "ok", result.lstrip("\n")


@dataclass(frozen=True)
class Turn:
    """One model call of a step and what the tool made of it."""

    reply: str
    action: Action
    cell: CellResult | None
    success: bool
    response: str
    """The tool's response text: the result on success, else the error message."""


def _turn(reply: str, action: Action, cell: CellResult | None) -> Turn:
    if action.kind == "finish":
        return Turn(reply, action, None, True, action.text)
    if action.kind == "none":
        return Turn(reply, action, None, False, "Please follow the format")
    if action.kind == "invalid":
        return Turn(reply, action, None, False,
                    "The action is invalid, please check the action name.")
    if cell is None:
        return Turn(reply, action, None, False,
                    "The input code is empty. Please follow the format.")
    ok, text = format_result(cell)
    if ok:
        return Turn(reply, action, cell, True, text or "The code is succeed without any outputs.")
    return Turn(reply, action, cell, False, repr(text))


def group_steps(turns: Sequence[Turn]) -> list[list[Turn]]:
    """Turns into steps: a step ends with a success or after ``MAX_TURN`` calls."""
    steps: list[list[Turn]] = [[]]
    for turn in turns:
        steps[-1].append(turn)
        if turn.success or len(steps[-1]) == MAX_TURN:
            steps.append([])
    return steps if steps[-1] else steps[:-1]


def history(task: Task, steps: Sequence[Sequence[Turn]]) -> list[tuple[str, str]]:
    """lagent's prompt before folding: the system instruction; per closed step its question
    and either the successful action input with its ``Response:`` or the apology; for the
    open step its question and each failed try with its error (CIReAct's inner history)."""
    raw: list[tuple[str, str]] = [("system", SYSTEM_PROMPT)]
    for index, step in enumerate(steps):
        raw.append(("user", task.questions[index]))
        if not _closed(step):
            for turn in step:
                raw += [("assistant", turn.reply), ("system", f"Response:{turn.response}\n")]
        elif step[-1].success:
            raw += [("assistant", step[-1].action.text),
                    ("system", f"Response:{step[-1].response}\n")]
        else:
            raw.append(("assistant", APOLOGY))
    if not steps or _closed(steps[-1]):
        raw.append(("user", task.questions[len(steps)]))
    return raw


def fold_system(raw: Sequence[tuple[str, str]]) -> tuple[Message, ...]:
    """``opencompass_adapter``: system messages join the next user message, in front; any
    left at the end join a final user message, or become one after an assistant's."""
    out: list[Message] = []
    pending: list[str] = []
    for role, content in raw:
        if role == "system":
            pending.append(content)
        elif role == "user":
            out.append(Message("user", "".join(pending) + content))
            pending = []
        else:
            out.append(Message("assistant", content))
    if pending:
        if out and out[-1].role == "user":
            out[-1] = Message("user", out[-1].content + "".join(pending))
        else:
            out.append(Message("user", "".join(pending)))
    return tuple(out)


# ---------------------------------------------------------------- running cells


def run_cells(cells: Sequence[str], inputs: Sequence[tuple[str, str]], hide: tuple[str, ...],
              skip: frozenset[int] = frozenset()) -> list[CellResult | None]:
    """Every cell's result, in order, in one fresh IPython session with the task's inputs;
    cells in ``skip`` (timed out before) are not run again."""
    files = {name: Path(source) for name, source in inputs}
    with InterpreterSession(LIMITS, hide=hide, mode="ipython", files=files) as session:
        session.run(START_CODE)
        return [None if i in skip else session.run(code) for i, code in enumerate(cells)]


def ssim(pred_png: str, gold_png: str) -> float:
    """``sklearn_ssim``: the prediction resized to the gold's size, both uint8, SSIM over
    channels."""
    import imageio.v3 as iio
    import numpy as np
    from skimage.metrics import structural_similarity
    from skimage.transform import resize

    gold = iio.imread(io.BytesIO(base64.b64decode(gold_png)))
    pred = iio.imread(io.BytesIO(base64.b64decode(pred_png)))
    pred = (255 * resize(pred, gold.shape[:2])).astype(np.uint8)  # type: ignore[no-untyped-call]
    return float(structural_similarity(pred, gold, channel_axis=-1))  # type: ignore[no-untyped-call]


def step_score(tag: str, step: Sequence[Turn], gold: str | None) -> float:
    """``correct_step`` / ``text_step`` / ``vis_similarity_step`` on the step's last call that
    returned a result (only a successful call does)."""
    for turn in reversed(step):
        if turn.action.kind != "ipython" or not turn.success or turn.cell is None:
            continue
        try:
            if tag in ("num", "general"):
                match = _EXEC_BLOCK.search(turn.response) or _STDOUT_BLOCK.search(turn.response)
                if match:
                    if gold is None:
                        return 0.0
                    out, target = match.group(1).strip(), gold.strip()
                    return float(out == target or target in out)
            elif tag == "text":
                match = _ANY_BLOCK.search(turn.response)
                if match:
                    return rouge1(match.group(1), gold) if gold is not None else 0.0
            elif tag == "vis":
                link = _IMAGE_LINK.search(turn.response)
                if link is None or gold is None:
                    return 0.0
                index = int(re.sub(r"\D", "", link.group(1)) or 0) - 1
                return ssim(turn.cell.images[index], gold)
        except Exception:  # OpenCompass scores any failure of the comparison as 0
            return 0.0
    return 0.0


# ---------------------------------------------------------------- the benchmark


@dataclass(frozen=True)
class CIBenchMetric(Metric):
    """OpenCompass's CIBench summary; see the module docstring."""

    aggregation = "OpenCompass's CIBench summary over its metrics"

    subset: str = ""

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        scored = [r for r in results if r.score.weight > 0]
        values = [v for name in PRIMARY if (v := _weighted(scored, name)) is not None]
        mean = sum(values) / len(values) if values else 0.0
        per_task = [r.score.value for r in scored]
        se = 0.0
        if len(per_task) > 1:
            m = sum(per_task) / len(per_task)
            var = sum((v - m) ** 2 for v in per_task) / (len(per_task) - 1)
            se = (var / len(per_task)) ** 0.5
        return MetricValue(self.name, self.scale * mean, self.scale * se, True)

    def secondary(self, results: Sequence[SampleResult],
                  ctx: BenchmarkContext | None = None) -> tuple[MetricValue, ...]:
        scored = [r for r in results if r.score.weight > 0]
        out = []
        for name in ("tool_rate", *PRIMARY, "general_correct"):
            value = _weighted(scored, name)
            if value is not None:
                out.append(MetricValue(name, 100 * value, 0.0))
            steps = sum(dict(r.score.extras).get(f"{name}_steps", 0.0) for r in scored)
            out.append(MetricValue(f"{name}_steps", steps, 0.0))
        failing = len(results) - len(scored)
        static = not_scorable_counts(ctx.data_dir, self.subset) if ctx is not None else {}
        out.append(MetricValue("not_scorable", float(static.get("tasks", 0) + failing), 0.0,
                               False))
        out.append(MetricValue("not_scorable_reference_fails", float(failing), 0.0, False))
        for reason in ("missing_files", "missing_packages", "nltk_data"):
            if reason in static:
                out.append(MetricValue(f"not_scorable_{reason}", float(static[reason]), 0.0,
                                       False))
        return tuple(out)


def _weighted(results: Sequence[SampleResult], name: str) -> float | None:
    """Per module, the step-weighted mean of the tasks' means; across modules, OpenCompass's
    weights (a module it does not list weighs its step count)."""
    modules: dict[str, list[float]] = {}
    for r in results:
        extras = dict(r.score.extras)
        n = extras.get(f"{name}_steps", 0.0)
        if n:
            acc = modules.setdefault(r.group, [0.0, 0.0])
            acc[0] += extras[name] * n
            acc[1] += n
    total = weight_sum = 0.0
    for module, (s, n) in modules.items():
        weights = TEMPLATE_WEIGHTS.get(module)
        w = float(weights[WEIGHT_INDEX[name]]) if weights else n
        total += w * s / n
        weight_sum += w
    return total / weight_sum if weight_sum else None


def not_scorable_counts(data_dir: Path, subset: str) -> dict[str, int]:
    """Tasks excluded before running, in all and by kind of reason."""
    counts = {"tasks": 0, "missing_files": 0, "missing_packages": 0, "nltk_data": 0}
    for task in load_tasks(data_dir, subset):
        if not task.blockers:
            continue
        counts["tasks"] += 1
        kinds = {"missing_files" if b.startswith("input file") else
                 "missing_packages" if b.startswith("package") else "nltk_data"
                 for b in task.blockers}
        for kind in kinds:
            counts[kind] += 1
    return counts


class _CIBench:
    name: str
    subset: str
    data: DataSpec
    modes = (Mode.GEN,)
    default_shots = 0

    def __init__(self) -> None:
        self.metric: Metric = CIBenchMetric("cibench", subset=self.subset)
        self._cells: CellMemo[CellResult | None] = CellMemo()
        self._gold: dict[str, tuple[str | None, ...] | str] = {}

    def load(self, ctx: BenchmarkContext) -> list[Task]:
        if ctx.kind is not ModelKind.CHAT:
            raise ConfigError(f"{self.name}: the agent protocol is for chat models; drop it "
                              "from base models' suites")
        tasks = load_tasks(ctx.data_dir, self.subset)
        scorable = [t for t in tasks if not t.blockers]
        if not scorable:
            counts = not_scorable_counts(ctx.data_dir, self.subset)
            raise DataError(
                f"{self.name}: none of the {len(tasks)} tasks can be scored here (input files "
                f"missing: {counts['missing_files']}, packages missing: "
                f"{counts['missing_packages']}, NLTK data missing: {counts['nltk_data']}); put "
                "OpenCompass's cibench_dataset/datasources/data under "
                f"{self._base(ctx) / 'datasources' / 'data'}")
        return scorable

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        root = self._base(ctx) / self.subset
        return notebook_paths(root) if root.is_dir() else []

    def _base(self, ctx: BenchmarkContext) -> Path:
        found = self.data.locate(ctx.data_dir)
        return found[1] if found else ctx.data_dir / ROOTS[0]

    def group(self, sample: Task) -> str:
        return sample.module

    def requests(self, sample: Task, ctx: BenchmarkContext) -> list[Request]:
        return [self._ask(sample, [], ctx)]

    def follow_up(self, sample: Task, responses: Sequence[Response],
                  ctx: BenchmarkContext) -> list[Request]:
        steps = group_steps(self._turns(sample, responses, ctx, fresh=True))
        closed = len(steps) if _closed(steps[-1]) else len(steps) - 1
        if closed >= len(sample.questions):
            return []
        return [self._ask(sample, steps, ctx)]

    def score(self, sample: Task, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        steps = group_steps(self._turns(sample, responses, ctx, fresh=False))
        gold = self._reference(sample, ctx)
        transcript = _transcript(sample, steps)
        if isinstance(gold, str):
            return Score(0.0, None, detail=f"not scorable: {gold}\n{transcript}", weight=0.0,
                         extras=(("not_scorable", 1.0),))
        per: dict[str, list[float]] = {"tool_rate": [], "executable": []}
        for tag, step, target in zip(sample.tags, steps, gold, strict=False):
            calls = [t for t in step if t.action.kind == "ipython"]
            per["tool_rate"].append(float(bool(calls)))
            per["executable"].append(float(bool(calls) and calls[-1].success))
            if tag != "exec" and tag in METRICS:
                per.setdefault(METRICS[tag], []).append(step_score(tag, step, target))
        for name in ("tool_rate", "executable"):  # steps never reached score 0
            per[name] += [0.0] * (len(sample.tags) - len(per[name]))
        for tag in sample.tags[len(steps):]:
            if tag != "exec" and tag in METRICS:
                per.setdefault(METRICS[tag], []).append(0.0)
        means = {name: sum(v) / len(v) for name, v in per.items() if v}
        applicable = [means[n] for n in (*PRIMARY, "general_correct") if n in means]
        extras = [("not_scorable", 0.0)]
        for name, values in per.items():
            extras += [(name, means[name]), (f"{name}_steps", float(len(values)))]
        return Score(sum(applicable) / len(applicable), None, extras=tuple(extras),
                     detail=transcript)

    def _reference(self, sample: Task, ctx: BenchmarkContext) -> tuple[str | None, ...] | str:
        """The gold outputs, or why the reference solution cannot produce them here."""
        if sample.gold is not None:
            return sample.gold
        if sample.id not in self._gold:
            cells = run_cells(sample.codes, sample.inputs, (str(ctx.data_dir),))
            gold: list[str | None] = []
            for i, cell in enumerate(cells):
                assert cell is not None
                if cell.status != "ok":
                    tail = (cell.error or cell.status).strip().splitlines()[-1:] or [cell.status]
                    self._gold[sample.id] = f"reference step {i + 1} fails here: {tail[0][:200]}"
                    break
                gold.append(gold_output(_as_outputs(cell))[1])
            else:
                self._gold[sample.id] = tuple(gold)
        return self._gold[sample.id]

    def _turns(self, sample: Task, responses: Sequence[Response], ctx: BenchmarkContext,
               fresh: bool) -> list[Turn]:
        replies = [_text(r) for r in responses]
        actions = [parse_reply(r) for r in replies]
        cells = tuple(a.code for a in actions if a.kind == "ipython" and a.code)
        new_cell = bool(actions) and actions[-1].kind == "ipython" and bool(actions[-1].code)
        results = self._run(sample, cells, ctx, fresh and new_cell)
        turns, k = [], 0
        for reply, action in zip(replies, actions, strict=True):
            cell = None
            if action.kind == "ipython" and action.code:
                cell, k = results[k], k + 1
            turns.append(_turn(reply, action, cell))
        return turns

    def _run(self, sample: Task, cells: tuple[str, ...], ctx: BenchmarkContext,
             fresh: bool) -> list[CellResult | None]:
        """Results of ``cells`` in order (see "State" in the module docstring); a cell that
        timed out before is not run again."""
        def replay(cs: tuple[str, ...], known: Sequence[CellResult | None]
                   ) -> list[CellResult | None]:
            skip = frozenset(i for i, c in enumerate(known[:-1])
                             if c is not None and c.status == "timeout")
            return run_cells(cs, sample.inputs, (str(ctx.data_dir),), skip)

        return self._cells.results(sample.id, cells, fresh, replay)

    def _ask(self, sample: Task, steps: Sequence[Sequence[Turn]],
             ctx: BenchmarkContext) -> GenerateRequest:
        messages = fold_system(history(sample, steps))
        params = GenerationParams(max_tokens=ctx.max_tokens or 512)
        return GenerateRequest(ChatPrompt(messages), params)


def _closed(step: Sequence[Turn]) -> bool:
    return bool(step) and (step[-1].success or len(step) == MAX_TURN)


def _as_outputs(cell: CellResult) -> list[Output]:
    outs = [Output("stream", cell.stdout, stream="stdout")] if cell.stdout else []
    outs += [Output("display_data", "", png=png) for png in cell.images]
    if cell.value is not None:
        outs.append(Output("execute_result", cell.value))
    return outs


def _text(response: Response) -> str:
    assert isinstance(response, GenerateResponse)
    return response.text


def _transcript(task: Task, steps: Sequence[Sequence[Turn]]) -> str:
    parts = []
    for i, step in enumerate(steps):
        tag = task.tags[i] if i < len(task.tags) else "?"
        for j, turn in enumerate(step, 1):
            shown = turn.action.code if turn.action.kind == "ipython" else turn.reply
            status = "ok" if turn.success else "failed"
            parts.append(f"[step {i + 1} ({tag}) try {j}: {turn.action.kind}, {status}]\n"
                         f"{shown.rstrip()[:2000]}\n[response]\n{turn.response}")
    return "\n".join(parts) or "[no steps]"


@register
class CIBenchEN(_CIBench):
    name = "cibench_en"
    subset = "cibench_template"
    data = spec(subset)


@register
class CIBenchZH(_CIBench):
    name = "cibench_zh"
    subset = "cibench_template_chinese"
    data = spec(subset)

