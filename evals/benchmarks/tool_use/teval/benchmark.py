"""The ``teval_en`` and ``teval_zh`` benchmarks: loading, prompts, the summary (see the
package docstring); the evaluators are in ``scoring``."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks.base import BenchmarkContext, Metric, mean_and_stderr, register
from evals.benchmarks.tool_use.teval.scoring import (
    LEXICAL,
    EmbeddingSimilarity,
    LexicalSimilarity,
    Similarity,
    SubsetScore,
    postprocess,
    score_instruct,
    score_plan,
    score_review,
    score_rru,
)
from evals.data_sources import DataSpec, Layout, MissingDataError
from evals.errors import ConfigError, DataError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    GenerationParams,
    Message,
    MetricValue,
    Mode,
    ModelKind,
    Request,
    Response,
    Sample,
    SampleResult,
    Score,
)

MAX_TOKENS = 1024
ENV = "EVALS_TEVAL_SIMILARITY"
DEFAULT_MODEL = {"en": "all-mpnet-base-v2", "zh": "thenlper/gte-large-zh"}
VERSIONS = ("v1", "v2")
MARK = "[lexical]"

# subset file base -> (evaluator, the metrics the summarizer reads, those that use similarity)
SUBSETS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "instruct": ("instruct", ("format_metric", "args_em_metric"), ()),
    "plan_json": ("plan", ("f1_score",), ("f1_score",)),
    "plan_str": ("plan", ("f1_score",), ("f1_score",)),
    "reason_str": ("reason", ("thought",), ("thought",)),
    "retrieve_str": ("retrieve", ("name",), ()),
    "understand_str": ("understand", ("args",), ("args",)),
    "reason_retrieve_understand_json": ("rru", ("thought", "name", "args"), ("thought", "args")),
    "review_str": ("review", ("review_quality",), ()),
}
# dimension -> its two summarizer entries (subset base, metric); instruct's are its two formats
DIMENSIONS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "instruct": (("instruct", "string_metric"), ("instruct", "json_metric")),
    "plan": (("plan_str", "f1_score"), ("plan_json", "f1_score")),
    "reason": (("reason_str", "thought"), ("reason_retrieve_understand_json", "thought")),
    "retrieve": (("retrieve_str", "name"), ("reason_retrieve_understand_json", "name")),
    "understand": (("understand_str", "args"), ("reason_retrieve_understand_json", "args")),
    "review": (("review_str", "review_quality"), ("review_str", "review_quality")),
}
ROUNDED = ("instruct", "review_str")
"""Subsets whose evaluators round their means to four decimals (``np.round(..., 4)``)."""
_FILE = re.compile(r"^(.*)_v\d+(_zh)?$")


@dataclass(frozen=True)
class TEvalItem(Sample):
    subset: str
    """The file's base name (``plan_json``); ``file`` is the stem (``plan_json_v1_zh``)."""
    file: str
    messages: tuple[Message, ...]
    datum: str
    """The whole item as JSON: OpenCompass hands the evaluator the item as the reference."""


def file_stem(subset: str, version: str, lang: str) -> str:
    return f"{subset}_{version}" + ("_zh" if lang == "zh" else "")


def subset_of(file: str) -> str:
    match = _FILE.match(file)
    return match.group(1) if match else file


def similarity_choice(lang: str) -> str:
    """The model (hub name or folder) or ``lexical``, from the environment, else upstream's."""
    return (os.environ.get(f"{ENV}_{lang.upper()}") or os.environ.get(ENV)
            or DEFAULT_MODEL[lang]).strip()


@functools.lru_cache(maxsize=4)
def _similarity(choice: str, benchmark: str) -> Similarity:
    return LexicalSimilarity() if choice == LEXICAL else EmbeddingSimilarity(choice, benchmark)


# --- data ------------------------------------------------------------------------------------


def _locate(name: str, ctx: BenchmarkContext, lang: str) -> tuple[Path, str]:
    """The folder and version holding all eight files (OpenCompass's layout first)."""
    folders = [ctx.data_dir / "teval" / lang.upper(), ctx.data_dir / "teval"]
    for folder in folders:
        for version in VERSIONS:
            if all((folder / f"{file_stem(s, version, lang)}.json").is_file() for s in SUBSETS):
                return folder, version
    missing = [f"{file_stem(s, 'v1', lang)}.json" for s in SUBSETS
               if not (folders[0] / f"{file_stem(s, 'v1', lang)}.json").is_file()]
    raise MissingDataError(name, (
        f"{name}: T-Eval data not found in {folders[0]} or {folders[1]} (missing "
        f"{', '.join(missing)}); {MANUAL}"))


MANUAL = ("download T-Eval's data (github.com/open-compass/T-Eval, HF lovesnowbest/T-Eval; "
          "OpenCompass's data/teval) and put the subset files under <data_dir>/teval/EN and ZH")


