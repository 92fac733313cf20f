"""The regression gate on run directories made by the scripted mock (a baseline and planted
candidates whose changes are exact), and the paired statistics it rests on."""

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

from evals.backends.mock import MockBackend, default_generate
from evals.config import EvalsConfig, GateConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.gate import exit_code, gate, pair_samples, to_junit, to_markdown
from evals.records import ChatPrompt, GenerateRequest, ModelKind
from evals.rundir import RunDir
from evals.runner import run_model
from evals.stats import compare

N_GSM8K = 80
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
         benchmarks: tuple[str, ...] = ("gsm8k", "hellaswag")) -> RunDir:
    answers = _gsm8k_answers(data_dir)
    limits = {"gsm8k": N_GSM8K, "hellaswag": 12}
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


def _gsm8k_ids(root: Path, data_dir: Path) -> list[str]:
    """The ids the suite's fixed-seed slice selects (a throwaway run with any answers)."""
    probe = _run(root, data_dir, "probe", lambda i: "wrong", benchmarks=("gsm8k",))
    ids = [s.sample_id for s in probe.predictions("gsm8k")]
    shutil.rmtree(probe.path.parent.parent)
    return ids


CFG = GateConfig()


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
    assert hella.verdict == "pass" and hella.score is not None and hella.score.delta == 0.0
    assert report.verdict == "regression" and exit_code(report) == 1

    md = to_markdown(report)
    assert md.startswith("## evals gate: REGRESSION")
    assert "`base`" in md and "`regressed`" in md
    assert "| gsm8k | regression | mcnemar | 80 | 75.00 | 52.50 | -22.50 [" in md
    assert "| hellaswag | pass |" in md

    suite = ET.fromstring(to_junit(report)).find("testsuite")
    assert suite is not None and suite.get("name") == "evals-gate"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["gsm8k"].find("failure")
    assert failure is not None and "delta -22.50" in failure.get("message", "")
    assert cases["hellaswag"].find("failure") is None


def test_noise_level_change_is_not_flagged(runs: Runs) -> None:
    report = gate(runs.baseline, runs.noise, CFG)
    gsm = report.rows[0]
    assert gsm.score is not None and gsm.score.delta == 0.0
    assert gsm.score.p_change == 1.0 and not gsm.score.regression
    # 80 items cannot show non-inferiority within 1 point: inconclusive, which passes...
    assert gsm.verdict == "inconclusive" and gsm.margin_below_mde
    assert exit_code(report) == 0
    assert "Margins below the minimum detectable effect" in to_markdown(report)
    suite = ET.fromstring(to_junit(report)).find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("skipped")) == ("0", "1")
    # ...unless strict
    strict = gate(runs.baseline, runs.noise, GateConfig(strict=True))
    assert exit_code(strict) == 1
    suite = ET.fromstring(to_junit(strict)).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


def test_a_margin_wider_than_the_noise_passes_it(runs: Runs) -> None:
    report = gate(runs.baseline, runs.noise, GateConfig(default_margin=8.0, strict=True))
    assert [r.verdict for r in report.rows] == ["pass", "pass"]
    assert exit_code(report) == 0
    assert "## evals gate: PASS" in to_markdown(report)


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
    assert hella.verdict == "pass"
    assert report.verdict == "bad input" and exit_code(report) == 2
    suite = ET.fromstring(to_junit(report)).find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    assert "| gsm8k | missing |" in to_markdown(report)
    # the other way round, the candidate's extra benchmark is listed, not gated
    reverse = gate(runs.no_gsm8k, runs.baseline, CFG)
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
    assert wide.rows[0].verdict == "pass" and exit_code(wide) == 0
    mid = gate(runs.baseline, runs.regressed, GateConfig(margins={"gsm8k": 25.0}))
    assert mid.rows[0].verdict == "inconclusive" and exit_code(mid) == 0
    assert "| 25.00 |" in to_markdown(mid)


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
    from evals.cli import main

    def run(candidate: RunDir, *extra: str) -> int:
        with pytest.raises(SystemExit) as exc:
            main(["gate", "-c", str(tmp_path / "none.yaml"), "--baseline",
                  str(runs.baseline.path), "--candidate", str(candidate.path), *extra])
        return int(exc.value.code or 0)

    assert run(runs.noise, "-c", "evals.yaml") == 0
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
