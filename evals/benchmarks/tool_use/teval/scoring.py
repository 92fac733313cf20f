"""T-Eval's evaluators, one sample at a time (OpenCompass 0.5.4 ``datasets/teval``).

OpenCompass scores a whole subset file at once (``TEvalEvaluator.score``); every metric it
reports is a mean of per-sample values, so the per-sample part is reproduced here and the
means are taken by ``teval.benchmark``. Upstream quirks kept on purpose, since they move the score:

- ``parse_string`` builds its regex from the template without escaping it;
- planning's longest-increasing-subsequence count starts every node at 1, so a plan with no
  matched step still counts one correct step (precision 1/len(pred), recall 1/len(gt));
- a trailing ``FinishAction`` is dropped from both plans before matching;
- review in JSON format compares ``{'review': bool}`` with the answer (never equal).

Where upstream would crash the whole evaluation (a plan that is only ``FinishAction``, a
similarity model that cannot be loaded) we score 0 or raise a one-line error instead.

Similarity: planning, reasoning and understanding compare texts by the cosine of
sentence-transformers embeddings, clipped at 0 (``EmbeddingSimilarity``). ``LexicalSimilarity``
is a bag-of-words cosine used only when the user asks for it; its numbers are not T-Eval's.
"""

from __future__ import annotations

import ast
import copy
import importlib
import json
import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from evals.errors import ConfigError

NAME_WEIGHT = 0.75
ARGS_WEIGHT = 0.25
MATCH_THRESHOLD = 0.7
LEXICAL = "lexical"

Metrics = tuple[tuple[str, float], ...]


class Similarity(Protocol):
    """Pairwise text similarity in [0, 1]; ``label`` says which (recorded with every score)."""

    label: str

    def matrix(self, left: Sequence[str], right: Sequence[str]) -> list[list[float]]: ...


_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_\u3400-\u9fff\uf900-\ufaff]+")


def lexical_cosine(a: str, b: str) -> float:
    """Cosine of word counts (each CJK character one word); 0 when either side has none."""
    ca, cb = Counter(_WORD.findall(a.lower())), Counter(_WORD.findall(b.lower()))
    dot = sum(n * cb[w] for w, n in ca.items())
    norm = math.sqrt(sum(n * n for n in ca.values()) * sum(n * n for n in cb.values()))
    return dot / norm if norm else 0.0


class LexicalSimilarity:
    """The opt-in stand-in for the embedding model (``EVALS_TEVAL_SIMILARITY=lexical``):
    offline and deterministic, but not the paper's metric."""

    label = LEXICAL

    def matrix(self, left: Sequence[str], right: Sequence[str]) -> list[list[float]]:
        return [[lexical_cosine(a, b) for b in right] for a in left]


class EmbeddingSimilarity:
    """T-Eval's ``SentenceTransformer(model).encode`` + ``util.cos_sim``, clipped at 0.
    The model (a hub name or a local folder) loads on first use: after generation, when the
    evaluated model has been unloaded."""

    def __init__(self, model: str, benchmark: str) -> None:
        self.label = model
        self._benchmark = benchmark
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                st = importlib.import_module("sentence_transformers")  # optional, untyped
                self._model = st.SentenceTransformer(self.label)
            except Exception as exc:  # ImportError, OSError (offline hub), ...
                raise ConfigError(
                    f"{self._benchmark}: cannot load the similarity model {self.label!r} "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                    "pip install sentence-transformers and make the model reachable (hub "
                    "cache, or a local folder in EVALS_TEVAL_SIMILARITY), or set "
                    "EVALS_TEVAL_SIMILARITY=lexical for a score not comparable with T-Eval's"
                ) from None
        return self._model

    def matrix(self, left: Sequence[str], right: Sequence[str]) -> list[list[float]]:
        if not left or not right:
            return [[] for _ in left]
        model = self._load()
        util = importlib.import_module("sentence_transformers.util")
        a = model.encode(list(left), convert_to_tensor=True)
        b = model.encode(list(right), convert_to_tensor=True)
        cos = util.cos_sim(a, b).cpu().numpy()
        return [[max(float(x), 0.0) for x in row] for row in cos]


