"""Each user mistake gets one line naming the file, field or path, and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.cli.commands import main
from tests.conftest import write_config


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.strip()
    return int(exc.value.code or 0), err


def _one_line(err: str) -> str:
    """The error is one line (a progress banner before it is not part of the error)."""
    lines = [x for x in err.splitlines() if x.strip() and " with mock" not in x
             and " with hf" not in x]
    assert len(lines) == 1, err
    return lines[0]


def test_bad_yaml_syntax(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "evals.yaml"
    cfg.write_text("models: [\n")
    code, err = _run(["run", "-c", str(cfg)], capsys)
    assert code == 2
    assert str(cfg) in _one_line(err) and "YAML" in err


def test_bad_field_names_file_and_field(tmp_path: Path, data_dir: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, data_dir)
    cfg.write_text(cfg.read_text().replace("backend: mock", "backend: tpu"))
    code, err = _run(["run", "-c", str(cfg)], capsys)
    assert code == 2
    line = _one_line(err)
    assert str(cfg) in line and "runner.backend" in line


def test_unknown_field_is_rejected(tmp_path: Path, data_dir: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, data_dir, extra="shots: 5\n")
    code, err = _run(["run", "-c", str(cfg)], capsys)
    assert code == 2 and "'shots'" in _one_line(err)


def test_unknown_benchmark_suggests(tmp_path: Path, data_dir: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, data_dir)
    suite = tmp_path / "typo.yaml"
    suite.write_text("benchmarks:\n  - {name: gsm8kk}\n")
    code, err = _run(["run", "-c", str(cfg), "-s", str(suite)], capsys)
    assert code == 2 and "did you mean 'gsm8k'" in _one_line(err)


def test_unknown_suite(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, data_dir)
    code, err = _run(["run", "-c", str(cfg), "-s", "nope"], capsys)
    assert code == 2 and "unknown suite 'nope'" in _one_line(err)


def test_unsupported_mode(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, data_dir)
    suite = tmp_path / "s.yaml"
    suite.write_text("benchmarks:\n  - {name: gsm8k, mode: ppl}\n")
    code, err = _run(["run", "-c", str(cfg), "-s", str(suite)], capsys)
    assert code == 2 and "mode ppl unsupported" in _one_line(err)


def test_missing_data_names_benchmark_and_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "nodata"
    empty.mkdir()
    cfg = write_config(tmp_path, empty)
    code, err = _run(["run", "-c", str(cfg)], capsys)
    line = _one_line(err)
    assert code == 2 and line.startswith(f"error: data missing under {empty} for 3 benchmark(s)")
    assert "mmlu, hellaswag, gsm8k;" in line
    assert "`evals data fetch -b mmlu -b hellaswag -b gsm8k`" in line


def test_bad_model_path(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, data_dir, backend="hf")
    code, err = _run(["run", "-c", str(cfg), "-m", str(tmp_path / "no-such-ckpt")], capsys)
    line = _one_line(err)
    assert code == 2 and "no-such-ckpt" in line and "config.json" in line


def test_error_after_work_keeps_cached_responses(tmp_path: Path, data_dir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A finished run's cache survives a later failing run with a bad suite line."""
    cfg = write_config(tmp_path, data_dir)
    main(["run", "-c", str(cfg), "--limit", "2"])
    capsys.readouterr()
    cache = tmp_path / "out" / ".cache" / "responses.sqlite"
    size = cache.stat().st_size
    suite = tmp_path / "bad.yaml"
    suite.write_text("benchmarks:\n  - {name: mmlu, limit: 0}\n")
    code, err = _run(["run", "-c", str(cfg), "-s", str(suite)], capsys)
    assert code == 2 and "benchmarks.0.limit" in _one_line(err)
    assert cache.stat().st_size == size
    results = json.loads((tmp_path / "out" / "m" / "quick" / "results.json").read_text())
    assert len(results["benchmarks"]) == 4


def test_dimension_naming_a_benchmark_not_in_the_suite(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, data_dir)
    suite = tmp_path / "dims.yaml"
    suite.write_text("benchmarks:\n  - {name: gsm8k}\ndimensions:\n  math: [gsm8k, mathh]\n")
    code, err = _run(["run", "-c", str(cfg), "-s", str(suite)], capsys)
    line = _one_line(err)
    assert code == 2 and str(suite) in line and "mathh" in line


