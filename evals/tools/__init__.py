"""Tools a model calls between its turns (a sandboxed Python interpreter session)."""

from evals.tools.interpreter import CellResult, CellStatus, InterpreterSession, SessionLimits

__all__ = ["CellResult", "CellStatus", "InterpreterSession", "SessionLimits"]
