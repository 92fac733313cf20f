"""The ``reference`` fixture: one long-lived worker in the reference environment.

``reference(code, data)`` runs ``code`` in OpenCompass 0.5.4's environment (see
``ref_worker.py``) and returns its ``RESULT``. Without ``.venv-ref`` (create it with
``bash .ci/install-ref``) the agreement tests skip, unless ``EVALS_REQUIRE_REF=1`` — set by
CI — turns the absence into a failure, so CI can never pass by skipping them.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("ref_worker.py")

Reference = Callable[[str, Any], Any]


def _python() -> Path:
    return Path(os.environ.get("EVALS_REF_PYTHON", REPO / ".venv-ref" / "bin" / "python"))


@pytest.fixture(scope="session")
def reference() -> Iterator[Reference]:
    py = _python()
    if not py.exists():
        msg = f"reference environment missing ({py}); run: bash .ci/install-ref"
        if os.environ.get("EVALS_REQUIRE_REF") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [str(py), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        cwd=REPO,
    )
    assert proc.stdin and proc.stdout

    def call(code: str, data: Any = None) -> Any:
        assert proc.stdin and proc.stdout
        proc.stdin.write(json.dumps({"code": code, "data": data}) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("reference worker died")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError("reference raised:\n" + answer["error"])
        return answer["result"]

    yield call
    proc.stdin.close()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def oc_configs(reference: Reference) -> Path:
    """``configs/datasets`` of the OpenCompass 0.5.4 installed in the reference environment."""
    code = ("import os, opencompass\n"
            "RESULT = os.path.join(os.path.dirname(opencompass.__file__), 'configs', 'datasets')")
    return Path(reference(code, None))
