"""HumanEval-X: HumanEval in Python, C++, Java, JavaScript and Go; 0-shot, pass@1, greedy.

Follows OpenCompass ``humanevalx_gen_620cfa``: the raw ``{prompt}`` (one HUMAN turn), at most
1024 new tokens, no stop strings; languages python, cpp, go, java, js (rust is not scored
upstream either). The score is the mean over the five languages (groups), each 164 tasks.

Extraction is OpenCompass 0.5.4's ``humanevalx._clean_up_code`` with the task's
``declaration``: unwrap a quoted string, take the first fenced block, for Python
``humaneval_postprocess_v2`` plus re-indentation and the end-word cut, drop everything up to
the function's header line when the model repeated it, and per-language cuts (Java's ``main``
and brace balancing, Go's ``func main``, C++'s ``int main()``, the last ``}``). One deliberate
change, as in ``humaneval.py``: upstream ``eval()``s the raw output to unwrap a quoted string,
which would run model output inside the harness; ``ast.literal_eval`` unwraps the same
literals safely.

Execution: upstream posts the cleaned generations to OpenCompass's code-eval service
(``open-compass/code-evaluator``, ``evals/humanevalx``), which assembles the test program as
CodeGeeX's HumanEval-X evaluation does and runs it with a 15 s limit; we assemble the same
text (``assemble_program``) and run it locally in ``evals.sandbox.process``:
- python: the service's import helper lines, ``prompt + generation + "\\n" + test``;
- cpp: the helper ``#include`` lines the prompt lacks, ``g++ -std=c++11`` (``-lcrypto -lssl``
  for task 162, MD5), then ``./a.out``;
- java: ``prompt + generation + "\\n" + test`` as ``Main.java`` (the test holds ``public
  class Main``), ``javac`` then ``java Main``;
- js: ``node test.js``; any output on stdout or stderr fails (``console.assert`` only prints);
- go: the task's ``import`` block is cut from the prompt, ``test_setup`` (``package main``,
  ``testing``, testify) leads, helper packages the generation uses (``strings.``, ``fmt.``, ...)
  are imported, and ``go test`` runs ``main_test.go``.
A pass needs proof that the tests ran to their end (``evals.sandbox.process``): each language's test
program is wrapped in a driver that reads the run's one-time token from descriptor 3 before
any of the completion's code runs and writes it to descriptor 4 only after the tests
returned. Python goes through the sandbox's Python driver (``imports + prompt + generation``,
then ``test``); C++: the test's ``int main()`` becomes ``void evals_test_main()``, called by
a ``main`` in a translation unit of its own (``driver.cpp``); Java: the test's ``public class
Main`` becomes ``class EvalsTestMain``, called by our ``Main``; JavaScript: the program runs
as a ``new Function`` (so it cannot see the driver's token) with ``console.assert`` in the
test mapped to a counting assert; Go: ``TestMain`` around ``m.Run()``, compiled with ``go
test -c`` and run directly (``go test`` would not pass the descriptors on). A deliberate
difference from OpenCompass: its service (and CodeGeeX's executor) trusts the exit status,
so a completion that calls ``exit(0);``, ``System.exit(0);``, ``process.exit(0);``,
``os.Exit(0)`` or Python's ``os._exit(0)`` inside the function passes there and fails here.

Local deviations, none of which changes a correct program's verdict: the service runs
``go mod init``/``go mod tidy`` online, we build in GOPATH mode against Debian's testify
(``golang-github-stretchr-testify-dev``) with a build cache warmed once per process; compile
steps get 30 s instead of the service's 15 s (javac: 5 s, retried) because this machine is
smaller; when the sandbox's Python lacks numpy (Debian ``python3-numpy``), the two ``import
numpy`` helper lines are left out of the Python program (no HumanEval task uses numpy).
JS task 162 needs the npm package ``js-md5`` on ``NODE_PATH`` (the service installs it
globally), C++ task 162 needs ``libssl-dev``.

Data (``DATA``): CodeGeeX's ``humaneval_<lang>.jsonl.gz`` under ``<data_dir>/humaneval_x/`` (or
OpenCompass's ``humanevalx/humanevalx_<lang>.jsonl.gz``).
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from evals.benchmarks._io import jsonl_records
from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import BenchmarkContext, Metric, load_local, only_text, register
from evals.benchmarks.coding._code import first_code_block
from evals.data_sources import DataSpec, Layout, layout_files, remote
from evals.errors import DataError
from evals.records import (
    GenerateRequest,
    GenerationParams,
    Mode,
    Request,
    Response,
    Sample,
    Score,
)
from evals.sandbox.process import (
    ExecResult,
    Program,
    PythonProgram,
    SandboxLimits,
    Step,
    run_program,
    run_python,
)

LANGUAGES = ("python", "cpp", "go", "java", "js")
RUN_TIMEOUT_S = 15.0
COMPILE_TIMEOUT_S = 30.0

# code-evaluator's IMPORT_HELPER
PY_IMPORTS = (
    "import math", "import re", "import sys", "import copy", "import datetime",
    "import itertools", "import collections", "import heapq", "import statistics",
    "import functools", "import hashlib", "import numpy", "import numpy as np", "import string",
    "from typing import *", "from collections import *",
)
GO_PACKAGES = ("math", "strings", "fmt", "strconv", "time", "bytes", "regexp", "sort",
               "math/rand", "crypto/md5")
CPP_INCLUDES = ("#include<stdlib.h>", "#include<algorithm>", "#include<math.h>",
                "#include<stdio.h>", "#include<vector>", "#include<string>", "#include<climits>",
                "#include<cstring>", "#include<iostream>")

GO_ENV = {"GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": "{workdir}/.gocache",
          "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}
NODE_PATHS = ("/usr/local/lib/node_modules", "/usr/lib/node_modules", "/usr/share/nodejs",
              "/usr/lib/nodejs")
JVM_FLAGS = ("-Xmx1g", "-Xss16m", "-XX:+UseSerialGC", "-XX:CompressedClassSpaceSize=128m",
             "-XX:ReservedCodeCacheSize=128m", "-XX:TieredStopAtLevel=1")


@dataclass(frozen=True)
class HumanEvalXItem(Sample):
    language: str
    prompt: str
    declaration: str
    test: str
    imports: str = ""
    """Go only: the prompt's ``import (...)`` block, which the test program moves."""
    test_setup: str = ""
    """Go only: ``package main`` and the test imports."""


