"""The per-sample Python session of tool-using evaluations: Jupyter-like cells with state, and
misbehaving or hostile cells contained (timeouts, memory, fork bombs, network, writes outside,
spoofed replies), with nothing left behind after ``close``."""

from __future__ import annotations

import ast
import json
import os
import socket
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.sandbox import interpreter as interpreter_module
from evals.sandbox.interpreter import SessionMode
from evals.sandbox.process import uid_processes
from evals.sandbox.tools import InterpreterSession, SessionLimits
from tests.conftest import needs_isolation


@pytest.fixture(scope="module")
def session() -> Iterator[InterpreterSession]:
    with InterpreterSession(SessionLimits(call_timeout_s=30)) as shared:
        yield shared


def test_state_persists_across_cells(session: InterpreterSession) -> None:
    assert session.run("import math\nx = 6\ndef double(n):\n    return 2 * n").status == "ok"
    result = session.run("double(x) + math.floor(0.5)")
    assert (result.status, result.value, result.error) == ("ok", "12", None)
    assert session.run("open('notes.txt', 'w').write('kept')").status == "ok"
    assert session.run("open('notes.txt').read()").value == "'kept'"
    assert (session.workdir / "notes.txt").read_text() == "kept"  # the host can seed and collect
    # classes defined in a cell live in __main__, so pickle finds them
    pickled = session.run("import pickle\nclass P:\n    pass\ntype(pickle.loads(pickle.dumps(P()))).__name__")
    assert pickled.value == "'P'"


def test_trailing_expression_and_output(session: InterpreterSession) -> None:
    result = session.run("print('hello')\nimport sys\nprint('warn', file=sys.stderr)\n[1, 2][-1]")
    assert (result.status, result.stdout, result.value) == ("ok", "hello\nwarn\n", "2")
    assert session.run("y = 3").value is None
    assert session.run("print(1)").value is None  # print returns None
    assert session.run("y + 1;").value is None  # a trailing ';' hides the value, as in Jupyter
    fd_level = session.run(
        "import os, subprocess\nos.write(1, b'raw\\n')\nsubprocess.run(['echo', 'sub'])\n7")
    assert "raw" in fd_level.stdout and "sub" in fd_level.stdout and fd_level.value == "7"


def test_sympy_and_numpy_import(session: InterpreterSession) -> None:
    """The session runs this venv's interpreter, so what the host has imports inside."""
    pytest.importorskip("sympy")
    result = session.run("import numpy, sympy\nstr(sympy.sqrt(8)), int(numpy.arange(5).sum())")
    assert (result.status, result.value) == ("ok", "('2*sqrt(2)', 10)"), result.error


def test_exception_is_an_error_and_the_session_goes_on(session: InterpreterSession) -> None:
    result = session.run("z = 1\n1 / 0")
    assert result.status == "error" and result.value is None and result.error is not None
    first, second = result.error.splitlines()[:2]
    assert first == "Traceback (most recent call last):"  # the server's own frames are cut
    assert second.startswith('  File "<cell-') and second.endswith('", line 2, in <module>')
    assert result.error.endswith("ZeroDivisionError: division by zero")
    assert "<interpreter>" not in result.error
    inside = session.run("import sys\nsys.stdout.write(b'bytes')")  # raised in the server's code
    assert "TypeError" in str(inside.error) and "<interpreter>" not in str(inside.error)
    library = session.run("import sympy\nsympy.sympify('x +')")
    assert library.status == "error" and "site-packages/sympy/" in str(library.error)
    assert str(Path(os.__file__).parent) not in str(library.error)  # no host install paths
    assert "SyntaxError" in str(session.run("def (").error)
    assert "SystemExit" in str(session.run("import sys\nsys.exit(3)").error)
    assert "EOFError" in str(session.run("input()").error)  # stdin is /dev/null
    assert session.run("z + 1").value == "2"


