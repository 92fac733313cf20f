"""The agent protocol: lagent 0.1's ReAct with the IPython interpreter, as CIBench's
``CIReAct`` drives it (prompt, reply parsing, tool responses, history), and running cells."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from evals.benchmarks.tool_use.cibench.data import Task
from evals.records import Message
from evals.sandbox.tools import CellResult, InterpreterSession, SessionLimits

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


def make_turn(reply: str, action: Action, cell: CellResult | None) -> Turn:
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


def closed(step: Sequence[Turn]) -> bool:
    """The step is over: its last call ran, or it had its three tries."""
    return bool(step) and (step[-1].success or len(step) == MAX_TURN)


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
        if not closed(step):
            for turn in step:
                raw += [("assistant", turn.reply), ("system", f"Response:{turn.response}\n")]
        elif step[-1].success:
            raw += [("assistant", step[-1].action.text),
                    ("system", f"Response:{step[-1].response}\n")]
        else:
            raw.append(("assistant", APOLOGY))
    if not steps or closed(steps[-1]):
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
