"""Helpers for tests that drive the command line: in-process calls and real processes."""

from __future__ import annotations

import signal

import pytest

from evals.cli.commands import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``evals ARGS`` in this process: exit code, stdout, stderr."""
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    got = capsys.readouterr()
    return code, got.out, got.err


def default_sigint() -> None:
    """``preexec_fn`` for a child that must obey Ctrl-C: a test run started in the
    background (``cmd &`` in a script) inherits SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
