"""The embedded model through the real hf and vllm backends, on a few items of each benchmark."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.backends.base import Backend, BackendSpec
from evals.config import EvalsConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.embedded import resolve_embedded
from evals.records import LoglikelihoodRequest, Mode, ModelKind, TextPrompt
from evals.run.runner import run_model

pytestmark = pytest.mark.slow

SUITE = SuiteSpec.model_validate({
    "name": "tiny",
    "benchmarks": [
        {"name": "mmlu", "mode": "ppl", "limit": 2},
        {"name": "hellaswag", "mode": "ppl", "limit": 2},
        {"name": "mmlu", "mode": "gen", "limit": 2, "max_tokens": 8},
        {"name": "gsm8k", "limit": 2, "max_tokens": 48},
        {"name": "humaneval", "limit": 2, "max_tokens": 48},
    ],
})
RUNNER = {"dtype": "float32", "max_model_len": 2048, "hf_batch_size": 4}


@pytest.fixture(scope="session")
def model_path() -> str:
    return str(resolve_embedded("smollm2-135m-instruct"))


def _make(kind: str, model_path: str) -> Backend:
    runner = RunnerConfig(backend=kind, **RUNNER)  # type: ignore[arg-type]
    spec = BackendSpec(ModelSpec(name="smol", path=model_path, kind="chat"), model_path, runner)
    if kind == "vllm":
        from evals.backends.vllm_backend import VLLMBackend

        return VLLMBackend(spec)
    from evals.backends.hf import HFBackend

    return HFBackend(spec)


_LOADED: dict[str, Backend] = {}


def _loaded(kind: str, model_path: str) -> Backend:
    """One backend of each kind per session: the agreement test and the parametrized tests
    share them (loading vLLM takes half a minute of CI)."""
    if kind not in _LOADED:
        _LOADED[kind] = _make(kind, model_path)
    return _LOADED[kind]


@pytest.fixture(scope="session", params=["hf", "vllm"])
def backend(request: pytest.FixtureRequest, model_path: str) -> Iterator[Backend]:
    yield _loaded(request.param, model_path)


class Shared:
    """Hands the session's backend to run_model without closing it between tests."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, item: str) -> object:
        return getattr(self.inner, item)

    def close(self) -> None:
        pass


def test_suite_end_to_end(backend: Backend, data_dir: Path, tmp_path: Path, model_path: str) -> None:
    suite = SUITE.model_copy(update={"benchmarks": [b for i, b in enumerate(SUITE.benchmarks)
                                                    if i != 2]})
    config = EvalsConfig(data_dir=str(data_dir), output_dir=str(tmp_path),
                         models=[ModelSpec(name="smol", path=model_path, kind="chat")],
                         runner=RunnerConfig(backend=backend.name, **RUNNER))  # type: ignore[arg-type]
    model = config.models[0]
    n = 1 if backend.name == "hf" else 2  # hf generates ~3x slower on CPU: CI time
    (outcome,) = run_model(config, tmp_path, model, [suite], limit=n,
                           backend_builder=lambda spec: Shared(backend))  # type: ignore[arg-type,return-value]
    assert [r.benchmark for r in outcome.results] == ["mmlu", "hellaswag", "gsm8k", "humaneval"]
    assert all(r.n == n for r in outcome.results)
    for r in outcome.results:
        assert 0.0 <= r.primary.value <= 100.0
        lines = (outcome.run_dir / "predictions" / f"{r.benchmark}.jsonl").read_text().splitlines()
        assert len(lines) == n
        row = json.loads(lines[0])
        assert row["outputs"] and row["schema"] == 1
    gen = json.loads((outcome.run_dir / "predictions" / "gsm8k.jsonl").read_text().splitlines()[0])
    assert isinstance(gen["prompt"], list) and gen["prompt"][-1]["role"] == "user"
    assert len(gen["outputs"][0]) > 0
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["backend"] == backend.name
    assert manifest["benchmarks"]["mmlu"]["data_files"]


def test_base_kind_gets_raw_text(backend: Backend, data_dir: Path, tmp_path: Path,
                                 model_path: str) -> None:
    config = EvalsConfig(data_dir=str(data_dir), output_dir=str(tmp_path),
                         models=[ModelSpec(name="smol", path=model_path, kind=ModelKind.BASE)],
                         runner=RunnerConfig(backend=backend.name, **RUNNER))  # type: ignore[arg-type]
    suite = SuiteSpec.model_validate({"name": "b", "benchmarks": [
        {"name": "gsm8k", "limit": 1, "max_tokens": 24}]})
    (outcome,) = run_model(config, tmp_path, config.models[0], [suite],
                           backend_builder=lambda spec: Shared(backend))  # type: ignore[arg-type,return-value]
    row = json.loads((outcome.run_dir / "predictions" / "gsm8k.jsonl").read_text())
    assert isinstance(row["prompt"], str) and row["prompt"].endswith("Answer:")


