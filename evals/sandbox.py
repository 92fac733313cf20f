"""Run untrusted generated code in a contained subprocess.

Layers, strongest available first:
- as root: new network, mount and IPC namespaces (no network; a private tmpfs on ``/tmp``,
  ``/var/tmp``, ``/dev/shm`` and ``/run/lock`` that is the program's own working directory and
  vanishes with it; SysV IPC objects die with it too), then the child drops to ``nobody`` (or
  a uid of the caller's own, see ``evals.tools.interpreter``) so it cannot write anywhere else;
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
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_BIND = 4096
MS_RDONLY = 1
MS_REMOUNT = 32
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


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    """Cached, and loaded in the parent before any fork: ``find_library`` runs ``ldconfig``,
    which has no business running inside a ``preexec_fn``."""
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _isolate(workdir: str | None = None, uid: int = NOBODY, expose: tuple[str, ...] = (),
             hide: tuple[str, ...] = ()) -> None:
    """Runs in the child before exec, as root: namespaces, ``hide`` covered and the ``expose``
    directories made reachable (see ``_cover``), private tmpfs (or ``workdir`` bind-mounted on
    ``/tmp``), drop to ``uid`` (nobody unless the caller owns a uid of its own)."""
    libc = _libc()
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    # opened before anything covers them (an fd from before the namespace could not be bound)
    fds = [os.open(path, os.O_PATH | os.O_DIRECTORY) for path in expose]
    covers = _cover(libc, expose, hide) | _scratch(libc, workdir)
    _bind_back(libc, expose, fds, covers)
    os.chdir("/tmp")
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _cover(libc: ctypes.CDLL, paths: tuple[str, ...], hide: tuple[str, ...]) -> set[str]:
    """Cover ``hide`` (the harness's checkout and data) and any directory others may not
    traverse above ``paths`` (``/root``) with an empty tmpfs; returns what was covered."""
    covers = {*hide, *(ancestor for path in paths if (ancestor := _closed_ancestor(path)))}
    for cover in sorted(covers):
        if any(cover.startswith(other + "/") for other in covers):
            continue
        if libc.mount(b"tmpfs", cover.encode(), b"tmpfs", 0, b"size=1m,mode=0755") != 0:
            raise OSError(ctypes.get_errno(), f"mount tmpfs {cover}")
    return covers


def _scratch(libc: ctypes.CDLL, workdir: str | None) -> set[str]:
    """Private world-writable directories: ``workdir`` on ``/tmp`` or a fresh tmpfs, and
    tmpfs on the others; returns them (a venv under ``/tmp`` is bound back inside)."""
    tmpfs = [b"/tmp", b"/var/tmp", b"/dev/shm", b"/run/lock"]  # the world-writable ones
    if workdir is not None:
        if libc.mount(workdir.encode(), b"/tmp", None, MS_BIND, None) != 0:
            raise OSError(ctypes.get_errno(), f"mount --bind {workdir} /tmp")
        tmpfs.remove(b"/tmp")
    mounted = {"/tmp"} if workdir is not None else set()
    for target in tmpfs:
        if not os.path.isdir(target) or os.path.islink(target):
            continue
        if libc.mount(b"tmpfs", target, b"tmpfs", 0, b"size=64m,mode=1777") != 0:
            raise OSError(ctypes.get_errno(), f"mount tmpfs {target!r}")
        mounted.add(target.decode())
    return mounted


def _bind_back(libc: ctypes.CDLL, paths: tuple[str, ...], fds: list[int],
               covers: set[str]) -> None:
    """Make ``paths`` (an interpreter's prefixes) reachable again, read-only, where a cover
    or a private scratch directory hid them; nothing beside them becomes visible."""
    for path, fd in zip(paths, fds, strict=True):
        if any(path == cover or path.startswith(cover + "/") for cover in covers):
            os.makedirs(path, exist_ok=True)
            source, target = f"/proc/self/fd/{fd}".encode(), path.encode()
            if libc.mount(source, target, None, MS_BIND | MS_REC, None) != 0:
                raise OSError(ctypes.get_errno(), f"mount --bind {path}")
            if libc.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None) != 0:
                raise OSError(ctypes.get_errno(), f"mount -o remount,ro {path}")
        os.close(fd)


def _closed_ancestor(path: str) -> str | None:
    """The outermost directory above ``path`` that others may not traverse (``/root``)."""
    parts = Path(path).parts
    for depth in range(2, len(parts)):
        ancestor = str(Path(*parts[:depth]))
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def _limits(limits: SandboxLimits, isolated: bool) -> None:
    _set_limits(limits.memory_mb, int(limits.timeout_s) + 1, limits.max_file_mb,
                limits.max_processes if isolated else None)


def _set_limits(memory_mb: int, cpu_s: int, max_file_mb: int, max_processes: int | None) -> None:
    """``max_processes`` only once the child runs as a user of its own: RLIMIT_NPROC counts
    every process of the user, so as root it would count the host's."""
    mem = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    # the hard limit one second later: SIGXCPU (which says why) comes before SIGKILL
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_mb << 20, max_file_mb << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if max_processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))


