"""Needle scoring by hand, the ATC generator's chains, heatmap files and effective length."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from evals.benchmarks.long_context.needle.atc import TEMPLATES, AtcItem, generate_atc, load_names
from evals.benchmarks.long_context.needle.heatmap import (
    CellRecord,
    build_grid,
    effective_length,
    save_heatmap,
)
from evals.benchmarks.long_context.needle.scoring import (
    aggregate_parallel,
    score_origin,
    score_parallel,
    score_reasoning,
    score_similarity,
    trim_prediction,
)
from evals.errors import DataError

NAMES = Path(__file__).parent / "fixtures" / "needlebench" / "names.json"


# --- scoring -------------------------------------------------------------------------------

def test_origin_keyword_hit_scores_100() -> None:
    s = score_origin("It is the Stardust Shard!", "\nThe relic is the Stardust Shard.\n", "Stardust Shard")
    assert (s.value, s.found) == (100.0, True)


def test_origin_miss_is_a_fifth_of_similarity() -> None:
    # "abcd" vs "abce": one substitution over 4 chars -> similarity 75, miss -> 0.2 * 75
    s = score_origin("ab cd", "abce", "xyz")
    assert s.similarity.edit_distance == 1
    assert s.similarity.value == pytest.approx(75.0)
    assert s.value == pytest.approx(15.0) and not s.found


def test_origin_keyword_is_searched_in_raw_prediction() -> None:
    # whitespace removal happens only for the similarity; a keyword with a space split by a
    # newline is a miss, as in OpenCompass
    assert not score_origin("Stardust\nShard", "Stardust Shard", "Stardust Shard").found


def test_empty_prediction_scores_zero_without_crash() -> None:
    assert score_origin("", "needle text", "needle").value == 0.0
    assert score_similarity("", "needle").value == 0.0
    assert score_similarity("", "").value == 100.0  # OC: max_len 0 -> 100
    assert score_reasoning("", "Blue Whale").value == 0.0
    assert score_parallel("", ["a", "b"], [0, 100]).value == 0.0


def test_empty_keyword_is_rejected() -> None:
    with pytest.raises(ValueError, match="keyword is empty"):
        score_origin("x", "needle", "")


def test_trim_stops_after_reference_last_char() -> None:
    ref = "0123456789."  # 11 chars: keep <= 13, and past index 8 stop at the first "."
    assert trim_prediction("0123456789.extra words", ref) == "0123456789."
    assert trim_prediction("short", ref) == "short"
    assert score_similarity("0123456789. and more", ref, use_trim=True).value == 100.0


def test_parallel_hits_and_aggregate() -> None:
    a = score_parallel("alpha and gamma", ["alpha", "beta", "gamma"], [0, 50, 100])
    b = score_parallel("beta", ["alpha", "beta", "gamma"], [0, 50, 100])
    assert a.hits == (True, False, True) and a.found == ("alpha", "gamma")
    assert a.value == pytest.approx(200 / 3)
    summary = aggregate_parallel([a, b])
    assert summary.by_depth == ((0, 50.0), (50, 50.0), (100, 50.0))
    assert summary.average_score == pytest.approx(50.0)


def test_reasoning_is_case_insensitive_word_fraction() -> None:
    s = score_reasoning("the BLUE one", "Blue Whale")
    assert s.found == ("blue",) and s.value == pytest.approx(50.0)


def _parse_relations(item: AtcItem) -> dict[str, str]:
    """Recover child -> parent from the prompt text alone, using the templates as patterns."""
    story = item.prompt.split(" \n")[0]
    name = r"(?P<{}>[^,.'’]+?)" if item.language == "English" else r"(?P<{}>[^，。的是]+?)"
    patterns = []
    for t in TEMPLATES[item.language]:
        p = re.escape(t).replace(r"\{A\}", name.format("A"), 1).replace(r"\{B\}", name.format("B"), 1)
        p = p.replace(r"\{A\}", "(?P=A)").replace(r"\{B\}", "(?P=B)").replace(r"\{relationship\}", ".+?")
        patterns.append(p)
    parent: dict[str, str] = {}
    rest = story
    while rest:
        m = next(m for p in patterns if (m := re.match(p, rest)) and m.group("A") in item.names
                 and m.group("B") in item.names)
        assert m.group("B") not in parent
        parent[m.group("B")] = m.group("A")
        rest = rest[m.end():]
    return parent


@pytest.mark.parametrize(("language", "n"),
                         [("English", 2), ("English", 20), ("Chinese", 17), ("English", 98)])
def test_atc_answer_is_eldest_ancestor(language: str, n: int) -> None:
    names = load_names(NAMES)
    lang = "English" if language == "English" else "Chinese"
    for item in generate_atc(names[lang], n, lang, repeats=3, seed=11):
        parent = _parse_relations(item)
        assert len(parent) == n - 1
        person, steps = item.names[-1], 0
        assert f"'{person}'" in item.prompt
        while person in parent:
            person, steps = parent[person], steps + 1
        assert person == item.answer and steps == n - 1


def test_atc_is_deterministic_and_shuffled() -> None:
    names = load_names(NAMES)["English"]
    a = generate_atc(names, 30, "English", repeats=4, seed=5)
    assert a == generate_atc(names, 30, "English", repeats=4, seed=5)
    assert a != generate_atc(names, 30, "English", repeats=4, seed=6)
    assert len({i.answer for i in a}) > 1  # repeats draw different people
    chain_order = "".join(r.text for r in a[0].relations)
    assert not a[0].prompt.startswith(chain_order)


def test_names_fixture_and_errors(tmp_path: Path) -> None:
    names = load_names(NAMES)
    assert len(set(names["English"])) >= 100 and len(set(names["Chinese"])) >= 100
    with pytest.raises(DataError, match="not found"):
        load_names(tmp_path / "names.json")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"names\.json"):
        load_names(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="num_needles"):
        generate_atc(names["English"], 1000, "English", repeats=1)


# --- heatmaps and effective length ---------------------------------------------------------

LENGTHS = [1000, 2000, 4000, 8000]
DEPTHS = [0.0, 50.0, 100.0]


def _grid(score_at: dict[int, float], repeats: int = 2) -> list[CellRecord]:
    return [CellRecord(ln, d, score_at[ln], r) for ln in LENGTHS for d in DEPTHS for r in range(repeats)]


def test_effective_length_perfect_to_4k_failing_at_8k() -> None:
    eff = effective_length(_grid({1000: 100, 2000: 100, 4000: 100, 8000: 10}))
    assert eff.length == 4000
    assert [m.mean for m in eff.by_length] == [100, 100, 100, 10]
    assert [m.n for m in eff.by_length] == [6, 6, 6, 6]


def test_effective_length_stops_at_first_dip_and_threshold_is_inclusive() -> None:
    assert effective_length(_grid({1000: 100, 2000: 50, 4000: 100, 8000: 100})).length == 1000
    assert effective_length(_grid({1000: 79.9, 2000: 100, 4000: 100, 8000: 100})).length is None
    assert effective_length(_grid({1000: 80, 2000: 80, 4000: 80, 8000: 80})).length == 8000
    assert effective_length(_grid({1000: 60, 2000: 60, 4000: 0, 8000: 0}), threshold=50).length == 2000


def test_row_mean_weighs_depth_cells_equally() -> None:
    recs = [CellRecord(1000, 0, 100, r) for r in range(3)] + [CellRecord(1000, 100, 40, 0)]
    grid = build_grid(recs)
    assert [[(c.mean, c.n) if c else None for c in row] for row in grid.cells] == [[(100, 3)], [(40, 1)]]
    assert effective_length(recs).by_length[0].mean == pytest.approx(70.0)


def test_heatmap_files_are_valid_and_fast(tmp_path: Path) -> None:
    lengths = [16000 * (i + 1) for i in range(13)]
    depths = [float(int(100 * i / 19)) for i in range(20)]
    recs = [CellRecord(ln, d, (ln + d) % 101, r) for ln in lengths for d in depths for r in range(2)]
    recs = recs[:-2]  # one empty cell must not break drawing
    start = time.perf_counter()
    png, svg = save_heatmap(recs, tmp_path / "out", "single_en")
    elapsed = time.perf_counter() - start
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text(encoding="utf-8")
    assert "<svg" in text and text.rstrip().endswith("</svg>")
    assert elapsed < 3.0, elapsed  # < 1 s on an idle core; slack for a shared machine


def test_no_records_is_an_error() -> None:
    with pytest.raises(ValueError, match="no needle records"):
        effective_length([])
