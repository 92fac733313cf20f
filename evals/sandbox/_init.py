"""The first process of every sandboxed run: a reaper above the program, and the Python driver.

Its source is passed to ``python -I -B -c`` by ``evals.sandbox.process`` (compiled as
``<sandbox-init>``), with ``key=value`` arguments, then ``--`` and the program's argv (none:
the Python driver); it imports only the stdlib and never ``evals`` — and not ``json`` either,
whose import (``re``) would cost every run more time than the rest of this file.
It runs with the privileges the harness gave it (root inside the sandbox's namespaces when
isolated) and is never reachable by the program, which runs below it as another user.

- With a PID namespace (the harness unshared one before exec), it forks the namespace's
  init (PID 1), which mounts a ``/proc`` of the namespace and forks the program. When the
  program ends, PID 1 kills whatever the program left (``kill(-1)``), reaps it and exits;
  the kernel takes down anything left in the namespace with it. Nothing the program started,
  ``setsid`` and double forks included, outlives it.
- Without one (not root), this process is a child subreaper above the program: every orphan
  below it is reparented here; when the program ends, the remaining descendants are stopped
  (SIGSTOP, so they cannot fork) and killed until none is left.
- The program's wall clock is enforced here (``timeout``): past it the program and everything
  below it are killed and the report says ``timeout``.
- One JSON report goes to the harness on a descriptor the program never holds: how the
  program ended and how many processes it left behind.

The program gets descriptor 3 (the harness's one-time token, to be read before any untrusted
code runs) and descriptor 4 (where its test driver writes ``<token> {"passed": ...}`` after
the last check); see ``evals.sandbox.process`` for the protocol. ``driver: true`` runs the Python
test driver in this (forked) interpreter instead of exec'ing ``argv``: it reads the token,
runs ``solution`` then ``tests`` (read from stdin: the solution's length in bytes, a
newline, the solution, the tests) and writes the verdict.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` would cost 7 ms a run, ``signal`` (its ``enum``) 6 ms
    import signal
    from typing import Any
else:
    import _signal as signal  # the C module ``signal`` wraps

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
TOKEN_FD, VERDICT_FD = 3, 4
TOKEN_BYTES = 32


def parse(args: list[str]) -> dict[str, Any]:
    """``key=value`` fields (ints, ``timeout_s`` a float, empty = None), then ``--`` argv."""
    split = args.index("--") if "--" in args else len(args)
    spec: dict[str, Any] = {}
    for arg in args[:split]:
        key, value = arg.split("=", 1)
        spec[key] = (None if value == "" else value if key == "cwd"
                     else float(value) if key == "timeout_s" else int(value))
    spec["argv"] = args[split + 1:] if split < len(args) else None
    return spec


def set_limits(limits: dict[str, Any]) -> None:
    mem = limits["memory_mb"] << 20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = limits["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU says why, then SIGKILL
    size = limits["max_file_mb"] << 20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits["max_processes"] is not None:  # only with a uid of the run's own
        n = limits["max_processes"]
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))


def place_fds(token: int, verdict: int) -> None:
    """Token on 3, verdict on 4, nothing else above 2 (the report pipe stays ours)."""
    token, verdict = (fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (token, verdict))
    os.dup2(token, TOKEN_FD)
    os.dup2(verdict, VERDICT_FD)
    os.closerange(VERDICT_FD + 1, 1 << 16)


def become_program(spec: dict[str, Any]) -> None:
    """The forked child: descriptors, limits, the program's own uid, then exec or drive."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    place_fds(spec["token_fd"], spec["verdict_fd"])
    set_limits(spec)
    uid = spec["uid"]
    if uid is not None:
        for fd in (TOKEN_FD, VERDICT_FD):  # reopened by name (/proc/self/fd/3) from Java
            os.fchown(fd, uid, uid)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    if spec["cwd"]:
        os.chdir(spec["cwd"])
    if spec["argv"] is None:
        drive()
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores them; programs expect them
        signal.signal(sig, signal.SIG_DFL)
    try:
        os.execvp(spec["argv"][0], spec["argv"])
    except OSError as exc:
        os.write(2, f"cannot run {spec['argv'][0]}: {exc}\n".encode())
    os._exit(127)


