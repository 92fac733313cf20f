"""``evals data fetch`` / ``status`` against a loopback server acting as the hub and as
GitHub: fixtures written here, their sha256 in a test registry (the benchmarks' DataSpecs with
their remotes pointed at the fixtures); then ``evals run`` reads what was fetched."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from evals.benchmarks import BENCHMARKS
from evals.benchmarks.base import spec_of
from evals.cli.commands import main
from evals.data_sources import DataSpec, RemoteFile, read_sums
from tests.cli_helpers import run_cli
from tests.loopback_hub import HubRepo, Loopback, serve, sha256

REV = "0123456789abcdef0123456789abcdef01234567"

GSM8K_ROWS = [{"question": f"Tom has {n} apples and buys 2 more. How many now?",
               "answer": f"{n} + 2 = {n + 2}\n#### {n + 2}"} for n in range(3, 8)]
GSM8K_TEST = "".join(json.dumps(r) + "\n" for r in GSM8K_ROWS).encode()
GSM8K_LICENSE = b"MIT License (fixture)\n"


def _parquet(rows: list[dict[str, object]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def _mmlu_rows(n: int, split: str) -> list[dict[str, object]]:
    return [{"question": f"{split} question {i}: which is first?", "subject": "anatomy",
             "choices": ["alpha", "beta", "gamma", "delta"], "answer": i % 4} for i in range(n)]


MMLU_TEST = _parquet(_mmlu_rows(6, "test"))
MMLU_DEV = _parquet(_mmlu_rows(5, "dev"))
FLORES = b'{"text": "x"}\n'
IFEVAL = b'{"key": 1000, "prompt": "Write two lines.", "instruction_id_list": [], "kwargs": []}\n'


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Loopback]:
    """The server, the environment pointed at it, and the test registry in place of the real
    one: gsm8k from "GitHub" with pinned checksums, mmlu from the "hub" by pattern (the hub's
    LFS sha256), flores gated."""
    import huggingface_hub.constants

    state = Loopback(
        hub={"cais/mmlu": HubRepo(REV, {"all/test-00000-of-00001.parquet": MMLU_TEST,
                                        "all/dev-00000-of-00001.parquet": MMLU_DEV,
                                        "README.md": b"# mmlu\n"}),
             "google/IFEval": HubRepo(REV, {"ifeval_input_data.jsonl": IFEVAL}),
             "openlanguagedata/flores_plus": HubRepo(REV, {"devtest/eng_Latn.jsonl": FLORES},
                                                     gated=True)},
        github={f"openai/grade-school-math/{REV}/grade_school_math/data/test.jsonl": GSM8K_TEST,
                f"openai/grade-school-math/{REV}/LICENSE": GSM8K_LICENSE})
    with serve(state):
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_ENDPOINT", state.url)
        monkeypatch.setenv("EVALS_GITHUB_RAW", state.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        _test_registry(monkeypatch)
        yield state


def _test_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    gsm8k = spec_of("gsm8k")
    mmlu = spec_of("mmlu")
    flores = spec_of("flores")
    ifeval = spec_of("ifeval")
    assert gsm8k and mmlu and flores and ifeval
    assert gsm8k.remote and mmlu.remote and flores.remote and ifeval.remote
    files = (RemoteFile("grade_school_math/data/test.jsonl", "gsm8k/test.jsonl",
                        sha256(GSM8K_TEST), len(GSM8K_TEST)),
             RemoteFile("LICENSE", "gsm8k/LICENSE", sha256(GSM8K_LICENSE)))
    specs: dict[str, DataSpec] = {
        "gsm8k": replace(gsm8k, remote=replace(gsm8k.remote, revision=REV, files=files),
                         items=len(GSM8K_ROWS)),
        "mmlu": replace(mmlu, remote=replace(mmlu.remote, revision=REV), items=6),
        "flores": replace(flores, remote=replace(flores.remote, revision=REV)),
        "ifeval": replace(ifeval, remote=replace(ifeval.remote, revision=REV), items=1),
    }
    for name, spec in specs.items():
        monkeypatch.setattr(type(BENCHMARKS.get(name)), "data", spec)
    sums = {f.dest: f.sha256 for f in files if f.sha256}
    monkeypatch.setattr("evals.data_sources.known_checksums", lambda: sums)
    monkeypatch.setattr("evals.fetch.known_checksums", lambda: sums)


def _config(tmp: Path, data: Path, benchmarks: str) -> Path:
    (tmp / "fetched.yaml").write_text(f"name: fetched\nbenchmarks:\n{benchmarks}")
    cfg = tmp / "evals.yaml"
    cfg.write_text(f"data_dir: {data}\noutput_dir: {tmp / 'out'}\n"
                   "models:\n  - {name: m, path: /ckpt/m, kind: base, stage: base}\n"
                   f"suites: [{tmp / 'fetched.yaml'}]\nrunner: {{backend: mock}}\n")
    return cfg


SUITE = ("  - {name: gsm8k, shots: 4, limit: 2}\n"
         "  - {name: mmlu, mode: ppl, shots: 5, limit: 2}\n")


def _row(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(name + " "))


def test_fetch_then_status_then_run(hub: Loopback, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = _config(tmp_path, data, SUITE)
    code, out, err = run_cli(["data", "status", "-c", str(cfg)], capsys)
    assert code == 1 and "missing" in _row(out, "gsm8k") and "missing" in _row(out, "mmlu")
    assert "`evals data fetch -b gsm8k -b mmlu`" in err

    code, _, err = run_cli(["data", "fetch", "-c", str(cfg)], capsys)
    assert code == 0, err
    assert (data / "gsm8k" / "test.jsonl").read_bytes() == GSM8K_TEST
    assert (data / "hub/cais/mmlu/all/test-00000-of-00001.parquet").read_bytes() == MMLU_TEST
    assert not (data / "hub/cais/mmlu/README.md").exists()  # only the patterns asked for
    lock = read_sums((data / ".evals-fetched.sha256").read_text())
    assert lock == {"hub/cais/mmlu/all/test-00000-of-00001.parquet": sha256(MMLU_TEST),
                    "hub/cais/mmlu/all/dev-00000-of-00001.parquet": sha256(MMLU_DEV)}

    code, out, err = run_cli(["data", "status", "-c", str(cfg)], capsys)
    assert code == 0, out + err
    gsm8k, mmlu = _row(out, "gsm8k").split(), _row(out, "mmlu").split()
    assert gsm8k[1:6] == ["present", "5", "/", "5", "ok"]
    assert mmlu[1:6] == ["present", "6", "/", "6", "ok"]
    assert "all 2 present" in err

    code, _, err = run_cli(["data", "fetch", "-c", str(cfg)], capsys)  # nothing left to do
    assert code == 0 and "gsm8k: present" in err and "mmlu: present" in err

    requests_before = len(hub.requests)
    main(["run", "-c", str(cfg)])
    assert len(hub.requests) == requests_before  # a run never contacts the hub
    results = json.loads((tmp_path / "out" / "m" / "fetched" / "results.json").read_text())
    ran = {b["benchmark"]: b for b in results["benchmarks"]}
    assert set(ran) == {"gsm8k", "mmlu"}
    assert ran["gsm8k"]["n"] == 2 and ran["mmlu"]["n"] == 2
    assert results["skipped"] == []
    predictions = tmp_path / "out" / "m" / "fetched" / "predictions"
    gsm8k_prompts = [json.loads(x)["prompt"] for x in
                     (predictions / "gsm8k.jsonl").read_text().splitlines()]
    asked = [p.rsplit("Question: ", 1)[1] for p in gsm8k_prompts]
    questions = [r["question"] for r in GSM8K_ROWS]
    assert all(a.split("\n")[0] in questions for a in asked) and len(set(asked)) == 2
    mmlu_prompts = (predictions / "mmlu.jsonl").read_text()
    assert "test question 0: which is first?" in mmlu_prompts
    assert "dev question 4: which is first?" in mmlu_prompts  # the fetched dev split's shots


def test_a_corrupted_file_is_refused_and_kept_aside(hub: Loopback, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = _config(tmp_path, data, SUITE)
    hub.corrupt |= {f"openai/grade-school-math/{REV}/grade_school_math/data/test.jsonl",
                    "all/dev-00000-of-00001.parquet"}
    code, _, err = run_cli(["data", "fetch", "-c", str(cfg)], capsys)
    assert code == 2
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(lines) == 3, err  # gsm8k, mmlu, the closing line
    assert "gsm8k: grade_school_math/data/test.jsonl has sha256" in lines[0]
    assert f"the pinned source says {sha256(GSM8K_TEST)[:12]}" in lines[0]
    assert "mmlu: all/dev-00000-of-00001.parquet has sha256" in lines[1]
    assert "2 set(s) failed (gsm8k, mmlu)" in lines[2]
    assert not (data / "gsm8k" / "test.jsonl").exists()
    rejected = data / "gsm8k" / "test.jsonl.rejected"
    assert rejected.read_bytes() != GSM8K_TEST and len(rejected.read_bytes()) == len(GSM8K_TEST)
    assert not (data / "hub/cais/mmlu/all/dev-00000-of-00001.parquet").exists()

    code, out, _ = run_cli(["data", "status", "-c", str(cfg)], capsys)
    assert code == 1 and "missing" in _row(out, "gsm8k")

    # a hub file kept in git (no LFS sha256) is checked against its git blob id
    code, _, err = run_cli(["data", "fetch", "-c", str(cfg), "-b", "ifeval"], capsys)
    assert code == 0, err
    (data / "hub/google/IFEval/ifeval_input_data.jsonl").unlink()
    hub.corrupt.add("ifeval_input_data.jsonl")
    code, _, err = run_cli(["data", "fetch", "-c", str(cfg), "-b", "ifeval"], capsys)
    assert code == 2 and "ifeval: ifeval_input_data.jsonl has git blob id" in err

    hub.corrupt.clear()  # the source is right again: the next fetch puts the real file in place
    code, _, err = run_cli(["data", "fetch", "-c", str(cfg)], capsys)
    assert code == 0, err
    assert (data / "gsm8k" / "test.jsonl").read_bytes() == GSM8K_TEST


def test_a_file_changed_after_fetch_is_a_mismatch(hub: Loopback, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = _config(tmp_path, data, SUITE)
    assert run_cli(["data", "fetch", "-c", str(cfg)], capsys)[0] == 0
    target = data / "hub/cais/mmlu/all/test-00000-of-00001.parquet"
    target.write_bytes(_parquet(_mmlu_rows(6, "edited")))
    code, out, _ = run_cli(["data", "status", "-c", str(cfg)], capsys)
    assert code == 1 and "mismatch" in _row(out, "mmlu") and "ok" in _row(out, "gsm8k")
    assert "mmlu: checksum mismatch: hub/cais/mmlu/all/test-00000-of-00001.parquet" in out
    # fetch sees the mismatch and gets the pinned file again
    assert run_cli(["data", "fetch", "-c", str(cfg)], capsys)[0] == 0
    assert target.read_bytes() == MMLU_TEST


def test_an_interrupted_download_resumes(hub: Loopback, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = _config(tmp_path, data, "  - {name: gsm8k, shots: 4, limit: 2}\n")
    key = f"openai/grade-school-math/{REV}/grade_school_math/data/test.jsonl"
    hub.cut_once.add(key)
    code, _, err = run_cli(["data", "fetch", "-c", str(cfg)], capsys)
    assert code == 2 and "run the same command again to resume" in err
    part = data / "gsm8k" / "test.jsonl.part"
    assert part.stat().st_size == len(GSM8K_TEST) // 2
    code, _, err = run_cli(["data", "fetch", "-c", str(cfg)], capsys)
    assert code == 0, err
    ranges = [r for m, p, r in hub.requests if p == "/" + key and m == "GET"]
    assert ranges == [None, f"bytes={len(GSM8K_TEST) // 2}-"]
    assert (data / "gsm8k" / "test.jsonl").read_bytes() == GSM8K_TEST
    assert not part.exists()


def test_a_gated_set_without_a_token_is_one_line(hub: Loopback, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = _config(tmp_path, data, "  - {name: flores}\n")
    code, _, err = run_cli(["data", "fetch", "-c", str(cfg)], capsys)
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2
    assert lines[0] == ("error: flores: hub dataset openlanguagedata/flores_plus is gated: accept "
                        "its terms on its page and set HF_TOKEN to a token of that account")
    assert len(lines) == 2 and "1 set(s) failed (flores)" in lines[1]
    assert not any(data.rglob("*.jsonl"))


def test_offline_refuses_at_once(hub: Loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = tmp_path / "data"
    data.mkdir()
    cfg = _config(tmp_path, data, SUITE)
    code, _, err = run_cli(["data", "fetch", "-c", str(cfg)], capsys)
    assert code == 2 and "gsm8k: offline (HF_HUB_OFFLINE=1)" in err
    assert hub.requests == []


LEVAL_UNPINNED = ["LEval-data/Open-ended-tasks/narrative_qa.jsonl"]
"""Too large for GitHub's raw host to have served it to us; its commit pins it."""


