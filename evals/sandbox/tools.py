"""Tools a model calls between its turns (a sandboxed Python interpreter session)."""

from evals.sandbox.interpreter import CellResult, CellStatus, InterpreterSession, SessionLimits
from evals.sandbox.replay import CellMemo

__all__ = ["CellMemo", "CellResult", "CellStatus", "InterpreterSession", "SessionLimits"]
