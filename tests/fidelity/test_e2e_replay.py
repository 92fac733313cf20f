"""CI's slice of the end-to-end fidelity harness (bench/fidelity, docs/fidelity.md).

``run.py --replay`` sends the same items through OpenCompass 0.5.4's own CLI (its dataset
configs from the wheel, templates, retrievers, inferencers, stop words, postprocessors and
evaluators, on its VLLM / VLLMwithChatTemplate wrappers with the engine replaced by replies)
and through ``evals run`` on the scripted mock backend, whose reply to a prompt the replay
wrappers give too. Without a model, every column of the table can be required to agree:
a changed prompt, stop string, extraction or scorer in either harness fails here. The
benchmarks are the cheapest generation ones, with one that pins each fix of issue 19's
harness work: TheoremQA chat (a config SYSTEM turn joins the user turn, as the chat wrapper
sends it) and TriviaQA (its FixK 5-shot member, the alias scoring).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("EVALS_OC_SITE") or REPO / ".oc-site")
"""OpenCompass --no-deps for evals' interpreter, installed by .ci/install-ref."""
CASES = {"base": ("gsm8k", "triviaqa"), "chat": ("theoremqa", "triviaqa")}
"""One OpenCompass dataset each (an evaluation task costs a process start, ~20 s here)."""
NO_ITEM_VERDICTS = {"theoremqa"}
"""Its config's ``AccEvaluator`` (HF ``evaluate``'s accuracy) reports the corpus number only;
its score and every item's extraction are still compared."""


@pytest.fixture(scope="module")
def oc_site() -> Path:
    if not (SITE / "opencompass").is_dir():
        msg = f"OpenCompass add-on folder missing ({SITE}); run: bash .ci/install-ref"
        if os.environ.get("EVALS_REQUIRE_REF") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return SITE


def replay(work: Path, data_dir: Path, setting: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "EVALS_OC_SITE": str(SITE), "OMP_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "fidelity" / "run.py"), "--replay", "--n", "3",
         "--only", ",".join(names), "--settings", setting, "--work", str(work),
         "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows: list[dict[str, Any]] = json.loads((work / "replay.json").read_text(encoding="utf-8"))
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("setting", sorted(CASES))
def test_both_pipelines_agree_on_every_item(oc_site: Path, data_dir: Path, tmp_path: Path,
                                            setting: str) -> None:
    rows = replay(tmp_path, data_dir, setting, CASES[setting])
    assert sorted(r["benchmark"] for r in rows) == sorted(CASES[setting])
    for r in rows:
        evidence = f"{r['benchmark']} ({setting}): {r['examples']}"
        assert r["n"] == 3, evidence
        assert r["prompts"] == r["outputs"] == r["extracted"] == 3, evidence
        verdicts = 0 if r["benchmark"] in NO_ITEM_VERDICTS else 3
        assert r["compared_scores"] == verdicts and r["scores"] == verdicts, evidence
        assert r["oc_score"] is not None and r["oc_score"] == pytest.approx(r["evals_score"]), \
            evidence
