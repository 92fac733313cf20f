"""The registry against lm-eval 0.4.13's own task files (installed with it; no network): where
lm-eval has a benchmark, our hub dataset and config are lm-eval's, except where named below
with the reason; and the registry's own invariants."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import yaml

from evals.benchmarks import BENCHMARKS
from evals.benchmarks.base import spec_of
from evals.data_sources import known_checksums

LM_EVAL_TASKS: dict[str, tuple[str, bool]] = {
    # ours: (lm-eval's task file under lm_eval/tasks, lm-eval uses one config per subject)
    "mmlu": ("mmlu/default/_default_template_yaml", True),
    "cmmlu": ("cmmlu/_default_template_yaml", True),
    "ceval": ("ceval/_default_ceval_yaml", True),
    "bbh": ("bbh/fewshot/_fewshot_template_yaml", True),
    "math": ("hendrycks_math/hendrycks_math_algebra.yaml", True),
    "longbench": ("longbench/qasper.yaml", True),
    "hellaswag": ("hellaswag/hellaswag.yaml", False),
    "gsm8k": ("gsm8k/gsm8k.yaml", False),
    "humaneval": ("humaneval/humaneval.yaml", False),
    "winogrande": ("winogrande/default.yaml", False),
    "triviaqa": ("triviaqa/default.yaml", False),
    "nq": ("nq_open/nq_open.yaml", False),
    "race_high": ("race/race.yaml", False),
    "ifeval": ("ifeval/ifeval.yaml", False),
    "mbpp": ("mbpp/mbpp.yaml", False),
}

CONFIG_EXCEPTIONS = {
    "mbpp": ("sanitized", "full", "InternLM2 reports MBPP on the sanitized split (OpenCompass's "
             "sanitized_mbpp config); lm-eval's mbpp task reads the full one"),
}
REPO_EXCEPTIONS = {
    "agieval": "lm-eval splits AGIEval into one hub repo per task (hails/agieval-*); we read "
               "the upstream GitHub release at a commit, which OpenCompass uses too",
    "race_high": "the files come from ehovy/race (RACE as released); lm-eval's EleutherAI/race "
                 "regroups questions by article. The identity we declare is lm-eval's",
}


class _Lenient(yaml.SafeLoader):
    """lm-eval's YAMLs carry ``!function`` tags; their values are not needed here."""


_Lenient.add_multi_constructor("!", lambda loader, suffix, node: None)


def _lm_eval_yaml(relative: str) -> dict[str, Any]:
    spec = find_spec("lm_eval")
    if spec is None or spec.origin is None:
        pytest.skip("lm-eval not installed")
    path = Path(spec.origin).parent / "tasks" / relative
    data: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_Lenient)
    return data


@pytest.mark.parametrize("ours", sorted(LM_EVAL_TASKS))
def test_hub_id_and_config_are_lm_evals(ours: str) -> None:
    relative, per_subject = LM_EVAL_TASKS[ours]
    task = _lm_eval_yaml(relative)
    spec = spec_of(ours)
    assert spec is not None and spec.remote is not None and spec.remote.hub is not None, ours
    repo, config = spec.remote.hub
    assert repo == task["dataset_path"], ours
    if per_subject:  # lm-eval: one config per subject; ours: every subject ("all" or none)
        assert config in (None, "all"), ours
    elif ours in CONFIG_EXCEPTIONS:
        mine, theirs, _ = CONFIG_EXCEPTIONS[ours]
        assert (config, task.get("dataset_name")) == (mine, theirs)
    else:
        assert config == task.get("dataset_name"), ours
    if spec.remote.host == "hub" and ours not in REPO_EXCEPTIONS:
        assert spec.remote.repo == repo, ours  # the files come from the repo lm-eval reads


def test_exceptions_are_still_exceptions() -> None:
    """A named exception that no longer differs is removed, not kept as a stale excuse."""
    race = spec_of("race_high")
    assert race is not None and race.remote is not None and race.remote.hub is not None
    assert race.remote.repo != race.remote.hub[0]
    agieval = spec_of("agieval")
    assert agieval is not None and agieval.remote is not None
    assert agieval.remote.host == "github" and agieval.remote.hub is None


def test_every_benchmark_has_a_registry_entry() -> None:
    missing = [n for n in BENCHMARKS if spec_of(n) is None]
    assert missing == []


def test_known_checksums_cover_the_pinned_files() -> None:
    """Every file a GitHub remote pins by sha256 is in the registry's checksum table (so
    ``data status`` can verify it after it is placed) with the same value."""
    known = known_checksums()
    for name in BENCHMARKS:
        spec = spec_of(name)
        assert spec is not None
        if spec.remote is None:
            continue
        for f in spec.remote.files:
            if f.sha256 is not None:
                assert known.get(f.dest) == f.sha256, (name, f.dest)