# ---------------------------------------------------------------- extraction

def _fenced_v2(text: str) -> str:
    """OpenCompass 0.5.4 ``humaneval_postprocess_v2``."""
    blocks = re.findall(r"```\w*\n(.*?)```", text, re.DOTALL)
    if blocks:
        text = blocks[0]
    return text.lstrip()


def _python_body(text: str) -> str:
    text = "    " + _fenced_v2(text).lstrip()
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip() and line[0] not in " \t":
            return "\n".join(lines[:i])
    for word in ("\ndef", "\nclass", "\n#", "\nassert", '\n"""', "\nprint", "\nif", "\n\n\n"):
        if word in text:
            text = text[: text.rfind(word)]
    return text


def _through_last_brace(text: str) -> str:
    return text[: text.rfind("}")] + "}" if "}" in text else text


def clean_up_code(text: str, language: str, declaration: str) -> str:
    """``_clean_up_code(text, language, reference=declaration)``."""
    text = first_code_block(text)
    if language == "python":
        text = _python_body(text)
    header = declaration.strip().split("\n")[-1]
    if header:
        header = header.strip().strip("{")
        if header in text:
            text = "\n".join(text[text.find(header) :].split("\n")[1:])
    if language == "java":
        main = text.find("public static void main")
        if main != -1:
            text = text[:main] + "}"
        text = _through_last_brace(text)
        if text.count("{") + 1 == text.count("}"):
            text += "\n}"
    elif language == "go":
        if "\nfunc main(" in text:
            text = text[: text.rfind("func main(")]
        text = _through_last_brace(text)
    elif language == "cpp":
        if "\nint main()" in text:
            text = text[: text.rfind("int main()")]
        text = _through_last_brace(text)
    elif language == "js":
        text = _through_last_brace(text)
    return text


# ---------------------------------------------------------------- the test program

