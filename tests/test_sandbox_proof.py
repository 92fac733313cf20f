"""A pass needs the test driver's proof that every test ran; nothing a sample starts outlives it.

The corpus: what a reward-hacked or broken model writes to score without passing. Early exits
in every language, killing the driver, printing the old success marker, forging the verdict
channel without the token, replacing builtins, detached daemons. Every case scores 0, leaves
no process behind, and the run goes on (an honest completion still passes afterwards)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.coding.humaneval import HumanEval, HumanEvalItem
from evals.benchmarks.coding.humaneval_x import HumanEvalX, HumanEvalXItem, execute
from evals.benchmarks.coding.mbpp import outcome
from evals.records import GenerateResponse, Mode, ModelKind
from evals.sandbox.process import PythonProgram, SandboxLimits, run_python
from tests.conftest import needs_isolation, sandbox_processes

FAST = SandboxLimits(timeout_s=5)
DAEMON_SLEEP_S = 120
"""A detached daemon sleeps this long; a run that waited for it would fail the time bound."""

ADD = HumanEvalItem("t/add", "    return a + b\n", "def add(a, b):\n",
                    "def check(candidate):\n    assert candidate(1, 2) == 3\n"
                    "    assert abs(candidate(-1, -1)) == 2\n", "add")
PYTHON_DAEMON = (
    "    import os, time\n"
    "    if os.fork() == 0:\n"
    "        os.setsid()\n"
    "        if os.fork() == 0:\n"
    f"            time.sleep({DAEMON_SLEEP_S})\n"
    "        os._exit(0)\n"
    "    os.wait()\n"
    "    os._exit(0)\n"
)
PYTHON_CORPUS = {
    "os._exit(0)": "    import os\n    os._exit(0)\n",
    "sys.exit(0)": "    import sys\n    sys.exit(0)\n",
    "raise SystemExit": "    raise SystemExit\n",
    "raise SystemExit(0)": "    raise SystemExit(0)\n",
    "exit(0)": "    exit(0)\n",
    "quit()": "    quit()\n",
    "SIGKILL itself": "    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n",
    "SIGTERM itself": "    import os, signal\n    os.kill(os.getpid(), signal.SIGTERM)\n",
    "kill the driver's parent": "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n"
                                "    os._exit(0)\n",
    "exit hook rescues a failure": "    import atexit, os\n    atexit.register(os._exit, 0)\n"
                                   "    return a - b\n",
    "old success marker on stderr": "    import os, sys\n    sys.stderr.write('\\npass\\n')\n"
                                    "    sys.stderr.flush()\n    os._exit(0)\n",
    "old success marker on stdout": "    print('passed')\n    import os\n    os._exit(0)\n",
    "forged verdict without the token": "    import os\n    os.write(4, b'0' * 32 + b' pass\\n')\n"
                                        "    os._exit(0)\n",
    "token pipe read again": "    import os\n    try:\n        t = os.read(3, 32)\n"
                             "    except OSError:\n        t = b''\n"
                             "    os.write(4, t + b' pass\\n')\n    os._exit(0)\n",
    "excepthook swallows": "    import sys\n    sys.excepthook = lambda *a: None\n"
                           "    return a - b\n",
    "detached daemon": PYTHON_DAEMON,
}
"""Completions of ``add`` (a function body, as the base model continues the prompt)."""

SOLUTION_OVERRIDES = {
    "builtins.abs patched for the tests": "import builtins\nbuiltins.abs = lambda x: 2\n"
                                          "def add(a, b):\n    return 0 if a < 0 else a + b\n",
    "builtins.exec made a no-op": "import builtins\nbuiltins.exec = lambda *a, **k: None\n"
                                  "def add(a, b):\n    return 0\n",
    "os.write and json replaced": "import os, json\nos.write = lambda fd, b: len(b)\n"
                                  "json.dumps = lambda *a, **k: '{\"passed\": true}'\n"
                                  "def add(a, b):\n    return 0\n",
    "the driver's module rewritten": "import sys\nm = sys.modules.get('__main__')\n"
                                     "def add(a, b):\n    return 0\n",
    "AssertionError rebound": "import builtins\nbuiltins.AssertionError = KeyError\n"
                              "def add(a, b):\n    return 0\n",
}
"""Whole solutions for the driver (``PythonProgram``): each tries to change what the tests see
or what the driver reports; none is right."""


def _score(completion: str) -> tuple[float, str]:
    ctx = BenchmarkContext(Path("."), ModelKind.BASE, Mode.GEN, 0)
    score = HumanEval().score(ADD, [GenerateResponse(completion, 0, 0, "stop")], ctx)
    return score.value, score.detail


@pytest.mark.parametrize("case", sorted(PYTHON_CORPUS))
def test_python_corpus_scores_zero_and_leaves_nothing(case: str) -> None:
    start = time.monotonic()
    value, detail = _score(PYTHON_CORPUS[case])
    assert value == 0.0, (case, detail)
    assert time.monotonic() - start < DAEMON_SLEEP_S / 4  # never waits for a detached child
    assert sandbox_processes() == []


def test_the_exit_cases_say_there_was_no_proof() -> None:
    _, detail = _score(PYTHON_CORPUS["os._exit(0)"])
    assert detail.startswith("failed: no proof that the tests ran to the end")
    _, detail = _score(PYTHON_CORPUS["raise SystemExit(0)"])
    assert detail == "failed: SystemExit: 0"


@pytest.mark.parametrize("case", sorted(SOLUTION_OVERRIDES))
def test_overriding_builtins_or_the_driver_changes_nothing(case: str) -> None:
    tests = "assert add(1, 2) == 3\nassert abs(add(-1, -1)) == 2\n"
    result = run_python(PythonProgram(SOLUTION_OVERRIDES[case], tests), FAST)
    assert result.status == "failed", (case, result)


def test_honest_samples_still_pass_after_the_corpus() -> None:
    for completion in PYTHON_CORPUS.values():
        _score(completion)
    assert _score(ADD.target) == (1.0, "passed")
    assert run_python(PythonProgram("def add(a, b):\n    return a + b\n",
                                    "assert add(1, 2) == 3"), FAST).status == "passed"


@needs_isolation
def test_a_detached_daemon_is_killed_at_once_and_counted() -> None:
    start = time.monotonic()
    result = run_python(PythonProgram("def add(a, b):\n" + PYTHON_DAEMON, "add(1, 2)"), FAST)
    assert time.monotonic() - start < 3
    assert result.status == "failed" and result.left_behind == 1
    assert sandbox_processes() == []


@needs_isolation
def test_a_daemon_left_by_a_passing_program_is_killed_too() -> None:
    daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              f"        time.sleep({DAEMON_SLEEP_S})\n    os._exit(0)\nos.wait()\n")
    start = time.monotonic()
    result = run_python(PythonProgram(daemon, "assert True"), FAST)
    assert result.status == "passed" and result.left_behind == 1
    assert time.monotonic() - start < 3
    assert sandbox_processes() == []


def test_without_isolation_the_reaper_still_kills_the_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root: no namespace or uid of the run's own, a subreaper above the program instead."""
    import evals.sandbox.process as sandbox

    monkeypatch.setattr(sandbox, "isolation_available", lambda: False)
    marker = f"{DAEMON_SLEEP_S}.25"
    daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              f"        time.sleep({marker})\n    os._exit(0)\nos.wait()\n")
    start = time.monotonic()
    result = run_python(PythonProgram(daemon, "assert True"), FAST)
    assert result.status == "passed" and not result.isolated and result.left_behind == 1
    assert time.monotonic() - start < 3
    assert run_python("import os\nos._exit(0)", FAST).status == "failed"
    alive = [p for p in Path("/proc").iterdir() if p.name.isdigit()
             and marker.encode() in _cmdline(p)]
    assert alive == []


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_mbpp_classifies_the_corpus_as_failures() -> None:
    tests = "assert add(1, 2) == 3"
    assert outcome("def add(a, b):\n    return a + b", tests)[0] == "pass"
    for body in ("import os\nos._exit(0)", "raise SystemExit(0)", "import sys\nsys.exit()"):
        verdict, _ = outcome(body + "\ndef add(a, b):\n    return a + b", tests)
        assert verdict == "failed", body
    assert outcome("def add(a, b):\n    return 0", tests)[0] == "wrong_answer"


