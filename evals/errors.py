"""User-facing errors: one line naming the file, field or path and the fix; exit code 2."""

from __future__ import annotations


class EvalsError(Exception):
    """An error the user can fix. The CLI prints ``str(self)`` on one line and exits 2."""

    exit_code = 2


class ConfigError(EvalsError):
    pass


class DataError(EvalsError):
    pass


class ModelError(EvalsError):
    pass


class UnknownNameError(EvalsError):
    pass


class Interrupted(EvalsError):
    """Ctrl-C or SIGTERM: the run's manifest says ``interrupted``; exit code 130."""

    exit_code = 130


class BackendError(Exception):
    """A backend failure that is not the user's input (crash, protocol error)."""


class TransientBackendError(BackendError):
    """A failure worth retrying (HTTP 429/5xx, timeouts).

    ``completed`` carries the responses (by position in the batch) that did finish, so the
    engine caches them and retries only the rest.
    """

    def __init__(self, message: str, completed: dict[int, object] | None = None) -> None:
        super().__init__(message)
        self.completed = completed or {}
