"""Generated code that misbehaves is contained, scored as a failure, and the run goes on."""

from __future__ import annotations

import os
from pathlib import Path

from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.coding.humaneval import HumanEval, HumanEvalItem
from evals.records import GenerateResponse, Mode, ModelKind
from evals.sandbox.process import SandboxLimits, run_python
from tests.conftest import needs_isolation, sandbox_processes

FAST = SandboxLimits(timeout_s=3, memory_mb=512)


def test_passing_and_failing_programs() -> None:
    assert run_python("assert 1 + 1 == 2", FAST).status == "passed"
    failed = run_python("assert 1 + 1 == 3", FAST)
    assert failed.status == "failed" and "AssertionError" in failed.detail


def test_infinite_loop_times_out() -> None:
    assert run_python("while True:\n    pass", FAST).status == "timeout"


def test_memory_hog_is_stopped() -> None:
    result = run_python("x = bytearray(8 * 1024 ** 3)\nprint(len(x))", FAST)
    assert result.status == "failed" and "MemoryError" in result.detail


@needs_isolation
def test_fork_bomb_is_contained() -> None:
    result = run_python("import os\nwhile True:\n    os.fork()", FAST)
    assert result.status in ("failed", "timeout")
    assert sandbox_processes() == []


@needs_isolation
def test_writes_outside_its_temp_dir_are_contained() -> None:
    target = Path(__file__).resolve().parent / "escaped.txt"
    result = run_python(f"open({str(target)!r}, 'w').write('x')", FAST)
    # PermissionError as nobody; FileNotFoundError when the checkout lies under the masked /tmp
    assert result.status == "failed"
    assert "PermissionError" in result.detail or "FileNotFoundError" in result.detail
    assert not target.exists()
    # /tmp is a private tmpfs: the host's /tmp is out of reach
    host_tmp = run_python("import os; print(os.listdir('/tmp'))", FAST)
    assert host_tmp.status == "passed"
    # its own /tmp is private: what it writes there is gone afterwards
    assert run_python("open('/tmp/evals-probe', 'w').write('x')", FAST).status == "passed"
    assert not Path("/tmp/evals-probe").exists()


@needs_isolation
def test_no_network() -> None:
    code = "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=2)"
    result = run_python(code, FAST)
    assert result.status == "failed" and "unreachable" in result.detail.lower()


def test_humaneval_scores_hostile_completions_as_failures_and_keeps_going() -> None:
    bench = HumanEval()
    item = HumanEvalItem("t/0", "", "def add(a, b):\n", "def check(f):\n    assert f(1, 2) == 3\n",
                         "add")
    ctx = BenchmarkContext(Path("."), ModelKind.BASE, Mode.GEN, 0)
    hostile = ["    while True:\n        pass", "    import os\n    while True:\n        os.fork()",
               "    x = bytearray(8 * 1024 ** 3)\n    return a + b", "    return a - b"]
    scores = [bench.score(item, [GenerateResponse(c, 0, 0, "stop")], ctx) for c in hostile]
    assert [s.value for s in scores] == [0.0, 0.0, 0.0, 0.0]
    good = bench.score(item, [GenerateResponse("    return a + b", 0, 0, "stop")], ctx)
    assert good.value == 1.0


@needs_isolation
def test_compiled_program_is_contained_too() -> None:
    """run_program (HumanEval-X's compile-and-run) gets the same walls as run_python: no
    network, no writes outside its directory, the host's /tmp out of sight."""
    from evals.sandbox.process import Program, Step, run_program

    marker = Path("/tmp") / f"evals-host-marker-{os.getpid()}"
    marker.write_text("secret")
    target = Path(__file__).resolve().parent / "escaped-c.txt"
    src = (
        "#include <stdio.h>\n#include <sys/socket.h>\n#include <netinet/in.h>\n"
        "#include <arpa/inet.h>\n#include <unistd.h>\n"
        "int main(void) {\n"
        "  char token[32]; ssize_t got = read(3, token, sizeof token);\n"
        f'  FILE *h = fopen("{marker}", "r");\n'
        f'  FILE *w = fopen("{target}", "w");\n'
        "  int s = socket(AF_INET, SOCK_STREAM, 0);\n"
        "  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(22);\n"
        '  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);\n'
        "  int c = connect(s, (struct sockaddr *)&a, sizeof a);\n"
        '  printf("host_tmp=%d write=%d net=%d\\n", h != NULL, w != NULL, c == 0);\n'
        "  if (h || w || c == 0) return 1;\n"
        "  write(4, token, got); write(4, \" pass\\n\", 6);\n"  # its own test driver
        "  return 0;\n}\n"
    )
    limits = SandboxLimits(timeout_s=30, memory_mb=1024)
    program = Program({"main.c": src}, (
        Step("compile", ("gcc", "-O0", "-o", "main", "main.c"), limits),
        Step("run", ("./main",), limits, proof=True),
    ))
    try:
        result = run_program(program)
    finally:
        marker.unlink()
    assert result.status == "passed", result.detail
    assert not target.exists()