def test_output_value_and_error_are_truncated() -> None:
    with InterpreterSession(SessionLimits(max_output_chars=100)) as small:
        printed = small.run("print('x' * 1000)\nimport os\nos.write(1, b'z' * 1000)\n'y' * 1000")
        assert printed.stdout.startswith("x" * 100) and "truncated" in printed.stdout
        assert len(printed.stdout) < 200 and "z" not in printed.stdout
        assert printed.value is not None and printed.value.startswith("'yyy")
        assert len(printed.value) < 200 and "truncated" in printed.value
        failed = small.run("raise ValueError('v' * 50 + 'END')")
        assert failed.error is not None and len(failed.error) < 200
        assert failed.error.endswith("END") and "truncated" in failed.error  # the tail is kept


def test_timeout_kills_the_session_and_later_calls_are_dead() -> None:
    with InterpreterSession(SessionLimits(call_timeout_s=1)) as slow:
        result = slow.run("while True:\n    pass")
        assert result.status == "timeout" and 1 <= result.seconds < 5
        later = slow.run("1 + 1")
        assert later.status == "dead" and "timed out" in str(later.error) and not slow.alive


def test_cpu_budget_ends_the_session() -> None:
    with InterpreterSession(SessionLimits(cpu_s=1, call_timeout_s=20)) as busy:
        result = busy.run("while True:\n    pass")
        assert result.status == "dead" and "CPU budget" in str(result.error)


def test_memory_hog_is_an_error_and_the_session_survives() -> None:
    with InterpreterSession(SessionLimits(memory_mb=512)) as small:
        assert "MemoryError" in str(small.run("x = bytearray(8 * 1024 ** 3)").error)
        grown = small.run("hog = []\nwhile True:\n    hog.append(bytearray(10 ** 7))")
        assert grown.status == "error" and "MemoryError" in str(grown.error)
        assert small.run("del hog\n21 * 2").value == "42"


@needs_isolation
def test_fork_bomb_is_contained_and_cell_processes_end_with_the_cell() -> None:
    with InterpreterSession(SessionLimits(call_timeout_s=10)) as bomb:
        assert bomb.uid is not None
        result = bomb.run("import os\nwhile True:\n    os.fork()")
        assert result.status == "error" and "BlockingIOError" in str(result.error)
        survivors = uid_processes(bomb.uid)  # the forks died with the cell: the reaper and the
        assert len(survivors) == 2 and bomb.pid in survivors  # server are all that is left
        background = bomb.run("import subprocess\np = subprocess.Popen(['sleep', '60'])\np.pid")
        assert background.status == "ok" and uid_processes(bomb.uid) == survivors
        assert bomb.run("1").value == "1"


@needs_isolation
def test_no_network() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    code = (
        "import socket\nout = []\n"
        f"for address in [('1.1.1.1', 53), ('127.0.0.1', {port})]:\n"
        "    try:\n        socket.create_connection(address, timeout=2).close()\n"
        "        out.append('connected')\n"
        "    except OSError as exc:\n        out.append(type(exc).__name__)\nout"
    )
    try:
        with InterpreterSession() as net:
            result = net.run(code)
        assert result.status == "ok" and "connected" not in str(result.value), result
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


