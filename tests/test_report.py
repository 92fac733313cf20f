"""``evals report``'s library on run directories of a simulated training run (tests/report_runs.py):
the view-model's numbers, the planted changes the heatmap and stage deltas must (and must
not) call significant, the curves, needles, judges, sample browser data, escaping, and a
self-contained file."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from evals.benchmarks import BENCHMARKS
from evals.errors import ConfigError
from evals.records import MetricDefinition, SampleResult, Score
from evals.results.paired import compare_pairs, is_pairwise, pair_samples
from evals.results.report import build_report, render_html, write_report
from evals.results.report.model import (
    PROMPT_CHARS,
    Column,
    Report,
    _keys,
    sample_view,
)
from evals.results.report.render import sample_data
from evals.results.rundir import RunDir, find_runs
from tests.report_runs import (
    LIMIT,
    PROMPT_INJECTION,
    RIGHT,
    SCRIPT_INJECTION,
    UNPARSEABLE,
    shared_runs,
)

ORDER = ["pretrain-1k", "pretrain-2k", "pretrain-3k", "base", "sft", "rlhf"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    return shared_runs(tmp_path_factory, data_dir)


@pytest.fixture(scope="module")
def runs(root: Path) -> list[RunDir]:
    # given in reverse path order: the report orders checkpoints by training, not by path
    return list(reversed(find_runs([root])))


@pytest.fixture(scope="module")
def report(runs: list[RunDir]) -> Report:
    return build_report(runs)


@pytest.fixture(scope="module")
def html(report: Report) -> str:
    return render_html(report)


def _gsm8k(name: str) -> float:
    return 100 * min(RIGHT[name], LIMIT - UNPARSEABLE) / LIMIT


def _cell(report: Report, column: str, checkpoint: str) -> Any:
    i = [c.key for c in report.heatmap.columns].index(column)
    return report.heatmap.cells[i][report.heatmap.checkpoints.index(checkpoint)]


def test_checkpoints_in_training_order_with_merged_runs(report: Report) -> None:
    assert [c.name for c in report.checkpoints] == ORDER
    rlhf = report.checkpoints[-1]
    assert len(rlhf.runs) == 3  # tiny, subjective and needle suites merge into one row
    assert report.baseline == "pretrain-1k"


def test_overview_scores_dimensions_and_groups(report: Report) -> None:
    assert report.dimensions == ("reasoning_math", "examination")
    keys = [c.key for c in report.columns]
    assert keys == ["gsm8k", "winogrande", "mmlu", "mt_bench", "single_needle_en"]
    assert [c.group for c in report.columns] == ["reasoning_math", "reasoning_math",
                                                 "examination", "subjective", "needle"]
    rows = {r.checkpoint.name: r for r in report.overview}
    for name in ORDER:
        gsm8k = rows[name].scores[0]
        assert gsm8k is not None
        assert gsm8k.value == pytest.approx(_gsm8k(name))
        assert gsm8k.parse_failures == UNPARSEABLE and gsm8k.n == LIMIT
    assert rows["base"].scores[3] is None and rows["sft"].scores[3] is not None
    # a dimension's stderr: its members' as independent errors
    sft = rows["sft"]
    dim, g, w = sft.dimensions[0], sft.scores[0], sft.scores[1]
    assert dim is not None and g is not None and w is not None
    assert dim.value == pytest.approx((g.value + w.value) / 2)
    assert dim.stderr == pytest.approx(math.hypot(g.stderr, w.stderr) / 2)


def test_heatmap_marks_planted_change_but_not_noise(report: Report, html: str) -> None:
    noise = _cell(report, "gsm8k", "pretrain-2k")  # two more items right: +6.7 points
    assert noise.delta == pytest.approx(_gsm8k("pretrain-2k") - _gsm8k("pretrain-1k"))
    assert noise.test is not None and noise.test.method == "mcnemar"
    assert not noise.significant and noise.test.p_change > 0.05
    planted = _cell(report, "gsm8k", "sft")
    assert planted.significant and planted.delta > 50
    unchanged = _cell(report, "mmlu", "pretrain-3k")
    assert unchanged.delta == 0 and not unchanged.significant
    baseline = _cell(report, "gsm8k", "pretrain-1k")
    assert baseline.delta == 0 and baseline.test is None
    assert _cell(report, "mt_bench", "pretrain-1k") is None  # not run there
    lacking = _cell(report, "mt_bench", "sft")  # the baseline has no MT-Bench
    assert lacking.delta is None and "no mt_bench" in lacking.note
    # in the figure: the score, starred where significant only
    svg = html[html.index('id="heatmap"'):html.index('id="curves"')]
    assert f"{_gsm8k('sft'):.1f}*" in svg
    assert f"{_gsm8k('pretrain-2k'):.1f}<" in svg and f"{_gsm8k('pretrain-2k'):.1f}*" not in svg


def test_heatmap_against_a_chosen_baseline(runs: list[RunDir]) -> None:
    report = build_report(runs, baseline="base")
    assert report.heatmap.baseline == "base"
    assert _cell(report, "gsm8k", "sft").significant
    near = _cell(report, "gsm8k", "pretrain-3k")  # 12 vs 14 right
    assert near.delta == pytest.approx(-100 * 2 / LIMIT) and not near.significant
    with pytest.raises(ConfigError, match=r"no such checkpoint.*known: pretrain-1k"):
        build_report(runs, baseline="nope")


def test_stage_deltas_follow_base_sft_rlhf(report: Report) -> None:
    steps = [(s.before.name, s.after.name) for s in report.stage_steps]
    assert steps == [("base", "sft"), ("sft", "rlhf")]
    up = {c.column: c for c in report.stage_steps[0].changes}["gsm8k"]
    assert up.delta == pytest.approx(_gsm8k("sft") - _gsm8k("base")) and up.delta > 0
    assert up.significant and up.test is not None and up.test.ci_low > 0
    down = {c.column: c for c in report.stage_steps[1].changes}
    assert down["gsm8k"].delta < 0 and down["gsm8k"].significant
    assert down["gsm8k"].test is not None and down["gsm8k"].test.ci_high < 0
    assert down["mmlu"].delta == 0 and not down["mmlu"].significant
    # MT-Bench: both chat checkpoints were judged; grades 6 -> 8
    assert down["mt_bench"].delta == pytest.approx(2.0)
    assert down["mt_bench"].test is not None and down["mt_bench"].test.method == "bootstrap"
    assert "mt_bench" not in {c.column for c in report.stage_steps[0].changes}


def test_curves_only_for_checkpoints_with_tokens_seen(report: Report, runs: list[RunDir],
                                                      html: str) -> None:
    assert [c.column.key for c in report.curves] == ["gsm8k", "winogrande", "mmlu"]
    for curve in report.curves:
        assert [p.checkpoint for p in curve.points] == ORDER[:3]
        assert [p.tokens_seen for p in curve.points] == sorted(p.tokens_seen
                                                              for p in curve.points)
    assert [p.value for p in report.curves[0].points] == pytest.approx(
        [_gsm8k(n) for n in ORDER[:3]])
    assert 'id="curves-' in html  # the figure, with its ids prefixed
    chat = build_report([r for r in runs if r.checkpoint.stage in ("sft", "rlhf")])
    assert chat.curves == ()
    assert "No checkpoint of these runs records tokens_seen" in render_html(chat)


def test_needle_heatmaps_and_judge_results(report: Report, root: Path, html: str) -> None:
    (needle,) = report.needles
    assert (needle.checkpoint, needle.test) == ("rlhf", "single_needle_en")
    assert needle.image.startswith(("data:image/svg+xml;base64,", "data:image/png;base64,"))
    summary = json.loads((root / "rlhf/needle/needle/single_needle_en.json").read_text())
    assert needle.effective_length == summary["effective_length"]
    assert [length for length, _, _ in needle.by_length] == [1000]
    assert needle.image in html
    judges = {(j.checkpoint, j.column): j.usage for j in report.judges}
    assert set(judges) == {("sft", "mt_bench"), ("rlhf", "mt_bench")}
    assert judges[("rlhf", "mt_bench")].judge == "scripted-judge"
    assert judges[("rlhf", "mt_bench")].calls == 8  # 4 questions x 2 turns


def test_sample_browser_data_holds_failures(report: Report, html: str) -> None:
    match = re.search(r'<script type="application/json" id="sample-data">(.*?)</script>',
                      html, re.S)
    assert match is not None
    data = json.loads(match.group(1))
    assert data == json.loads(json.dumps(sample_data(report)))
    ck, col = data["checkpoints"].index("rlhf"), data["columns"].index("gsm8k")
    rows = [r for r in data["rows"] if r["c"] == ck and r["b"] == col]
    assert len(rows) == LIMIT
    assert sum(r["f"] for r in rows) == LIMIT - (RIGHT["rlhf"])
    assert sum(r["pf"] for r in rows) == UNPARSEABLE
    assert all(r["f"] for r in rows if r["pf"]) and all(r["x"] is None for r in rows if r["pf"])
    assert {r["s"] for r in rows} == {0.0, 1.0}
    # each distinct prompt stored once: base and chat checkpoints see two renderings
    assert len(data["prompts"]) < len(data["rows"]) / 2
    # one item's answers across training sit together
    first = [r for r in data["rows"] if r["b"] == col][:len(ORDER)]
    assert len({r["id"] for r in first}) == 1 and [r["c"] for r in first] == list(range(6))


def test_samples_per_benchmark_caps_each_set(runs: list[RunDir]) -> None:
    report = build_report(runs, samples_per_benchmark=5)
    assert all(s.shown == min(5, s.total) for s in report.sample_sets)
    assert {s.total for s in report.sample_sets if s.column == "gsm8k"} == {LIMIT}
    assert len(report.samples) == sum(s.shown for s in report.sample_sets)


def test_everything_is_escaped(html: str) -> None:
    assert SCRIPT_INJECTION not in html and PROMPT_INJECTION not in html
    assert "window.__pwned" in html  # it is there, but as inert JSON text
    assert html.count("<script") == 2  # the sample data and the browser's code, nothing else
    assert "<b>bold?</b>" not in html
    # the JSON is also safe to embed: no '<' at all inside it
    data = html[html.index('id="sample-data">'):]
    assert "<" not in data[len('id="sample-data">'):data.index("</script>")]


def test_file_is_self_contained(html: str, tmp_path: Path, runs: list[RunDir]) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "<link" not in html and "@import" not in html and "url(http" not in html
    assert not re.search(r"<script[^>]*\ssrc=", html)
    out = write_report(runs, tmp_path / "sub" / "report.html", samples_per_benchmark=10)
    assert out == tmp_path / "sub" / "report.html" and out.stat().st_size > 10_000


def test_sections_and_manifests_rendered(html: str, report: Report) -> None:
    for section in ("overview", "heatmap", "curves", "stage-deltas", "needles", "judges",
                    "samples", "manifests"):
        assert f'<section id="{section}"' in html
    assert html.count('<details class="manifest">') == len(report.manifests) == 9
    rlhf = next(m for m in report.manifests if m.checkpoint == "rlhf" and m.suite == "tiny")
    fields = dict(rlhf.fields)
    assert fields["fingerprint"] == "mock-rlhf" and fields["backend"] == "mock"
    gsm8k = next(b for b in rlhf.benchmarks if b.name == "gsm8k")
    assert gsm8k.prompt_hash and gsm8k.data_files[0][0] == "test.jsonl"
    assert gsm8k.prompt_hash in html and gsm8k.data_files[0][1] in html


def test_new_benchmarks_and_dimensions_appear_unchanged(root: Path, tmp_path: Path) -> None:
    """A benchmark and a dimension the report has never heard of: they show up from the
    run data alone, the metric as its line of results.json defines it (a 1-10 grade)."""
    for name in ("sft", "rlhf"):
        shutil.copytree(root / name / "tiny", tmp_path / name / "tiny")
        res = tmp_path / name / "tiny" / "results.json"
        data = json.loads(res.read_text())
        data["benchmarks"].append({
            "benchmark": "brand_new_set", "mode": "gen", "shots": 0, "n": 2,
            "primary": {"name": "exact", "value": 50.0 if name == "sft" else 100.0,
                        "stderr": 5.0, "higher_is_better": True},
            "metric": {"name": "exact", "scale": 1.0, "higher_is_better": True,
                       "by_group": False, "aggregation": "mean over items", "pairwise": False},
            "secondary": [], "parse_failures": 0, "groups": [], "judge": None})
        data["dimensions"].append({"name": "new_dimension", "value": 1.0,
                                   "benchmarks": ["brand_new_set"], "missing": []})
        res.write_text(json.dumps(data))
        preds = tmp_path / name / "tiny" / "predictions" / "brand_new_set.jsonl"
        preds.write_text("".join(json.dumps(SampleResult(
            str(i), "", "q", "a", ("a",), Score(float(name == "rlhf" or i == 0), "a"),
        ).to_json()) + "\n" for i in range(2)))
    report = build_report(find_runs([tmp_path]))
    assert "new_dimension" in report.dimensions
    column = next(c for c in report.columns if c.key == "brand_new_set")
    assert column.group == "new_dimension" and column.scale == 1.0
    change = _cell(report, "brand_new_set", "rlhf")
    assert change.delta == 50.0 and change.test is not None and change.test.n == 2
    assert "brand_new_set" in render_html(report)


def test_runs_without_results_are_noted_or_refused(root: Path, tmp_path: Path) -> None:
    shutil.copytree(root / "sft" / "tiny", tmp_path / "sft" / "tiny")
    started = tmp_path / "new" / "tiny"
    started.mkdir(parents=True)
    manifest = json.loads((root / "sft" / "tiny" / "manifest.json").read_text())
    manifest.update(status="running", model={**manifest["model"], "name": "new"})
    (started / "manifest.json").write_text(json.dumps(manifest))
    report = build_report(find_runs([tmp_path]))
    assert [c.name for c in report.checkpoints] == ["sft"]
    assert any("no results.json" in n for n in report.notes)
    with pytest.raises(ConfigError, match=r"no run with results\.json"):
        build_report([RunDir(started)])


def test_a_benchmark_skipped_for_missing_data_shows_as_not_run(root: Path,
                                                              tmp_path: Path) -> None:
    """rlhf's run skipped winogrande (``--skip-missing``): its cell says so, sft's holds the
    score, and the notes name the set."""
    for name in ("sft", "rlhf"):
        shutil.copytree(root / name / "tiny", tmp_path / name / "tiny")
    res = tmp_path / "rlhf" / "tiny" / "results.json"
    data = json.loads(res.read_text())
    data["benchmarks"] = [b for b in data["benchmarks"] if b["benchmark"] != "winogrande"]
    data["skipped"] = [{"benchmark": "winogrande", "reason": "winogrande: data not found"}]
    res.write_text(json.dumps(data))
    report = build_report(find_runs([tmp_path]))
    col = [c.key for c in report.columns].index("winogrande")
    rows = {r.checkpoint.name: r for r in report.overview}
    assert rows["rlhf"].scores[col] is None and rows["rlhf"].not_run[col]
    assert rows["sft"].scores[col] is not None and not rows["sft"].not_run[col]
    assert "rlhf / tiny: not run (data missing): winogrande" in report.notes
    html = render_html(report)
    assert 'title="in the suite, but its data was missing">not run</td>' in html


def test_protocol_changes_slices_and_partial_runs_are_said_where_the_numbers_are(
        root: Path, tmp_path: Path) -> None:
    """base ran MMLU as PPL 0-shot; here sft's results say gen 5-shot (a chat suite): its
    heatmap cell and stage delta carry the protocol change and a note names it. rlhf's run
    was interrupted: its cells are marked partial. Every run is a slice (limit 30)."""
    for name in ("base", "sft", "rlhf"):
        shutil.copytree(root / name / "tiny", tmp_path / name / "tiny")
    res = tmp_path / "sft" / "tiny" / "results.json"
    data = json.loads(res.read_text())
    for b in data["benchmarks"]:
        if b["benchmark"] == "mmlu":
            b.update(mode="gen", shots=5)
    res.write_text(json.dumps(data))
    manifest = tmp_path / "rlhf" / "tiny" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "status": "interrupted"}))
    report = build_report(find_runs([tmp_path]))
    assert _cell(report, "mmlu", "sft").protocol == "ppl 0-shot → gen 5-shot"
    assert _cell(report, "mmlu", "rlhf").protocol == ""  # the baseline's protocol again
    assert _cell(report, "gsm8k", "sft").protocol == ""
    base_sft = report.stage_steps[0]
    (mmlu,) = [c for c in base_sft.changes if c.column == "mmlu"]
    assert mmlu.protocol == "ppl 0-shot → gen 5-shot"
    sft_rlhf = report.stage_steps[1]
    (back,) = [c for c in sft_rlhf.changes if c.column == "mmlu"]
    assert back.protocol == "gen 5-shot → ppl 0-shot"
    assert any(n.startswith("mmlu: compared across protocols (") and
               "base ppl 0-shot, sft gen 5-shot" in n for n in report.notes)
    rows = {r.checkpoint.name: r for r in report.overview}
    cells = [c for c in rows["rlhf"].scores if c is not None]
    assert cells and all(c.partial and c.limited for c in cells)
    assert not any(c.partial for c in rows["sft"].scores if c is not None)
    assert "rlhf / tiny: the run is interrupted (it did not complete): its scores, marked †, " \
        "are partial" in report.notes
    assert f"base / tiny: scored on a slice (--limit), marked *, n of the full set: gsm8k " \
        f"{LIMIT} of 1319" in " ".join(report.notes)
    html = render_html(report)
    assert "⚠ ppl 0-shot → gen 5-shot" in html
    from evals.results.report.figures import heatmap_svg

    assert heatmap_svg(report.heatmap).count("≠") == 1  # sft's MMLU cell only
    assert f"a slice (--limit): {LIMIT} of 14042 items" in html


def test_clashing_names_are_told_apart_by_suite() -> None:
    keys = _keys([("a", "base_suite", "mmlu"), ("a", "chat_suite", "mmlu"),
                  ("b", "chat_suite", "mmlu"), ("a", "base_suite", "gsm8k")])
    assert keys[("a", "base_suite", "mmlu")] == "mmlu [base_suite]"
    assert keys[("b", "chat_suite", "mmlu")] == "mmlu [chat_suite]"
    assert keys[("a", "base_suite", "gsm8k")] == "gsm8k"


def _sample(sid: str, value: float, weight: float = 1.0, prompt: str | list[dict[str, str]] = "q",
            labels: tuple[str, ...] = ()) -> SampleResult:
    from evals.records import Judgement

    return SampleResult(sid, "", prompt, "t", ("out",), Score(
        value, None, weight=weight, judgements=tuple(Judgement(x, "", "A", 1.0)
                                                     for x in labels)))


def _column(benchmark: str, pairwise: bool = False) -> Column:
    return Column(benchmark, benchmark, "s", "s", "win_rate", 100.0, True, pairwise)


def test_pairing_leaves_out_unscored_and_unmatched_samples() -> None:
    b = [_sample("1", 1.0), _sample("2", 0.0, weight=0.0), _sample("3", 0.5), _sample("4", 1)]
    c = [_sample("3", 1.0), _sample("1", 0.0), _sample("2", 1.0), _sample("5", 1.0)]
    pairs = pair_samples(b, c)
    assert [(x.score.value, y.score.value) for x, y in pairs] == [(1.0, 0.0), (0.5, 1.0)]


def test_pairwise_win_rates_use_the_sign_test() -> None:
    """Pairing follows the definition results.json records, or answers judged in both orders."""
    win_rate = BENCHMARKS.get("alpaca_eval").metric.definition()
    grade = BENCHMARKS.get("mt_bench").metric.definition()
    plain = [_sample("1", 0.5), _sample("2", 1.0)]
    assert compare_pairs(win_rate, list(zip(plain, plain, strict=True))).method == "sign"
    assert compare_pairs(grade, list(zip(plain, plain, strict=True))).method != "sign"
    judged = [_sample("1", 0.5, labels=("AB", "BA"))]
    assert is_pairwise(MetricDefinition("my_arena"), judged)
    graded = [_sample("1", 0.5, labels=("turn1",))]
    assert not is_pairwise(grade, graded)
    assert grade.scale == 1.0 and win_rate.pairwise

def test_long_prompts_and_outputs_are_cut_with_a_note() -> None:
    col = _column("x")
    long_text = "A" * 3000 + "MIDDLE" + "Z" * 7000
    view = sample_view("c", col, _sample("1", 1.0, prompt=long_text))
    (turn,) = view.prompt
    assert len(turn.content) < PROMPT_CHARS + 100 and "characters cut by the report" in turn.content
    assert turn.content.endswith("Z" * 100) and "MIDDLE" not in turn.content
    chat = [{"role": "user", "content": "x" * 5000}, {"role": "assistant", "content": "y" * 50},
            {"role": "user", "content": "the question?"}]
    view = sample_view("c", col, _sample("1", 1.0, prompt=chat))
    assert [t.role for t in view.prompt] == ["user", "assistant", "user"]
    assert view.prompt[-1].content == "the question?" and view.prompt[1].content == "y" * 50
    assert "characters cut" in view.prompt[0].content
    assert sum(len(t.content) for t in view.prompt) < PROMPT_CHARS + 200


def test_failure_marks_follow_the_metric_scale() -> None:
    pct, grade = _column("x"), Column("g", "g", "s", "s", "score", 1.0, True, False)
    assert sample_view("c", pct, _sample("1", 0.5)).failed
    assert not sample_view("c", pct, _sample("1", 1.0)).failed
    assert sample_view("c", grade, _sample("1", 8.0)).failed  # below a 10 of 10
    assert not sample_view("c", grade, _sample("1", 10.0)).failed
    unscored = sample_view("c", grade, _sample("1", 0.0, weight=0.0))
    assert unscored.unscored and not unscored.failed


def test_metric_value_direction_flips_the_colour() -> None:
    from evals.results.report.figures import gain
    from evals.results.report.model import Change

    change = Change("x", "a", "b", 10.0, -5.0, None)
    lower = Column("x", "x", "s", "s", "ppl", 100.0, False, False)
    assert gain(change, lower) == pytest.approx(0.05)
    assert gain(change, _column("x")) == pytest.approx(-0.05)
