"""What the results commands print: a filter naming nothing in the index is a one-line error
with a did-you-mean; every problem of a config file on one line; and output sent to a pipe
or file (as under pytest's capture) neither wraps at 80 columns nor cuts names short."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.cli.commands import main
from evals.config import ModelSpec
from evals.records import (
    RESULTS_SCHEMA,
    SCHEMA_VERSION,
    BenchmarkResult,
    MetricDefinition,
    MetricValue,
    Mode,
)
from tests.conftest import write_config

LONG_BENCH = "a_rather_long_benchmark_name_for_tables"
LONG_METRIC = "accuracy_sentence_level_average"


def _result(name: str, value: float, metric: str = "score") -> BenchmarkResult:
    return BenchmarkResult(benchmark=name, mode=Mode.GEN, shots=0, n=10,
                           primary=MetricValue(metric, value, 1.0),
                           metric=MetricDefinition(metric))


def _fake_run(root: Path, model: ModelSpec, suite: str, results: list[BenchmarkResult]) -> Path:
    """A run directory as the runner writes it (manifest and results, no predictions)."""
    path = root / model.name / suite
    path.mkdir(parents=True)
    manifest = {"schema": SCHEMA_VERSION, "status": "complete", "created": "2024-01-01T00:00:00",
                "model": model.model_dump(mode="json"), "suite": {"name": suite},
                "benchmarks": {r.benchmark: {"mode": "gen", "shots": 0, "n": r.n}
                               for r in results}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    (path / "results.json").write_text(json.dumps(
        {"schema": RESULTS_SCHEMA, "benchmarks": [r.to_json() for r in results],
         "dimensions": []}))
    return path


def _checkpoint(step: int) -> ModelSpec:
    return ModelSpec(name=f"checkpoint-step-{step:07d}", path="mock", kind="base",
                     stage="pretrain", step=step)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Eight checkpoints of a training run (a table far wider than 80 columns)."""
    root = tmp_path / "out"
    for i in range(1, 9):
        _fake_run(root, _checkpoint(1000 * i), "quick", [
            _result("mmlu", 40.0 + i), _result("gsm8k", 10.0 + i),
            _result(LONG_BENCH, 50.0 + i, LONG_METRIC)])
    return root