@needs_isolation
def test_cannot_write_outside_or_see_host_tmp_or_the_checkout() -> None:
    marker = Path("/tmp") / f"evals-host-marker-{os.getpid()}"
    marker.write_text("secret")
    repo = Path(__file__).resolve().parents[1]
    checkout_top = Path("/", repo.parts[1])  # the top-level directory holding the checkout
    targets = [repo / "tests" / "escaped-session.txt", checkout_top / "escaped-session.txt",
               Path.home() / "escaped-session.txt", repo / ".venv" / "escaped-session.txt"]
    if str(checkout_top) in ("/tmp", "/var/tmp"):  # a checkout under /tmp: that top is the
        targets.remove(checkout_top / "escaped-session.txt")  # private tmpfs, checked below
    code = (
        f"import os\nout = {{'marker': os.path.exists({str(marker)!r}), "
        f"'listed': {marker.name!r} in os.listdir('/tmp'), "
        f"'repo': os.path.exists({str(repo / 'pyproject.toml')!r})}}\n"
        f"for path in {[str(t) for t in targets]!r}:\n"
        "    try:\n        open(path, 'w').write('x')\n        out[path] = 'written'\n"
        "    except OSError as exc:\n        out[path] = type(exc).__name__\nout"
    )
    # the host's world-writable directories are private tmpfs inside: writes there stay there
    shared = [Path(d) / f"escaped-session-{os.getpid()}" for d in ("/var/tmp", "/dev/shm", "/run/lock")
              if Path(d).is_dir()]
    private = "".join(f"open({str(p)!r}, 'w').write('x')\n" for p in shared)
    try:
        with InterpreterSession() as session:
            result = session.run(code)
            assert session.run(private).status == "ok"
    finally:
        marker.unlink()
    assert not any(p.exists() for p in shared)
    seen = ast.literal_eval(str(result.value))
    assert seen.pop("marker") is False and seen.pop("listed") is False
    assert seen.pop("repo") is False  # the checkout (and the data beside it) is hidden
    assert "written" not in seen.values() and len(seen) == len(targets)
    assert not any(target.exists() for target in targets)


def _fake_reply(value: str) -> bytes:
    body = json.dumps({"id": "ready", "status": "ok", "stdout": "", "value": value, "error": None})
    return struct.pack(">I", len(body)) + body.encode()


def test_printed_or_fd_written_fake_replies_are_just_output(session: InterpreterSession) -> None:
    fake = _fake_reply("'forged'")
    code = f"import os, sys\nprint({fake!r})\nos.write(1, {fake!r})\nos.write(2, {fake!r})\n40 + 2"
    result = session.run(code)
    assert (result.status, result.value) == ("ok", "42") and "forged" in result.stdout
    assert session.run("1").value == "1"


WRITE_TO_PIPES = (
    "import os, stat\n"
    "for name in os.listdir('/proc/self/fd'):\n"
    "    try:\n"
    "        if int(name) > 2 and stat.S_ISFIFO(os.fstat(int(name)).st_mode):\n"
    "            os.write(int(name), {payload!r})\n"
    "    except OSError:\n"
    "        pass\n"
    "40 + 2"
)


def test_frames_forged_on_the_private_channel_are_discarded(session: InterpreterSession) -> None:
    result = session.run(WRITE_TO_PIPES.format(payload=_fake_reply("'forged'")))
    assert (result.status, result.value) == ("ok", "42")
    assert session.run("2").value == "2"


def test_garbage_on_the_private_channel_ends_the_session() -> None:
    with InterpreterSession() as victim:
        result = victim.run(WRITE_TO_PIPES.format(payload=b"\xff" * 8 + b"garbage"))
        assert result.status == "dead" and "protocol" in str(result.error)
    with InterpreterSession() as fresh:
        assert fresh.run("1").value == "1"


@needs_isolation
def test_killing_the_harness_is_impossible_and_killing_itself_is_harmless() -> None:
    with InterpreterSession() as session:
        harness = ("import os, signal\nreaper = os.getppid()\n"
                   "harness = int(open(f'/proc/{reaper}/stat').read().rsplit(')', 1)[1].split()[1])\n"
                   "os.kill(harness, signal.SIGKILL)")
        result = session.run(harness)
        assert result.status == "error" and "PermissionError" in str(result.error)
        # its own uid only: the reaper above it dies, the server goes on
        assert session.run("import os\nos.kill(-1, 9)\n1").value == "1"
        suicide = session.run("import os\nos.kill(os.getpid(), 9)")
        assert suicide.status == "dead" and "SIGKILL" in str(suicide.error)
        uid = session.uid
    assert uid is not None and uid_processes(uid, include_zombies=False) == []
    os.kill(os.getpid(), 0)  # still here


