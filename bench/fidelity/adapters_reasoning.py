"""Adapters (see adapters.py): Reasoning & math: winogrande, bbh, math, theoremqa, mathbench."""

from __future__ import annotations
