"""``evals.yaml`` and suite files: pydantic models, loading, and one-line errors."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals.errors import ConfigError
from evals.records import Mode, ModelKind

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = "evals.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    """A checkpoint to evaluate."""

    name: str = Field(pattern=r"^[A-Za-z0-9._\-]+$")
    path: str
    """A Hugging Face-format folder, a hub id, or ``embedded:smollm2-135m-instruct``."""
    kind: ModelKind = ModelKind.CHAT
    stage: Literal["pretrain", "base", "sft", "rlhf"] = "base"
    step: int | None = None
    tokens_seen: int | None = None


class OpenAIConfig(_Strict):
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    served_model: str | None = None
    """Model name sent to the server; defaults to the model's ``path``."""
    concurrency: int = Field(default=8, ge=1)
    timeout_s: float = Field(default=120.0, gt=0)


class RayConfig(_Strict):
    """Where ``executor: ray`` sends its work (see README, "Scale out on Ray")."""

    address: str | None = None
    """A running cluster (``auto``, ``HOST:6379`` or ``ray://HOST:10001``); none starts a
    local one in this process."""
    max_retries: int = Field(default=3, ge=0)
    """Times Ray re-runs a shard whose worker or node died (its finished requests are cached)."""
    num_cpus: float = Field(default=1, gt=0)
    """CPUs each shard task asks for (tool-use sandboxes run on them)."""


class RunnerConfig(_Strict):
    backend: Literal["vllm", "hf", "openai", "mock"] = "vllm"
    executor: Literal["local", "ray"] = "local"
    """local: one engine in this process per checkpoint; ray: one task per (checkpoint, shard)
    on a Ray cluster, each asking for its engine's GPUs."""
    tensor_parallel_size: int = Field(default=1, ge=1)
    pipeline_parallel_size: int = Field(default=1, ge=1)
    data_parallel_size: int = Field(default=1, ge=1)
    """Shards per checkpoint under ``executor: ray``: replicas of the engine, each evaluating
    every n-th sample; their answers merge into one run directory."""
    ray: RayConfig = RayConfig()
    max_model_len: int | None = Field(default=None, ge=16)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    max_num_batched_tokens: int | None = Field(default=None, ge=16)
    """Tokens per vLLM engine step (its prefill chunk). None: vLLM's default, lowered on a
    GPU when the prompt log-probs of one chunk (loglikelihood requests scored token by
    token) would not fit in half the memory gpu_memory_utilization leaves free: vLLM leaves
    them out of its memory profile (its issue #10325)."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    enable_prefix_caching: bool = True
    single_pass_choices: bool = True
    """Score options that share a context and are one token each (MMLU's A-D) in one forward
    pass over the context (vllm); their responses then carry no context log-probability."""
    enforce_eager: bool = False
    seed: int = 0
    batch_size: int = Field(default=512, ge=1)
    """Requests handed to the backend per call; responses are cached after each call."""
    hf_batch_size: int = Field(default=8, ge=1)
    max_retries: int = Field(default=3, ge=0)
    tool_workers: int = Field(default=8, ge=1)
    """Samples whose next turn is prepared at once between rounds of multi-turn benchmarks:
    tool calls (sandboxed interpreter sessions) run in parallel instead of one by one while
    the engine waits."""
    openai: OpenAIConfig = OpenAIConfig()


class JudgeConfig(_Strict):
    """The judge of the subjective sets: any OpenAI-compatible endpoint (a hosted API or a
    local ``vllm serve``) or a local model run by our own engine (vllm, hf)."""

    name: str = Field(pattern=r"^[A-Za-z0-9._\-]+$")
    """The judge's identity, written into every run manifest (e.g. gpt-4-1106-preview)."""
    backend: Literal["openai", "vllm", "hf", "mock"] = "openai"
    path: str | None = None
    """Model sent to the server (openai; defaults to ``name``) or the folder / hub id /
    ``embedded:`` name of a local judge."""
    openai: OpenAIConfig = OpenAIConfig()
    max_retries: int = Field(default=5, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    """Cap on the judge's output tokens (smoke runs with a small judge; a real judge needs
    its protocol's budget, or its verdict is cut off and unreadable)."""
    batch_size: int = Field(default=64, ge=1)
    """Verdicts committed to the cache per batch: a killed run re-asks at most this many."""
    retry_backoff_s: float = Field(default=2.0, ge=0)
    """First wait after a 429/5xx/timeout; doubles on each further retry."""
    price_prompt_per_mtok: float = Field(default=0.0, ge=0)
    """USD per million prompt tokens, for the cost printed with the results."""
    price_completion_per_mtok: float = Field(default=0.0, ge=0)


class GateConfig(_Strict):
    """``evals gate``: how much a candidate checkpoint may lose against its baseline."""

    default_margin: float = Field(default=1.0, ge=0)
    """Non-inferiority margin in the metric's points (1.0 = one point of accuracy)."""
    margins: dict[str, float] = Field(default_factory=dict)
    """Per-benchmark margins, overriding the default (noisy or small sets need more)."""
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    parse_failure_margin: float = Field(default=2.0, ge=0)
    """Allowed rise of the extraction-failure rate, in percentage points."""
    strict: bool = False
    """Also fail benchmarks whose non-inferiority is not shown (the interval reaches past
    the margin) rather than only those with a regression shown."""
    bootstrap_samples: int = Field(default=10_000, ge=100)
    seed: int = 0


class EvalsConfig(_Strict):
    data_dir: str = "../shared/data"
    output_dir: str = "outputs"
    cache_dir: str | None = None
    models: list[ModelSpec] = Field(min_length=1)
    suites: list[str] = Field(default_factory=lambda: ["quick"], min_length=1)
    runner: RunnerConfig = RunnerConfig()
    judge: JudgeConfig | None = None
    gate: GateConfig = GateConfig()
    skip_missing: bool = False
    """Run the benchmarks whose data is present and record the others as not run (``evals
    run --skip-missing``); by default a run with any set missing stops before the model
    loads and names every missing set."""


class BenchmarkSettings(_Strict):
    """One line of a suite: what to run and with which settings."""

    name: str
    shots: int | None = Field(default=None, ge=0)
    mode: Mode | None = None
    """``ppl`` or ``gen``; when absent, base models get ``ppl`` and chat models ``gen``
    for benchmarks that support both."""
    limit: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    judge_order: Literal["both", "random"] | None = None
    """Pairwise judged sets: judge both answer orders, or one seeded random order."""
    lengths: list[int] | None = None
    """Needle tests: context lengths in the model's tokens, replacing the test's grid."""
    repeats: int | None = Field(default=None, ge=1)
    """Needle tests: repeats per cell, replacing the test's."""
    scorer: Literal["rule", "judge"] | None = None
    """``judge``: score with the ``judge:`` model instead of the benchmark's own rule, for
    benchmarks that offer it (needle tests); results go under ``<name>_judge``."""


class SuiteSpec(_Strict):
    name: str
    description: str = ""
    benchmarks: list[BenchmarkSettings] = Field(min_length=1)
    dimensions: dict[str, list[str] | dict[str, float]] = Field(default_factory=dict)
    """The report's dimensions: name -> benchmarks averaged (naively, as the report's
    tables do) into one score, or name -> {benchmark: weight} for a weighted mean
    (NeedleBench's overall: 0.4 single + 0.3 retrieval + 0.3 reasoning). Every name must be
    a benchmark of this suite."""

    @model_validator(mode="after")
    def _dimensions_name_benchmarks(self) -> SuiteSpec:
        names = {b.name for b in self.benchmarks}
        for dim, members in self.dimensions.items():
            unknown = [m for m in members if m not in names]
            if unknown:
                raise ValueError(
                    f"dimension {dim!r} lists {', '.join(unknown)}, which the suite does not run"
                )
        return self


def _format_validation(path: Path, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    extra = f" ({len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{path}: field '{loc}': {first['msg']}{extra}"


def read_yaml(path: Path) -> Any:
    """A YAML file's content; a missing file or bad syntax is one ConfigError line."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found; pass an existing path")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start} is {byte:#04x}); "
                          "save it as UTF-8 YAML") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); check the path") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML; fix the syntax") from None


def writable_dir(path: Path, what: str) -> Path:
    """``path`` as a directory this process can write in, created if missing: checked before
    anything is computed, so that no result is lost to a path that cannot take it. A probe
    file rather than ``os.access``, which says yes to root on read-only mounts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path, prefix=".evals-write-probe-").close()
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"{what} {path}: not a directory (a file is in the way); choose a "
                          "directory path") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot write there ({exc.strerror}); choose a "
                          "writable directory") from None
    return path


