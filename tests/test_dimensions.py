"""The report's dimensions are spelled once (evals/dimensions.py); the suites, the result
tables and the README are checked against that list."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from evals.config import load_suite
from evals.dimensions import BY_KEY, DIMENSIONS
from evals.results.leaderboard import DATA_FILE, load_sections

REPO = Path(__file__).resolve().parents[1]
REPORT_SUITES = ("internlm2_base", "internlm2_chat", "internlm2_tools", "internlm2_subjective")


def test_keys_and_titles_are_unique() -> None:
    assert len(BY_KEY) == len(DIMENSIONS) == len({d.title for d in DIMENSIONS})


def test_report_suites_use_the_keys() -> None:
    used = set()
    for name in REPORT_SUITES:
        dims = load_suite(REPO / "suites" / f"{name}.yaml").dimensions
        assert set(dims) <= set(BY_KEY), (name, sorted(set(dims) - set(BY_KEY)))
        used |= set(dims)
    assert used == set(BY_KEY) - {"alignment"}  # alignment: judged sets, no suite average


def test_every_table_section_names_a_dimension_key() -> None:
    raw = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))["sections"]
    assert all(s["dimension"] in BY_KEY for s in raw)
    sections = load_sections()
    assert {s.dimension_key for s in sections} == set(BY_KEY)
    for s, r in zip(sections, raw, strict=True):
        assert s.dimension == r.get("title", BY_KEY[r["dimension"]].title)


def test_the_readme_table_uses_titles_and_keys() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([^|`]+) \(`(\w+)`\) \|", readme, re.M)
    base = load_suite(REPO / "suites" / "internlm2_base.yaml").dimensions
    assert [k for _, k in rows] == list(base)
    assert all(BY_KEY[k].title == title for title, k in rows)