def test_vllm_and_hf_loglikelihoods_agree(model_path: str) -> None:
    reqs = [LoglikelihoodRequest(TextPrompt("The capital of France is"), c)
            for c in (" Paris", " Berlin", " a city in Europe")]
    hf = _loaded("hf", model_path).loglikelihood(reqs)
    vl = _loaded("vllm", model_path).loglikelihood(reqs)
    for a, b in zip(hf, vl, strict=True):
        assert a.tokens == b.tokens and a.context_tokens == b.context_tokens
        assert a.logprob == pytest.approx(b.logprob, abs=2e-3 * a.tokens)
        assert a.context_logprob == pytest.approx(b.context_logprob, abs=2e-3 * a.context_tokens)
    assert [r.logprob for r in hf].index(max(r.logprob for r in hf)) == 0


def test_vllm_single_pass_options_agree_with_hf_full_pass(model_path: str) -> None:
    """MMLU-style options (one token each, one shared context) are read off a single vLLM
    pass at the context's last position; hf scores each in full. Same log-probabilities."""
    ctx = TextPrompt("Question: What is the capital of France?\nA. Berlin\nB. Paris\nAnswer:")
    reqs = [LoglikelihoodRequest(ctx, f" {c}") for c in "AB"]
    hf = _loaded("hf", model_path).loglikelihood(reqs)
    vl = _loaded("vllm", model_path).loglikelihood(reqs)
    assert all(r.context_logprob is None and r.tokens == 1 for r in vl)
    for a, b in zip(hf, vl, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=2e-3)
        assert a.context_tokens == b.context_tokens and a.is_greedy == b.is_greedy


def test_exam_prompts_grouped_in_vllm_score_as_hf_full_passes(model_path: str,
                                                                data_dir: Path) -> None:
    """C-Eval (a stem before the letter), GAOKAO (a tail after it), CMMLU and AGIEval, 5-shot
    where the suite says so, and options of different lengths (a context pass): vLLM scores
    each group with its context prefilled once (the block size forced to a GPU's, so every
    kind of step is taken); hf scores every option in full. Same log-probs per token within
    2e-3, same greedy flags, same picks."""
    from evals.backends.vllm_backend import plan_scoring
    from evals.benchmarks._choice import score_ppl
    from evals.benchmarks.base import BENCHMARKS, BenchmarkContext, select

    reqs: list[LoglikelihoodRequest] = []
    for name, shots in (("ceval", 5), ("gaokao", 0), ("cmmlu", 5), ("agieval", 0)):
        bench = BENCHMARKS.get(name)
        ctx = BenchmarkContext(data_dir, ModelKind.BASE, Mode.PPL, shots, limit=2)
        for item in select(bench.load(ctx), 2):
            reqs += [r for r in bench.requests(item, ctx) if isinstance(r, LoglikelihoodRequest)]
    long_ctx = TextPrompt("Facts about planets. " * 40 + "\nThe largest planet is")
    reqs += [LoglikelihoodRequest(long_ctx, c) for c in (" Jupiter", " the gas giant Jupiter")]
    vllm_backend = _loaded("vllm", model_path)
    saved = vllm_backend.block_size  # type: ignore[attr-defined]
    vllm_backend.block_size = 16  # type: ignore[attr-defined]
    try:
        plan = plan_scoring(vllm_backend.encoder, reqs, True, 16)  # type: ignore[attr-defined]
        assert not plan.rest and any(g.stem for g in plan.groups)
        assert any(g.context_pass for g in plan.groups) and plan.steps
        vl = vllm_backend.loglikelihood(reqs)
    finally:
        vllm_backend.block_size = saved  # type: ignore[attr-defined]
    hf = _loaded("hf", model_path).loglikelihood(reqs)
    for a, b in zip(hf, vl, strict=True):
        assert a.tokens == b.tokens and a.is_greedy == b.is_greedy
        assert a.logprob == pytest.approx(b.logprob, abs=2e-3 * a.tokens)
    by_context: dict[str, list[int]] = {}
    for i, r in enumerate(reqs):
        by_context.setdefault(str(r.context), []).append(i)
    for members in by_context.values():  # each item's pick, by OpenCompass's rule
        picks = [score_ppl([x[i] for i in members], 0, "ABCDEFG"[:len(members)]).extracted
                 for x in (hf, vl)]
        assert picks[0] == picks[1]


@pytest.mark.parametrize("suite_name,kind", [("internlm2_base", ModelKind.BASE),
                                             ("internlm2_chat", ModelKind.CHAT)])
