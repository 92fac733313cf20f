"""``evals watch DIR``: evaluate checkpoints as a training job writes them.

A trainer writes a checkpoint folder over minutes (config first or last, shards one by one,
often through temporary names), so a folder that merely exists is not a checkpoint yet. A
folder counts as written when

- ``config.json`` parses, and its weights are there: ``model.safetensors`` or
  ``pytorch_model.bin``, or an index (``*.index.json``) every shard of whose ``weight_map``
  is present and not empty;
- no file in it looks in flight (``*.tmp``, ``*.part``, ``*.incomplete``, ``*.lock``, or a
  name starting with ``tmp``);
- and the names, sizes and modification times of all its files are unchanged over
  ``stable_polls`` consecutive polls (a shard still growing, or a copy still running,
  changes them).

Written checkpoints are evaluated one at a time, in training order (the step in the folder's
name: ``step-1000``, ``checkpoint-1000``, ``iter_0001000``). Whether a checkpoint needs a run
is decided as ``evals run --all`` decides it (:mod:`evals.run.staleness`): by what would be
asked, not by what this process remembers, so a watcher restarted after a crash or Ctrl-C
resumes the interrupted checkpoint (its answers come from the cache) and skips the finished
ones. This module finds checkpoints; the CLI says what to do with each.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

IN_FLIGHT = re.compile(r"(\.(tmp|part|partial|incomplete|lock)$)|(^tmp)", re.IGNORECASE)
WEIGHTS = ("model.safetensors", "pytorch_model.bin")
INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
_STEP = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class WatchOptions:
    interval_s: float = 60.0
    """Seconds between polls of the folder."""
    stable_polls: int = 2
    """Consecutive polls a checkpoint's files must stay unchanged before it is evaluated."""
    idle_exit_s: float | None = None
    """Stop when nothing is waiting or changing for this long (None: watch until Ctrl-C)."""


@dataclass(frozen=True)
class Snapshot:
    """Names, sizes and modification times of every file under a checkpoint folder."""

    files: tuple[tuple[str, int, int], ...]

    @classmethod
    def of(cls, folder: Path) -> Snapshot:
        files = []
        for f in sorted(folder.rglob("*")):
            try:
                st = f.stat()
            except OSError:  # removed while listed: the next poll sees the new state
                continue
            if f.is_file():
                files.append((str(f.relative_to(folder)), st.st_size, st.st_mtime_ns))
        return cls(tuple(files))


@dataclass(frozen=True)
class Candidate:
    """A folder under the watched one and whether, by its files alone, it is a checkpoint."""

    path: Path
    step: int | None
    waiting_for: str
    """Empty when the files make a complete checkpoint; else what is missing or in flight."""


def step_of(name: str) -> int | None:
    """The last number in a checkpoint folder's name: ``step-1000``, ``iter_0001000``."""
    m = _STEP.search(name)
    return int(m.group(1)) if m else None


def missing_files(folder: Path) -> str:
    """What a folder lacks to be a complete checkpoint, or "" when nothing."""
    busy = sorted(p.name for p in folder.rglob("*") if IN_FLIGHT.search(p.name))
    if busy:
        return f"{busy[0]} in flight"
    try:
        json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "config.json missing"
    except (OSError, ValueError):
        return "config.json not readable JSON yet"
    for index in INDEXES:
        if (folder / index).is_file():
            return _missing_shards(folder / index)
    if any((folder / w).is_file() and (folder / w).stat().st_size > 0 for w in WEIGHTS):
        return ""
    return "weights missing (model.safetensors, pytorch_model.bin or a sharded index)"


def _missing_shards(index: Path) -> str:
    try:
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{index.name} not readable yet"
    absent = [s for s in shards if not (index.parent / s).is_file()
              or (index.parent / s).stat().st_size == 0]
    return f"{len(absent)} of {len(shards)} shard(s) missing ({absent[0]})" if absent else ""


def candidates(root: Path) -> list[Candidate]:
    """Every folder directly under ``root`` (or ``root`` itself when it holds a
    ``config.json``), in training order."""
    folders = [root] if (root / "config.json").is_file() else [
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    found = [Candidate(p, step_of(p.name), missing_files(p)) for p in folders]
    return sorted(found, key=lambda c: (c.step is None, c.step or 0, c.path.name))


@dataclass
class Watcher:
    """Polls a folder; :meth:`ready` gives the checkpoints written and not yet handled.

    A checkpoint handled once is offered again only when its files change (a trainer that
    rewrites a folder in place); then the staleness check decides whether it runs.
    """

    root: Path
    options: WatchOptions
    on_wait: Callable[[Candidate], None] = lambda c: None
    """Called when a folder's reason for waiting changes (to say so once, not every poll)."""
    _last: dict[Path, Snapshot] = field(default_factory=dict)
    _stable: dict[Path, int] = field(default_factory=dict)
    _handled: dict[Path, Snapshot] = field(default_factory=dict)
    _said: dict[Path, str] = field(default_factory=dict)
    changed: bool = False
    """The last poll saw a folder appear, change or go."""

    def poll(self) -> list[Candidate]:
        """Look once; the checkpoints that are written, unhandled, in training order."""
        ready = []
        seen = set()
        self.changed = False
        for c in candidates(self.root):
            seen.add(c.path)
            snap = Snapshot.of(c.path)
            unchanged = self._last.get(c.path) == snap
            self.changed |= not unchanged
            self._last[c.path] = snap
            self._stable[c.path] = self._stable.get(c.path, 0) + 1 if unchanged else 1
            if self._handled.get(c.path) == snap:
                continue
            waiting = c.waiting_for or ("" if self._stable[c.path] >= self.options.stable_polls
                                        else "files not settled yet")
            if waiting:
                if self._said.get(c.path) != waiting:
                    self._said[c.path] = waiting
                    self.on_wait(Candidate(c.path, c.step, waiting))
                continue
            ready.append(c)
        for gone in set(self._last) - seen:
            self.changed = True
            for d in (self._last, self._stable, self._handled, self._said):
                d.pop(gone, None)
        return ready

    def handled(self, candidate: Candidate) -> None:
        self._handled[candidate.path] = self._last[candidate.path]
        self._said.pop(candidate.path, None)

    def run(self, evaluate: Callable[[Candidate], None],
            sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> Iterator[int]:
        """Poll forever (or until idle for ``idle_exit_s``), evaluating each written
        checkpoint as it appears; yields after each poll the number evaluated so far."""
        done, idle_since = 0, clock()
        while True:
            ready = self.poll()
            for c in ready:
                evaluate(c)
                self.handled(c)
                done += 1
            if ready or self.changed or any(
                    0 < self._stable[p] < self.options.stable_polls for p in self._last):
                idle_since = clock()
            yield done
            limit = self.options.idle_exit_s
            if limit is not None and clock() - idle_since >= limit:
                return
            sleep(self.options.interval_s)