def assemble_program(item: HumanEvalXItem, generation: str) -> str:
    """code-evaluator's ``process_test`` for ``dataset_type='humanevalx'``."""
    prompt, test, code = item.prompt, item.test, generation
    if item.language == "python":
        return "\n".join(PY_IMPORTS) + "\n" + prompt + code + "\n" + test + "\n"
    if item.language == "cpp":
        setup = "".join(s + "\n" for s in CPP_INCLUDES if s not in prompt)
        return setup + "\n" + prompt + code + "\n" + test
    if item.language in ("java", "js"):
        return prompt + code + "\n" + test
    if item.language == "go":
        prompt = prompt.replace(item.imports, "")
        others = [f'"{pkg}"' for pkg in GO_PACKAGES
                  if pkg not in item.test_setup and pkg.split("/")[-1] + "." in code]
        if others:
            block = "import (\n" + "    ".join(p + "\n" for p in others) + ")"
            return item.test_setup + "\n" + block + "\n" + prompt + code + "\n" + test
        return item.test_setup + "\n" + prompt + code + "\n" + test
    raise ValueError(f"humaneval_x: unknown language {item.language!r}")


# ---------------------------------------------------------------- the drivers (evals.sandbox.process)

CPP_DRIVER = """// evals' test driver: the proof that the test's main returned (see evals.sandbox.process).
#include <unistd.h>
void evals_test_main();
static char evals_token[32];
static ssize_t evals_token_size = 0;
// before any constructor of the completion's (those run at the default priority, 65535)
__attribute__((constructor(101))) static void evals_read_token() {
    while (evals_token_size < 32) {
        ssize_t n = read(3, evals_token + evals_token_size, 32 - evals_token_size);
        if (n <= 0) break;
        evals_token_size += n;
    }
    close(3);
}
int main() {
    static bool entered = false;
    if (entered) _exit(70);  // a completion that calls main() again
    entered = true;
    evals_test_main();
    char line[40];
    ssize_t size = 0;
    for (; size < evals_token_size; ++size) line[size] = evals_token[size];
    const char tail[] = " pass\\n";
    for (unsigned i = 0; i + 1 < sizeof tail; ++i) line[size++] = tail[i];
    return write(4, line, size) == size ? 0 : 1;
}
"""
JAVA_DRIVER = """
public class Main {
    // evals' test driver: the proof that the test's main returned (see evals.sandbox.process)
    public static void main(String[] args) throws Throwable {
        java.io.ByteArrayOutputStream token = new java.io.ByteArrayOutputStream();
        try (java.io.FileInputStream in = new java.io.FileInputStream("/proc/self/fd/3")) {
            byte[] chunk = new byte[64];  // a pipe: read to its end (readAllBytes would seek)
            for (int n; (n = in.read(chunk)) > 0; ) token.write(chunk, 0, n);
        }
        EvalsTestMain.main(args);
        try (java.io.FileOutputStream out = new java.io.FileOutputStream("/proc/self/fd/4")) {
            token.writeTo(out);
            out.write(" pass\\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        }
    }
}
"""
JS_DRIVER = """// evals' test driver: the proof that the tests returned (see evals.sandbox). The program
// runs as a Function built in the global scope: it cannot see this closure's token.
(() => {
  const fs = require("fs");
  const token = fs.readFileSync(3);
  fs.closeSync(3);
  const write = fs.writeSync;
  const stderr = process.stderr;
  let failed = 0;
  const check = (condition) => {
    if (!condition) {
      failed += 1;
      stderr.write("Assertion failed\\n");
    }
  };
  const program = new Function("require", "module", "exports", "__evals_assert", PROGRAM);
  program(require, module, module.exports, check);
  if (failed === 0) write(4, token.toString() + " pass\\n");
})();
"""
GO_IMPORTS = """
import (
    evalsio "io"
    evalsos "os"
)
"""
GO_TOKEN = """
// evals' test driver (see evals.sandbox.process): read before any variable or init() of the program
var {name} = func() []byte {{
    f := evalsos.NewFile(3, "token")
    token, _ := evalsio.ReadAll(f)
    f.Close()
    return token
}}()
"""
GO_MAIN = """
func TestMain(m *testing.M) {{
    code := m.Run()
    if code == 0 {{
        evalsos.NewFile(4, "verdict").Write(append({name}, []byte(" pass\\n")...))
    }}
    evalsos.Exit(code)
}}
"""
_CPP_MAIN = re.compile(r"\bint\s+main\s*\(\s*\)")
_JAVA_MAIN = re.compile(r"\bpublic\s+class\s+Main\b")


