"""The command line: ``evals`` (``commands.main``) and its command groups."""

from evals.cli.commands import main

__all__ = ["main"]