# ---------------------------------------------------------------- HumanEval-X, every language

TOOLS = {"python": "python3", "cpp": "g++", "java": "javac", "js": "node", "go": "go"}
EXITS = {
    "cpp": {"exit(0)": "    exit(0);\n}\n", "_Exit(0)": "    _Exit(0);\n}\n",
            "quick_exit": "    quick_exit(0);\n}\n", "abort": "    abort();\n}\n",
            "trap": "    __builtin_trap();\n}\n",
            "forged verdict": '    FILE *f = fdopen(4, "w");\n'
                              '    fputs("00000000000000000000000000000000 pass\\n", f);\n'
                              "    fflush(f);\n    exit(0);\n}\n",
            "main called again": "    static int depth = 0;\n    int main();\n"
                                 "    if (depth++ == 0) main();\n    exit(0);\n}\n",
            "daemon": '    system("setsid sleep 120 &");\n    exit(0);\n}\n'},
    "java": {"System.exit(0)": "        System.exit(0);\n        return null;\n    }\n}",
             "halt(0)": "        Runtime.getRuntime().halt(0);\n        return null;\n    }\n}",
             "shutdown hook": "        Runtime.getRuntime().addShutdownHook(new Thread(() -> "
                              "System.out.println(\"PASS\")));\n        System.exit(0);\n"
                              "        return null;\n    }\n}"},
    "js": {"process.exit(0)": "  process.exit(0)\n}\n",
           "console.assert silenced": "  console.assert = () => {}\n  return []\n}\n",
           "SIGKILL itself": "  process.kill(process.pid, 'SIGKILL')\n}\n",
           "reallyExit": "  process.reallyExit(0)\n}\n"},
    "go": {"os.Exit(0) through the driver's alias": "    evalsos.Exit(0)\n    return nil\n}\n",
           "os.Exit(0)": "    os.Exit(0)\n    return nil\n}\n",
           "panic": "    panic(\"no\")\n}\n"},
    "python": {"os._exit(0)": "    import os\n    os._exit(0)\n",
               "sys.exit(0)": "    import sys\n    sys.exit(0)\n"},
}
"""Task 17 (parse_music) of each language: early exits and forgeries inside the function."""


