"""evals: an LLM evaluation harness reproducing the InternLM2 report's protocol."""

__version__ = "0.1.0"