def writable_file(path: Path, what: str) -> Path:
    """``path`` as a file this process can write: its folder writable, itself not a folder."""
    if path.is_dir():
        raise ConfigError(f"{what} {path}: is a directory; give a file path")
    try:
        writable_dir(path.parent, "")
    except ConfigError as err:
        raise ConfigError(f"{what} {path}: its folder{err}") from None
    return path


def load_config(path: Path) -> EvalsConfig:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return EvalsConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation(path, err)) from None


def resolve_path(base: Path, value: str) -> Path:
    """Relative paths in ``evals.yaml`` are relative to the file, not to the shell."""
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (base / p).resolve()


def cache_path(config: EvalsConfig, config_dir: Path) -> Path:
    root = config.cache_dir or str(Path(config.output_dir) / ".cache")
    return resolve_path(config_dir, root) / "responses.sqlite"


def data_root(config: EvalsConfig, config_dir: Path) -> Path:
    env = os.environ.get("EVALS_DATA_DIR")
    return Path(env).resolve() if env else resolve_path(config_dir, config.data_dir)


def suite_dirs(config_dir: Path) -> list[Path]:
    dirs = [config_dir / "suites", REPO_ROOT / "suites"]
    return list(dict.fromkeys(d.resolve() for d in dirs if d.is_dir()))


def find_suite(name_or_path: str, config_dir: Path) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if candidate.is_file():
            return candidate.resolve()
        raise ConfigError(f"{candidate}: suite file not found")
    for d in suite_dirs(config_dir):
        p = d / f"{name_or_path}.yaml"
        if p.is_file():
            return p
    known = sorted(p.stem for d in suite_dirs(config_dir) for p in d.glob("*.yaml"))
    raise ConfigError(
        f"unknown suite {name_or_path!r}: no suites/{name_or_path}.yaml (known: {', '.join(known)})"
    )


def load_suite(path: Path) -> SuiteSpec:
    data = read_yaml(path)
    if isinstance(data, dict) and "name" not in data:
        data = {"name": path.stem, **data}
    try:
        return SuiteSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation(path, err)) from None
