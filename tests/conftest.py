"""Shared fixtures. Nothing here reaches the network: the hub is forced offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "2")

REPO = Path(__file__).resolve().parent.parent


def _isolation() -> bool:
    from evals.sandbox.process import isolation_available

    return isolation_available()


needs_isolation = pytest.mark.skipif(
    os.environ.get("EVALS_REQUIRE_ISOLATION") != "1" and not _isolation(),
    reason="needs root for the sandbox's namespaces and per-run uids")
"""Containment tests: skipped without isolation, except where EVALS_REQUIRE_ISOLATION=1 (CI,
which runs as root): there they run, and fail if the sandbox is not isolated."""
SHARED_DATA = Path(os.environ.get("EVALS_DATA_DIR") or REPO.parent / "shared" / "data").resolve()
"""The real data: ``EVALS_DATA_DIR`` when set, else ``../shared/data`` beside the checkout."""


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Tests that need real data skip without it, except where ``EVALS_REQUIRE_DATA=1`` (CI):
    there a missing data folder fails them, so CI can never pass by skipping."""
    if not SHARED_DATA.is_dir():
        msg = f"data not found at {SHARED_DATA} (set EVALS_DATA_DIR or put ../shared/data beside)"
        if os.environ.get("EVALS_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return SHARED_DATA


FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(scope="session")
def merged_data_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared data plus our fixtures for the sets shared data lacks (RACE, LongBench,
    MathBench, MBPP-CN): what a user's data_dir looks like once they have every set."""
    root = tmp_path_factory.mktemp("data")
    for entry in data_dir.iterdir():
        (root / entry.name).symlink_to(entry)
    if FIXTURES.is_dir():
        for entry in FIXTURES.iterdir():
            if entry.is_dir() and not (root / entry.name).exists():
                (root / entry.name).symlink_to(entry)
    return root


def write_config(tmp: Path, data_dir: Path, backend: str = "mock", extra: str = "") -> Path:
    cfg = tmp / "evals.yaml"
    cfg.write_text(
        f"data_dir: {data_dir}\n"
        f"output_dir: {tmp / 'out'}\n"
        "models:\n"
        "  - {name: m, path: embedded:smollm2-135m-instruct, kind: chat, stage: sft}\n"
        "suites: [quick]\n"
        f"runner: {{backend: {backend}, batch_size: 4, dtype: float32, max_model_len: 2048}}\n"
        + extra
    )
    return cfg


def sandbox_processes() -> list[int]:
    """Live processes running as any sandbox uid (each run and session draws its own)."""
    from evals.sandbox.process import SANDBOX_UIDS

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields.get("Uid", "-1").split()[0])
        if SANDBOX_UIDS[0] <= uid < SANDBOX_UIDS[1] and not fields.get("State", "").startswith(" Z") \
                and fields.get("State", "").split()[:1] != ["Z"]:
            found.append(int(entry.name))
    return found