def similarity(sim: Similarity, a: str, b: str) -> float:
    return sim.matrix([a], [b])[0][0]


@dataclass(frozen=True)
class SubsetScore:
    """One sample's upstream metrics (fractions, named as OpenCompass names them) and
    whether its answer could not be parsed (upstream's ``error`` / ``parse_rate`` 0)."""

    metrics: Metrics
    parse_failed: bool
    note: str = ""


# --- text handling (teval_postprocess, format_load, parse_string) ------------------------


def postprocess(text: str) -> str:
    """OpenCompass's ``teval_postprocess``, applied to every prediction before scoring."""
    for stop in ("<eoa>", "<TOKENS_UNUSED_1>", "<|im_end|>", "\nuser", "\nUSER", "[INST]"):
        text = text.split(stop)[0]
    text = text.strip()
    if text.startswith("```json"):
        text = text[len("```json"):]
    text = text.strip("`").strip()
    if text[:2] == "{{" and text[-2:] == "}}":
        text = text[1:-1]
    return text


class _Unparsable(Exception):
    pass


def format_load(raw: Any, start: str = "", end: str = "") -> Any:
    """T-Eval's ``format_load``: Python literal, else JSON, else JSON with ' as "."""
    if not isinstance(raw, str):
        return raw
    if "```json" in raw:
        raw = raw[raw.find("```json") + len("```json"):].strip("`")
    if start:
        raw = raw[raw.find(start):]
    if end:
        raw = raw[:raw.rfind(end) + len(end)]
    for parse in (ast.literal_eval, json.loads, lambda s: json.loads(s.replace("'", '"'))):
        try:
            return parse(raw)
        except Exception:  # each parser fails its own way; the next is tried
            continue
    raise _Unparsable(raw)


def parse_string(template: str, text: str, allow_newline: bool = False) -> dict[str, Any] | None:
    """T-Eval's ``parse_string``: each ``{key}`` becomes ``(.*)`` in an unescaped regex."""
    keys = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    pattern = template
    for k in keys:
        pattern = pattern.replace("{" + k + "}", "(.*)")
    try:
        values = re.findall(pattern, text, re.S if allow_newline else 0)
    except re.error:  # upstream would raise; a template that is no regex matches nothing
        return None
    if not values:
        return None
    data: dict[str, Any] = {}
    for k, v in zip(keys, values[0], strict=False):
        if k in data:
            data[k] = [*data[k], v] if isinstance(data[k], list) else [data[k], v]
        else:
            data[k] = v
    return data


# --- instruct ------------------------------------------------------------------------------


def score_instruct(datum: dict[str, Any], pred: str) -> SubsetScore:
    fmt = datum["meta_data"]["response_format"]
    template = datum["template"]
    parsed = _instruct_json(template, pred) if fmt == "json" else _instruct_string(template, pred)
    if parsed is None:
        return SubsetScore(((f"{fmt}_format_metric", 0.0), (f"{fmt}_args_em_metric", 0.0)), True,
                           f"no {fmt} tool call found")
    gt = datum["ground_truth"]
    em = _args_em(gt["action"], parsed["action"], gt["args"], parsed["args"])
    return SubsetScore(((f"{fmt}_format_metric", 1.0), (f"{fmt}_args_em_metric", em)), False,
                       f"action={parsed['action']!r} args={parsed['args']!r}")


def _args_em(gt_action: Any, pred_action: Any, gt_args: dict[str, Any],
             pred_args: dict[str, Any]) -> float:
    count = 1.0 if gt_action == pred_action else 0.0
    count += sum(1.0 for k, v in gt_args.items() if pred_args.get(k, "") == v)
    return count / (len(gt_args) + 1)