@lru_cache(maxsize=1)
def _interpreter() -> str:
    """An interpreter ``nobody`` can execute (a venv under /root may not be)."""
    for candidate in (sys.executable, shutil.which("python3") or "", "/usr/bin/python3"):
        if candidate and _probe(candidate):
            return candidate
    return sys.executable


def _probe(python: str, expose: tuple[str, ...] = (), hide: tuple[str, ...] = ()) -> bool:
    if os.geteuid() != 0:
        return True
    _libc()
    try:
        done = subprocess.run(
            [python, "-I", "-c", "pass"], preexec_fn=lambda: _isolate(expose=expose, hide=hide),
            capture_output=True, timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@lru_cache(maxsize=1)
def isolation_available() -> bool:
    return os.geteuid() == 0 and sys.platform == "linux" and _probe(_interpreter())


SYSTEM_DIRS = frozenset(("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32",
                         "/proc", "/run", "/sbin", "/sys", "/tmp", "/usr", "/var"))


@lru_cache(maxsize=1)
def private_dirs() -> tuple[str, ...]:
    """Host directories a sandboxed session has no business reading: homes, and the top-level
    directory holding this checkout (here ``/work``: the repository, the benchmark data with
    its answers, other checkouts)."""
    checkout_top = "/" + Path(__file__).resolve().parts[1]
    candidates = ("/root", "/home", checkout_top)
    return tuple(d for d in dict.fromkeys(candidates) if d not in SYSTEM_DIRS and os.path.isdir(d))


@lru_cache(maxsize=1)
def host_interpreter() -> tuple[str, tuple[str, ...]]:
    """This process's own interpreter and the prefixes ``_isolate`` must expose for it to run
    with ``private_dirs()`` hidden and privileges dropped: a sandboxed session that solves math
    needs the venv's sympy and numpy, which ``_interpreter``'s fallback (the system Python)
    lacks. Falls back to ``_interpreter()`` (nothing to expose) when that does not start."""
    if not isolation_available():
        return sys.executable, ()
    prefixes = tuple(dict.fromkeys(os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)))
    if _probe(sys.executable, prefixes, private_dirs()):
        return sys.executable, prefixes
    return _interpreter(), ()


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


def _kill(proc: subprocess.Popen[bytes], uid: int | None = None) -> None:
    """Kill the whole process group and wait until it is gone (forked children included).

    ``uid``: a uid owned by this sandbox alone; every process running as it is killed too,
    which catches children that left the group with ``setsid`` (never pass ``NOBODY``: other
    sandboxes share it). Waits rather than draining the pipes: an escaped child holding them
    open would make ``communicate`` hang."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if uid is not None:
        _kill_uid(uid)
    if proc.returncode is None:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass
    if uid is not None:
        return  # none of the uid is alive; a zombie among them is its new parent's to reap
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.01)


def _kill_uid(uid: int, timeout_s: float = 5.0, spare: int | None = None) -> None:
    """SIGKILL every live process of ``uid`` (but ``spare``) until none is left (a fork loop
    refills)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = [pid for pid in uid_processes(uid, include_zombies=False) if pid != spare]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)


def uid_processes(uid: int, include_zombies: bool = True) -> list[int]:
    """Pids whose real uid is ``uid``, read from ``/proc`` (no psutil)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) != uid:
            continue
        if include_zombies or fields.get("State", "").split()[:1] != ["Z"]:
            found.append(int(entry.name))
    return found


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
