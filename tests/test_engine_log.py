"""Routing the engines' loggers must touch nothing else in the process."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from evals.backends.engine_log import engine_logs


class ClosesItsStream(logging.StreamHandler):  # type: ignore[type-arg]
    """As absl's handler (loaded with rouge_score) does on close: sys.stderr goes with it."""

    def close(self) -> None:
        self.stream.close()
        super().close()


def test_engine_logs_leave_other_handlers_open(tmp_path: Path) -> None:
    stream = io.StringIO()
    other = logging.getLogger("tests.someone_else")
    handler = ClosesItsStream(stream)
    other.addHandler(handler)
    try:
        for _ in range(2):  # two checkpoints of a sweep
            with engine_logs([tmp_path]):
                logging.getLogger("vllm.engine").info("loaded")
        other.warning("still here")
        assert not stream.closed and "still here" in stream.getvalue()
    finally:
        other.removeHandler(handler)
    lines = (tmp_path / "engine.log").read_text(encoding="utf-8").splitlines()
    assert [line.split(" ", 4)[-1] for line in lines] == ["vllm.engine: loaded"] * 2
    assert all(" INFO " in line for line in lines)


def test_loggers_below_an_engine_logger_write_to_the_engine_log(tmp_path: Path) -> None:
    """torch gives its child loggers their own stderr handlers; routed, they reach engine.log
    and not that stream."""
    stream = io.StringIO()
    child = logging.getLogger("torch._dynamo.tests_child")
    child.addHandler(logging.StreamHandler(stream))
    child.propagate = False
    with engine_logs([tmp_path]):
        child.info("compiled")
    assert stream.getvalue() == ""
    assert (tmp_path / "engine.log").read_text(encoding="utf-8").endswith(
        "torch._dynamo.tests_child: compiled\n")