def drive() -> None:
    """The Python test driver: token first, then the solution, then the tests in a namespace
    whose builtins are a copy taken before any untrusted code ran; the verdict only after the
    tests returned. Everything it calls once untrusted code has run is bound to a local here,
    before it: a solution that replaces ``builtins.exec``, ``os.write`` or this program's own
    functions (``sys.modules``) changes nothing the driver does. Its verdict word is decided by
    how ``exec`` returned, never by a library call."""
    import builtins
    import types

    read, write, exit_, exec_, compile_, dict_ = os.read, os.write, os._exit, exec, compile, dict
    base_exception, describe_, flush_ = BaseException, describe, flush
    token = b""
    while len(token) < TOKEN_BYTES and (chunk := read(TOKEN_FD, TOKEN_BYTES - len(token))):
        token += chunk
    os.close(TOKEN_FD)
    size, _, program = sys.stdin.buffer.read().partition(b"\n")
    solution = program[:int(size)].decode("utf-8", "surrogatepass")
    tests = program[int(size):].decode("utf-8", "surrogatepass")
    pristine = dict(builtins.__dict__)
    sys.argv = [""]
    main = types.ModuleType("__main__")  # the program's globals, as a script's would be
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    verdict = b"pass"
    try:
        exec_(compile_(solution, "<solution>", "exec"), main.__dict__)
        namespace = dict_(main.__dict__)
        namespace["__builtins__"] = pristine
        exec_(compile_(tests, "<tests>", "exec"), namespace)
    except base_exception as exc:  # SystemExit is a failure like any other
        verdict = b"fail " + describe_(exc)
    flush_()
    write(VERDICT_FD, token + b" " + verdict + b"\n")
    exit_(0)


def describe(exc: BaseException) -> bytes:
    """``Type: message`` on one line (the untrusted code may have made ``str`` raise or lie:
    this is the failure path either way)."""
    try:
        text = f"{type(exc).__name__}: {str(exc)[:300]}".rstrip(": ")
        return text.replace("\n", " ").encode("utf-8", "replace")
    except BaseException:
        return b"Exception"


def flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def wait_for(program: int, timeout: float) -> tuple[int | None, bool]:
    """Reap children (orphans too) until ``program`` ends or the wall clock runs out;
    (its wait status, timed out)."""
    deadline = time.monotonic() + timeout
    while True:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None, False
            if pid == 0:
                break
            if pid == program:
                return status, False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, True
        signal.sigtimedwait({signal.SIGCHLD}, remaining)


def children_of(parents: set[int]) -> set[int]:
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) in parents:
            found.add(int(name))
    return found


def kill_descendants(program: int) -> int:
    """Stop every descendant (a stopped process cannot fork), then kill and reap them; as a
    subreaper, the orphans of the killed come back to us until none is left."""
    me, killed = os.getpid(), set()
    while True:
        tree: set[int] = set()
        frontier = {me}
        while frontier:
            frontier = children_of(frontier) - tree
            tree |= frontier
            for pid in frontier:
                try:
                    os.kill(pid, signal.SIGSTOP)
                except OSError:
                    pass
        live = {pid for pid in tree if not zombie(pid)}
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        killed |= live - {program}
        reap_all()
        if not tree:
            return len(killed)


def zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


def reap_all() -> None:
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                time.sleep(0.001)
        except ChildProcessError:
            return


def end_namespace(program: int, proc_mounted: bool) -> int:
    """As PID 1: kill everything else in the namespace, wait until it is reaped; how many
    processes besides the program were alive (counted on the namespace's own ``/proc``)."""
    others = [int(n) for n in os.listdir("/proc") if n.isdigit()] if proc_mounted else []
    left = sum(1 for pid in others if pid not in (1, program) and not zombie(pid))
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    reap_all()
    return left


def reaper(spec: dict[str, Any], in_namespace: bool, proc_mounted: bool = False) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    program = os.fork()
    if program == 0:
        become_program(spec)
    for fd in (spec["token_fd"], spec["verdict_fd"], 0):
        os.close(fd)
    status, timed_out = wait_for(program, spec["timeout_s"])
    if timed_out:
        os.kill(program, signal.SIGKILL)
    left = end_namespace(program, proc_mounted) if in_namespace else kill_descendants(program)
    report = {"timeout": timed_out, "left": left, "code": None, "signal": None}
    if status is not None:
        code = os.waitstatus_to_exitcode(status)
        report["code" if code >= 0 else "signal"] = abs(code)
    text = " ".join(f"{key}={'' if value is None else int(value)}" for key, value in report.items())
    os.write(spec["report_fd"], text.encode())
    os._exit(0)


def main() -> None:
    spec = parse(sys.argv[1:])
    libc = ctypes.CDLL(None, use_errno=True)
    if not spec["pid_namespace"]:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        reaper(spec, in_namespace=False)
    init = os.fork()
    if init == 0:  # PID 1 of the namespace
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        mounted = libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        reaper(spec, in_namespace=True, proc_mounted=mounted == 0)
    for fd in (spec["token_fd"], spec["verdict_fd"], spec["report_fd"], 0):
        os.close(fd)
    _, status = os.waitpid(init, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


main()
