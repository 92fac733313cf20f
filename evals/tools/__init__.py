"""Tools a model calls between its turns (a sandboxed Python interpreter session)."""

from evals.tools.interpreter import CellResult, CellStatus, InterpreterSession, SessionLimits
from evals.tools.replay import CellMemo

__all__ = ["CellMemo", "CellResult", "CellStatus", "InterpreterSession", "SessionLimits"]
