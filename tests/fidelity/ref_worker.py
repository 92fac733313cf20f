"""Runs inside the reference environment (.venv-ref): OpenCompass 0.5.4 and friends.

Reads one JSON request per line on stdin — ``{"code": ..., "data": ...}`` — executes ``code``
with ``DATA`` bound to ``data`` and ``oc(name)`` importing an OpenCompass module, and answers one
JSON line ``{"result": RESULT}`` or ``{"error": traceback}``. ``opencompass.datasets`` is
replaced by an empty package so that importing one dataset module does not import all of
them (and their hundreds of optional dependencies).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
import traceback
import types
from pathlib import Path
from typing import Any


def _stub_datasets_package() -> None:
    import opencompass

    root = Path(opencompass.__file__).parent
    pkg = types.ModuleType("opencompass.datasets")
    pkg.__path__ = [str(root / "datasets")]
    sys.modules["opencompass.datasets"] = pkg


def oc(name: str) -> Any:
    return importlib.import_module(name)


def handle(request: dict[str, Any]) -> dict[str, Any]:
    scope: dict[str, Any] = {"DATA": request.get("data"), "oc": oc, "RESULT": None}
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(request["code"], scope)
        return {"result": scope["RESULT"]}
    except Exception:
        return {"error": traceback.format_exc()}


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    _stub_datasets_package()
    if "--check" in sys.argv:
        for m in ("opencompass.utils.text_postprocessors", "opencompass.openicl.icl_evaluator",
                  "opencompass.datasets.gsm8k", "opencompass.datasets.math"):
            oc(m)
        print("reference environment ok")
        return
    for line in sys.stdin:
        if not line.strip():
            continue
        sys.stdout.write(json.dumps(handle(json.loads(line)), default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