@needs_isolation
def test_close_leaves_no_process_zombie_or_directory() -> None:
    before = set(os.listdir(tempfile.gettempdir()))
    session = InterpreterSession(SessionLimits(call_timeout_s=2))
    uid, pid = session.uid, session.pid
    assert uid is not None
    code = ("import os, subprocess, time\nsubprocess.Popen(['sleep', '60'])\n"
            "if os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
            "if os.fork() == 0:\n    os._exit(0)\n"  # a zombie until reaped
            "time.sleep(60)")
    assert session.run(code).status == "timeout"  # the kill must reach the setsid child too
    session.close()
    deadline = time.monotonic() + 2
    while uid_processes(uid) and time.monotonic() < deadline:
        time.sleep(0.02)  # orphaned zombies are reaped by init
    assert uid_processes(uid) == []
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped by us, not a zombie
    assert not Path(f"/proc/{pid}").exists()
    assert set(os.listdir(tempfile.gettempdir())) <= before


def test_without_isolation_the_directory_is_private_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interpreter_module, "isolation_available", lambda: False)
    with InterpreterSession() as plain:
        assert plain.uid is None
        assert plain.run("open('f.txt', 'w').write('1')\nimport os\nos.listdir('.')").value == "['f.txt']"
        workdir = plain.workdir
        assert (workdir / "f.txt").exists()
        pid = plain.pid
    assert not workdir.exists()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_closing_twice_and_running_after_close_are_safe() -> None:
    session = InterpreterSession()
    session.close()
    session.close()
    result = session.run("1")
    assert result.status == "dead" and "closed" in str(result.error)
    with pytest.raises(ProcessLookupError):
        os.kill(session.pid, 0)


# --- IPython mode (CIBench's notebooks) ---------------------------------------------------------

needs_ipython = pytest.mark.skipif(
    __import__("importlib").util.find_spec("IPython") is None, reason="IPython not installed")


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InterpreterSession]:
    if __import__("importlib").util.find_spec("IPython") is None:
        pytest.skip("IPython not installed")
    table = tmp_path_factory.mktemp("inputs") / "table.csv"
    table.write_text("a,b\n1,2\n3,4\n")
    with InterpreterSession(SessionLimits(call_timeout_s=60), mode="ipython",
                            files={"data/table.csv": table}) as shared:
        yield shared


def test_ipython_state_display_and_input_files(notebook: InterpreterSession) -> None:
    loaded = notebook.run("import pandas as pd\ndf = pd.read_csv('data/table.csv')\ndf.b.sum()")
    assert (loaded.status, loaded.value, loaded.images) == ("ok", "np.int64(6)", ()), loaded.error
    shown = notebook.run("print('out')\nimport sys\nprint('err', file=sys.stderr)\ndf.a.tolist()")
    assert (shown.stdout, shown.stderr, shown.value) == ("out\n", "err\n", "[1, 3]")
    assert notebook.run("x = df.a.max()").value is None
    assert notebook.run("x * 10;").value is None  # ';' hides the value, as in Jupyter
    assert notebook.run("x * 10").value == "np.int64(30)"


def test_ipython_magics_and_jupyter_tracebacks(notebook: InterpreterSession) -> None:
    assert notebook.run("%pwd").value == repr("/tmp" if notebook.isolated else str(notebook.workdir))
    timed = notebook.run("%timeit -n1 -r1 sum(range(10))")
    assert timed.status == "ok" and "per loop" in timed.stdout
    shell = notebook.run("!echo from-a-shell")
    assert shell.status == "ok" and "from-a-shell" in shell.stdout
    failed = notebook.run("def f():\n    return 1 / 0\nf()")
    assert failed.status == "error"
    error = str(failed.error)
    assert "ZeroDivisionError" in error and "Cell In[" in error and "\x1b[" not in error
    assert "<interpreter>" not in error and "interactiveshell" not in error
    assert notebook.run("y = 2\ny").value == "2"  # the session goes on


