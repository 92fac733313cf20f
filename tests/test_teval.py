"""T-Eval (``teval_en``/``teval_zh``): the fixtures in upstream's format, each evaluator on
hand-written answers, the summarizer's overall, and both benchmarks through the runner on the
scripted mock backend. The similarity is the opt-in lexical one: tests load no model."""

from __future__ import annotations

import json
import math
import shutil
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evals.backends.mock import MockBackend
from evals.benchmarks.base import BENCHMARKS, BenchmarkContext
from evals.benchmarks.tool_use.teval import benchmark as teval
from evals.benchmarks.tool_use.teval.scoring import (
    EmbeddingSimilarity,
    LexicalSimilarity,
    lexical_cosine,
    parse_string,
    postprocess,
    score_instruct,
    score_plan,
    score_review,
    score_rru,
)
from evals.config import EvalsConfig, ModelSpec, RunnerConfig, SuiteSpec
from evals.errors import ConfigError, DataError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    Mode,
    ModelKind,
    SampleResult,
    Score,
)
from evals.run.runner import run_model

FIXTURES = Path(__file__).parent / "fixtures"
LEX = LexicalSimilarity()
CHAT = ModelSpec(name="m", path="mock", kind="chat")


@pytest.fixture(autouse=True)
def lexical(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (teval.ENV, f"{teval.ENV}_EN", f"{teval.ENV}_ZH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(teval.ENV, "lexical")


def _ctx(data: Path = FIXTURES, kind: ModelKind = ModelKind.CHAT) -> BenchmarkContext:
    return BenchmarkContext(data_dir=data, kind=kind, mode=Mode.GEN, shots=0)


def _bench(lang: str) -> teval.TEval:
    bench = BENCHMARKS.get(f"teval_{lang}")
    assert isinstance(bench, teval.TEval)
    return bench


def _item(lang: str, subset: str, n: int = 0) -> dict[str, Any]:
    stem = teval.file_stem(subset, "v1", lang)
    data = json.loads((FIXTURES / "teval" / lang.upper() / f"{stem}.json").read_text())
    return list(data.values())[n]  # type: ignore[no-any-return]


# --- loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_fixtures_load_every_subset_as_chats(lang: str) -> None:
    items = _bench(lang).load(_ctx())
    assert len(items) == 24
    assert {i.file for i in items} == {teval.file_stem(s, "v1", lang) for s in teval.SUBSETS}
    first = items[0]
    assert first.id == f"{teval.file_stem('instruct', 'v1', lang)}/query_1_0"
    assert [m.role for m in first.messages] == ["system", "user"]
    dialogue = next(i for i in items if i.subset == "reason_str")
    assert [m.role for m in dialogue.messages] == ["system", "user", "assistant", "system"]
    request = _bench(lang).requests(first, _ctx())[0]
    assert isinstance(request, GenerateRequest) and request.params.max_tokens == 1024
    assert request.prompt == ChatPrompt(first.messages)
    assert len(_bench(lang).data_files(_ctx())) == 8


def test_v2_files_in_the_flat_layout_with_the_function_role(tmp_path: Path) -> None:
    root = tmp_path / "teval"
    root.mkdir()
    for src in (FIXTURES / "teval" / "EN").iterdir():
        data = json.loads(src.read_text())
        for datum in data.values():
            for m in datum["origin_prompt"]:
                if m["role"] == "system" and m["content"].startswith("{"):
                    m["role"] = "function"
        (root / src.name.replace("_v1", "_v2")).write_text(json.dumps(data))
    items = _bench("en").load(_ctx(tmp_path))
    dialogue = next(i for i in items if i.subset == "reason_str")
    assert dialogue.file == "reason_str_v2" and dialogue.messages[-1].role == "system"


def test_missing_data_names_the_folder_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        _bench("zh").load(_ctx(tmp_path))
    message = str(err.value)
    assert str(tmp_path / "teval" / "ZH") in message and "instruct_v1_zh.json" in message
    assert "open-compass/T-Eval" in message and "\n" not in message
    assert _bench("zh").data_files(_ctx(tmp_path)) == []


def test_one_missing_file_is_named(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "teval", tmp_path / "teval")
    (tmp_path / "teval" / "EN" / "review_str_v1.json").unlink()
    with pytest.raises(DataError, match=r"missing review_str_v1\.json\)"):
        _bench("en").load(_ctx(tmp_path))


def test_base_models_are_refused() -> None:
    with pytest.raises(ConfigError, match="chat"):
        _bench("en").load(_ctx(kind=ModelKind.BASE))


def test_without_sentence_transformers_load_fails_before_generation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(teval.ENV, "all-mpnet-base-v2")
    monkeypatch.setattr(teval.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"sentence-transformers.*EVALS_TEVAL_SIMILARITY=lexical"):
        _bench("en").load(_ctx())


def test_similarity_choice_defaults_to_upstream_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(teval.ENV)
    assert teval.similarity_choice("en") == "all-mpnet-base-v2"
    assert teval.similarity_choice("zh") == "thenlper/gte-large-zh"
    monkeypatch.setenv(teval.ENV, "/models/mpnet")
    monkeypatch.setenv(f"{teval.ENV}_ZH", "lexical")
    assert (teval.similarity_choice("en"), teval.similarity_choice("zh")) == ("/models/mpnet",
                                                                              "lexical")


# --- similarity ------------------------------------------------------------------------------


def test_lexical_cosine() -> None:
    assert lexical_cosine("Find the Weather", "weather find the") == pytest.approx(1.0)
    assert lexical_cosine("alpha beta", "gamma") == 0.0
    assert lexical_cosine("", "gamma") == 0.0
    assert lexical_cosine("天气预报", "天气") == pytest.approx(2 / math.sqrt(8))
    assert lexical_cosine("a b", "a c") == pytest.approx(0.5)


def test_embedding_model_that_cannot_load_is_a_one_line_error() -> None:
    sim = EmbeddingSimilarity("no-such-model-for-tests", "teval_en")
    with pytest.raises(ConfigError, match=r"no-such-model-for-tests.*lexical") as err:
        sim.matrix(["a"], ["b"])
    assert "\n" not in str(err.value)


@pytest.fixture
def fake_sentence_transformers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A stand-in package: 'embeddings' are 2-d vectors, so cosines are known."""
    np = pytest.importorskip("numpy")
    loaded: list[str] = []

    class Model:
        def __init__(self, name: str) -> None:
            loaded.append(name)

        def encode(self, texts: list[str], convert_to_tensor: bool) -> Any:
            assert convert_to_tensor
            table = {"x": [1.0, 0.0], "y": [0.0, 1.0], "-x": [-1.0, 0.0], "xy": [1.0, 1.0]}
            return np.array([table[t] for t in texts])

    def cos_sim(a: Any, b: Any) -> Any:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        return types.SimpleNamespace(cpu=lambda: types.SimpleNamespace(numpy=lambda: a @ b.T))

    pkg = types.ModuleType("sentence_transformers")
    util = types.ModuleType("sentence_transformers.util")
    pkg.SentenceTransformer = Model  # type: ignore[attr-defined]
    util.cos_sim = cos_sim  # type: ignore[attr-defined]
    pkg.util = util  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", pkg)
    monkeypatch.setitem(sys.modules, "sentence_transformers.util", util)
    yield loaded


def test_embedding_similarity_is_clipped_cosine(fake_sentence_transformers: list[str]) -> None:
    sim = EmbeddingSimilarity("all-mpnet-base-v2", "teval_en")
    m = sim.matrix(["x", "-x"], ["x", "y", "xy"])
    assert m[0] == pytest.approx([1.0, 0.0, 1 / math.sqrt(2)])
    assert m[1] == pytest.approx([0.0, 0.0, 0.0])  # negative cosines clip to 0
    sim.matrix(["y"], ["y"])
    assert fake_sentence_transformers == ["all-mpnet-base-v2"]  # loaded once, lazily


# --- text handling ---------------------------------------------------------------------------


def test_postprocess_as_teval_postprocess() -> None:
    assert postprocess("```json\n{\"a\": 1}\n```") == '{"a": 1}'
    assert postprocess("Answer: B<|im_end|>junk") == "Answer: B"
    assert postprocess("Answer: C\nuser: next") == "Answer: C"
    assert postprocess("{{\"a\": 1}}") == '{"a": 1}'


def test_parse_string_keeps_upstreams_unescaped_regex() -> None:
    assert parse_string("{who} like {what}", "monkey like banana") == {"who": "monkey",
                                                                       "what": "banana"}
    assert parse_string("{who} like {what}", "monkey likes banana") is None
    # "." in a template is a regex wildcard upstream
    assert parse_string("a.{x}", "abz") == {"x": "z"}


# --- instruct --------------------------------------------------------------------------------


def test_instruct_json() -> None:
    datum = _item("en", "instruct", 0)  # template keys thought / name / args
    right = json.dumps({"thought": "t", "name": "WeatherAPI.get_forecast",
                        "args": {"city": "Lisbon", "date": "2024-05-02"}})
    assert score_instruct(datum, right).metrics == (("json_format_metric", 1.0),
                                                    ("json_args_em_metric", 1.0))
    wrong_date = right.replace("2024-05-02", "2024-05-03")
    assert dict(score_instruct(datum, wrong_date).metrics)["json_args_em_metric"] == \
        pytest.approx(2 / 3)
    for bad in ("I will call the weather API.", json.dumps({"thought": "t", "tool": "x"})):
        out = score_instruct(datum, bad)
        assert out.parse_failed and out.metrics == (("json_format_metric", 0.0),
                                                    ("json_args_em_metric", 0.0))


def test_instruct_json_reads_the_items_own_keys() -> None:
    datum = _item("en", "instruct", 1)  # reasoning / tool / parameters
    answer = "{'reasoning': 'r', 'tool': 'CurrencyTool.convert', " \
             "'parameters': {'amount': 250, 'source': 'EUR', 'target': 'USD'}}"
    out = score_instruct(datum, answer)
    assert not out.parse_failed
    assert dict(out.metrics)["json_args_em_metric"] == pytest.approx(3 / 4)


def test_instruct_string() -> None:
    datum = _item("en", "instruct", 2)
    right = "Thought: add it\nAction: Calendar.add_event\nAction Input: " \
            "{'title': 'Dentist', 'date': '2024-06-11'}"
    assert score_instruct(datum, right).metrics == (("string_format_metric", 1.0),
                                                    ("string_args_em_metric", 1.0))
    no_dict = right.replace("{'title': 'Dentist', 'date': '2024-06-11'}", "title=Dentist")
    out = score_instruct(datum, no_dict)
    assert not out.parse_failed and dict(out.metrics)["string_args_em_metric"] == \
        pytest.approx(1 / 3)
    out = score_instruct(datum, "Calendar.add_event(title='Dentist')")
    assert out.parse_failed and dict(out.metrics)["string_format_metric"] == 0.0


# --- plan ------------------------------------------------------------------------------------


def _steps(*names_args: tuple[str, dict[str, Any]]) -> str:
    return json.dumps([{"id": i, "name": n, "args": str(a)} for i, (n, a) in enumerate(names_args)])


W = ("WeatherAPI.get_forecast", {"city": "Oslo", "date": "2024-07-03"})
C = ("Calendar.add_event", {"title": "Trip to Oslo", "date": "2024-07-03"})
F = ("FinishAction", {})


@pytest.mark.parametrize(("answer", "expected"), [
    (_steps(W, C, F), (1.0, 1.0, 1.0)),
    (_steps(W, C), (1.0, 1.0, 1.0)),  # the closing FinishAction is optional
    (_steps(W), (1.0, 0.5, 2 / 3)),
    (_steps(C, W), (0.5, 0.5, 0.5)),  # both matched, but out of order: one counts
    # nothing matched: upstream's LIS still counts one step (kept on purpose)
    (_steps(("BookSearch.find_books", {"query": "x"}), ("Email.send", {"to": "y"})),
     (0.5, 0.5, 0.5)),
    (_steps(F), (0.0, 0.0, 0.0)),  # upstream crashes on an empty plan
])
def test_plan_json(answer: str, expected: tuple[float, float, float]) -> None:
    out = score_plan(_item("en", "plan_json", 0), answer, LEX)
    m = dict(out.metrics)
    assert (m["precision"], m["recall"], m["f1_score"]) == pytest.approx(expected)
    assert not out.parse_failed


def test_plan_json_unparseable() -> None:
    for bad in ("First check the weather, then add the event.", json.dumps({"id": 0}),
                json.dumps([{"id": 0, "name": "x"}])):
        out = score_plan(_item("en", "plan_json", 0), bad, LEX)
        assert out.parse_failed and dict(out.metrics) == {"precision": 0.0, "recall": 0.0,
                                                          "f1_score": 0.0, "parse_rate": 0.0}


def test_plan_with_repeated_steps() -> None:
    datum = _item("en", "plan_json", 2)  # two CurrencyTool.convert steps
    usd_eur = ("CurrencyTool.convert", {"amount": 80, "source": "USD", "target": "EUR"})
    usd_gbp = ("CurrencyTool.convert", {"amount": 80, "source": "USD", "target": "GBP"})
    assert dict(score_plan(datum, _steps(usd_eur, usd_gbp), LEX).metrics)["f1_score"] == 1.0
    assert dict(score_plan(datum, _steps(usd_eur), LEX).metrics)["f1_score"] == \
        pytest.approx(2 / 3)


def test_plan_str() -> None:
    datum = _item("en", "plan_str", 0)
    right = "Use WeatherAPI.get_forecast to get the weather in Oslo on 2024-07-03\n" \
            "Use Calendar.add_event to add the trip. Done"
    out = score_plan(datum, right, LEX)
    assert dict(out.metrics)["f1_score"] == 1.0 and "WeatherAPI.get_forecast" in out.note
    out = score_plan(datum, "Check the weather, then add the event.", LEX)
    assert out.parse_failed and dict(out.metrics)["f1_score"] == 0.0


# --- reason / retrieve / understand ----------------------------------------------------------


def test_rru_json() -> None:
    datum = _item("en", "reason_retrieve_understand_json", 0)
    gt = datum["ground_truth"]
    out = score_rru(datum, json.dumps(gt), LEX, "json", "reason")
    assert out.metrics == (("thought", 1.0), ("name", 1.0), ("args", 1.0), ("parse_rate", 1.0))
    partly = {"thought": "add the Safari event", "name": "Calendar.add", "args": {"title": "Safari"}}
    m = dict(score_rru(datum, "Sure: " + json.dumps(partly), LEX, "json", "reason").metrics)
    assert m["thought"] == pytest.approx(lexical_cosine(partly["thought"], gt["thought"]))
    assert m["name"] == 0.0
    assert m["args"] == pytest.approx(lexical_cosine(str(partly["args"]), str(gt["args"])))
    out = score_rru(datum, "I would add the event next.", LEX, "json", "reason")
    assert out.parse_failed and dict(out.metrics) == {"thought": 0.0, "name": 0.0, "args": 0.0,
                                                      "parse_rate": 0.0}


def test_reason_str_is_the_thoughts_similarity() -> None:
    datum = _item("en", "reason_str", 0)
    gt = datum["ground_truth"]["thought"]
    assert score_rru(datum, gt, LEX, "str", "reason").metrics == (("thought", 1.0),
                                                                  ("parse_rate", 1.0))
    m = dict(score_rru(datum, "Add the Safari event now.", LEX, "str", "reason").metrics)
    assert m["thought"] == pytest.approx(lexical_cosine("Add the Safari event now.", gt))
    assert 0 < m["thought"] < 1


@pytest.mark.parametrize(("answer", "expected"), [
    ("Calendar.add_event", 1.0),
    ("I would call Calendar.add_event next.", 1.0),
    ("Calendar.add_event or WeatherAPI.get_forecast", 0.0),  # a second API named
    ("Calendar.add_event, then FinishAction", 0.0),
    ("Calendar", 0.0),
])
def test_retrieve_str(answer: str, expected: float) -> None:
    out = score_rru(_item("en", "retrieve_str", 0), answer, LEX, "str", "retrieve")
    assert out.metrics == (("name", expected), ("parse_rate", 1.0)) and not out.parse_failed


def test_understand_str_compares_the_answer_with_the_args() -> None:
    datum = _item("en", "understand_str", 0)
    right = str(datum["ground_truth"]["args"])
    assert dict(score_rru(datum, right, LEX, "str", "understand").metrics)["args"] == 1.0
    m = dict(score_rru(datum, "{'title': 'Safari'}", LEX, "str", "understand").metrics)
    assert m["args"] == pytest.approx(lexical_cosine("{'title': 'Safari'}", right))


# --- review ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "quality", "failed"), [
    ("Answer: A", 1.0, False), ("Answer: A: Success", 1.0, False), ("Answer: C", 0.0, False),
    ("It worked", 0.0, True), ("Answer: success", 0.0, True),
])
def test_review(answer: str, quality: float, failed: bool) -> None:
    out = score_review(_item("en", "review_str", 0), answer)  # gold: A
    assert dict(out.metrics)["review_quality"] == quality and out.parse_failed == failed


# --- the overall -----------------------------------------------------------------------------


def _result(file: str, *metrics: tuple[str, float], lexical: bool = False) -> SampleResult:
    similar = ("thought", "args", "f1_score")
    extras = tuple((f"{file}.{m}" + ("[lexical]" if lexical and m in similar else ""), v)
                   for m, v in metrics)
    value = sum(v for _, v in metrics) / len(metrics)
    return SampleResult(file + "/x", file, "", "", ("",), Score(value, None, extras=extras))


def _results(lexical: bool = False) -> list[SampleResult]:
    def r(file: str, *metrics: tuple[str, float]) -> SampleResult:
        return _result(file, *metrics, lexical=lexical)
    return [
        r("instruct_v1", ("json_format_metric", 1.0), ("json_args_em_metric", 1.0)),
        r("instruct_v1", ("json_format_metric", 1.0), ("json_args_em_metric", 0.5)),
        r("instruct_v1", ("string_format_metric", 0.0), ("string_args_em_metric", 0.0)),
        r("plan_str_v1", ("f1_score", 1.0)), r("plan_str_v1", ("f1_score", 0.5)),
        r("plan_json_v1", ("f1_score", 1.0)),
        r("reason_str_v1", ("thought", 0.8)),
        r("reason_retrieve_understand_json_v1", ("thought", 0.6), ("name", 1.0), ("args", 0.4)),
        r("retrieve_str_v1", ("name", 0.0)), r("retrieve_str_v1", ("name", 1.0)),
        r("understand_str_v1", ("args", 0.2)),
        r("review_str_v1", ("review_quality", 1.0)), r("review_str_v1", ("review_quality", 0.0)),
        r("review_str_v1", ("review_quality", 1.0)),
    ]


def test_overall_is_the_summarizers_twelve_entry_mean() -> None:
    results = _results()
    primary = teval.TEvalOverall("overall").aggregate(results)
    # format (0+1)/2, args (0+.75)/2, plan .75 and 1, reason .8 .6, retrieve .5 1,
    # understand .2 .4, review .6667 (rounded as upstream) twice
    entries = [0.5, 0.375, 0.75, 1.0, 0.8, 0.6, 0.5, 1.0, 0.2, 0.4, 0.6667, 0.6667]
    assert primary.name == "overall"
    assert primary.value == pytest.approx(100 * sum(entries) / 12)
    assert 0 < primary.stderr < 20
    second = {m.name: m.value for m in teval.TEvalOverall("overall").secondary(results)}
    assert second["instruct"] == pytest.approx(43.75)
    assert second["plan"] == pytest.approx(87.5)
    assert second["reason"] == pytest.approx(70.0)
    assert second["retrieve"] == pytest.approx(75.0)
    assert second["understand"] == pytest.approx(30.0)
    assert second["review"] == pytest.approx(66.67)
    assert second["instruct_v1.json_metric"] == pytest.approx(87.5)
    assert second["instruct_v1.string_metric"] == 0.0
    assert second["reason_retrieve_understand_json_v1.name"] == 100.0
    assert second["review_str_v1.review_quality"] == pytest.approx(66.67)


def test_lexical_similarity_is_marked_in_every_name_it_touches() -> None:
    results = _results(lexical=True)
    metric = teval.TEvalOverall("overall")
    assert metric.aggregate(results).name == "overall[lexical]"
    assert metric.aggregate(results).value == pytest.approx(metric.aggregate(_results()).value)
    names = {m.name for m in metric.secondary(results)}
    assert {"plan[lexical]", "reason[lexical]", "understand[lexical]", "instruct", "retrieve",
            "review", "plan_json_v1.f1_score[lexical]",
            "reason_retrieve_understand_json_v1.name"} <= names
    extras = {n for r in results for n, _ in r.score.extras}
    assert extras <= names  # summarize() adds no second, naive mean of an extra


def test_a_missing_subset_is_left_out_of_the_mean() -> None:
    results = [r for r in _results() if not r.group.startswith("plan")]
    second = {m.name: m.value for m in teval.TEvalOverall("overall").secondary(results)}
    assert math.isnan(second["plan"])
    value = teval.TEvalOverall("overall").aggregate(results).value
    assert value == pytest.approx((43.75 + 70 + 75 + 30 + 66.67) / 5)


# --- through the runner ----------------------------------------------------------------------


def _right_answer(datum: dict[str, Any], subset: str) -> str:
    gt = datum["ground_truth"]
    if subset == "instruct":
        t = datum["template"]
        if datum["meta_data"]["response_format"] == "json":
            return json.dumps({t["thought"]: gt["thought"], t["action"]: gt["action"],
                               t["args"]: gt["args"]}, ensure_ascii=False)
        return (t["thought_start"] + gt["thought"] + t["thought_end"] + t["action_start"]
                + gt["action"] + t["action_end"] + t["args_start"] + str(gt["args"])
                + t["args_end"])
    if subset.startswith("plan"):
        steps = [{"id": s["id"], "name": s["name"], "args": str(s["args"])} for s in gt]
        if subset == "plan_json":
            return "```json\n" + json.dumps(steps, ensure_ascii=False) + "\n```"
        return "\n".join(f"Use {s['name']} to do {s['args']}" for s in steps)
    if subset == "review_str":
        return f"Answer: {gt['answer']}"
    return {"reason_str": gt["thought"], "retrieve_str": gt["name"],
            "understand_str": str(gt["args"]),
            "reason_retrieve_understand_json": json.dumps(gt, ensure_ascii=False)}[subset]


def _script(wrong: set[str]) -> Callable[[GenerateRequest], str]:
    answers = {}
    for lang in ("en", "zh"):
        for item in _bench(lang).load(_ctx()):
            text = "I am not sure." if item.subset in wrong else _right_answer(
                json.loads(item.datum), item.subset)
            answers[json.dumps([m.content for m in item.messages])] = text

    def generate(r: GenerateRequest) -> str:
        assert isinstance(r.prompt, ChatPrompt)
        return answers[json.dumps([m.content for m in r.prompt.messages])] + "<|im_end|>"
    return generate


def _run(tmp: Path, wrong: set[str]) -> dict[str, Any]:
    config = EvalsConfig(data_dir=str(FIXTURES), output_dir=str(tmp), models=[CHAT],
                         runner=RunnerConfig(backend="mock"))
    suite = SuiteSpec.model_validate({"name": "tools", "benchmarks": [
        {"name": "teval_en"}, {"name": "teval_zh"}]})
    (outcome,) = run_model(config, tmp, CHAT, [suite], backend_builder=lambda spec: MockBackend(
        generate_fn=_script(wrong)))
    lines = (outcome.run_dir / "predictions" / "teval_zh.jsonl").read_text().splitlines()
    return {"results": {r.benchmark: r for r in outcome.results},
            "zh": [SampleResult.from_json(json.loads(x)) for x in lines]}


def test_right_answers_score_100_through_the_runner(tmp_path: Path) -> None:
    out = _run(tmp_path, set())
    for name in ("teval_en", "teval_zh"):
        result = out["results"][name]
        assert result.n == 24 and result.parse_failures == 0
        assert result.primary.name == "overall[lexical]"
        assert result.primary.value == pytest.approx(100.0)
        second = {m.name: m.value for m in result.secondary}
        assert second["plan[lexical]"] == pytest.approx(100.0)
        assert second["retrieve"] == pytest.approx(100.0)
        assert {g for g, _, _ in result.groups} == {
            teval.file_stem(s, "v1", name[-2:]) for s in teval.SUBSETS}
    sample = out["zh"][0]
    assert sample.group == "instruct_v1_zh" and sample.score.extracted is not None
    assert not sample.score.extracted.endswith("<|im_end|>")  # teval_postprocess ran
    plan = next(r for r in out["zh"] if r.group == "plan_str_v1_zh")
    assert plan.score.detail.startswith("similarity=lexical;")


def test_wrong_answers_lower_the_score_and_count_parse_failures(tmp_path: Path) -> None:
    out = _run(tmp_path, {"instruct", "plan_json", "review_str", "retrieve_str"})
    result = out["results"]["teval_en"]
    assert result.parse_failures == 9  # instruct, plan_json, review: 3 each; retrieve never
    second = {m.name: m.value for m in result.secondary}
    assert second["instruct"] == 0.0 and second["review"] == 0.0
    assert second["plan[lexical]"] == pytest.approx(50.0)  # plan_str still right
    assert second["retrieve"] == pytest.approx(50.0)  # the json subset still names it
    assert result.primary.value == pytest.approx(100 * (0 + 0.5 + 1 + 0.5 + 1 + 0) / 6)
