"""Adapters (see adapters.py): Language & knowledge: triviaqa, nq, c3, race_high, flores."""

from __future__ import annotations