def _exit(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    printed = capsys.readouterr()
    return int(exc.value.code or 0), printed.out, printed.err


def _error_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith("index ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


# --- 1: index filters naming nothing in the index -------------------------------------------


@pytest.mark.parametrize(("option", "typo", "meant"), [
    ("--benchmark", "mmluu", "mmlu"),
    ("--benchmark", "MMLU", "mmlu"),
    ("--checkpoint", "checkpoint-step-0002000x", "checkpoint-step-0002000"),
    ("--suite", "quik", "quick"),
])
def test_index_filter_naming_nothing_is_one_line_with_a_suggestion(
        root: Path, capsys: pytest.CaptureFixture[str], option: str, typo: str, meant: str
) -> None:
    code, out, err = _exit(["index", str(root), option, typo], capsys)
    assert code == 2
    line = _error_line(err)
    assert f"no {option[2:]} {typo!r} in the index" in line
    assert f"did you mean {meant!r}?" in line
    assert out == ""  # no empty table


def test_index_filter_without_a_close_name_lists_what_is_indexed(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _exit(["index", str(root), "--benchmark", "zzzz"], capsys)
    line = _error_line(err)
    assert code == 2 and "did you mean" not in line
    assert f"(indexed: {LONG_BENCH}, gsm8k, mmlu)" in line


def test_index_filter_on_an_index_without_scores(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (_fake_run(tmp_path, _checkpoint(1000), "quick", []) / "results.json").unlink()
    code, _, err = _exit(["index", str(tmp_path), "--benchmark", "mmlu"], capsys)
    assert code == 2 and "in the index" in _error_line(err)
    assert "it holds no benchmark yet" in _error_line(err)


def test_index_filters_that_exist_still_filter(root: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    main(["index", str(root), "--benchmark", "mmlu", "--suite", "quick",
          "--checkpoint", "checkpoint-step-0003000", "--csv"])
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 2 and rows[1].startswith("checkpoint-step-0003000,base,pretrain,3000")
    assert ",mmlu,score,43.0," in rows[1]


# --- 2: every problem of a config file on one line --------------------------------------------


def test_config_problems_all_on_one_line_with_did_you_mean(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, tmp_path)
    cfg.write_text(cfg.read_text().replace("suites:", "suits:")
                   .replace("batch_size: 4", "batch_size: 0"))
    code, _, err = _exit(["run", "-c", str(cfg)], capsys)
    assert code == 2
    assert _error_line(err) == (
        f"error: {cfg}: 2 problems: field 'runner.batch_size': Input should be greater than or "
        "equal to 1; field 'suits': unknown field; did you mean 'suites'?")


def test_unknown_fields_of_nested_models_and_list_items(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, tmp_path, extra="gate: {margn: 2}\n")
    cfg.write_text(cfg.read_text()
                   .replace("kind: chat,", "knd: chat,")
                   .replace("batch_size: 4,", "batch_size: 4, openai: {base_ur: x},"))
    code, _, err = _exit(["run", "-c", str(cfg)], capsys)
    line = _error_line(err)
    assert code == 2 and f"{cfg}: 3 problems: " in line
    assert "field 'models.0.knd': unknown field; did you mean 'kind'?" in line
    assert "field 'runner.openai.base_ur': unknown field; did you mean 'base_url'?" in line
    assert "field 'gate.margn': unknown field; did you mean 'margins'?" in line


def test_unknown_field_without_a_close_name_lists_the_valid_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, tmp_path, extra="gate: {xyzzy: 1}\n")
    _, _, err = _exit(["run", "-c", str(cfg)], capsys)
    assert _error_line(err) == (
        f"error: {cfg}: field 'gate.xyzzy': unknown field (valid: default_margin, margins, "
        "alpha, parse_failure_margin, strict, bootstrap_samples, seed)")


def test_suite_file_problems_all_on_one_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, tmp_path)
    suite = tmp_path / "typo.yaml"
    suite.write_text("benchmarks:\n  - {name: gsm8k, shot: 0, limit: 0}\n")
    code, _, err = _exit(["run", "-c", str(cfg), "-s", str(suite)], capsys)
    assert code == 2 and _error_line(err) == (
        f"error: {suite}: 2 problems: field 'benchmarks.0.limit': Input should be greater than "
        "or equal to 1; field 'benchmarks.0.shot': unknown field; did you mean 'shots'?")


# --- 3: piped output: no wrapping at 80 columns, names never cut --------------------------------


def _table_rows(text: str) -> list[str]:
    return [x for x in text.splitlines() if x.startswith("|")]


def test_leaderboard_markdown_to_a_pipe_is_unwrapped(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["leaderboard", str(root), "--paper", "-o", str(tmp_path / "lb")])
    out = capsys.readouterr().out
    assert out == (tmp_path / "lb" / "leaderboard.md").read_text().rstrip("\n") + "\n"
    rows = _table_rows(out)
    assert rows and all(r.endswith("|") for r in rows)
    assert max(map(len, rows)) > 80
    assert any(r.startswith("| checkpoint-step-0008000 |") for r in rows)


def test_index_table_to_a_pipe_keeps_rows_and_names_whole(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["index", str(root)])
    out = capsys.readouterr().out
    assert "…" not in out
    header = next(x for x in out.splitlines() if "benchmark" in x)
    assert all(f"checkpoint-step-{1000 * i:07d}" in header for i in range(1, 9))
    row = next(x for x in out.splitlines() if LONG_BENCH in x)
    assert [f"{50.0 + i:.2f}" in row for i in range(1, 9)] == [True] * 8
    assert len(row) > 200  # wider than PIPE_WIDTH: the table sets the width


def test_diff_table_to_a_pipe_keeps_names_whole(root: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    a, b = root / "checkpoint-step-0001000" / "quick", root / "checkpoint-step-0002000" / "quick"
    main(["diff", str(a), str(b)])
    out = capsys.readouterr().out
    assert "…" not in out
    row = next(x for x in out.splitlines() if LONG_BENCH in x)
    assert LONG_METRIC in row and "51.00" in row and "+1.00" in row


def test_diff_markdown_on_stdout(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evals.results.diff import diff_runs, to_markdown
    from evals.results.rundir import RunDir

    a, b = root / "checkpoint-step-0001000" / "quick", root / "checkpoint-step-0002000" / "quick"
    main(["diff", str(a), str(b), "--markdown", "-"])
    out = capsys.readouterr().out
    assert out == to_markdown(diff_runs(RunDir(a), RunDir(b)))
    assert f"| {LONG_BENCH} | {LONG_METRIC} | 51.00 | 52.00 | +1.00 |" in _table_rows(out)