def test_every_remote_is_pinned() -> None:
    """Every remote names a full commit (a branch would let the data change under its
    checksums); every GitHub file has its sha256; a set without a remote says how to get it."""
    import re

    for name in BENCHMARKS:
        spec = spec_of(name)
        assert spec is not None, name
        if spec.remote is not None:
            assert re.fullmatch(r"[0-9a-f]{40}", spec.remote.revision), name
            assert spec.remote.files, name
            if spec.remote.host == "github":  # no LFS record to check against: pinned here
                unpinned = [f.path for f in spec.remote.files if not f.sha256]
                assert unpinned in ([], LEVAL_UNPINNED), name
        else:
            assert spec.manual or not spec.layouts, name


def test_an_interrupted_hub_download_resumes(hub: Loopback, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = _config(tmp_path, data, "  - {name: mmlu, mode: ppl, shots: 5, limit: 2}\n")
    """huggingface_hub retries a dropped transfer itself (from its .incomplete file when it
    kept bytes, from the start when it kept none): one command, the right file."""
    hub.cut_once.add("all/test-00000-of-00001.parquet")
    code, _, err = run_cli(["data", "fetch", "-c", str(cfg)], capsys)
    assert code == 0, err
    path = f"/datasets/cais/mmlu/resolve/{REV}/all/test-00000-of-00001.parquet"
    assert len([r for m, p, r in hub.requests if p == path and m == "GET"]) == 2
    assert (data / "hub/cais/mmlu/all/test-00000-of-00001.parquet").read_bytes() == MMLU_TEST
