"""The engines' own logs (vLLM, transformers, torch, Ray) go to ``engine.log`` in every run
directory of the checkpoint being evaluated, not to the console, where our progress display
and tables are; ``-v`` shows them on the console too.

vLLM configures its logger from ``VLLM_LOGGING_CONFIG_PATH`` when it is imported, in this
process and in the engine-core process it starts; so the routing is a logging config file
set in the environment before the engine loads, and applied here as well (vLLM may have
been imported already, by an earlier checkpoint of the same sweep).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ENGINE_LOGGERS = ("vllm", "transformers", "torch", "accelerate", "ray", "huggingface_hub")
LOG_NAME = "engine.log"
FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


def verbose() -> bool:
    """``evals -v``: the root logger was set to DEBUG."""
    return logging.getLogger().level <= logging.DEBUG


def logging_config(files: Sequence[Path], to_console: bool) -> dict[str, Any]:
    handlers: dict[str, Any] = {
        f"file{i}": {"class": "logging.FileHandler", "filename": str(f), "mode": "a",
                     "encoding": "utf-8", "formatter": "plain", "level": "DEBUG"}
        for i, f in enumerate(files)}
    if to_console:
        handlers["console"] = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                               "formatter": "plain", "level": "INFO"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": FORMAT}},
        "handlers": handlers,
        "loggers": {name: {"handlers": list(handlers), "level": "INFO", "propagate": False}
                    for name in ENGINE_LOGGERS},
    }


@contextmanager
def engine_logs(run_dirs: Sequence[Path]) -> Iterator[list[Path]]:
    """Route the engine loggers to ``<run_dir>/engine.log`` for the duration; yields the
    files. Afterwards the loggers keep quiet (nothing of theirs reaches the console unless
    ``-v``)."""
    files = [d / LOG_NAME for d in run_dirs]
    _ACTIVE[:] = files
    config = logging_config(files, verbose())
    fd, path = tempfile.mkstemp(prefix="evals-logging-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(config, f)
    saved = {k: os.environ.get(k) for k in ("VLLM_LOGGING_CONFIG_PATH",
                                              "VLLM_CONFIGURE_LOGGING")}
    os.environ["VLLM_LOGGING_CONFIG_PATH"] = path
    os.environ["VLLM_CONFIGURE_LOGGING"] = "1"
    _quiet_transformers()
    _route(files, verbose())
    try:
        yield files
    finally:
        _ACTIVE.clear()
        for name in ENGINE_LOGGERS:
            logger = logging.getLogger(name)
            _drop_handlers(logger)
            logger.addHandler(logging.NullHandler())
            logger.propagate = verbose()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        Path(path).unlink(missing_ok=True)


def _route(files: Sequence[Path], to_console: bool) -> None:
    """What the config file says, applied to the engine loggers alone. Not
    ``logging.config.dictConfig``: it shuts down every handler of the process first, and a
    library's handler may close its stream on shutdown (absl's, which rouge_score loads,
    closes sys.stderr: the next checkpoint of a sweep then had no console)."""
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = []
    for f in files:
        handlers.append(logging.FileHandler(f, mode="a", encoding="utf-8"))
    if to_console:
        handlers.append(logging.StreamHandler())  # sys.stderr at the time of writing
        handlers[-1].setLevel(logging.INFO)
    for handler in handlers:
        handler.setFormatter(formatter)
    for name in ENGINE_LOGGERS:
        logger = logging.getLogger(name)
        _drop_handlers(logger)
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        _adopt_children(name)


def _adopt_children(name: str) -> None:
    """Loggers below an engine logger hand their records up to it, as ``dictConfig`` makes
    them do: torch puts a stderr handler on each of its own (``torch._dynamo``, ...) when
    it is imported, which would print to the console past ``engine.log``."""
    prefix = name + "."
    for child_name, child in list(logging.root.manager.loggerDict.items()):
        if child_name.startswith(prefix) and isinstance(child, logging.Logger):
            child.handlers.clear()
            child.setLevel(logging.NOTSET)
            child.propagate = True


def _drop_handlers(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


_ACTIVE: list[Path] = []
"""The engine logs of the run in progress (set by :func:`engine_logs`)."""


@contextmanager
def engine_stderr() -> Iterator[None]:
    """While an engine starts, file descriptor 2 points at the run's engine.log: what it
    writes past the logging module (C++ warnings, tqdm bars of weight loading, Python
    warnings at import) lands there, and so does the stderr of the processes it starts
    (vLLM's engine core inherits the descriptor). Our own console prints nothing meanwhile;
    with ``-v`` or outside a run, nothing is redirected."""
    if verbose() or not _ACTIVE:
        yield
        return
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(_ACTIVE[0], "a", encoding="utf-8") as log:
            os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _quiet_transformers() -> None:
    """transformers puts its own stderr handler on its logger; ours replaces it."""
    try:
        from transformers.utils import logging as tlog
    except ImportError:
        return
    tlog.disable_default_handler()
