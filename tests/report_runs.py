"""Run directories of a simulated training run, for the report tests: three pretraining
checkpoints, base, SFT and RLHF, made by the runner on scripted mock backends so that the
changes between checkpoints are planted exactly.

GSM8K answers are scripted per checkpoint (right on the first ``RIGHT[name]`` items, no
number at all on the last ``UNPARSEABLE`` items, a wrong number otherwise):

- pretrain-1k -> pretrain-2k: +2 items, a noise-level change no paired test calls significant;
- base -> sft: +14 items (significant), sft -> rlhf: -10 items (significant, negative).

MMLU and WinoGrande (PPL) get the mock's arbitrary log-likelihoods, the same for every
checkpoint of a kind (no change at all). The RLHF
checkpoint also runs a needle test (single_needle_en) and a judged set (MT-Bench, with a
scripted judge), so every section of the report has something to show.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evals.backends.mock import MockBackend
from evals.benchmarks.base import select
from evals.config import EvalsConfig, JudgeConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.records import ChatPrompt, GenerateRequest
from evals.run.runner import run_model

LIMIT = 30
UNPARSEABLE = 3  # the last items: no number in the answer (extraction failures)
RIGHT = {"pretrain-1k": 6, "pretrain-2k": 8, "pretrain-3k": 12, "base": 14, "sft": 28,
         "rlhf": 18}
SCRIPT_INJECTION = "</script><script>window.__pwned = 1;</script>"
"""An answer that would break out of an embedded <script> if the report did not escape it."""
PROMPT_INJECTION = '<script>alert("prompt")</script><b>bold?</b> '
"""Planted at the start of one RLHF GSM8K prompt after the run: prompts come from data files,
which nobody vets for markup."""

MODELS = (
    ModelSpec(name="pretrain-1k", path="mock", kind="base", stage="pretrain", step=1000,
              tokens_seen=2_000_000_000),
    ModelSpec(name="pretrain-2k", path="mock", kind="base", stage="pretrain", step=2000,
              tokens_seen=4_000_000_000),
    ModelSpec(name="pretrain-3k", path="mock", kind="base", stage="pretrain", step=3000,
              tokens_seen=6_000_000_000),
    ModelSpec(name="base", path="mock", kind="base", stage="base"),
    ModelSpec(name="sft", path="mock", kind="chat", stage="sft"),
    ModelSpec(name="rlhf", path="mock", kind="chat", stage="rlhf"),
)
SUITE = SuiteSpec.model_validate({
    "name": "tiny",
    "benchmarks": [{"name": "gsm8k", "mode": "gen", "limit": LIMIT, "max_tokens": 64},
                   {"name": "mmlu", "mode": "ppl", "shots": 0, "limit": LIMIT},
                   {"name": "winogrande", "mode": "ppl", "limit": LIMIT}],
    "dimensions": {"reasoning_math": ["gsm8k", "winogrande"], "examination": ["mmlu"]},
})
_QUESTION = re.compile(r"Question: ((?:(?!Question: ).)*)\nLet's think step by step\nAnswer:\s*$", re.S)


def _gsm8k_items(data_dir: Path) -> dict[str, tuple[int, str]]:
    """question -> (rank, answer) of the LIMIT items the runner draws (rank: the item's
    place among them, in data order)."""
    lines = (data_dir / "gsm8k/test.jsonl").read_text(encoding="utf-8").splitlines()
    out = {}
    for rank, i in enumerate(select(range(len(lines)), LIMIT)):
        row = json.loads(lines[i])
        out[row["question"]] = (rank, row["answer"].split("#### ")[1].replace(",", "").strip())
    return out


class Checkpoint(MockBackend):
    """One simulated checkpoint: its own fingerprint (so the response cache never hands one
    checkpoint's answers to another) and its scripted GSM8K accuracy."""

    def __init__(self, name: str, items: dict[str, tuple[int, str]]) -> None:
        super().__init__(generate_fn=self._answer)
        self.model = name
        self.items = items

    def fingerprint(self) -> str:
        return f"mock-{self.model}"

    def _answer(self, r: GenerateRequest) -> str:
        prompt = r.prompt.messages[-1].content if isinstance(r.prompt, ChatPrompt) else (
            r.prompt.text)
        match = _QUESTION.search(prompt)
        if match is None:  # not GSM8K (MT-Bench, needle): a fixed reply
            return "answer"
        index, answer = self.items[match.group(1)]
        if index == 0 and self.model == "rlhf":
            return f"{SCRIPT_INJECTION} The answer is {answer}"
        if index >= LIMIT - UNPARSEABLE:
            return "I cannot work this out."
        return f"The answer is {answer if index < RIGHT[self.model] else int(answer) + 1}"



class Judge(MockBackend):
    """Grades every answer ``grade``; one fingerprint per grade, or the verdict cache would
    hand one checkpoint's grades to the other."""

    def __init__(self, grade: int) -> None:
        super().__init__(generate_fn=lambda r: f"Fine. Rating: [[{grade}]]")
        self.grade = grade

    def fingerprint(self) -> str:
        return f"judge-{self.grade}"


def make_runs(root: Path, data_dir: Path) -> list[Path]:
    """Every run directory of the simulated training run, under ``root``."""
    items = _gsm8k_items(data_dir)
    out = []
    for model in MODELS:
        config = EvalsConfig(data_dir=str(data_dir), output_dir=str(root), models=[model],
                             runner=RunnerConfig(backend="mock"))
        (outcome,) = run_model(config, root, model, [SUITE],
                               backend_builder=lambda spec, m=model: Checkpoint(m.name, items))
        out.append(outcome.run_dir)
    out += _judged(root, data_dir, items)
    out.append(_needle(root, data_dir))
    _plant_prompt(root / "rlhf" / SUITE.name / "predictions" / "gsm8k.jsonl")
    return out


_BUILT: dict[Path, Path] = {}


def shared_runs(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The runs, made once per test session for every module that asks (module-scoped
    fixtures calling this share one set)."""
    if data_dir not in _BUILT:
        root = tmp_path_factory.mktemp("report_runs")
        make_runs(root, data_dir)
        _BUILT[data_dir] = root
    return _BUILT[data_dir]


def _plant_prompt(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["prompt"][-1]["content"] = PROMPT_INJECTION + first["prompt"][-1]["content"]
    lines[0] = json.dumps(first, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _judged(root: Path, data_dir: Path, items: dict[str, tuple[int, str]]) -> list[Path]:
    suite = SuiteSpec.model_validate({"name": "subjective",
                                      "benchmarks": [{"name": "mt_bench", "limit": 4}]})
    out = []
    for model, grade in ((MODELS[4], 6), (MODELS[5], 8)):
        config = EvalsConfig(data_dir=str(data_dir), output_dir=str(root), models=[model],
                             runner=RunnerConfig(backend="mock"),
                             judge=JudgeConfig(name="scripted-judge", backend="mock"))
        (outcome,) = run_model(config, root, model, [suite],
                               backend_builder=lambda spec, m=model: Checkpoint(m.name, items),
                               judge_builder=lambda spec, g=grade: Judge(g))
        out.append(outcome.run_dir)
    return out


def _needle(root: Path, data_dir: Path) -> Path:
    model = ModelSpec(name="rlhf", path="embedded:smollm2-135m-instruct", kind="chat",
                      stage="rlhf")
    config = EvalsConfig(data_dir=str(data_dir), output_dir=str(root), models=[model],
                         runner=RunnerConfig(backend="mock", max_model_len=8192))
    suite = SuiteSpec.model_validate({"name": "needle", "benchmarks": [
        {"name": "single_needle_en", "lengths": [1000], "repeats": 1, "limit": 10}]})
    (outcome,) = run_model(config, root, model, [suite],
                           backend_builder=lambda spec: MockBackend(generate_fn=_find_needle))
    return outcome.run_dir


def _find_needle(r: GenerateRequest) -> str:
    """Finds the needle in the upper half of the context only."""
    assert isinstance(r.prompt, ChatPrompt)
    text = r.prompt.messages[-1].content
    needles = Path(__file__).parents[1] / "needle_haystack/needlebench/needles.jsonl"
    for line in needles.read_text(encoding="utf-8").splitlines():
        keyword = json.loads(line)["arg2"]
        if keyword in text[: len(text) // 2]:
            return keyword
    return "I do not know."
