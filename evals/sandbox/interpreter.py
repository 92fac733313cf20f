"""A sandboxed, stateful Python session per sample, for tool-using evaluations (a ReAct code
interpreter for GSM8K/MATH/MathBench, CIBench's notebooks).

One contained process tree per session, with the layers of ``evals.sandbox.process.run_python``: as
root, its own network and mount namespaces (no network; a private tmpfs on ``/tmp`` that is its
working directory and dies with it; homes and the checkout's top-level directory, benchmark
data included, covered by empty tmpfs, only the interpreter's prefixes bound back read-only),
and a uid of its own: a random one, not the shared ``nobody``, so sessions cannot signal each
other, the process limit counts this session alone, and a uid-wide sweep finds every process
of the session, ``setsid`` or not. Always: a new process group, rlimits (address space, total
CPU seconds, processes, file size, no core dumps) and an environment built from nothing. The
child runs this host's own interpreter (the venv: sympy, numpy, pandas import) with ``-s`` (no
user site) and ``-B``; not ``-I``, which would also drop ``PYTHONHASHSEED`` (set orders stay
reproducible), while the environment it would guard against is ours anyway.

With its own uid, the first process forks the server and stays above it as a subreaper: it
reaps orphans at once and takes the rest of the session down when the server dies. The server
ends whatever processes a cell started when the cell returns (a fork bomb does not outlive its
cell). Requests and replies are length-prefixed JSON frames on the server's stdin and on a
private duplicate of its stdout; fds 1 and 2 point at a capture file before user code runs
(see ``_repl_server``). The parent trusts nothing it reads: frames are capped in size, checked
in shape, and must echo the request's one-time id (others are discarded); a malformed frame
ends the session. A cell that digs the id out of the server's frames can forge its own reply,
which gives it nothing it could not print; it cannot reach another call, session or the host.
Without root, only the rlimits, the process group and the private temporary directory apply
(``isolated`` says which).

``mode="ipython"`` runs cells through IPython's ``InteractiveShell`` inside the same layers
(see ``_repl_server``): magics, ``!`` lines (a shell inside the sandbox), Jupyter tracebacks,
stderr apart from stdout, and matplotlib figures as base64 PNGs in ``CellResult.images``.
``files`` are copied into the session's working directory (owned by the session's uid) once
the sandbox stands and before the first cell runs: a task's input data, under the relative
names its code opens.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from evals.sandbox.process import (
    _isolate,
    _kill,
    _kill_uid,
    _libc,
    _set_limits,
    fresh_uid,
    host_interpreter,
    isolation_available,
    private_dirs,
)

CellStatus = Literal["ok", "error", "timeout", "dead"]
SessionMode = Literal["python", "ipython"]
HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class SessionLimits:
    call_timeout_s: float = 10.0
    """Wall clock per ``run``; past it the session is killed (later calls say ``dead``)."""
    memory_mb: int = 1024
    cpu_s: int = 60
    """Total CPU seconds of the session's process, all calls together."""
    max_output_chars: int = 4000
    """Per field: output, value, error."""
    max_processes: int = 32
    max_file_mb: int = 16
    start_timeout_s: float = 10.0
    max_image_kb: int = 1024
    """IPython mode: the largest figure kept (base64 PNG); larger ones are dropped, said so on
    stderr."""


@dataclass(frozen=True)
class CellResult:
    status: CellStatus
    stdout: str
    """stdout and stderr as a terminal shows them; output of subprocesses and C code at fd
    level follows the Python-level output."""
    value: str | None
    """``repr`` of the cell's trailing expression, None when there is none or it is None."""
    error: str | None
    """The traceback from the cell down (``error``), or why the session is gone."""
    seconds: float
    stderr: str = ""
    """IPython mode: the stderr stream (warnings); plain mode merges it into ``stdout``."""
    images: tuple[str, ...] = ()
    """IPython mode: base64 PNGs of the figures the cell displayed, in order (at most ten)."""


class _Timeout(Exception):
    pass


class _Ended(Exception):
    """The pipe closed: the process is gone or closed its end."""


class _ProtocolError(Exception):
    pass


@lru_cache(maxsize=1)
def _server_program() -> str:
    """The ``-c`` program: the server compiled as ``<interpreter>`` (its frames are then told
    apart from the cells' and left out of their tracebacks)."""
    source = Path(__file__).with_name("_repl_server.py").read_text(encoding="utf-8")
    return f"exec(compile({source!r}, '<interpreter>', 'exec'))"


