"""The REPL server that runs inside an interpreter session's sandbox.

Its source is passed to ``python -c`` by ``evals.sandbox.interpreter``, compiled under the name
``<interpreter>`` so that tracebacks can leave its frames out; it never imports ``evals``, and
only the stdlib in plain mode. In IPython mode (CIBench's notebooks) cells run through the
venv's ``InteractiveShell`` as a Jupyter kernel runs them: magics, ``!`` lines, the displayed
value of a trailing expression, Jupyter-style tracebacks; matplotlib draws through the inline
backend, so each figure shown or left open at the cell's end comes back as a base64 PNG, and
stdout and stderr are kept apart as a notebook keeps its streams.
Protocol: frames of a 4-byte big-endian length and a JSON object, requests on the fd that was
stdin, replies on a private duplicate of the fd that was stdout. Before any user code runs,
fds 0, 1 and 2 are pointed at ``/dev/null`` and an unlinked capture file, so a ``print`` or an
``os.write(1, ...)`` lands in the cell's output and never on the protocol pipe. Each reply
echoes the request's one-time ``id``; the parent discards any other frame.
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import io
import json
import linecache
import os
import re
import signal
import struct
import sys
import sysconfig
import time
import traceback
import types
from typing import Any, TextIO, cast

HEADER = struct.Struct(">I")
SERVER_PID = os.getpid()
PR_SET_CHILD_SUBREAPER = 36
OWN_UID_FLOOR = 1 << 30
SERVER_FILE = "<interpreter>"


class Capture(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` during a cell: keeps the first ``limit`` characters and
    counts the rest, so a print loop costs no memory while it waits for the timeout."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.parts, self.kept, self.dropped = limit, [""], 0, 0

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(s[:room])
            self.kept += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    encoding = "utf-8"

    def text(self) -> str:
        return "".join(self.parts)


def clip(text: str, limit: int, dropped: int = 0, keep_tail: bool = False) -> str:
    dropped += max(0, len(text) - limit)
    if not dropped:
        return text
    note = f"[... {dropped} more characters truncated]"
    return f"{note}\n{text[-limit:]}" if keep_tail else f"{text[:limit]}\n{note}"


def read_exact(fd: int, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def send(fd: int, message: dict[str, Any]) -> None:
    payload = json.dumps(message).encode()
    data = HEADER.pack(len(payload)) + payload
    while data:
        data = data[os.write(fd, data):]


def drain(fd: int, limit: int) -> tuple[str, int]:
    """What reached fds 1/2 (subprocesses, C code, ``os.write``) during the cell; then empty
    the file so the next cell starts clean."""
    size = os.fstat(fd).st_size
    head = os.pread(fd, limit * 4, 0).decode("utf-8", "replace")[:limit]
    os.ftruncate(fd, 0)
    return head, max(0, size - len(head.encode()))


def short_paths(text: str) -> str:
    """Library frames keep their file names relative to the install, not the host's paths."""
    paths = sysconfig.get_paths()
    for key, label in (("purelib", "site-packages"), ("platlib", "site-packages"),
                       ("stdlib", "lib"), ("platstdlib", "lib")):
        if paths.get(key):
            text = text.replace(paths[key] + os.sep, label + "/")
    return text


def format_error(exc: BaseException, limit: int) -> str:
    """The traceback as the cell sees it: the server's own frames are left out, chained
    exceptions included."""
    try:
        report = traceback.TracebackException.from_exception(exc)
        without_server_frames(report, set())
        return clip(short_paths("".join(report.format()).rstrip()), limit, keep_tail=True)
    except BaseException:  # formatting itself failed (MemoryError): the type still tells
        return type(exc).__name__


def without_server_frames(report: traceback.TracebackException, seen: set[int]) -> None:
    if id(report) in seen:
        return
    seen.add(id(report))
    frames = [frame for frame in report.stack if frame.filename != SERVER_FILE]
    report.stack = traceback.StackSummary.from_list(frames)
    for chained in (report.__cause__, report.__context__):
        if chained is not None:
            without_server_frames(chained, seen)