def test_report_suites_on_the_embedded_model(backend: Backend, merged_data_dir: Path,
                                             tmp_path: Path, model_path: str, suite_name: str,
                                             kind: ModelKind) -> None:
    """Every objective benchmark of the report, one item each, through vLLM (the hf
    backend is covered above; running both would double the slowest test)."""
    if backend.name != "vllm":
        pytest.skip("suites run once, through vllm")
    from evals.config import REPO_ROOT, load_suite

    suite = load_suite(REPO_ROOT / "suites" / f"{suite_name}.yaml")
    model = ModelSpec(name="smol", path=model_path, kind=kind)
    config = EvalsConfig(data_dir=str(merged_data_dir), output_dir=str(tmp_path), models=[model],
                         runner=RunnerConfig(backend="vllm", **RUNNER))  # type: ignore[arg-type]
    (outcome,) = run_model(config, tmp_path, model, [suite], limit=1, max_tokens=24,
                           backend_builder=lambda spec: Shared(backend))  # type: ignore[arg-type,return-value]
    assert [r.benchmark for r in outcome.results] == [b.name for b in suite.benchmarks]
    for r in outcome.results:
        assert r.n >= 1 and 0.0 <= r.primary.value <= 100.0, r.benchmark
        rows = (outcome.run_dir / "predictions" / f"{r.benchmark}.jsonl").read_text().splitlines()
        assert all(json.loads(x)["outputs"] for x in rows), r.benchmark


def test_needlebench_on_the_embedded_model(backend: Backend, data_dir: Path, tmp_path: Path,
                                           model_path: str) -> None:
    """The four NeedleBench tests sized with the model's real tokenizer, answered through
    vLLM, scored, with heatmaps and the weighted overall in the run directory."""
    if backend.name != "vllm":
        pytest.skip("needle contexts run once, through vllm")
    from evals.config import REPO_ROOT, load_suite
    from evals.results.rundir import RunDir

    suite = load_suite(REPO_ROOT / "suites" / "needlebench.yaml")
    suite = suite.model_copy(update={"benchmarks": [
        b.model_copy(update={"lengths": [1000], "repeats": 1}) for b in suite.benchmarks]})
    model = ModelSpec(name="smol", path=model_path, kind=ModelKind.CHAT)
    config = EvalsConfig(data_dir=str(data_dir), output_dir=str(tmp_path), models=[model],
                         runner=RunnerConfig(backend="vllm", **RUNNER))  # type: ignore[arg-type]
    (outcome,) = run_model(config, tmp_path, model, [suite], limit=2, max_tokens=24,
                           backend_builder=lambda spec: Shared(backend))  # type: ignore[arg-type,return-value]
    assert [r.n for r in outcome.results] == [2, 1, 2, 2]  # retrieval: one cell per length
    for name in ("single_needle_en", "multi_retrieval_en", "multi_reasoning_en",
                 "ancestral_trace_en"):
        assert (outcome.run_dir / "needle" / f"{name}.png").stat().st_size > 1000
    rows = [json.loads(x) for x in (outcome.run_dir / "predictions" / "single_needle_en.jsonl")
            .read_text().splitlines()]
    assert all(r["outputs"][0] for r in rows)
    (overall,) = list(RunDir(outcome.run_dir).dimensions)
    assert overall.value is not None and 0 <= overall.value <= 100


def test_tool_suite_on_the_embedded_model(backend: Backend, merged_data_dir: Path,
                                          tmp_path: Path, model_path: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The tool-use suite's kinds of benchmark, one item each, through vLLM: ReAct turns whose
    code runs in the sandbox, T-Eval's chats, a CIBench fixture task in the IPython sandbox
    (the ZH twins and MATH's ReAct share their code, and are left out for CI time). The 135M model
    rarely follows a tool format, so what is asserted is the plumbing: every benchmark
    scores, unreadable replies are counted as parse failures, transcripts are stored."""
    if backend.name != "vllm":
        pytest.skip("tool suite runs once, through vllm")
    from evals.config import REPO_ROOT, load_suite
    from evals.results.rundir import RunDir
    from tests.test_suites import tool_data_dir

    monkeypatch.setenv("EVALS_TEVAL_SIMILARITY", "lexical")
    suite = load_suite(REPO_ROOT / "suites" / "internlm2_tools.yaml")
    keep = ("gsm8k_react", "mathbench_react", "teval_en", "cibench_en")
    suite = suite.model_copy(update={
        "benchmarks": [b for b in suite.benchmarks if b.name in keep], "dimensions": {}})
    model = ModelSpec(name="smol", path=model_path, kind=ModelKind.CHAT)
    data = tool_data_dir(merged_data_dir, tmp_path)
    config = EvalsConfig(data_dir=str(data), output_dir=str(tmp_path / "out"), models=[model],
                         runner=RunnerConfig(backend="vllm", **RUNNER))  # type: ignore[arg-type]
    (outcome,) = run_model(config, tmp_path / "out", model, [suite], limit=1, max_tokens=48,
                           backend_builder=lambda spec: Shared(backend))  # type: ignore[arg-type,return-value]
    assert [r.benchmark for r in outcome.results] == [b.name for b in suite.benchmarks]
    run = RunDir(outcome.run_dir)
    for r in outcome.results:
        assert r.n >= 1 and 0.0 <= r.primary.value <= 100.0, r.benchmark
        for s in run.predictions(r.benchmark):
            assert s.outputs and all(s.outputs), r.benchmark
            if r.benchmark.endswith("_react") and s.score.parse_failed:
                assert s.score.detail, "a failed ReAct sample keeps its transcript"
    react = run.predictions("gsm8k_react")[0]
    assert "[final answer]" in react.score.detail or "[no final answer]" in react.score.detail
