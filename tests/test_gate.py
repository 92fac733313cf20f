"""The regression gate on run directories made by the scripted mock (a baseline and planted
candidates whose changes are exact), and the paired statistics it rests on.

The gate is strict by default: a benchmark whose margin is below what its n can detect
("underpowered") or whose interval reaches past the margin ("inconclusive") fails it. The
12-item hellaswag set of these runs is always underpowered at a 1-point margin (MDE 37.83),
so tests about gsm8k give it a 40-point margin where they need the gate to exit 0."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
import scipy.stats as st

from evals.backends.mock import MockBackend, default_generate
from evals.config import EvalsConfig, GateConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.records import ChatPrompt, GenerateRequest, ModelKind
from evals.results.gate import exit_code, gate, pair_samples, to_junit, to_markdown
from evals.results.rundir import RunDir
from evals.results.stats import POWER, compare
from evals.run.runner import run_model

N_GSM8K = 80
N_SMALL = 20
"""The small-n runs: what a CI job on a quick slice gates."""
Z = float(st.norm.ppf(0.95) + st.norm.ppf(POWER))
"""The MDE's z at the default alpha (0.05, one-sided) and 80% power."""
Policy = Callable[[int], str]
"""sample id -> "right" | "wrong" | "none" (a reply without any number)."""