def python_program(item: HumanEvalXItem, generation: str, numpy: bool = True) -> PythonProgram:
    """``assemble_program`` for Python, split where the tests start."""
    imports = [line for line in PY_IMPORTS if numpy or "numpy" not in line]
    return PythonProgram("\n".join(imports) + "\n" + item.prompt + generation + "\n",
                         item.test + "\n")


def driven_source(item: HumanEvalXItem, generation: str) -> dict[str, str]:
    """The files of a compiled language's program, the test wrapped in the driver."""
    lang = item.language
    if lang == "cpp":
        test, renamed = _CPP_MAIN.subn("void evals_test_main()", item.test)
        if renamed != 1:
            raise ValueError(f"{item.id}: the test has {renamed} 'int main()'")
        return {"test.cpp": assemble_program(replace(item, test=test), generation),
                "driver.cpp": CPP_DRIVER}
    if lang == "java":
        test, renamed = _JAVA_MAIN.subn("class EvalsTestMain", item.test)
        if renamed != 1:
            raise ValueError(f"{item.id}: the test has {renamed} 'public class Main'")
        return {"Main.java": assemble_program(replace(item, test=test), generation) + JAVA_DRIVER}
    if lang == "js":
        test = item.test.replace("console.assert(", "__evals_assert(")
        program = assemble_program(replace(item, test=test), generation)
        return {"test.js": JS_DRIVER.replace("PROGRAM", json.dumps(program), 1)}
    if lang == "go":
        name = f"evalsToken{secrets.token_hex(8)}"  # not a name the completion can know
        driven = replace(item, test_setup=item.test_setup + GO_IMPORTS,
                         prompt=GO_TOKEN.format(name=name) + item.prompt)
        return {"main_test.go": assemble_program(driven, generation) + GO_MAIN.format(name=name)}
    raise ValueError(f"humaneval_x: no driver for {lang!r}")


@lru_cache(maxsize=1)
def _sandbox_has_numpy() -> bool:
    return run_python("import numpy", SandboxLimits(timeout_s=20.0)).status == "passed"


def _limits(timeout: float, memory_mb: int, processes: int = 64) -> SandboxLimits:
    return SandboxLimits(timeout_s=timeout, memory_mb=memory_mb, max_processes=processes,
                         max_file_mb=64)