def _instruct_string(template: dict[str, str], pred: str) -> dict[str, Any] | None:
    t = template
    pattern = (t["thought_start"] + "{thought}" + t["thought_end"] + t["action_start"]
               + "{action}" + t["action_end"] + t["args_start"] + "{args}" + t["args_end"])
    res = parse_string(pattern, pred, allow_newline=True)
    if res is None:
        return None
    try:
        args = ast.literal_eval(res["args"].strip())
        return {**res, "args": args if isinstance(args, dict) else {},
                "action": res["action"].strip()}
    except Exception:
        return {"thought": res["thought"], "action": res["action"].strip(), "args": {}}


def _instruct_json(template: dict[str, str], pred: str) -> dict[str, Any] | None:
    try:
        data = format_load(pred)
        args = data[template["args"]]
        return {"thought": data[template["thought"]], "action": data[template["action"]],
                "args": args if isinstance(args, dict) else {}}
    except Exception:
        return None


# --- plan ----------------------------------------------------------------------------------


def _plan_load(data: Any) -> list[dict[str, Any]]:
    """PlanningEvaluator.format_load: a list of {name, id, args: str}, else []."""
    try:
        plan = format_load(data, start="[", end="]")
    except _Unparsable:
        return []
    if not isinstance(plan, list):
        return []
    try:
        return [{"name": str(s["name"]), "id": int(s["id"]), "args": str(s["args"])} for s in plan]
    except Exception:
        return []


def _plan_from_text(pred: str, api_list: Sequence[str]) -> list[dict[str, Any]]:
    """The ``str`` prompt type: each line (or sentence) naming an API is one step."""
    steps: list[dict[str, Any]] = []
    for line in pred.replace(". ", "\n").split("\n"):
        best, name = math.inf, ""
        for api in api_list:
            at = line.find(api)
            if at != -1 and at < best:
                best, name = at, api
        if name:
            steps.append({"id": len(steps), "name": name, "args": line})
    return steps


def score_plan(datum: dict[str, Any], pred: str, sim: Similarity) -> SubsetScore:
    meta = datum.get("meta", {})
    prompt_type = meta.get("prompt_type", "json")
    gt = _plan_load(datum["ground_truth"])
    if prompt_type == "json":
        plan = _plan_load(pred)
    elif prompt_type == "str":
        plan = _plan_from_text(pred, meta["API_list"])
    else:
        raise ValueError(f"T-Eval planning: unsupported prompt_type {prompt_type!r}")
    failed = not plan or not gt
    p, r, f1 = (0.0, 0.0, 0.0) if failed else _plan_match(plan, gt, sim)
    return SubsetScore((("precision", p), ("recall", r), ("f1_score", f1),
                        ("parse_rate", float(not failed))), failed,
                       "steps=" + ",".join(s["name"] for s in plan))


def _plan_match(pred: list[dict[str, Any]], gt: list[dict[str, Any]], sim: Similarity
                ) -> tuple[float, float, float]:
    """``bertscore_match``: weighted name/args similarity, max-weight matching of the pairs
    above the threshold, then the longest run of matches in increasing order."""
    import networkx as nx  # type: ignore[import-untyped]

    pred = copy.deepcopy(sorted(pred, key=lambda x: x["id"]))
    gt = copy.deepcopy(sorted(gt, key=lambda x: x["id"]))
    if pred[-1]["name"] == "FinishAction":
        pred = pred[:-1]
    if gt[-1]["name"] == "FinishAction":
        gt = gt[:-1]
    if not pred or not gt:  # upstream divides by zero / takes max() of nothing here
        return 0.0, 0.0, 0.0
    names = sim.matrix([s["name"] for s in pred], [s["name"] for s in gt])
    args = sim.matrix([str(s["args"]) for s in pred], [str(s["args"]) for s in gt])
    graph = nx.Graph()
    for i in range(len(pred)):
        for j in range(len(gt)):
            w = names[i][j] * NAME_WEIGHT + args[i][j] * ARGS_WEIGHT
            if w > MATCH_THRESHOLD:
                graph.add_edge(i, str(j), weight=w)
    mapping = {i: -1 for i in range(len(pred))}
    for u, v in nx.max_weight_matching(graph):
        i, j = (u, v) if isinstance(u, int) else (v, u)
        mapping[int(i)] = int(j)
    dp = [1] * len(pred)
    for i in range(len(pred)):
        for j in range(i):
            if -1 not in (mapping[i], mapping[j]) and mapping[i] > mapping[j]:
                dp[i] = max(dp[i], dp[j] + 1)
    correct = max(dp)
    recall, precision = correct / len(gt), correct / len(pred)
    return precision, recall, 2 * recall * precision / (recall + precision)


