"""The report's dimensions: the one place their keys and titles are spelled.

Keys name the report suites' ``dimensions:``, the result tables' sections
(``evals/data/internlm2_tables.yaml``) and the README's benchmark table; titles are the
report's own headings (§5.2, §5.3). Tests check every other place against this list. A
user's suite may define dimensions of its own; these are the report's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dimension:
    key: str
    title: str
    where: str
    """The report's section."""


DIMENSIONS = (
    Dimension("examination", "Comprehensive Examination", "§5.2.1"),
    Dimension("language_knowledge", "Language & Knowledge", "§5.2.2"),
    Dimension("reasoning_math", "Reasoning & Mathematics", "§5.2.3"),
    Dimension("coding", "Coding", "§5.2.4"),
    Dimension("long_context", "Long-context", "§5.2.6"),
    Dimension("tool_use", "Tool Utilization", "§5.2.7"),
    Dimension("code_interpreter", "Tool Utilization: Code Interpreter", "§5.2.7"),
    Dimension("alignment", "Alignment", "§5.3"),
)
BY_KEY = {d.key: d for d in DIMENSIONS}