class InterpreterSession:
    """One sample's Python session. Not thread-safe: one caller at a time.

    Starting is cheap (the process is spawned, its readiness awaited by the first ``run``);
    ``close`` (or leaving the ``with`` block, or garbage collection) kills every process of the
    session and removes its directory."""

    def __init__(self, limits: SessionLimits = SessionLimits(), hide: tuple[str, ...] = (),
                 mode: SessionMode = "python", files: Mapping[str, Path] = {}) -> None:
        """``hide``: host directories to make invisible besides ``private_dirs()`` (a data
        directory elsewhere); with isolation only. ``files``: relative name in the working
        directory -> host file to copy there before the first cell."""
        self.limits, self.mode = limits, mode
        self._files = dict(files)
        for name in self._files:
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise ValueError(f"input file name {name!r} must stay inside the workdir")
        extra = (os.path.realpath(d) for d in hide if os.path.isdir(d))
        self._hide = tuple(dict.fromkeys((*private_dirs(), *extra)))
        self.isolated = isolation_available()
        self._uid = fresh_uid()  # the server's OWN_UID_FLOOR is SANDBOX_UIDS' lower bound
        self._tempdir = None if self.isolated else tempfile.mkdtemp(prefix="evals-session-")
        self._dead: str | None = None
        self._ready = False
        try:
            self._proc = self._spawn()
        except BaseException:
            if self._tempdir:
                shutil.rmtree(self._tempdir, ignore_errors=True)
            raise
        images = _image_chars(limits) * 10 if mode == "ipython" else 0
        self._channel = _Channel(self._proc, _frame_limit(limits.max_output_chars) + images)
        uid = self._uid if self.isolated else None
        self._finalizer = weakref.finalize(self, _cleanup, self._proc, uid, self._tempdir)

    def _spawn(self) -> subprocess.Popen[bytes]:
        python, expose = host_interpreter()
        limits, isolated, uid, hide = self.limits, self.isolated, self._uid, self._hide

        def preexec() -> None:
            if isolated:
                _isolate(uid=uid, expose=expose, hide=hide)
            _set_limits(limits.memory_mb, limits.cpu_s, limits.max_file_mb,
                        limits.max_processes + 1 if isolated else None)  # + the reaper

        if isolated:
            _libc()  # loaded here, not in the forked child
        home = "/tmp" if isolated else str(self._tempdir)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home,
               "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8",
               "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1"}
        if isolated:
            env["IPYTHONDIR"] = "/tmp/.ipython"
        return subprocess.Popen(
            [python, "-s", "-B", "-c", _server_program(), str(limits.max_output_chars),
             "own-uid" if isolated else "shared-uid", self.mode, str(_image_chars(limits))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=self._tempdir, env=env, preexec_fn=preexec, start_new_session=True,
        )

    @property
    def workdir(self) -> Path:
        """The session's working directory as this host sees it, while the session runs
        (to put input files in or read results out)."""
        if self._tempdir is not None:
            return Path(self._tempdir)
        return Path(f"/proc/{self._proc.pid}/root/tmp")

    @property
    def uid(self) -> int | None:
        """The uid the session's processes run as; None without isolation (they run as us)."""
        return self._uid if self.isolated else None

    @property
    def pid(self) -> int:
        """The session's first process: the server, or with isolation the reaper above it."""
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._dead is None

    def run(self, code: str) -> CellResult:
        if self._dead is not None:
            return CellResult("dead", "", None, self._dead, 0.0)
        start = time.monotonic()
        try:
            if not self._ready:
                self._channel.expect("ready", start + self.limits.start_timeout_s)
                self._ready = True
                self._copy_files()
                start = time.monotonic()
            request_id = secrets.token_hex(16)
            deadline = start + self.limits.call_timeout_s
            self._channel.send(json.dumps({"id": request_id, "code": code}).encode(), deadline)
            return _cell_result(self._channel.expect(request_id, deadline), time.monotonic() - start)
        except _Timeout:
            what = "call" if self._ready else "start"
            limit = self.limits.call_timeout_s if self._ready else self.limits.start_timeout_s
            self._end(f"the {what} timed out after {limit:g} s; the session was stopped")
            return CellResult("timeout", "", None, self._dead, time.monotonic() - start)
        except _ProtocolError as exc:
            self._end(f"the session was stopped: protocol violation ({exc})")
            return CellResult("dead", "", None, self._dead, time.monotonic() - start)
        except _Ended:
            self._end(self._exit_reason())
            return CellResult("dead", "", None, self._dead, time.monotonic() - start)

    def _copy_files(self) -> None:
        """Into the sandbox's own ``/tmp`` (seen through ``/proc``), owned by the session's
        uid so that its cells may read and overwrite them as a notebook user would."""
        for name, source in self._files.items():
            target = self.workdir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            if self.isolated:
                for path in (target, *target.relative_to(self.workdir).parents):
                    os.chown(self.workdir / path, self._uid, self._uid)

    def _exit_reason(self) -> str:
        """Why the process went away by itself (the CPU budget, a crash, ``os._exit``)."""
        try:
            code = self._proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "the session's process closed its channel and was stopped"
        # isolated, the reaper above the server exits with 128 + n for the server's signal n
        signum = -code if code < 0 else code - 128 if self.isolated and code > 128 else 0
        if signum == signal.SIGXCPU:
            return f"the session used up its CPU budget ({self.limits.cpu_s} s) and was stopped"
        if signum:
            name = signal.Signals(signum).name if signum in signal.valid_signals() else signum
            return f"the session's process was killed by {name}"
        tail = _stderr_tail(self._proc)
        return f"the session's process exited with code {code}" + (f": {tail}" if tail else "")

    def _end(self, reason: str) -> None:
        self._dead = reason
        if not self._ready:  # the reaper may not have forked the server yet: no waiting on it
            _kill(self._proc, self.uid)
        _stop(self._proc, self.uid)

    def close(self) -> None:
        if self._dead is None:
            self._end("the session was closed")
        self._finalizer()

    def __enter__(self) -> InterpreterSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cleanup(proc: subprocess.Popen[bytes], uid: int | None, tempdir: str | None) -> None:
    _stop(proc, uid)
    if tempdir is not None:
        shutil.rmtree(tempdir, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes], uid: int | None) -> None:
    """Everything below the reaper goes first, so that it reaps them all (orphans included)
    and exits by itself; ``_kill`` then makes sure of the rest."""
    if uid is not None and proc.poll() is None:
        _kill_uid(uid, spare=proc.pid)
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
    _kill(proc, uid)