def run_cell(code: str, namespace: dict[str, Any], number: int) -> tuple[Any, BaseException | None]:
    """Statements run, a trailing expression is evaluated (unless the cell ends with ';')."""
    name = f"<cell-{number}>"
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    try:
        tree = ast.parse(code, name, "exec")
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr):
            tree.body.pop()
        exec(compile(tree, name, "exec"), namespace)
        if not isinstance(last, ast.Expr) or code.rstrip().endswith(";"):
            return None, None
        return eval(compile(ast.Expression(last.value), name, "eval"), namespace), None
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the cell's errors too
        return None, exc


def reply(code: str, namespace: dict[str, Any], number: int, sink: int, limit: int) -> dict[str, Any]:
    out = Capture(limit)
    sys.stdout = sys.stderr = cast(TextIO, out)
    try:
        result, exc = run_cell(code, namespace, number)
        if os.getpid() != SERVER_PID:  # a child the cell forked came back here: it must not
            os._exit(0)  # touch the shared output file or answer
        value = None if exc is not None or result is None else clip(repr(result), limit)
    except BaseException as repr_error:  # repr() of the value raised
        exc, value = repr_error, None
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    flush_std()
    raw, raw_dropped = drain(sink, limit)
    stdout = clip(out.text() + raw, limit, out.dropped + raw_dropped)
    error = None if exc is None else format_error(exc, limit)
    return {"status": "ok" if exc is None else "error", "stdout": stdout, "value": value,
            "error": error, "stderr": "", "images": []}


def flush_std() -> None:
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()  # print(..., file=sys.__stdout__) goes to the fd-level capture
        except (OSError, ValueError):
            pass


ANSI = re.compile(r"(?:\x1B[@-_]|[\x80-\x9F])[0-?]*[ -/]*[@-~]")
MAX_IMAGES = 10
"""Figures kept per cell (lagent's IPython interpreter saves at most ten)."""
OUTPUTS: dict[str, Any] = {}
"""What the current IPython cell displayed: ``value``, ``images``, ``error``."""
IMAGE_LIMIT = [0]
"""Largest base64 PNG kept, in characters (set from the command line); larger ones are dropped
with a note on stderr."""


def ipython_shell() -> Any:
    """An ``InteractiveShell`` whose display hooks fill ``OUTPUTS`` instead of
    writing to a terminal: what a Jupyter kernel would send as ``execute_result``,
    ``display_data`` and ``error`` messages."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Publisher(DisplayPublisher):
        def publish(self, data: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            outputs = OUTPUTS
            if "image/png" in data:
                png = data["image/png"]
                if not isinstance(png, str) or len(png) > IMAGE_LIMIT[0]:
                    print(f"[a figure of {len(png)} characters was dropped]", file=sys.stderr)
                elif len(outputs["images"]) < MAX_IMAGES:
                    outputs["images"].append(png)
            elif "text/plain" in data:
                print(data["text/plain"])

        def clear_output(self, wait: bool = False) -> None:
            pass

    class Hook(DisplayHook):
        def write_output_prompt(self) -> None:
            pass

        def write_format_data(self, format_dict: dict[str, Any], md_dict: Any = None) -> None:
            OUTPUTS["value"] = format_dict.get("text/plain")

    class Shell(InteractiveShell):
        def enable_gui(self, gui: Any = None) -> None:
            pass  # no event loop: figures are rendered by the inline backend

        def ask_exit(self) -> None:
            raise SystemExit  # ``exit()``/``quit()``: an error the cell sees, as sys.exit

        def _showtraceback(self, etype: Any, evalue: Any, stb: Any) -> None:
            OUTPUTS["error"] = self.InteractiveTB.stb2text(stb)

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    shell = Shell.instance(config=config, display_pub_class=Publisher, displayhook_class=Hook)
    shell.enable_matplotlib("inline")  # type: ignore[no-untyped-call]
    return shell


def reply_ipython(shell: Any, code: str, sink: int, limit: int) -> dict[str, Any]:
    out, err = Capture(limit), Capture(limit)
    OUTPUTS.update(value=None, images=[], error=None)
    sys.stdout, sys.stderr = cast(TextIO, out), cast(TextIO, err)
    try:
        result = shell.run_cell(code, store_history=True)
        if os.getpid() != SERVER_PID:
            os._exit(0)
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    flush_std()
    raw, raw_dropped = drain(sink, limit)
    outputs = OUTPUTS
    failed = not result.success
    error = outputs["error"] or (repr(result.error_in_exec or result.error_before_exec)
                                 if failed else None)
    value = outputs["value"]
    return {
        "status": "error" if failed else "ok",
        "stdout": clip(out.text() + raw, limit, out.dropped + raw_dropped),
        "stderr": clip(err.text(), limit, err.dropped),
        "value": None if value is None else clip(value, limit),
        "error": None if error is None else clip(ANSI.sub("", error), limit, keep_tail=True),
        "images": outputs["images"],
    }


def stay_behind_as_reaper() -> None:
    """Fork; the child goes on as the server, this process stays above it as a subreaper.

    Orphans of anything below end up here and are reaped at once (init may take seconds, or
    never in a container whose PID 1 is the harness), and once the server is gone, so is the
    rest of the session: the pipes close and the parent learns of it at once. Exits with the
    server's status (128 + n for signal n)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    server = os.fork()
    if server == 0:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # the server reaps the cells' orphans
        return
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, 1 << 16)  # the protocol pipes are the server's alone
    status, ending = 0, False
    while True:
        if ending:
            try:
                os.kill(-1, signal.SIGKILL)  # every process of our uid but us
            except OSError:
                pass
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        if pid == server:
            status, ending = code, True
    exit_code = os.waitstatus_to_exitcode(status)
    os._exit(128 - exit_code if exit_code < 0 else exit_code)


