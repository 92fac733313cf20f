"""TheoremQA prompts and scoring agree with OpenCompass 0.5.4 per sample.

The prompt reference is ``deprecated_TheoremQA_gen_7009de`` executed in the reference
environment: rendered for a base model (``LMTemplateParser`` without a meta template) and for a
chat model (``HuggingFacewithChatTemplate``'s parser and message conversion). Scoring is
``TheoremQA_postprocess`` + ``AccEvaluator`` on the same replies.
"""

from __future__ import annotations

from pathlib import Path

from evals.benchmarks.base import BenchmarkContext
from evals.benchmarks.reasoning_math.theoremqa import TheoremQA, build_prompt, score_text
from evals.records import ChatPrompt, Mode, ModelKind, TextPrompt
from tests.fidelity.conftest import Reference

RENDER = r"""
import sys, os
import opencompass
m = oc("opencompass.datasets.TheoremQA")
pkg = sys.modules["opencompass.datasets"]
pkg.TheoremQADataset, pkg.TheoremQA_postprocess = m.TheoremQADataset, m.TheoremQA_postprocess
cfg = os.path.join(os.path.dirname(opencompass.__file__),
                   "configs/datasets/TheoremQA/deprecated_TheoremQA_gen_7009de.py")
scope = {"__file__": cfg}
exec(open(cfg).read(), scope)
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.models.base import LMTemplateParser
hf = oc("opencompass.models.huggingface_above_v4_33")
d = scope["TheoremQA_datasets"][0]
t = PromptTemplate(template=d["infer_cfg"]["prompt_template"]["template"])
RESULT = []
for q in DATA:
    item = t.generate_item({"Question": q, "Answer_type": "float"})
    base = LMTemplateParser().parse_template(item, mode="gen")
    chat = hf._convert_chat_messages([hf._get_meta_template(None).parse_template(item, mode="gen")])[0]
    RESULT.append(dict(base=base, chat=chat, max_out_len=d["infer_cfg"]["inferencer"]["max_out_len"]))
"""

SCORE = r"""
m = oc("opencompass.datasets.TheoremQA")
from opencompass.openicl.icl_evaluator import AccEvaluator
RESULT = []
for text, ref in DATA:
    pred = m.TheoremQA_postprocess(text)
    RESULT.append([pred, AccEvaluator().score([pred], [ref])["accuracy"] == 100.0])
"""

CASES = [
    ("Therefore, the answer is 0.5.", "0.5"), ("Therefore, the answer is 0.50.", "0.5"),
    ("Therefore, the answer is 1/2.", "0.5"), ("Therefore, the answer is [2, 3, 4].", "[2, 3, 4]"),
    ("Therefore, the answer is [2,3,4].", "[2, 3, 4]"), ("Therefore, the answer is True.", "True"),
    ("Therefore, the answer is true", "True"), ("the answer is False!", "False"),
    ("Therefore, the answer is (c).", "(c)"), ("Therefore, the answer is c", "(c)"),
    ("Therefore, the answer is 4e-05.", "4e-05"), ("Therefore, the answer is 4 \\times 10^{-5}", "4e-05"),
    ("Therefore, the answer is 924 V.", "924.0"), ("Therefore, the answer is 924.0 V", "924.0"),
    ("Therefore, the answer is $5$.", "5"), ("Therefore, the answer is: 5", "5"),
    ("the answer is 3, and later the answer is 4", "4"), ("the answer is 3, and later the answer is 4", "3"),
    ("0.02", "0.02"), ("  0.02\n", "0.02"), ("I cannot solve this.", "1.0"), ("", "True"),
    ("The answer is '11760'.", "11760"), ("Therefore the answer is\n5", "5"),
    ("Therefore, the answer is -1.047?", "-1.047"), ("The Answer is 5", "5"),
]


def test_prompts_match_the_config(reference: Reference, data_dir: Path) -> None:
    items = TheoremQA().load(BenchmarkContext(data_dir, ModelKind.BASE, Mode.GEN, 0))[:3]
    expected = reference(RENDER, [i.question for i in items])
    for item, ref in zip(items, expected, strict=True):
        base = build_prompt(item, ModelKind.BASE)
        chat = build_prompt(item, ModelKind.CHAT)
        assert isinstance(base, TextPrompt) and base.text == ref["base"]
        assert isinstance(chat, ChatPrompt)
        # 0.5.4's API template parser ends every single-turn chat message with "\n" (a BBH or
        # MMLU prompt too); the harness sends turns without it, for every benchmark alike.
        (message,) = ref["chat"]
        assert message["content"].endswith("\n")
        assert [(m.role, m.content) for m in chat.messages] == [("user", message["content"][:-1])]
        assert ref["max_out_len"] == 512


def test_scoring_agrees(reference: Reference) -> None:
    expected = reference(SCORE, CASES)
    for (text, target), (ref_pred, ref_correct) in zip(CASES, expected, strict=True):
        score = score_text(text, target)
        assert bool(score.value) == ref_correct, text
        if score.parse_failed:
            assert not ref_correct and ref_pred == text.strip(), text
        else:
            assert score.extracted == ref_pred, text


def test_references_are_the_csv_strings(data_dir: Path) -> None:
    """OpenCompass's test.csv holds Python's str of each answer: "0.0", "True", "[1, 1]", "(c)"."""
    items = TheoremQA().load(BenchmarkContext(data_dir, ModelKind.BASE, Mode.GEN, 0))
    by_type: dict[str, set[str]] = {}
    for i in items:
        by_type.setdefault(i.answer_type, set()).add(i.target)
    assert by_type["bool"] == {"True", "False"}
    assert "[0, 5]" in by_type["list of integer"] and "(c)" in by_type["option"]
    assert "4e-05" in by_type["float"] and "1.0" in by_type["float"]