@lru_cache(maxsize=1)
def _go_cache() -> Path | None:
    """A Go build cache holding testify, built once (trusted code, outside the sandbox) and
    copied into each program's directory, so a sample pays seconds less and shares nothing."""
    if not shutil.which("go"):
        return None
    root = Path(tempfile.mkdtemp(prefix="evals-gocache-"))
    src = root / "warm"
    src.mkdir()
    (src / "main_test.go").write_text(
        'package main\n\nimport (\n    "testing"\n    "github.com/stretchr/testify/assert"\n)\n\n'
        "func TestWarm(t *testing.T) {\n    assert.New(t).Equal(1, 1)\n}\n")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(root),
           **{k: v.replace("{workdir}", str(root)) for k, v in GO_ENV.items()}}
    try:
        subprocess.run(["go", "test", "-c", "-o", "warm.test", "main_test.go"], cwd=src, env=env,
                       capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    cache = root / ".gocache"
    return cache if cache.is_dir() else None


def build(item: HumanEvalXItem, generation: str, run_timeout: float = RUN_TIMEOUT_S,
          compile_timeout: float = COMPILE_TIMEOUT_S) -> Program:
    files = driven_source(item, generation)
    lang = item.language
    run = _limits(run_timeout, 2048)
    if lang == "cpp":
        libs = ("-lcrypto", "-lssl") if "162" in item.id else ()
        compile_ = Step("compile", ("g++", "-std=c++11", "test.cpp", "driver.cpp", *libs,
                                    "-o", "a.out"), _limits(compile_timeout, 4096))
        return Program(files, (compile_, Step("run", ("./a.out",), run, proof=True)))
    if lang == "java":
        jflags = tuple(f"-J{f}" for f in JVM_FLAGS[:2])
        java = _limits(compile_timeout, 4096, 256)
        return Program(files, (
            Step("compile", ("javac", *jflags, "-encoding", "UTF-8", "Main.java"), java),
            Step("run", ("java", *JVM_FLAGS, "-cp", ".", "Main"), _limits(run_timeout, 4096, 256),
                 proof=True),
        ))
    if lang == "js":
        return Program(files, (
            Step("run", ("node", "test.js"), _limits(run_timeout, 4096, 64), fail_on_output=True,
                 proof=True),), env={"NODE_PATH": ":".join(NODE_PATHS)})
    if lang == "go":
        cache = _go_cache()
        return Program(
            files,
            (Step("compile", ("go", "test", "-c", "-o", "main.test", "main_test.go"),
                  _limits(compile_timeout, 4096, 256)),
             Step("run", ("./main.test", f"-test.timeout={int(run_timeout)}s"),
                  _limits(run_timeout, 4096, 256), proof=True)),
            env=GO_ENV, seed_dirs={".gocache": cache} if cache else {})
    raise ValueError(f"humaneval_x: unknown language {lang!r}")


def execute(item: HumanEvalXItem, generation: str, run_timeout: float = RUN_TIMEOUT_S,
            compile_timeout: float = COMPILE_TIMEOUT_S) -> ExecResult:
    if item.language == "python":
        program = python_program(item, generation, numpy=_sandbox_has_numpy())
        return run_python(program, _limits(run_timeout, 1024))
    return run_program(build(item, generation, run_timeout, compile_timeout))


# ---------------------------------------------------------------- data

def _item(r: dict[str, str]) -> HumanEvalXItem:
    lang = {"CPP": "cpp", "Go": "go", "Java": "java", "JavaScript": "js", "Python": "python"}[
        r["task_id"].split("/")[0]]
    return HumanEvalXItem(r["task_id"], r["canonical_solution"], lang, r["prompt"],
                          r["declaration"], r["test"], r.get("import", ""),
                          r.get("test_setup", ""))


def _parse(lines: Sequence[str], where: str) -> list[HumanEvalXItem]:
    return jsonl_records(lines, where, "HumanEval-X", lambda _, row: _item(row))


DATA = DataSpec(
    layouts=(Layout("upstream", "humaneval_x", tuple(f"humaneval_{lang}.jsonl.gz"
                                                      for lang in LANGUAGES)),
             Layout("opencompass", "humanevalx", tuple(f"humanevalx_{lang}.jsonl.gz"
                                                        for lang in LANGUAGES))),
    remote=remote("humaneval_x"), items=164 * len(LANGUAGES), license="Apache-2.0")
"""``evals data fetch`` takes CodeGeeX's files at a pinned commit (the hub's
``THUDM/humaneval-x`` is a loading script)."""


def _read(root: Path) -> list[HumanEvalXItem]:
    items: list[HumanEvalXItem] = []
    for lang in LANGUAGES:
        path = next(p for p in (root / f"humaneval_{lang}.jsonl.gz",
                                root / f"humanevalx_{lang}.jsonl.gz") if p.is_file())
        with gzip.open(path, "rt", encoding="utf-8") as f:
            items += _parse(f.read().split("\n"), str(path))
    return items


@register
class HumanEvalX:
    name = "humaneval_x"
    modes = (Mode.GEN,)
    default_shots = 0
    metric = Metric("pass@1", by_group=True)

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[HumanEvalXItem]:
        if ctx.shots:
            raise DataError(f"humaneval_x: shots={ctx.shots} unsupported (the protocol is 0-shot)")
        return load_local(self.name, ctx, DATA, {"upstream": _read, "opencompass": _read})

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return [p for p in layout_files(DATA, ctx.data_dir) if p.name.endswith(".jsonl.gz")
                and any(f"_{lang}." in p.name for lang in LANGUAGES)]

    def group(self, sample: HumanEvalXItem) -> str:
        return sample.language

    def requests(self, sample: HumanEvalXItem, ctx: BenchmarkContext) -> list[Request]:
        params = GenerationParams(max_tokens=ctx.max_tokens or 1024)
        return [GenerateRequest(rounds_to_prompt([Round("HUMAN", sample.prompt)], ctx.kind),
                                params)]

    def score(
        self, sample: HumanEvalXItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        text = only_text(responses)
        generation = clean_up_code(text, sample.language, sample.declaration)
        result = execute(sample, generation)
        return Score(float(result.status == "passed"), generation,
                     detail=f"{result.status}: {result.detail}".rstrip(": "))

