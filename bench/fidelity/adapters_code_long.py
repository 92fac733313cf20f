"""Adapters (see adapters.py): coding (humaneval, mbpp, mbpp_cn, humaneval_x), long context
(leval, longbench)."""

from __future__ import annotations
