"""CIBench's task notebooks: jupytext markdown and stored ``.ipynb``, read as
OpenCompass's ``load_experiment`` reads them, and the gold output of a step."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from evals.errors import DataError

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