def test_ipython_figures_come_back_as_png(notebook: InterpreterSession) -> None:
    import base64

    shown = notebook.run("import matplotlib.pyplot as plt\nplt.figure(figsize=(2, 2))\n"
                         "plt.plot([1, 2, 3])\nplt.show()\nplt.figure()\nplt.bar([1], [2]);")
    assert shown.status == "ok" and len(shown.images) == 2  # one shown, one left open
    assert all(base64.b64decode(png).startswith(b"\x89PNG") for png in shown.images)
    assert notebook.run("1 + 1").images == ()  # shown figures are closed at the cell's end


@needs_ipython
@needs_isolation
def test_ipython_mode_is_as_contained_as_plain_mode(tmp_path: Path) -> None:
    secret = Path(__file__).resolve().parents[1] / "pyproject.toml"  # under /work
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        with InterpreterSession(SessionLimits(call_timeout_s=15), mode="ipython") as box:
            assert box.uid is not None
            read = box.run(f"open({str(secret)!r}).read()")
            assert read.status == "error" and "FileNotFoundError" in str(read.error)
            shell_read = box.run(f"!cat {secret}")
            assert "[project]" not in shell_read.stdout
            net = box.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), 2)")
            assert net.status == "error" and "Error" in str(net.error).splitlines()[-1]
            kill = box.run("import os, signal\nreaper = os.getppid()\nharness = int(open("
                           "f'/proc/{reaper}/stat').read().rsplit(')', 1)[1].split()[1])\n"
                           "os.kill(harness, signal.SIGKILL)")
            assert kill.status == "error" and "PermissionError" in str(kill.error)
            bomb = box.run("import os\nwhile True:\n    os.fork()")
            assert bomb.status == "error" and "BlockingIOError" in str(bomb.error)
            assert len(uid_processes(box.uid)) == 2  # reaper and server: the forks are gone
            loop = box.run("while True:\n    pass")
            assert loop.status == "timeout" and box.run("1").status == "dead"
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    os.kill(os.getpid(), 0)  # still here


EXITS = {
    "os._exit(0)": "import os\nos._exit(0)",
    "sys.exit(0)": "import sys\nsys.exit(0)",
    "exit()": "exit()",
    "quit()": "quit()",
    "raise SystemExit": "raise SystemExit",
    "SIGKILL itself": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
}


@pytest.mark.parametrize("mode", ["python", "ipython"])
@pytest.mark.parametrize("case", sorted(EXITS))
def test_a_cell_that_exits_is_an_error_observation(mode: SessionMode, case: str) -> None:
    """Never a silent end: SystemExit is the cell's error (the session goes on); a cell that
    ends the process itself leaves a dead session that says why."""
    if mode == "ipython":
        pytest.importorskip("IPython")
    with InterpreterSession(SessionLimits(call_timeout_s=20), mode=mode) as session:
        result = session.run(EXITS[case])
        assert result.status in ("error", "dead"), result
        assert result.error and ("SystemExit" in result.error or "exited with code 0" in result.error
                                 or "SIGKILL" in result.error), result.error
        after = session.run("1 + 1")
        assert after.status == ("ok" if result.status == "error" else "dead")


@needs_isolation
@pytest.mark.parametrize("mode", ["python", "ipython"])
def test_a_daemon_does_not_outlive_its_cell(mode: SessionMode) -> None:
    if mode == "ipython":
        pytest.importorskip("IPython")
    daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        time.sleep(120)\n    os._exit(0)\nos.wait()\n'spawned'")
    with InterpreterSession(SessionLimits(call_timeout_s=20), mode=mode) as session:
        assert session.run("1").status == "ok"
        uid = session.uid
        assert uid is not None
        baseline = set(uid_processes(uid, include_zombies=False))  # the reaper and the server
        start = time.monotonic()
        assert "spawned" in str(session.run(daemon).value)
        assert time.monotonic() - start < 5
        assert set(uid_processes(uid, include_zombies=False)) == baseline
    assert uid_processes(uid) == []
