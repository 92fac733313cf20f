"""Run untrusted generated code in a contained subprocess.

Layers, strongest available first:
- as root: new network and mount namespaces (no network; a private tmpfs on ``/tmp``,
  ``/var/tmp`` and ``/dev/shm`` that is the program's own working directory and vanishes
  with it), then the child drops to ``nobody`` so it cannot write anywhere else;
- always: a new session (the whole process group is killed on timeout), rlimits on address
  space, CPU seconds, processes, file size and core dumps, an isolated interpreter (``-I``)
  with an empty environment, and the program fed on stdin so no host file is needed.
Without root only the second layer applies; the result says which layers were active.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 16384
MS_PRIVATE = 1 << 18
NOBODY = 65534


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0
    memory_mb: int = 1024
    max_processes: int = 32
    max_file_mb: int = 16


@dataclass(frozen=True)
class ExecResult:
    status: Literal["passed", "failed", "timeout"]
    detail: str
    isolated: bool
    """True when the namespace and unprivileged-user layers were active."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _isolate() -> None:
    """Runs in the child before exec, as root: namespaces, private tmpfs, drop to nobody."""
    libc = _libc()
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    for target in (b"/tmp", b"/var/tmp", b"/dev/shm"):
        if os.path.isdir(target) and libc.mount(b"tmpfs", target, b"tmpfs", 0, b"size=64m,mode=1777") != 0:
            raise OSError(ctypes.get_errno(), f"mount tmpfs {target!r}")
    os.chdir("/tmp")
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _limits(limits: SandboxLimits, isolated: bool) -> None:
    mem = limits.memory_mb * 1024 * 1024
    cpu = int(limits.timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_mb << 20, limits.max_file_mb << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if isolated:
        # RLIMIT_NPROC counts the user's processes; only meaningful once we are nobody.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))


@lru_cache(maxsize=1)
def _interpreter() -> str:
    """An interpreter ``nobody`` can execute (a venv under /root may not be)."""
    for candidate in (sys.executable, shutil.which("python3") or "", "/usr/bin/python3"):
        if candidate and _probe(candidate):
            return candidate
    return sys.executable


def _probe(python: str) -> bool:
    if os.geteuid() != 0:
        return True
    try:
        done = subprocess.run(
            [python, "-I", "-c", "pass"], preexec_fn=_isolate, capture_output=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@lru_cache(maxsize=1)
def isolation_available() -> bool:
    return os.geteuid() == 0 and sys.platform == "linux" and _probe(_interpreter())


def run_python(program: str, limits: SandboxLimits = SandboxLimits()) -> ExecResult:
    isolated = isolation_available()
    workdir = None if isolated else tempfile.mkdtemp(prefix="evals-sandbox-")

    def preexec() -> None:
        if isolated:
            _isolate()
        _limits(limits, isolated)

    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp" if isolated else str(workdir),
           "TMPDIR": "/tmp" if isolated else str(workdir), "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(
        [_interpreter(), "-I", "-B", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=workdir, env=env, preexec_fn=preexec, start_new_session=True,
    )
    try:
        _, err = proc.communicate(program.encode(), timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return ExecResult("timeout", f"timed out after {limits.timeout_s}s", isolated)
    finally:
        _kill(proc)
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    if proc.returncode == 0:
        return ExecResult("passed", "", isolated)
    tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
    return ExecResult("failed", tail[0][-300:], isolated)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the whole process group and wait until it is gone (forked children included)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.returncode is None:
        proc.kill()
        proc.communicate()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.01)
