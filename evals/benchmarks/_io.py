"""Reading benchmark data files: text (gunzipped), JSON lines with line numbers."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from evals.errors import DataError


def read_text(path: Path) -> str:
    """A data file's text, gunzipped when it ends in .gz (large shared files are)."""
    raw = path.read_bytes()
    return (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8")


T = TypeVar("T")


def numbered_jsonl(path: Path) -> list[tuple[int, Any]]:
    """(line number, record) of each non-blank line, split on "\n" only: str.splitlines()
    would also split on U+0085 and U+2028, which occur inside some records. A line that is
    not JSON is a DataError naming the file and line."""
    rows = []
    for i, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            rows.append((i, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{i}: invalid JSON ({exc.msg})") from None
    return rows


def jsonl_records(lines: Iterable[str], where: str, what: str,
                  build: Callable[[int, Any], T]) -> list[T]:
    """``build(i, record)`` for each non-blank line, ``i`` its 0-based line number (which
    several benchmarks keep as the item id). A line that is not JSON, or a record ``build``
    cannot read (a missing key, a wrong type), is a DataError naming the file, the line and
    the record expected."""
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(build(i, json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{where}:{i + 1}: not a {what} record ({exc})") from None
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in numbered_jsonl(path)]