def spec(lang: str) -> DataSpec:
    probe = f"{file_stem(next(iter(SUBSETS)), 'v1', lang)}.json"
    return DataSpec(layouts=(Layout("opencompass", f"teval/{lang.upper()}"),
                             Layout("evals", "teval", (probe,))),
                    remote=None, items=None, license="Apache-2.0 (code)", manual=MANUAL)


def _messages(raw: Any, where: str) -> tuple[Message, ...]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    out = []
    for m in raw:
        role = {"function": "system"}.get(m["role"], m["role"])
        if role not in ("system", "user", "assistant"):
            raise DataError(f"{where}: unknown role {m['role']!r} in origin_prompt")
        out.append(Message(role, str(m["content"])))
    return tuple(out)


def _read(path: Path, subset: str, file: str) -> list[TEvalItem]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    items = []
    for key, datum in data.items():
        target = datum.get("ground_truth")
        items.append(TEvalItem(
            id=f"{file}/{key}",
            target=target if isinstance(target, str) else json.dumps(target, ensure_ascii=False),
            subset=subset, file=file,
            messages=_messages(datum["origin_prompt"], f"{path} item {key}"),
            datum=json.dumps(datum, ensure_ascii=False),
        ))
    return items


# --- the overall -----------------------------------------------------------------------------


def _round4(x: float) -> float:
    import numpy as np

    return float(np.round(x, decimals=4))


@dataclass
class _Component:
    """Every sample's value of one (subset, metric), in order; built up in ``_components``."""

    values: list[float]
    lexical: bool


def _components(results: Sequence[SampleResult]) -> dict[tuple[str, str], _Component]:
    """Per (subset, metric), every sample's value in order, read back from the extras."""
    out: dict[tuple[str, str], _Component] = {}
    for r in results:
        subset = subset_of(r.group)
        for name, value in r.score.extras:
            metric = name.rsplit(".", 1)[1]
            comp = out.setdefault((subset, metric.removesuffix(MARK)), _Component([], False))
            comp.values.append(value)
            comp.lexical = comp.lexical or metric.endswith(MARK)
    return out


@dataclass(frozen=True)
class _Entry:
    """One summarizer entry: its value (a fraction) and stderr."""

    value: float
    stderr: float


def _entry(comps: dict[tuple[str, str], _Component], subset: str, metric: str) -> _Entry | None:
    """Upstream's subset metric; instruct's string/json metrics average the rounded format
    and argument-match means of that format's items."""
    if subset == "instruct" and metric in ("string_metric", "json_metric"):
        fmt = metric.split("_")[0]
        f, a = (comps.get(("instruct", f"{fmt}_{m}")) for m in ("format_metric", "args_em_metric"))
        if f is None or a is None:
            return None
        per_sample = [(x + y) / 2 for x, y in zip(f.values, a.values, strict=True)]
        value = (_round4(mean_and_stderr(f.values)[0]) + _round4(mean_and_stderr(a.values)[0])) / 2
        return _Entry(value, mean_and_stderr(per_sample)[1])
    comp = comps.get((subset, metric))
    if comp is None:
        return None
    mean, se = mean_and_stderr(comp.values)
    return _Entry(_round4(mean) if subset in ROUNDED else mean, se)


def dimension_scores(comps: dict[tuple[str, str], _Component]) -> dict[str, _Entry]:
    """The six dimensions, each the mean of its two summarizer entries (those present)."""
    out = {}
    for dim, (first, second) in DIMENSIONS.items():
        entries = [e for e in (_entry(comps, *first), _entry(comps, *second)) if e is not None]
        if not entries:
            out[dim] = _Entry(math.nan, math.nan)
        elif first == second or len(entries) == 1:  # review counts its one entry twice
            out[dim] = entries[0]
        else:
            out[dim] = _Entry((entries[0].value + entries[1].value) / 2,
                              math.hypot(entries[0].stderr, entries[1].stderr) / 2)
    return out


def _stratum(r: SampleResult) -> str:
    """Instruct's JSON and string items are averaged apart, as upstream's metrics are."""
    subset = subset_of(r.group)
    if subset == "instruct":
        return "instruct:" + r.score.extras[0][0].rsplit(".", 1)[1].split("_")[0]
    return subset


_WEIGHT = {"reason_retrieve_understand_json": 3.0, "review_str": 2.0}
"""Each stratum's weight in the twelve-entry mean, per sample value (the sample's mean)."""