def _gsm8k_answers(data_dir: Path) -> dict[str, tuple[int, str]]:
    """question -> (sample id, reference answer), so that the script knows which item it
    is asked."""
    out = {}
    lines = (data_dir / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        row = json.loads(line)
        out[row["question"]] = (i, row["answer"].split("#### ")[1].replace(",", "").strip())
    return out


def _script(answers: dict[str, tuple[int, str]], policy: Policy
            ) -> Callable[[GenerateRequest], str]:
    def generate(r: GenerateRequest) -> str:
        assert isinstance(r.prompt, ChatPrompt)
        question = r.prompt.messages[-1].content.removeprefix("Question: ").split("\nLet's")[0]
        if question not in answers:  # hellaswag: the same answer for every checkpoint
            return default_generate(r)
        sid, ref = answers[question]
        return {"right": f"So the answer is {ref}", "wrong": f"So the answer is {ref}1",
                "none": "I cannot tell."}[policy(sid)]
    return generate


def _run(root: Path, data_dir: Path, name: str, policy: Policy,
         benchmarks: tuple[str, ...] = ("gsm8k", "hellaswag"), n_gsm8k: int = N_GSM8K) -> RunDir:
    answers = _gsm8k_answers(data_dir)
    limits = {"gsm8k": n_gsm8k, "hellaswag": 12}
    suite = SuiteSpec.model_validate({"name": "gate", "benchmarks": [
        {"name": b, "limit": limits[b], "shots": 0 if b == "hellaswag" else 4}
        for b in benchmarks]})
    out = root / name
    model = ModelSpec(name=name, path="mock", kind=ModelKind.CHAT, stage="sft")
    # each checkpoint its own response cache: every MockBackend's fingerprint is "mock"
    config = EvalsConfig(data_dir=str(data_dir), output_dir=str(out), cache_dir=str(out / "c"),
                         models=[model], runner=RunnerConfig(backend="mock"))
    (outcome,) = run_model(config, out, model, [suite],
                           backend_builder=lambda spec: MockBackend(_script(answers, policy)))
    return RunDir(outcome.run_dir)


@dataclass(frozen=True)
class Runs:
    baseline: RunDir
    regressed: RunDir
    noise: RunDir
    parse_spike: RunDir
    no_gsm8k: RunDir
    right: frozenset[int]
    """Items the baseline answers right."""


@pytest.fixture(scope="module")
def runs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("gate")
    ids = sorted(int(i) for i in _gsm8k_ids(root, data_dir))
    right = frozenset(i for k, i in enumerate(ids) if k % 4)  # 60 of 80
    wrong = sorted(set(ids) - right)
    dropped = {i for k, i in enumerate(sorted(right)) if k % 10 < 3}  # 30% of them
    flipped = set(sorted(right)[:2]) | set(wrong[:2])  # two lost, two won: noise

    def base(i: int) -> str:
        return "right" if i in right else "wrong"

    return Runs(
        baseline=_run(root, data_dir, "base", base),
        regressed=_run(root, data_dir, "regressed",
                       lambda i: "wrong" if i in dropped else base(i)),
        noise=_run(root, data_dir, "noise",
                   lambda i: ("wrong" if i in right else "right") if i in flipped else base(i)),
        # the items it got wrong now come back with no number at all: accuracy unchanged
        parse_spike=_run(root, data_dir, "spike", lambda i: base(i) if i in right else "none"),
        no_gsm8k=_run(root, data_dir, "partial", base, benchmarks=("hellaswag",)),
        right=right,
    )


def _gsm8k_ids(root: Path, data_dir: Path, n: int = N_GSM8K) -> list[str]:
    """The ids the suite's fixed-seed slice selects (a throwaway run with any answers)."""
    probe = _run(root, data_dir, "probe", lambda i: "wrong", benchmarks=("gsm8k",), n_gsm8k=n)
    ids = [s.sample_id for s in probe.predictions("gsm8k")]
    shutil.rmtree(probe.path.parent.parent)
    return ids


CFG = GateConfig()
HELLA_40 = {"hellaswag": 40.0}
"""A margin above hellaswag's MDE at 12 items (37.83): lets it pass when identical."""


def test_planted_regression_is_caught(runs: Runs) -> None:
    report = gate(runs.baseline, runs.regressed, CFG)
    gsm, hella = report.rows
    assert (gsm.benchmark, hella.benchmark) == ("gsm8k", "hellaswag")
    assert gsm.verdict == "regression" and gsm.score is not None and gsm.parse is not None
    assert gsm.n == N_GSM8K and gsm.score.method == "mcnemar"
    assert gsm.score.baseline == pytest.approx(75.0)
    assert gsm.score.delta == pytest.approx(-100 * 18 / N_GSM8K)  # 18 of 60 right items lost
    assert gsm.score.ci_high < -CFG.default_margin and gsm.score.p_regression < CFG.alpha
    assert not gsm.parse.failed
    # identical hellaswag answers, but 12 items cannot see a 1-point drop: underpowered
    assert hella.verdict == "underpowered" and hella.score is not None
    assert hella.score.delta == 0.0 and hella.margin_below_mde
    assert report.verdict == "regression" and exit_code(report) == 1

    md = to_markdown(report)
    assert md.startswith("## evals gate: REGRESSION (exit 1)\n")
    assert "`base`" in md and "`regressed`" in md
    assert "| gsm8k | regression | mcnemar | 80 | 75.00 | 52.50 | -22.50 [" in md
    assert "| hellaswag | underpowered |" in md
    assert "\n- gsm8k: regression: a drop beyond its 1-point margin is shown (delta -22.50 [" in md

    suite = ET.fromstring(to_junit(report)).find("testsuite")
    assert suite is not None and suite.get("name") == "evals-gate"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "2", "0")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["gsm8k"].find("failure")
    assert failure is not None and failure.get("type") == "regression"
    assert "delta -22.50" in failure.get("message", "")
    hella_failure = cases["hellaswag"].find("failure")
    assert hella_failure is not None and hella_failure.get("type") == "underpowered"
    # with a margin its 12 items can see, hellaswag passes and only the regression fails
    fair = gate(runs.baseline, runs.regressed, GateConfig(margins=HELLA_40))
    assert [r.verdict for r in fair.rows] == ["regression", "pass"] and exit_code(fair) == 1
    suite = ET.fromstring(to_junit(fair)).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


