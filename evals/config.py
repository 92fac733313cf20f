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


Stage = Literal["pretrain", "base", "sft", "rlhf"]
BASE_STAGES = ("pretrain", "base")
"""Stages whose checkpoints are base models: no chat template, PPL for multiple choice."""


def kind_of_stage(stage: str) -> ModelKind:
    return ModelKind.BASE if stage in BASE_STAGES else ModelKind.CHAT


class ModelSpec(_Strict):
    """A checkpoint to evaluate."""

    name: str = Field(pattern=r"^[A-Za-z0-9._\-]+$")
    path: str
    """A Hugging Face-format folder, a hub id, or ``embedded:smollm2-135m-instruct``."""
    kind: ModelKind = ModelKind.CHAT
    """Follows the stage when not given: ``pretrain``/``base`` checkpoints are base models,
    ``sft``/``rlhf`` chat models (a pretraining step asked through a chat template would be
    scored on a protocol it never saw)."""
    stage: Stage = "base"
    step: int | None = None
    tokens_seen: int | None = None
    suites: list[str] | None = None
    """The suites this checkpoint runs; else evals.yaml's ``suites``, else its stage's
    (``stage_suites``)."""

    @model_validator(mode="before")
    @classmethod
    def _kind_follows_stage(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") is None:
            return {**data, "kind": kind_of_stage(str(data.get("stage", "base")))}
        return data


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
    """Non-inferiority margin in the metric's points (1.0 = one point of accuracy). Under
    ``strict`` a benchmark whose minimum detectable drop is above its margin fails as
    underpowered: 1 point needs thousands of items."""
    margins: dict[str, float] = Field(default_factory=dict)
    """Per-benchmark margins, overriding the default (noisy or small sets need more: at
    least the MDE the gate prints for them)."""
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    parse_failure_margin: float = Field(default=2.0, ge=0)
    """Allowed rise of the extraction-failure rate, in percentage points."""
    strict: bool = True
    """Fail every benchmark whose non-inferiority is not shown, not only those with a
    regression shown: "underpowered" ones (the margin is below the smallest drop this many
    items can detect, so a drop of the margin's size would go unseen; identical runs would
    otherwise pass on an interval of zero width) and "inconclusive" ones (the interval
    reaches past the margin). On by default, deliberately unlike the first releases, where
    both exited 0: a CI gate must not pass a change it could not have caught (a 10-point
    drop on 20 items). ``false`` is the lenient opt-out: such benchmarks are reported (JUnit
    "skipped") and only shown regressions fail."""
    bootstrap_samples: int = Field(default=10_000, ge=100)
    seed: int = 0


STAGE_SUITES: dict[Stage, list[str]] = {
    "pretrain": ["internlm2_base"], "base": ["internlm2_base"],
    "sft": ["internlm2_chat"], "rlhf": ["internlm2_chat"]}


class EvalsConfig(_Strict):
    data_dir: str = "../shared/data"
    output_dir: str = "outputs"
    cache_dir: str | None = None
    models: list[ModelSpec] = Field(default_factory=list)
    """The checkpoints ``evals run`` evaluates; may be empty for ``evals watch`` (which finds
    them) or ``evals run --model``."""
    suites: list[str] | None = Field(default=None, min_length=1)
    """The suites every checkpoint runs (a model's own ``suites`` win); when absent, each
    checkpoint runs its stage's suites (``stage_suites``)."""
    stage_suites: dict[Stage, list[str]] = Field(default_factory=lambda: dict(STAGE_SUITES))
    """Suites per training stage, for checkpoints without ``suites`` of their own when
    evals.yaml gives none: base suites for base models, chat suites for chat models, so one
    sweep runs each stage on its own protocol."""
    runner: RunnerConfig = RunnerConfig()
    judge: JudgeConfig | None = None
    gate: GateConfig = GateConfig()
    skip_missing: bool = False
    """Run the benchmarks whose data is present and record the others as not run (``evals
    run --skip-missing``); by default a run with any set missing stops before the model
    loads and names every missing set."""

    def suites_for(self, model: ModelSpec) -> list[str]:
        """The model's own suites, else evals.yaml's, else its stage's."""
        return model.suites or self.suites or self.stage_suites.get(model.stage, [])

    @model_validator(mode="after")
    def _names_are_unique(self) -> EvalsConfig:
        """Two checkpoints under one name would write one run directory."""
        seen: dict[str, str] = {}
        for m in self.models:
            if m.name in seen and seen[m.name] != m.path:
                raise ValueError(f"models: {m.name!r} names both {seen[m.name]} and {m.path}; "
                                 "give each checkpoint its own name")
            seen[m.name] = m.path
        return self


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
    """Every problem of a file on one line, each naming its field: ``path: field 'a': msg``
    for one, ``path: N problems: field 'a': msg; field 'b': msg`` for more. An unknown field
    gets a did-you-mean against the fields of the model it sits in."""
    model = globals().get(err.title)  # the model validated: its class name is the title
    root = model if isinstance(model, type) and issubclass(model, BaseModel) else None
    problems = [_format_error(e, root) for e in err.errors()]
    if len(problems) == 1:
        return f"{path}: {problems[0]}"
    return f"{path}: {len(problems)} problems: {'; '.join(problems)}"


def _format_error(error: Any, root: type[BaseModel] | None) -> str:
    """One pydantic error as ``field 'runner.batch_size': <what is wrong>``."""
    loc = tuple(error["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    msg = str(error["msg"])
    if error["type"] == "extra_forbidden" and loc:
        owner = _model_at(root, loc[:-1])
        if owner is not None:
            import difflib

            valid = list(owner.model_fields)
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            msg = (f"unknown field; did you mean {close[0]!r}?" if close
                   else f"unknown field (valid: {', '.join(valid)})")
        else:
            msg = "unknown field"
    return f"field '{where}': {msg}"


def _model_at(root: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class holding the fields at ``loc`` (e.g. ``('runner', 'openai')``, or
    ``('models', 0)``), following field annotations through optionals, lists and dicts;
    None where the path leaves the models."""
    import types
    import typing

    current: Any = root
    parts = list(loc)
    while True:
        origin = typing.get_origin(current)
        if origin is typing.Annotated:
            current = typing.get_args(current)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(current) if a is not type(None)]
            if len(members) == 1:  # Optional[X]: pydantic adds no step to the location
                current = members[0]
                continue
            # a true union: pydantic names the member it tried as the next step
            tagged = [m for m in members if parts and _union_tag(m) == parts[0]]
            if not tagged:
                return None
            current, parts = tagged[0], parts[1:]
            continue
        if not parts:
            return current if isinstance(current, type) and issubclass(current, BaseModel) \
                else None
        part, parts = parts[0], parts[1:]
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif origin in (list, tuple, set, frozenset) and isinstance(part, int):
            current = typing.get_args(current)[0] if typing.get_args(current) else None
        elif origin is dict:
            current = typing.get_args(current)[1] if typing.get_args(current) else None
        else:
            return None


def _union_tag(member: Any) -> str:
    """The step pydantic writes into an error's location for one member of a union."""
    if isinstance(member, type) and issubclass(member, BaseModel):
        return member.__name__
    return str(member).replace("typing.", "").replace(" ", "")


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