@pytest.fixture(scope="module")
def hx17(data_dir: Path) -> dict[str, HumanEvalXItem]:
    ctx = BenchmarkContext(data_dir, ModelKind.BASE, Mode.GEN, 0)
    return {i.language: i for i in HumanEvalX().load(ctx) if i.id.endswith("/17")}


@pytest.mark.parametrize("lang,case", [(lang, case) for lang, cases in EXITS.items()
                                       for case in sorted(cases)])
def test_early_exits_fail_in_every_language(hx17: dict[str, HumanEvalXItem], lang: str,
                                            case: str) -> None:
    if not shutil.which(TOOLS[lang]):
        pytest.skip(f"{TOOLS[lang]} not installed")
    start = time.monotonic()
    result = execute(hx17[lang], EXITS[lang][case])
    assert result.status != "passed", (lang, case, result)
    assert time.monotonic() - start < 60
    assert sandbox_processes() == []


@pytest.mark.parametrize("lang", sorted(EXITS))
def test_the_reference_still_passes_in_every_language(hx17: dict[str, HumanEvalXItem],
                                                      lang: str) -> None:
    if not shutil.which(TOOLS[lang]):
        pytest.skip(f"{TOOLS[lang]} not installed")
    result = execute(hx17[lang], hx17[lang].target)
    assert result.status == "passed", result.detail


# ---------------------------------------------------------------- references still pass

def test_every_humaneval_reference_passes(data_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from evals.benchmarks.coding.humaneval import LIMITS, program

    items = HumanEval().load(BenchmarkContext(data_dir, ModelKind.BASE, Mode.GEN, 0))
    slack = SandboxLimits(timeout_s=60, memory_mb=LIMITS.memory_mb)  # correctness, not speed
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda i: run_python(program(i, i.target), slack), items))
    assert len(items) == 164
    assert [i.id for i, r in zip(items, results, strict=True) if r.status != "passed"] == []


def test_mbpp_references_fail_only_where_upstream_does(data_dir: Path) -> None:
    """The sanitized set's tests use ``math.isclose`` without importing ``math`` (their
    ``test_imports`` field, which OpenCompass's loader drops too): exactly the references
    that do not import it themselves fail; every other one passes."""
    from concurrent.futures import ThreadPoolExecutor

    from evals.benchmarks.coding.mbpp import MBPP

    items = MBPP().load(BenchmarkContext(data_dir, ModelKind.BASE, Mode.GEN, 3))
    slack = SandboxLimits(timeout_s=60)  # task 123 takes 4 s alone: correctness, not speed
    with ThreadPoolExecutor(2) as pool:
        verdicts = list(pool.map(lambda i: outcome(i.target, i.test_list, limits=slack)[0],
                                 items))
    failing = {i.id for i, v in zip(items, verdicts, strict=True) if v != "pass"}
    needs_math = {i.id for i in items if "math." in i.test_list and "import math" not in i.target}
    assert len(items) == 257 and failing == needs_math and len(failing) == 10