def test_noise_level_change_is_no_regression_but_underpowered(runs: Runs) -> None:
    report = gate(runs.baseline, runs.noise, CFG)
    gsm = report.rows[0]
    assert gsm.score is not None and gsm.score.delta == 0.0
    assert gsm.score.p_change == 1.0 and not gsm.score.regression
    # 2 lost and 2 won of 80: sd of the differences sqrt(4/79), MDE far above 1 point
    assert gsm.score.mde == pytest.approx(100 * Z * math.sqrt(4 / 79) / math.sqrt(N_GSM8K))
    assert gsm.score.mde == pytest.approx(6.26, abs=0.01)
    # 80 items cannot show non-inferiority within 1 point: underpowered, which fails by
    # default (before the strict default this was "inconclusive" with exit 0)...
    assert gsm.verdict == "underpowered" and gsm.margin_below_mde
    assert report.verdict == "underpowered" and exit_code(report) == 1
    md = to_markdown(report)
    assert md.startswith("## evals gate: UNDERPOWERED (exit 1)\n")
    assert ("- gsm8k: underpowered, fails (strict, the default): n=80 items can only detect a "
            "drop of 6.26 points (MDE, 80% power), more than its 1-point margin") in md
    suite = ET.fromstring(to_junit(report)).find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("skipped")) == ("2", "0")
    # ...and only reported under the lenient opt-out
    lenient = gate(runs.baseline, runs.noise, GateConfig(strict=False))
    assert [r.verdict for r in lenient.rows] == ["underpowered", "underpowered"]
    assert exit_code(lenient) == 0
    assert to_markdown(lenient).startswith("## evals gate: UNDERPOWERED (exit 0)\n")
    assert "- gsm8k: underpowered, not failing (gate.strict: false): n=80" in to_markdown(lenient)
    suite = ET.fromstring(to_junit(lenient)).find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("skipped")) == ("0", "2")


def test_a_margin_wider_than_the_noise_passes_it(runs: Runs) -> None:
    # 8 points is above gsm8k's MDE at 80 items (6.26): enough items for it, and shown
    report = gate(runs.baseline, runs.noise, GateConfig(default_margin=8.0, margins=HELLA_40))
    assert report.strict  # the default
    assert [r.verdict for r in report.rows] == ["pass", "pass"]
    assert exit_code(report) == 0
    md = to_markdown(report)
    assert md.startswith("## evals gate: PASS (exit 0)\n") and "Why:" not in md


def test_extraction_failure_spike_is_caught(runs: Runs) -> None:
    report = gate(runs.baseline, runs.parse_spike, CFG)
    gsm = report.rows[0]
    assert gsm.score is not None and gsm.parse is not None
    assert gsm.score.delta == 0.0 and not gsm.score.regression  # accuracy did not move
    assert (gsm.parse.baseline_rate, gsm.parse.candidate_rate) == (0.0, 25.0)
    assert gsm.parse.failed and gsm.verdict == "regression" and exit_code(report) == 1
    assert "0.0% -> 25.0% (p <0.001) FAILED" in to_markdown(report)
    # allowed to rise by 40 points: no longer a failure
    lenient = gate(runs.baseline, runs.parse_spike, GateConfig(parse_failure_margin=40.0))
    assert lenient.rows[0].parse is not None and not lenient.rows[0].parse.failed


def test_benchmark_missing_in_candidate_is_bad_input(runs: Runs) -> None:
    report = gate(runs.baseline, runs.no_gsm8k, CFG)
    gsm, hella = report.rows
    assert gsm.verdict == "missing" and gsm.score is None and "not in the candidate" in gsm.note
    assert hella.verdict == "underpowered"  # failing too, but bad input decides the code
    assert report.verdict == "bad input" and exit_code(report) == 2
    suite = ET.fromstring(to_junit(report)).find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    assert "| gsm8k | missing |" in to_markdown(report)
    # the other way round, the candidate's extra benchmark is listed, not gated
    reverse = gate(runs.no_gsm8k, runs.baseline, GateConfig(margins=HELLA_40))
    assert reverse.new_benchmarks == ("gsm8k",) and exit_code(reverse) == 0