def _image_chars(limits: SessionLimits) -> int:
    return limits.max_image_kb * 1024 * 4 // 3 + 4


def _frame_limit(max_chars: int) -> int:
    """Four fields of ``max_chars`` plus truncation notes, JSON-escaped (≤ 12 bytes a char)."""
    return 12 * 4 * (max_chars + 100) + 4096


def _stderr_tail(proc: subprocess.Popen[bytes]) -> str:
    """Startup errors (before the server re-points fd 2) are all stderr ever carries."""
    if proc.stderr is None:
        return ""
    try:
        os.set_blocking(proc.stderr.fileno(), False)
        data = os.read(proc.stderr.fileno(), 65536)
    except (OSError, ValueError):
        return ""
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1][:300] if lines else ""


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise _ProtocolError(f"{field} is not a string")
    return value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become '?'


def _cell_result(reply: dict[str, object], seconds: float) -> CellResult:
    status = reply.get("status")
    if status not in ("ok", "error"):
        raise _ProtocolError(f"status {str(status)[:40]!r}")
    value, error, images = reply.get("value"), reply.get("error"), reply.get("images", [])
    if not isinstance(images, list) or len(images) > 10:
        raise _ProtocolError("images is not a list of at most ten")
    return CellResult(
        "ok" if status == "ok" else "error", _text(reply.get("stdout"), "stdout"),
        None if value is None else _text(value, "value"),
        None if error is None else _text(error, "error"), seconds,
        _text(reply.get("stderr", ""), "stderr"),
        tuple(_text(image, "image") for image in images),
    )


class _Channel:
    """The parent's end of the frame protocol, every wait bounded by a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes], frame_limit: int) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self._write_fd, self._read_fd = proc.stdin.fileno(), proc.stdout.fileno()
        os.set_blocking(self._write_fd, False)
        os.set_blocking(self._read_fd, False)
        self._buffer = bytearray()
        self._frame_limit = frame_limit

    def send(self, payload: bytes, deadline: float) -> None:
        data = memoryview(HEADER.pack(len(payload)) + payload)
        while data:
            self._wait(self._write_fd, select.POLLOUT, deadline)
            try:
                data = data[os.write(self._write_fd, data):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise _Ended from exc

    def expect(self, request_id: str, deadline: float) -> dict[str, object]:
        """The next reply to ``request_id``; stale or forged replies to other ids are skipped
        (a cell that wrote a fake frame, the real reply to a forged one)."""
        while True:
            message = self._receive(deadline)
            if message.get("id") == request_id:
                return message
            if request_id == "ready":
                raise _ProtocolError("the first frame is not the server's greeting")

    def _receive(self, deadline: float) -> dict[str, object]:
        while True:
            if len(self._buffer) >= HEADER.size:
                (size,) = HEADER.unpack_from(self._buffer)
                if size > self._frame_limit:
                    raise _ProtocolError(f"a frame of {size} bytes")
                if len(self._buffer) >= HEADER.size + size:
                    frame = bytes(self._buffer[HEADER.size:HEADER.size + size])
                    del self._buffer[:HEADER.size + size]
                    return _decode(frame)
            self._wait(self._read_fd, select.POLLIN, deadline)
            try:
                chunk = os.read(self._read_fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                raise _Ended
            self._buffer += chunk

    @staticmethod
    def _wait(fd: int, event: int, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Timeout
        poll = select.poll()
        poll.register(fd, event)
        if not poll.poll(remaining * 1000):
            raise _Timeout


def _decode(frame: bytes) -> dict[str, object]:
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError) as exc:
        raise _ProtocolError("a frame that is not JSON") from exc
    if not isinstance(message, dict) or not isinstance(message.get("id"), str):
        raise _ProtocolError("a frame without an id")
    return message