def end_cell_processes() -> None:
    """Processes a cell started do not outlive it: a fork bomb would otherwise keep the CPU
    busy (and the process limit full) until the session closes. As a subreaper, no child
    left means no descendant left; the reaper above us is spared."""
    deadline = time.monotonic() + 2
    spare = {os.getpid(), os.getppid()}
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:  # children left, none of them dead yet
                for pid in own_processes() - spare:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                time.sleep(0.001)
        except ChildProcessError:
            return


def own_processes() -> set[int]:
    uid, found = str(os.getuid()), set()
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/status") as status:
                for line in status:
                    if line.startswith("Uid:"):
                        if line.split()[1] == uid:
                            found.add(int(name))
                        break
        except (OSError, ValueError):
            pass
    return found


def main() -> None:
    global SERVER_PID
    limit, own_uid = int(sys.argv[1]), sys.argv[2] == "own-uid" and os.getuid() >= OWN_UID_FLOOR
    ipython = len(sys.argv) > 4 and sys.argv[3] == "ipython"
    IMAGE_LIMIT[0] = int(sys.argv[4]) if ipython else 0
    sys.argv = [""]
    if own_uid:  # kill(-1) and a uid-wide sweep are only safe with a uid of the session's own
        stay_behind_as_reaper()
        SERVER_PID = os.getpid()
    requests, replies = os.dup(0), os.dup(1)  # dups are not inherited by exec'd programs
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    sink_path = f".evals-output-{os.getpid()}"
    sink = os.open(sink_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
    os.unlink(sink_path)
    os.dup2(sink, 1)
    os.dup2(sink, 2)
    os.close(null)
    main_module = types.ModuleType("__main__")  # the cells' globals; pickling finds their classes
    main_module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main_module
    shell = ipython_shell() if ipython else None
    send(replies, {"id": "ready"})
    number = 0
    while (header := read_exact(requests, HEADER.size)) is not None:
        body = read_exact(requests, HEADER.unpack(header)[0])
        if body is None:
            break
        request = json.loads(body)
        number += 1
        try:
            if shell is not None:
                message = reply_ipython(shell, request["code"], sink, limit)
            else:
                message = reply(request["code"], main_module.__dict__, number, sink, limit)
        except BaseException as exc:  # the cell broke the server's own machinery (or memory)
            error = f"{type(exc).__name__} in the interpreter itself: {exc}"[:limit]
            message = {"status": "error", "stdout": "", "value": None, "error": error,
                       "stderr": "", "images": []}
        if os.getpid() != SERVER_PID:
            os._exit(0)
        if own_uid:
            end_cell_processes()
        send(replies, {"id": request["id"], **message})


if __name__ == "__main__":
    main()
