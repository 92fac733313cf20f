"""Adapters (see adapters.py): Examination: cmmlu, ceval, agieval, gaokao."""

from __future__ import annotations
