"""WinoGrande, 0-shot, dev/validation split of winogrande_xl (1,267 items).

Base models follow OpenCompass ``winogrande_ll_c5cf57`` (the config the InternLM2 report's
§1.3 names for base models; the PPL configs ``winogrande_ppl_*`` carry an upstream warning that
they do not reproduce published numbers): for each option, the sentence prefix with the blank
filled by that option is the context, the text after the blank is the continuation, and the
prediction is the option whose continuation has the larger summed log-probability (ties go to
option 1, as ``list.index(max(...))``). This is also lm-eval's partial scoring of WinoGrande.
The argmin of mean cross-entropy over the whole filled sentence (PPL style, without the
"Good sentence:" prefix) is reported beside it as ``acc_sentence_ppl``.

Two deliberate differences from OpenCompass, both about where the continuation starts:
- OpenCompass (report-era ``HuggingFaceCausalLM.get_loglikelihood``) counts context tokens by
  tokenizing ``sentence.replace(cont, '')``, which also deletes earlier copies of the
  continuation (a continuation of "." strips every full stop in the prefix). We split at the
  blank, which is what the code means to do.
- OpenCompass 0.5.4's ``HuggingFaceBaseModel.get_loglikelihood`` returns a masked mean
  cross-entropy whose mask starts ``len(cont)`` tokens from the *start*; we keep the
  report-era sum over the continuation tokens.
- OpenCompass's ``VLLM.get_loglikelihood`` divides that sum by the whole sequence's length
  less one, which favours the option with the longer filled prefix; its HuggingFace wrapper
  (``HuggingFaceCausalLM``, what the report ran) sums. We follow the HuggingFace formula, so
  OpenCompass run with its VLLM model picks differently on some items (4 of 30 in one
  end-to-end comparison); ``tests/fidelity/test_winogrande_ref.py`` runs both wrappers'
  code on a stub model and pins the difference.

Chat models (gen) follow ``winogrande_gen_a9ede5``: "Which of the following is a good
sentence:\\nA. {opt1}\\nB. {opt2}\\nAnswer:" and ``first_option_postprocess(options='AB')``.

Data: the upstream allenai layout (``sentence`` with "_" for the blank, ``option1``,
``option2``, ``answer`` "1"/"2"; OpenCompass reads ``winogrande/dev.jsonl``), MosaicML's derived
layout in shared data (``context_options`` = the filled prefixes, ``continuation`` stripped of its
leading space, ``gold`` 0/1), or hub ``allenai/winogrande`` (``winogrande_xl``, validation). The
derived layout loses the space after the blank: we restore it unless the continuation starts
with punctuation ("'s", "."), which reproduces the upstream sentence in both cases.
``evals data fetch`` takes the hub's ``winogrande_xl`` validation parquet at a pinned commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks._choice import _argmax, responses_as, score_option
from evals.benchmarks._io import numbered_jsonl
from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import (
    BenchmarkContext,
    Defaults,
    Metric,
    load_local,
    only_text,
    parquet_rows,
    register,
)
from evals.data_sources import DataSpec, Layout, remote
from evals.errors import DataError
from evals.records import (
    GenerateRequest,
    GenerationParams,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
    Mode,
    ModelKind,
    Request,
    Response,
    Sample,
    Score,
)

LETTERS = "AB"
UPSTREAM_FILE = "winogrande/dev.jsonl"
DERIVED_FILE = "winogrande/winogrande.jsonl"
HUB_ID = "allenai/winogrande"


@dataclass(frozen=True)
class WinoGrandeItem(Sample):
    prefixes: tuple[str, str]
    """The sentence up to the blank, with the blank filled by option 1 and option 2."""
    cont: str
    """The text after the blank, leading space included (OpenCompass's ``cont``)."""

    @property
    def sentences(self) -> tuple[str, str]:
        """OpenCompass's ``opt1``/``opt2``: the whole sentence with each option filled in."""
        return (self.prefixes[0] + self.cont, self.prefixes[1] + self.cont)


def from_upstream(i: int, row: Mapping[str, Any]) -> WinoGrandeItem:
    sentence = str(row["sentence"])
    if "_" not in sentence:
        raise DataError(f"winogrande: item {i} has no '_' blank: {sentence[:60]!r}")
    answer = str(row["answer"]).strip()
    if answer not in ("1", "2"):
        raise DataError(f"winogrande: item {i} answer {answer!r} is not 1 or 2")
    before, cont = sentence.split("_")[0], sentence.split("_")[1]
    prefixes = (before + str(row["option1"]), before + str(row["option2"]))
    return WinoGrandeItem(str(i), LETTERS[int(answer) - 1], prefixes, cont)


def from_derived(i: int, row: Mapping[str, Any]) -> WinoGrandeItem:
    options = row["context_options"]
    gold = row["gold"]
    if len(options) != 2 or gold not in (0, 1):
        raise DataError(f"winogrande: item {i} is not a two-option record with gold 0/1")
    text = str(row["continuation"])
    cont = text if text[:1] and not text[0].isalnum() else " " + text
    return WinoGrandeItem(str(i), LETTERS[gold], (str(options[0]), str(options[1])), cont)


def _load_local(path: Path) -> list[WinoGrandeItem]:
    items: list[WinoGrandeItem] = []
    for n, row in numbered_jsonl(path):
        if not isinstance(row, dict):
            raise DataError(f"{path}:{n}: not a WinoGrande record (a JSON object)")
        if "sentence" in row:
            items.append(from_upstream(len(items), row))
        elif "context_options" in row:
            items.append(from_derived(len(items), row))
        else:
            raise DataError(f"{path}:{n}: neither the allenai nor the MosaicML layout")
    return items


def _load_hub(root: Path) -> list[WinoGrandeItem]:
    return [from_upstream(i, r) for i, r in enumerate(parquet_rows(root, "validation-*.parquet"))]


DATA = DataSpec(
    layouts=(Layout("upstream", UPSTREAM_FILE), Layout("evals", DERIVED_FILE),
             Layout("hub", f"hub/{HUB_ID}/winogrande_xl")),
    remote=remote("winogrande"), items=1267, license="CC-BY (dataset), Apache-2.0 (code)")


def gen_prompt_text(sample: WinoGrandeItem) -> str:
    a, b = sample.sentences
    return f"Which of the following is a good sentence:\nA. {a}\nB. {b}\nAnswer:"


def score_ll(responses: Sequence[Response], gold: str) -> Score:
    lls = responses_as(responses, LoglikelihoodResponse)
    pred = _argmax([r.logprob for r in lls])
    # each option has its own context here, so the backend always scores it in full
    mean_ce = [-((r.context_logprob or 0.0) + r.logprob) / (r.context_tokens + r.tokens)
               for r in lls]
    ppl_pred = _argmax([-x for x in mean_ce])
    return Score(
        value=float(LETTERS[pred] == gold),
        extracted=LETTERS[pred],
        extras=(("acc_sentence_ppl", float(LETTERS[ppl_pred] == gold)),),
        detail="ll=" + ",".join(f"{r.logprob:.4f}" for r in lls),
    )


@register
class WinoGrande(Defaults):
    name = "winogrande"
    modes = (Mode.PPL, Mode.GEN)
    default_shots = 0
    metric = Metric("accuracy")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[WinoGrandeItem]:
        if ctx.shots:
            raise DataError(f"winogrande: shots={ctx.shots} unsupported (the protocol is 0-shot)")
        return load_local(self.name, ctx, DATA, {
            "upstream": _load_local, "evals": _load_local, "hub": _load_hub})

    def requests(self, sample: WinoGrandeItem, ctx: BenchmarkContext) -> list[Request]:
        if ctx.mode is Mode.PPL:
            return [
                LoglikelihoodRequest(rounds_to_prompt([Round("HUMAN", p)], ctx.kind), sample.cont)
                for p in sample.prefixes
            ]
        stop = ("\n\n",) if ctx.kind is ModelKind.BASE else ()
        params = GenerationParams(max_tokens=ctx.max_tokens or 100, stop=stop)
        prompt = rounds_to_prompt([Round("HUMAN", gen_prompt_text(sample))], ctx.kind)
        return [GenerateRequest(prompt, params)]

    def score(
        self, sample: WinoGrandeItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        if ctx.mode is Mode.PPL:
            return score_ll(responses, sample.target)
        text = only_text(responses)
        return score_option(text, sample.target, LETTERS)
