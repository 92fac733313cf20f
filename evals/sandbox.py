"""Run untrusted generated code in a contained subprocess.

Layers, strongest available first:
- as root: new network and mount namespaces (no network; a private tmpfs on ``/tmp``,
  ``/var/tmp`` and ``/dev/shm`` that is the program's own working directory and vanishes
  with it), then the child drops to ``nobody`` so it cannot write anywhere else;
- always: a new session (the whole process group is killed on timeout), rlimits on address
  space, CPU seconds, processes, file size and core dumps, an isolated interpreter (``-I``)
  with an empty environment, and the program fed on stdin so no host file is needed.
Without root only the second layer applies; the result says which layers were active.

``run_program`` extends the same layers to compiled languages: source files are written into
a fresh directory, then each step (compile, run) is its own contained process with its own
limits, the directory being bind-mounted over ``/tmp`` (instead of an empty tmpfs) so the
steps share their files and nothing else of the host's ``/tmp`` is visible.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_BIND = 4096
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


def _isolate(workdir: str | None = None) -> None:
    """Runs in the child before exec, as root: namespaces, private tmpfs (or ``workdir``
    bind-mounted on ``/tmp``), drop to nobody."""
    libc = _libc()
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    tmpfs = [b"/tmp", b"/var/tmp", b"/dev/shm"]
    if workdir is not None:
        if libc.mount(workdir.encode(), b"/tmp", None, MS_BIND, None) != 0:
            raise OSError(ctypes.get_errno(), f"mount --bind {workdir} /tmp")
        tmpfs.remove(b"/tmp")
    for target in tmpfs:
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


@dataclass(frozen=True)
class Step:
    """One process of a program's run: a compiler, a test runner, the program itself.

    ``argv`` runs in the program's directory (its files are named relative to it).
    ``fail_on_output``: any output counts as a failure (test harnesses that report through
    ``console.assert`` and still exit 0).
    """

    name: str
    argv: tuple[str, ...]
    limits: SandboxLimits
    fail_on_output: bool = False


@dataclass(frozen=True)
class Program:
    files: Mapping[str, str]
    steps: tuple[Step, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    seed_dirs: Mapping[str, Path] = field(default_factory=dict)
    """Directories copied into the program's directory first (a warm build cache)."""


def run_program(program: Program) -> ExecResult:
    """Write the files, run the steps in order; the first failing step decides the result,
    its name leading the detail (``compile: ...``), so a compile error is told apart."""
    isolated = isolation_available()
    workdir = tempfile.mkdtemp(prefix="evals-sandbox-")
    try:
        for name, src in program.seed_dirs.items():
            shutil.copytree(src, os.path.join(workdir, name), symlinks=True)
        for name, text in program.files.items():
            Path(workdir, name).write_text(text, encoding="utf-8")
        if isolated:
            _give_to_nobody(workdir)
        for step in program.steps:
            result = _run_step(step, workdir, program.env, isolated)
            if result is not None:
                return result
        return ExecResult("passed", "", isolated)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _give_to_nobody(workdir: str) -> None:
    for root, dirs, files in os.walk(workdir):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), NOBODY, NOBODY)
    os.chown(workdir, NOBODY, NOBODY)
    os.chmod(workdir, 0o700)


def _run_step(
    step: Step, workdir: str, extra_env: Mapping[str, str], isolated: bool
) -> ExecResult | None:
    def preexec() -> None:
        if isolated:
            _isolate(workdir)
        _limits(step.limits, isolated)

    home = "/tmp" if isolated else workdir
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
           **{k: v.replace("{workdir}", home) for k, v in extra_env.items()}}
    proc = subprocess.Popen(
        list(step.argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=None if isolated else workdir, env=env, preexec_fn=preexec, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=step.limits.timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return ExecResult("timeout", f"{step.name}: timed out after {step.limits.timeout_s}s",
                          isolated)
    finally:
        _kill(proc)
    text = (err or b"").decode(errors="replace").strip() or out.decode(errors="replace").strip()
    if proc.returncode != 0:
        return ExecResult("failed", f"{step.name}: {_tail(text, proc.returncode)}", isolated)
    if step.fail_on_output and text:
        return ExecResult("failed", f"{step.name}: output: {_tail(text, 0)}", isolated)
    return None


def _tail(text: str, returncode: int) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return f"exit {returncode}"
    return " | ".join(lines[:3])[:300]