class TEvalOverall(Metric):
    """T-Eval's overall; its stderr treats the subsets (and instruct's formats) as strata,
    with each sample's value the mean of the metrics it contributes."""

    aggregation = "T-Eval overall: mean of its subset metrics"

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        comps = _components(results)
        present = [d.value for d in dimension_scores(comps).values() if not math.isnan(d.value)]
        value = sum(present) / len(present) if present else math.nan
        strata: dict[str, list[float]] = {}
        for r in results:
            strata.setdefault(_stratum(r), []).append(r.score.value)
        weights = {s: _WEIGHT.get(s, 1.0) for s in strata}
        total = sum(weights.values()) or 1.0
        se = math.sqrt(sum((weights[s] / total * mean_and_stderr(v)[1]) ** 2
                           for s, v in strata.items()))
        lexical = any(c.lexical for c in comps.values())
        return MetricValue(self.name + (MARK if lexical else ""), self.scale * value,
                           self.scale * se, True)

    def secondary(self, results: Sequence[SampleResult], ctx: BenchmarkContext | None = None
                  ) -> tuple[MetricValue, ...]:
        comps = _components(results)
        out = []
        for dim, score in dimension_scores(comps).items():
            lexical = any(comps[k].lexical for k in DIMENSIONS[dim] if k in comps)
            out.append(self._value(dim + (MARK if lexical else ""), score))
        files = {subset_of(r.group): r.group for r in results}
        for subset, metric in comps:
            entry = _entry(comps, subset, metric)
            assert entry is not None
            out.append(self._value(f"{files[subset]}.{metric}"
                                   + (MARK if comps[subset, metric].lexical else ""), entry))
        for metric in ("string_metric", "json_metric"):
            entry = _entry(comps, "instruct", metric)
            if entry is not None:
                out.append(self._value(f"{files['instruct']}.{metric}", entry))
        return tuple(out)

    def _value(self, name: str, entry: _Entry) -> MetricValue:
        return MetricValue(name, self.scale * entry.value, self.scale * entry.stderr)


# --- the benchmarks --------------------------------------------------------------------------


def _text(response: Response) -> str:
    assert isinstance(response, GenerateResponse)
    return response.text


def score_answer(subset: str, datum: dict[str, Any], text: str, sim: Similarity) -> SubsetScore:
    """The subset's evaluator on a post-processed answer."""
    kind = SUBSETS[subset][0]
    if kind == "instruct":
        return score_instruct(datum, text)
    if kind == "plan":
        return score_plan(datum, text, sim)
    if kind == "review":
        return score_review(datum, text)
    if kind == "rru":
        return score_rru(datum, text, sim, "json", "reason")
    return score_rru(datum, text, sim, "str", kind)


class TEval:
    name: str
    lang: str
    modes = (Mode.GEN,)
    default_shots = 0
    metric = TEvalOverall("overall")

    def load(self, ctx: BenchmarkContext) -> list[TEvalItem]:
        if ctx.kind is not ModelKind.CHAT:
            raise ConfigError(f"{self.name}: T-Eval's prompts are chat conversations; "
                              "drop it from base models' suites")
        folder, version = _locate(self.name, ctx, self.lang)
        self._check_similarity()
        items: list[TEvalItem] = []
        for subset in SUBSETS:
            file = file_stem(subset, version, self.lang)
            items += _read(folder / f"{file}.json", subset, file)
        return items

    def _check_similarity(self) -> None:
        """Fail before generation, not after it, when the similarity model cannot load."""
        choice = similarity_choice(self.lang)
        if choice != LEXICAL and importlib.util.find_spec("sentence_transformers") is None:
            raise ConfigError(
                f"{self.name}: T-Eval's similarity model {choice!r} needs sentence-transformers "
                f"(pip install sentence-transformers), or set {ENV}=lexical for a score not "
                "comparable with T-Eval's"
            )

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        try:
            folder, version = _locate(self.name, ctx, self.lang)
        except DataError:
            return []
        return [folder / f"{file_stem(s, version, self.lang)}.json" for s in SUBSETS]

    def group(self, sample: TEvalItem) -> str:
        return sample.file

    def requests(self, sample: TEvalItem, ctx: BenchmarkContext) -> list[Request]:
        params = GenerationParams(max_tokens=ctx.max_tokens or MAX_TOKENS)
        return [GenerateRequest(ChatPrompt(sample.messages), params)]

    def score(self, sample: TEvalItem, responses: Sequence[Response],
              ctx: BenchmarkContext) -> Score:
        text = postprocess(_text(responses[0]))
        sim = _similarity(similarity_choice(self.lang), self.name)
        result = score_answer(sample.subset, json.loads(sample.datum), text, sim)
        _, reported, similar = SUBSETS[sample.subset]
        extras = tuple(
            (f"{sample.file}.{name}" + (MARK if sim.label == LEXICAL and _base(name) in similar
                                        else ""), value)
            for name, value in result.metrics if _base(name) in reported)
        detail = result.note
        if similar:
            detail = f"similarity={sim.label}; {detail}"
        return Score(value=sum(v for _, v in extras) / len(extras), extracted=text,
                     parse_failed=result.parse_failed, extras=extras, detail=detail)


def _base(metric: str) -> str:
    """Instruct's metrics carry their format (``json_format_metric``); the rest are bare."""
    return metric.split("_", 1)[1] if metric.startswith(("json_", "string_")) else metric


@register
class TEvalEN(TEval):
    name = "teval_en"
    lang = "en"
    data = spec(lang)


@register
class TEvalZH(TEval):
    name = "teval_zh"
    lang = "zh"
    data = spec(lang)