def test_dimensions_average_and_max_tokens_cap(tmp_path: Path, data_dir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, data_dir)
    suite = tmp_path / "dims.yaml"
    suite.write_text("benchmarks:\n  - {name: gsm8k, limit: 3}\n  - {name: mmlu, limit: 3}\n"
                     "dimensions:\n  both: [gsm8k, mmlu]\n  one: [mmlu]\n")
    main(["run", "-c", str(cfg), "-s", str(suite), "--max-tokens", "7"])
    assert "dimensions" in capsys.readouterr().out
    results = json.loads((tmp_path / "out" / "m" / "dims" / "results.json").read_text())
    scores = {b["benchmark"]: b["primary"]["value"] for b in results["benchmarks"]}
    dims = {d["name"]: d for d in results["dimensions"]}
    assert dims["both"]["value"] == pytest.approx((scores["gsm8k"] + scores["mmlu"]) / 2)
    assert dims["one"]["value"] == pytest.approx(scores["mmlu"])
    preds = (tmp_path / "out" / "m" / "dims" / "predictions" / "gsm8k.jsonl").read_text()
    assert preds.count("\n") == 3


def test_max_tokens_cap_applies_to_generation_only() -> None:
    from evals.config import ModelSpec, SuiteSpec
    from evals.records import GenerateRequest
    from evals.run.runner import plan_suite
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip("shared data missing")
    suite = SuiteSpec.model_validate({"name": "s", "benchmarks": [{"name": "gsm8k", "limit": 2}]})
    model = ModelSpec(name="m", path="x", kind="chat", stage="sft")
    plan = plan_suite(suite, model, SHARED_DATA, Path("/nonexistent"), max_tokens=7)
    reqs = [r for rs in plan.benchmarks[0].requests for r in rs]
    assert reqs and all(isinstance(r, GenerateRequest) and r.params.max_tokens == 7 for r in reqs)


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"name: caf\xe9\n",
                                     b"\xff\xfe m\x00o\x00"])
@pytest.mark.parametrize("which", ["config", "suite"])
def test_a_binary_or_non_utf8_file_is_one_line(tmp_path: Path, data_dir: Path, content: bytes,
                                               which: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, data_dir)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    args = ["run", "-c", str(bad)] if which == "config" else ["run", "-c", str(cfg), "-s", str(bad)]
    code, err = _run(args, capsys)
    line = _one_line(err)
    assert code == 2 and str(bad) in line and "UTF-8" in line


def _blocked(tmp_path: Path) -> tuple[Path, Path]:
    """A path under a file (not a directory) and one nobody can create (root included)."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    return afile / "sub", Path("/proc/self/evals-cannot-write-here")


@pytest.mark.parametrize("field", ["output_dir", "cache_dir"])
def test_unwritable_output_and_cache_dirs_are_one_line(
    tmp_path: Path, data_dir: Path, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for blocked in _blocked(tmp_path):
        cfg = write_config(tmp_path, data_dir, extra=f"{field}: {blocked}\n"
                           if field == "cache_dir" else "")
        if field == "output_dir":
            cfg.write_text(cfg.read_text().replace(f"output_dir: {tmp_path / 'out'}",
                                                   f"output_dir: {blocked}"))
        code, err = _run(["run", "-c", str(cfg), "--limit", "1"], capsys)
        line = _one_line(err)
        assert code == 2 and line.startswith(f"error: {field} ") and str(blocked) in line


def test_unwritable_report_and_leaderboard_outputs_are_one_line(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, data_dir)
    main(["run", "-c", str(cfg), "--limit", "1"])
    capsys.readouterr()
    run_dir = str(tmp_path / "out" / "m" / "quick")
    under_file, impossible = _blocked(tmp_path)
    cases = [(["report", run_dir, "-o", str(under_file / "r.html")], "report -o"),
             (["report", run_dir, "-o", str(impossible / "r.html")], "report -o"),
             (["report", run_dir, "-o", str(tmp_path)], "report -o"),
             (["leaderboard", run_dir, "-o", str(under_file)], "leaderboard -o"),
             (["leaderboard", run_dir, "-o", str(impossible)], "leaderboard -o"),
             (["leaderboard", run_dir, "-o", str(tmp_path / "afile")], "leaderboard -o")]
    for args, what in cases:
        code, err = _run(args, capsys)
        line = _one_line(err)
        assert code == 2 and line.startswith(f"error: {what} "), line