def test_no_common_sample_ids_is_bad_input(runs: Runs, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(runs.noise.path, other)
    preds = other / "predictions" / "gsm8k.jsonl"
    rows = [json.loads(x) for x in preds.read_text().splitlines()]
    preds.write_text("".join(json.dumps({**r, "sample_id": "x" + r["sample_id"]}) + "\n"
                             for r in rows))
    report = gate(runs.baseline, RunDir(other), CFG)
    assert report.rows[0].verdict == "missing" and "no scored sample ids" in report.rows[0].note
    assert exit_code(report) == 2


def test_weight_zero_samples_are_left_out_of_pairs(runs: Runs) -> None:
    base = runs.baseline.predictions("gsm8k")
    cand = runs.noise.predictions("gsm8k")
    cand[0] = replace(cand[0], score=replace(cand[0].score, weight=0.0))
    pairs = pair_samples(base, cand[::-1])
    assert len(pairs) == N_GSM8K - 1
    assert all(b.sample_id == c.sample_id for b, c in pairs)


def test_margins_from_the_config_are_honoured(runs: Runs) -> None:
    # the planted drop is 22.5 points, its interval about [-30, -15]
    wide = gate(runs.baseline, runs.regressed, GateConfig(margins={"gsm8k": 40.0}))
    assert wide.rows[0].margin == 40.0 and wide.rows[1].margin == CFG.default_margin
    assert wide.rows[0].verdict == "pass"
    assert wide.rows[1].verdict == "underpowered" and exit_code(wide) == 1  # hellaswag at 1
    wide = gate(runs.baseline, runs.regressed, GateConfig(margins={"gsm8k": 40.0, **HELLA_40}))
    assert exit_code(wide) == 0
    # 25 points is above the MDE, but the interval reaches past it: inconclusive, which
    # fails by default (it exited 0 before the strict default) and passes when lenient
    mid = gate(runs.baseline, runs.regressed, GateConfig(margins={"gsm8k": 25.0, **HELLA_40}))
    gsm = mid.rows[0]
    assert gsm.verdict == "inconclusive" and not gsm.margin_below_mde and exit_code(mid) == 1
    assert gsm.score is not None and gsm.score.ci_low < -25.0 < gsm.score.delta
    md = to_markdown(mid)
    assert "| 25.00 |" in md
    assert (f"- gsm8k: inconclusive, fails (strict, the default): no regression shown, but the "
            f"interval reaches {gsm.score.ci_low:+.2f}, past its 25-point margin") in md
    assert (f"A pass needs more items, or a margin of at least {math.ceil(-gsm.score.ci_low)} "
            "for it") in md
    lenient = gate(runs.baseline, runs.regressed,
                   GateConfig(margins={"gsm8k": 25.0, **HELLA_40}, strict=False))
    assert exit_code(lenient) == 0


# ---------------------------------------------------------------------------- small and large n


@dataclass(frozen=True)
class Small:
    """gsm8k only, 20 items, 15 of them right (75%)."""

    baseline: RunDir
    same: RunDir
    """An identical rerun."""
    drop: RunDir
    """Loses 2 of the 15 right items and wins none: a 10-point drop."""


@pytest.fixture(scope="module")
def small(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Small:
    root = tmp_path_factory.mktemp("gate20")
    ids = sorted(int(i) for i in _gsm8k_ids(root, data_dir, N_SMALL))
    right = frozenset(i for k, i in enumerate(ids) if k % 4)  # 15 of 20
    lost = frozenset(sorted(right)[:2])

    def run(name: str, keep: frozenset[int]) -> RunDir:
        return _run(root, data_dir, name, lambda i: "right" if i in keep else "wrong",
                    benchmarks=("gsm8k",), n_gsm8k=N_SMALL)

    return Small(run("base20", right), run("same20", right), run("drop20", right - lost))


SAME_20_WHY = (
    "gsm8k: underpowered, fails (strict, the default): n=20 items can only detect a drop of "
    "34.05 points (MDE, 80% power), more than its 1-point margin, so a drop of the margin's "
    "size would likely go unseen (delta +0.00 [+0.00, +0.00]). Enough power needs about 23,185 "
    "items at this spread, or a margin of at least 35 for it (gate.margins: {gsm8k: 35} in "
    "evals.yaml); or set gate.strict: false to report it without failing.")


def test_identical_runs_at_n20_fail_as_underpowered_by_default(small: Small) -> None:
    report = gate(small.baseline, small.same, CFG)
    (gsm,) = report.rows
    s = gsm.score
    assert s is not None
    assert (s.method, gsm.n, s.baseline, s.candidate, s.delta) == ("mcnemar", 20, 75.0, 75.0, 0.0)
    # no item disagrees: an interval of zero width, which used to read as a pass
    assert (s.ci_low, s.ci_high, s.p_regression) == (0.0, 0.0, 1.0)
    # with no disagreement seen, the sd of independent outcomes at 75%: sqrt(2 * 0.75 * 0.25)
    assert s.mde == pytest.approx(100 * Z * math.sqrt(0.375) / math.sqrt(N_SMALL))
    assert round(s.mde, 2) == 34.05
    assert math.ceil(N_SMALL * s.mde**2) == 23_185  # items for an MDE of 1 point
    assert gsm.verdict == "underpowered" and report.verdict == "underpowered"
    assert exit_code(report) == 1
    assert gsm.explain(report.strict) == SAME_20_WHY

    md = to_markdown(report)
    assert md.startswith("## evals gate: UNDERPOWERED (exit 1)\n")
    assert ("| gsm8k | underpowered | mcnemar | 20 | 75.00 | 75.00 | +0.00 [+0.00, +0.00] | "
            "1.000 | 1.00 | 34.05 |") in md
    assert f"\nWhy:\n\n- {SAME_20_WHY}\n" in md
    suite = ET.fromstring(to_junit(report)).find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("1", "0", "0")
    failure = suite.find("testcase[@name='gsm8k']/failure")
    assert failure is not None and failure.get("type") == "underpowered"
    assert failure.get("message") == SAME_20_WHY

    # the lenient opt-out (gate.strict: false): reported, not failing
    lenient = gate(small.baseline, small.same, GateConfig(strict=False))
    assert lenient.rows[0].verdict == "underpowered" and exit_code(lenient) == 0
    md = to_markdown(lenient)
    assert md.startswith("## evals gate: UNDERPOWERED (exit 0)\n")
    assert ("- gsm8k: underpowered, not failing (gate.strict: false): n=20 items can only detect "
            "a drop of 34.05 points") in md
    assert md.rstrip().endswith("(gate.margins: {gsm8k: 35} in evals.yaml).")
    suite = ET.fromstring(to_junit(lenient)).find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("skipped")) == ("0", "1")

    # a margin 20 items can see (35 > 34.05) passes under the strict default
    fair = gate(small.baseline, small.same, GateConfig(margins={"gsm8k": 35.0}))
    assert fair.rows[0].verdict == "pass" and exit_code(fair) == 0


def test_ten_point_drop_at_n20_exits_1_by_default(small: Small, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from evals.cli.commands import main

    report = gate(small.baseline, small.drop, CFG)
    (gsm,) = report.rows
    s = gsm.score
    assert s is not None
    assert (gsm.n, s.baseline, s.candidate) == (20, 75.0, 65.0)
    assert s.delta == pytest.approx(-10.0)
    # 2 lost, none won: no drop is *shown* (exact one-sided McNemar p = 1/4)...
    assert s.p_regression == pytest.approx(0.25) and not s.regression
    half = 100 * float(st.norm.ppf(0.95)) * math.sqrt(2 - 2**2 / N_SMALL) / N_SMALL
    assert (s.ci_low, s.ci_high) == (pytest.approx(-10 - half), pytest.approx(-10 + half))
    assert (round(s.ci_low, 2), round(s.ci_high, 2)) == (-21.03, 1.03)
    # sd of the differences: 2 of -1 and 18 of 0, sqrt(1.8 / 19)
    assert s.mde == pytest.approx(100 * Z * math.sqrt(1.8 / 19) / math.sqrt(N_SMALL))
    assert round(s.mde, 2) == 17.11
    # ...but 20 items cannot see a 1-point drop: underpowered, exit 1 (it was "inconclusive"
    # with exit 0 before the strict default)
    assert gsm.verdict == "underpowered" and exit_code(report) == 1
    why = ("gsm8k: underpowered, fails (strict, the default): n=20 items can only detect a "
           "drop of 17.11 points (MDE, 80% power), more than its 1-point margin, so a drop of "
           "the margin's size would likely go unseen (delta -10.00 [-21.03, +1.03]). Enough "
           "power needs about 5,858 items at this spread, or a margin of at least 18 for it "
           "(gate.margins: {gsm8k: 18} in evals.yaml); or set gate.strict: false to report it "
           "without failing.")
    assert gsm.explain(True) == why
    # the old lenient behaviour, on request only
    assert exit_code(gate(small.baseline, small.drop, GateConfig(strict=False))) == 0
    # a margin the 20 items can see does not let the drop through: its interval reaches -21.03
    wider = gate(small.baseline, small.drop, GateConfig(margins={"gsm8k": 18.0}))
    assert wider.rows[0].verdict == "inconclusive" and exit_code(wider) == 1
    assert "A pass needs more items, or a margin of at least 22 for it" in to_markdown(wider)
    # a margin beyond the whole interval accepts a 10-point drop, as asked
    assert exit_code(gate(small.baseline, small.drop, GateConfig(margins={"gsm8k": 22.0}))) == 0

    # the command: evals.yaml without gate options fails it; gate.strict: false does not
    def run(config: Path, *extra: str) -> int:
        with pytest.raises(SystemExit) as exc:
            main(["gate", "-c", str(config), "--baseline", str(small.baseline.path),
                  "--candidate", str(small.drop.path), *extra])
        return int(exc.value.code or 0)

    plain, lenient = tmp_path / "plain.yaml", tmp_path / "lenient.yaml"
    plain.write_text("models: [{name: m, path: mock}]\n")
    lenient.write_text("models: [{name: m, path: mock}]\ngate: {strict: false}\n")
    summary, junit = tmp_path / "summary.md", tmp_path / "gate.xml"
    capsys.readouterr()
    assert run(plain, "--markdown", str(summary), "--junit", str(junit)) == 1
    out = capsys.readouterr().out
    # stdout is the markdown as written: the why line whole, not wrapped at 80 columns
    assert out.startswith("## evals gate: UNDERPOWERED (exit 1)\n") and f"\n- {why}\n" in out
    assert summary.read_text() == out
    failure = ET.parse(junit).getroot().find(".//testcase[@name='gsm8k']/failure")
    assert failure is not None and failure.get("type") == "underpowered"
    assert run(lenient) == 0
    assert run(plain, "--lenient") == 0 and run(lenient, "--strict") == 1  # flags win
    assert run(tmp_path / "absent.yaml") == 2  # bad input: unchanged


N_LARGE = 25_600
"""Enough gsm8k items (75% right) for the 1-point default margin: an MDE of 0.95."""
N_MID = 4_000
"""Enough for a noise-level change (2 lost, 2 won per 80 items): an MDE of 0.88."""


def _scaled(run: RunDir, dst: Path, n: int) -> RunDir:
    """A copy of ``run`` reduced to gsm8k, its items repeated (ids suffixed) up to ``n``: a
    large run with exactly the original's rates. Prompts and outputs are dropped to keep
    the file small; the gate reads only ids and scores."""
    shutil.copytree(run.path, dst, ignore=shutil.ignore_patterns("*.jsonl"))
    results = json.loads((dst / "results.json").read_text())
    results["benchmarks"] = [b for b in results["benchmarks"] if b["benchmark"] == "gsm8k"]
    (dst / "results.json").write_text(json.dumps(results))
    path = run.path / "predictions" / "gsm8k.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert n % len(rows) == 0
    with (dst / "predictions" / path.name).open("w") as f:
        for j in range(n // len(rows)):
            f.writelines(json.dumps({**r, "sample_id": f"{r['sample_id']}.{j}", "prompt": "",
                                     "outputs": []}) + "\n" for r in rows)
    return RunDir(dst)


def test_large_n_keeps_passes_and_regressions(runs: Runs, tmp_path: Path) -> None:
    # an identical pair of 25,600 items passes at the default 1-point margin
    same = gate(_scaled(runs.baseline, tmp_path / "a", N_LARGE),
                _scaled(runs.baseline, tmp_path / "b", N_LARGE), CFG)
    (gsm,) = same.rows
    assert (gsm.benchmark, gsm.verdict, gsm.n) == ("gsm8k", "pass", N_LARGE)
    s = gsm.score
    assert s is not None and (s.delta, s.ci_low, s.ci_high) == (0.0, 0.0, 0.0)
    assert s.mde == pytest.approx(100 * Z * math.sqrt(0.375) / math.sqrt(N_LARGE))
    assert round(s.mde, 2) == 0.95
    assert exit_code(same) == 0
    md = to_markdown(same)
    assert md.startswith("## evals gate: PASS (exit 0)\n") and "Why:" not in md

    base = _scaled(runs.baseline, tmp_path / "base", N_MID)
    # the planted 22.5-point drop stays a regression
    reg = gate(base, _scaled(runs.regressed, tmp_path / "regressed", N_MID), CFG)
    assert reg.rows[0].verdict == "regression" and exit_code(reg) == 1
    assert reg.rows[0].score is not None and reg.rows[0].score.delta == pytest.approx(-22.5)
    # 2 lost and 2 won per 80 items is noise at this n: non-inferiority shown, a pass
    noise = gate(base, _scaled(runs.noise, tmp_path / "noise", N_MID), CFG)
    s = noise.rows[0].score
    assert noise.rows[0].verdict == "pass" and exit_code(noise) == 0
    assert s is not None and s.delta == 0.0
    # sd of the differences: 100 of -1, 100 of +1 in 4,000 (n - 1 in the variance)
    assert s.mde == pytest.approx(100 * Z * math.sqrt(200 / (N_MID - 1)) / math.sqrt(N_MID))
    assert round(s.mde, 2) == 0.88
    # McNemar interval: 200 discordant items of 4,000, none net
    assert s.ci_low == pytest.approx(-100 * float(st.norm.ppf(0.95)) * math.sqrt(200) / N_MID)


# ---------------------------------------------------------------------------- stats


def _pairs(losses: int, wins: int, both: int, neither: int) -> tuple[list[float], list[float]]:
    b = [1.0] * losses + [0.0] * wins + [1.0] * both + [0.0] * neither
    c = [0.0] * losses + [1.0] * wins + [1.0] * both + [0.0] * neither
    return b, c


def test_mcnemar_exact_p_values_by_hand() -> None:
    b, c = _pairs(losses=8, wins=2, both=30, neither=10)
    r = compare(b, c)
    assert r.method == "mcnemar" and r.n == 50 and r.delta == pytest.approx(-12.0)
    # 10 discordant items, 8 of them lost: P(X >= 8 | 10, 1/2) = (45 + 10 + 1) / 1024
    assert r.p_regression == pytest.approx(56 / 1024)
    assert r.p_change == pytest.approx(2 * 56 / 1024)
    assert not r.regression and not r.significant  # at alpha 0.05
    # 10 of 10 lost is a drop at any alpha
    assert compare(*_pairs(10, 0, 30, 10)).p_regression == pytest.approx(1 / 1024)


def test_a_margin_never_makes_a_regression_easier_to_show() -> None:
    """The Tango score test with the exact zero-margin test as its floor: p grows with the
    margin, and 4 lost / 0 won in 60 items (exact p 0.0625) is no regression beyond 1 point."""
    for counts in [(4, 0, 30, 26), (10, 3, 30, 17), (20, 5, 50, 25)]:
        b, c = _pairs(*counts)
        ps = [compare(b, c, margin=m).p_regression for m in (0, 0.1, 0.5, 1, 2, 5, 10, 30)]
        assert ps == sorted(ps)
    r = compare(*_pairs(4, 0, 30, 26), margin=1.0)
    assert r.p_regression == pytest.approx(0.0625) and not r.regression
    big = compare(*_pairs(20, 0, 50, 30), margin=5.0)  # -20 points beyond a 5-point margin
    assert big.regression and big.ci_high < -5.0


def test_bootstrap_catches_a_clear_drop_on_graded_scores() -> None:
    rng = np.random.default_rng(1)
    b = rng.uniform(0.3, 0.9, size=60)
    c = np.clip(b - 0.1 + rng.normal(0, 0.03, size=60), 0, 1)
    r = compare(list(b), list(c), margin=2.0, n_boot=2000)
    assert r.method == "bootstrap"
    assert r.regression and r.significant and r.ci_low < r.delta < r.ci_high < -2.0
    same = compare(list(b), list(b), margin=2.0, n_boot=2000)
    assert same.delta == 0.0 and not same.regression and same.p_change == 1.0


def test_sign_test_on_win_shares() -> None:
    """Pairwise judged sets: most items tie (both lose to the reference), which must not
    hide a drop in the win rate behind a margin."""
    b = [1.0] * 14 + [0.0] * 2 + [0.5] * 4 + [0.0] * 40
    c = [0.0] * 14 + [1.0] * 2 + [0.5] * 4 + [0.0] * 40
    r = compare(b, c, margin=1.0, method="sign")
    assert r.method == "sign" and r.delta == pytest.approx(-20.0)
    # 16 decided items, 14 worse: two-sided exact sign test
    assert r.p_change == pytest.approx(2 * sum(math.comb(16, k) for k in range(3)) / 2**16)
    assert r.regression
    ties = compare([0.5] * 30, [0.5] * 30, margin=1.0, method="sign")
    assert ties.p_change == 1.0 and not ties.regression


def test_mde_shrinks_with_the_square_root_of_n() -> None:
    b, c = _pairs(losses=3, wins=3, both=10, neither=4)
    mdes = [compare(b * k, c * k).mde for k in (1, 4, 16)]
    assert mdes[0] > mdes[1] > mdes[2]
    assert mdes[1] / mdes[2] == pytest.approx(2.0, rel=0.02)
    # identical runs: the spread of independent outcomes stands in, never an MDE of 0
    assert compare(b, b).mde > 0


def test_gate_command_exit_codes_and_files(runs: Runs, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from evals.cli.commands import main

    def run(candidate: RunDir, *extra: str) -> int:
        with pytest.raises(SystemExit) as exc:
            main(["gate", "-c", str(tmp_path / "none.yaml"), "--baseline",
                  str(runs.baseline.path), "--candidate", str(candidate.path), *extra])
        return int(exc.value.code or 0)

    # the repo's evals.yaml sets no gate options: the strict default fails the noise run as
    # underpowered; the lenient opt-out in evals.yaml lets it through
    assert run(runs.noise, "-c", "evals.yaml") == 1
    assert "gsm8k: underpowered, fails (strict, the default): n=80" in capsys.readouterr().out
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("models: [{name: m, path: mock}]\ngate: {strict: false}\n")
    assert run(runs.noise, "-c", str(lenient)) == 0
    assert run(runs.noise, "-c", str(lenient), "--strict") == 1  # the flag still overrides
    summary, junit = tmp_path / "summary.md", tmp_path / "gate.xml"
    capsys.readouterr()
    assert run(runs.regressed, "--markdown", str(summary), "--junit", str(junit)) == 2  # no config
    cfg = tmp_path / "evals.yaml"
    cfg.write_text("models: [{name: m, path: mock}]\ngate: {default_margin: 2.0}\n")
    code = run(runs.regressed, "-c", str(cfg), "--markdown", str(summary), "--junit", str(junit))
    assert code == 1
    assert "regression" in capsys.readouterr().out
    assert "| gsm8k |" in summary.read_text()
    suite = ET.parse(junit).getroot()
    assert suite.find(".//testcase[@name='gsm8k']/failure") is not None
    assert run(runs.no_gsm8k, "-c", str(cfg)) == 2