# --- reason / retrieve / understand ----------------------------------------------------------


def _rru_load(data: Any, json_args: bool) -> dict[str, Any]:
    """ReasonRetrieveUnderstandEvaluator.format_load: thought/name/args, else {}."""
    try:
        obj = format_load(data, start="{", end="}")
    except _Unparsable:
        return {}
    if not isinstance(obj, dict):
        return {}
    out: dict[str, Any] = {"thought": str(obj.get("thought", "")), "name": str(obj.get("name", ""))}
    if json_args:
        out["args"] = obj["args"] if isinstance(obj.get("args"), dict) else {}
    else:
        out["args"] = str(obj["args"]) if "args" in obj else ""
    return out


_DOTTED = re.compile(r"\w+\.\w+")


def score_rru(datum: dict[str, Any], pred: str, sim: Similarity, prompt_type: str,
              eval_type: str) -> SubsetScore:
    """``prompt_type`` is the evaluator's default ("json" for the joint subset, "str" for
    the three single ones); ``eval_type`` which field a "str" answer is."""
    fmt = datum.get("meta_data", {}).get("response_format", prompt_type)
    gt = _rru_load(datum["ground_truth"], prompt_type == "json")
    if fmt == "json":
        answer = _rru_load(pred, prompt_type == "json")
        if not answer or not gt:
            answer = {}
    elif fmt == "str":
        field = {"reason": "thought", "retrieve": "name", "understand": "args"}[eval_type]
        answer = {field: pred}
    else:
        raise ValueError(f"T-Eval: unsupported response_format {fmt!r}")
    keys = (("thought", "name", "args") if prompt_type == "json" else
            ({"reason": "thought", "retrieve": "name", "understand": "args"}[eval_type],))
    metrics: dict[str, float] = {k: 0.0 for k in keys}
    if "thought" in answer and "thought" in gt:
        metrics["thought"] = similarity(sim, answer["thought"], gt["thought"])
    if "name" in answer and "name" in gt:
        metrics["name"] = _name_score(answer["name"], gt["name"], prompt_type)
    if "args" in answer and "args" in gt:
        metrics["args"] = similarity(sim, str(answer["args"]), str(gt["args"]))
    ok = bool(answer)
    return SubsetScore((*((k, metrics[k]) for k in keys), ("parse_rate", float(ok))),
                       not ok, "" if ok else "answer is not a JSON object")


def _name_score(pred: str, gt: str, prompt_type: str) -> float:
    if prompt_type == "json":
        return float(pred == gt)
    if gt not in pred:
        return 0.0
    named = _DOTTED.findall(pred) + re.findall("FinishAction", pred)
    return float(all(n == gt for n in named))


# --- review --------------------------------------------------------------------------------


def score_review(datum: dict[str, Any], pred: str) -> SubsetScore:
    gt = datum["ground_truth"]["answer"]
    answer: Any
    if datum["meta_data"]["response_format"] == "json":
        answer = _review_json(pred)
    else:
        rest = pred[pred.find(":") + 1:].strip()
        answer = rest[0] if rest and rest[0] in "ABCDE" else None
    if answer is None:
        return SubsetScore((("review_quality", 0.0), ("parse_rate", 0.0)), True,
                           "no option letter after ':'")
    return SubsetScore((("review_quality", float(answer == gt)), ("parse_rate", 1.0)), False,
                       f"answer={answer!r}")


def _review_json(pred: str) -> dict[str, bool] | None:
    try:
        data = format_load(pred)
        if data["is_finished"] in (True, False):
            return {"review": data["is_finished"]}
    except Exception:
        return None
    return None
