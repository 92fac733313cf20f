"""What each prefix of a sample's code cells produced, remembered as first seen.

Tool-using benchmarks keep no live session per sample between engine rounds (that would be
hundreds of idle interpreters while the engine runs): each round replays the sample's earlier
cells in a fresh session and runs the new one. The model saw the first run's outputs, so those
are kept, keyed by the sample and the exact cells that led to them: ``score`` then writes the
transcript without running anything, and a resumed run in a new process replays instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

R = TypeVar("R")
Replay = Callable[[tuple[str, ...], Sequence[R | None]], Sequence[R]]
"""Runs all the cells in one fresh session; gets what is already known of each (None where
nothing is), e.g. to skip a cell that timed out before."""


class CellMemo(Generic[R]):
    def __init__(self) -> None:
        self._seen: dict[tuple[str, tuple[str, ...]], R] = {}

    def results(self, sample_id: str, cells: tuple[str, ...], run_last: bool,
                replay: Replay[R]) -> list[R]:
        """The result of each cell in order; ``run_last``: the last cell is new and must run,
        so the session is rebuilt from the earlier ones even when they are remembered."""
        keys = [(sample_id, cells[: i + 1]) for i in range(len(cells))]
        if run_last or any(k not in self._seen for k in keys):
            known = [self._seen.get(k) for k in keys]
            for key, result in zip(keys, replay(cells, known), strict=True):
                self._seen.setdefault(key, result)
        return [self._seen[k] for k in keys]
