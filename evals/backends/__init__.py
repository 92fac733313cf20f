"""Backends register a factory on import; heavy libraries load only when one is built."""

from evals.backends import hf, mock, openai_backend, vllm_backend
from evals.backends.base import BACKENDS, Backend, BackendSpec

__all__ = ["BACKENDS", "Backend", "BackendSpec", "hf", "mock", "openai_backend", "vllm_backend"]
