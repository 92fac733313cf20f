"""MathBench (2024), OpenCompass ``mathbench_2024_gen_de9ff9``: CoT single choice with
CircularEval, and few-shot cloze; score = naive average of the nine subsets.

Subsets (``mathbench_sets``): college/high/middle x single_choice_cn/en, primary x
cloze_cn/en, calculate x cloze_en. Single choice is 0-shot with the "reason step by step,
then 'Therefore, the correct answer is option X'" prompt; each question is asked four
times with its options rotated (ABCD, BCDA, CDAB, DABC, as ``get_circular_example``), the
reply read by ``first_option_postprocess(options='ABCD')``, and counted right only when all
four rotations are (``CircularEvaluator``'s ``perf_4``); the per-rotation accuracy
(``acc_4``) and the unrotated one (``acc_1``, what the naive summarizer groups use) are
extras. Cloze uses the config's 8 Q/A exemplars (``shots`` of them), ``mathbench_postprocess``
(the first number after "The answer is"/"答案是", else the last number) and exact string
match with the stripped answer (``AccEvaluator``). At most 512 new tokens.

Base models see the rounds joined by newlines, ending with the final BOT turn's text with
the answer blanked ("A: " for cloze_cn, "A: \\n" for cloze_en, as OpenCompass's template
parser renders a model without a meta template); chat models get the turns as messages.

Groups are OpenCompass's dataset abbreviations without the ``mathbench-`` prefix
(``college-single_choice_cn``...). The summary is their naive average with the circular
score for single choice (the ``mathbench-circular-and-cloze`` idea over all nine subsets).

Data: the MathBench release is not on the hub. Local layouts: ``mathbench/<split>/<name>.jsonl``
(OpenCompass's ``./data/mathbench``), also under ``mathbench_v1/`` or ``mathbench-a/``
(where ``calculate`` may be named ``arithmetic``). Single-choice records carry ``question``,
``options`` (four) and ``answer`` (a letter); cloze records ``question`` and ``answer``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.benchmarks._choice import first_option
from evals.benchmarks._io import numbered_jsonl
from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import BenchmarkContext, Metric, load_local, register
from evals.data_sources import DataSpec, Layout, layout_files
from evals.errors import DataError
from evals.records import (
    GenerateRequest,
    GenerateResponse,
    GenerationParams,
    Mode,
    ModelKind,
    Prompt,
    Request,
    Response,
    Sample,
    Score,
)

SETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("college", ("single_choice_cn", "single_choice_en")),
    ("high", ("single_choice_cn", "single_choice_en")),
    ("middle", ("single_choice_cn", "single_choice_en")),
    ("primary", ("cloze_cn", "cloze_en")),
    ("calculate", ("cloze_en",)),
)
ROOTS = ("mathbench", "mathbench_v1", "mathbench-a")
SPLIT_ALIASES = {"calculate": ("calculate", "arithmetic")}
CIRCULAR_PATTERNS = ("ABCD", "BCDA", "CDAB", "DABC")
DATA = DataSpec(
    layouts=tuple(Layout("upstream", root) for root in ROOTS), remote=None, items=None,
    license="Apache-2.0 (code)",
    manual="download mathbench_v1.zip from the releases of github.com/open-compass/MathBench "
           "and unzip it into <data_dir> (mathbench_v1/)")
"""No pinned source: MathBench is a GitHub release asset, not a file of the repository."""

# Verbatim from opencompass/configs/datasets/MathBench/deprecated_mathbench_2024_gen_de9ff9.py
# (``single_choice_prompts[name + '_with_reasoning']``, ``cloze_prompts``).
SINGLE_CHOICE_PROMPTS = {
    'single_choice_cn': '以下是一道关于数学的单项选择题，请你一步一步推理，并在最后用“所以答案为选项X”给出答案，其中“X”为选项A，B，C，D中你认为正确的选项。下面是你要回答的问题\n{question}\n让我们一步一步思考：\n',  # noqa: E501
    'single_choice_en': "Here is a multiple-choice question about mathematics. Please reason through it step by step, and at the end, provide your answer option with 'Therefore, the correct answer is option X', Where 'X' is the correct option you think from A，B，C，D. Here is the question you need to answer:\n{question}\nLet's think step by step:",  # noqa: E501
}

CLOZE_PROMPTS: dict[str, tuple[tuple[str, str], ...]] = {
    'cloze_cn': (
        ('Q: 林中有15棵树。林务工人员今天将在林中种植树木。完成后，将有21棵树。林务工人员今天种植了多少棵树？',  # noqa: E501
         'A: 我们从15棵树开始。后来有21棵树。差值必定是他们种植的树木数量。所以，他们必须种植了21 - 15 = 6棵树。答案是 6\n'),  # noqa: E501
        ('Q: 如果停车场有3辆车，又有2辆车进来，停车场里有多少辆车？',
         'A: 停车场已经有3辆车。又进来了2辆车。现在有3 + 2 = 5辆车。答案是 5\n'),
        ('Q: 黎恩有32块巧克力，她的妹妹有42块。如果他们吃了35块，他们总共剩下多少块？',
         'A: 黎恩有32块巧克力，Leah的妹妹有42块。这意味着原本有32 + 42 = 74块巧克力。被吃掉了35块。所以他们总共还剩下74 - 35 = 39块巧克力。答案是 39\n'),  # noqa: E501
        ('Q: 杰森有20个棒棒糖。他给丹妮一些棒棒糖。现在Jason只剩下12个棒棒糖。杰森给丹妮多少个棒棒糖？',
         'A: 杰森有20个棒棒糖。因为他现在只剩下12个，所以他必须把剩下的都给了丹妮。他给丹妮的棒棒糖数量必定是20 - 12 = 8个。答案是 8\n'),  # noqa: E501
        ('Q: 莎莎有五个玩具。在圣诞节，他从他的爸爸和妈妈那里各得到了两个玩具。现在他有多少个玩具？',
         'A: 她有5个玩具。他从妈妈那里得到了2个，所以之后他有5 + 2 = 7个玩具。然后他从爸爸那里得到了2个，所以总共他有7 + 2 = 9个玩具。答案是 9\n'),  # noqa: E501
        ('Q: 服务器房间里有九台电脑。从周一到周四每天增加五台电脑。现在服务器房里有多少台电脑？',
         'A: 从周一到周四有4天。每天增加5台电脑。这意味着总共增加了4 * 5 = 20台电脑。一开始有9台电脑，所以现在有9 + 20 = 29台电脑。答案是 29\n'),  # noqa: E501
        ('Q: 迈克尔有58个高尔夫球。星期二，他丢失了23个高尔夫球。星期三，他又丢失了2个。星期三结束时他还剩下多少个高尔夫球？',  # noqa: E501
         'A: 迈克尔一开始有58个球。星期二他丢失了23个，所以之后他还剩下58 - 23 = 35个球。星期三他又丢失了2个，所以现在他还剩下35 - 2 = 33个球。答案是 33\n'),  # noqa: E501
        ('Q: 奥利弗有23美元。她用每个3美元的价格买了五个百吉饼。她还剩下多少钱？',
         'A: 她以每个3美元的价格买了5个百吉饼。这意味着她在百吉饼上花费了5 * 3 = 15美元。她一开始有23美元，所以现在她还剩下23 - 15 = 8美元。答案是 8\n'),  # noqa: E501
    ),
    'cloze_en': (
        ('Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, there will be 21 trees. How many trees did the grove workers plant today?',  # noqa: E501
         'A: We start with 15 trees. Later we have 21 trees. The difference must be the number of trees they planted. So, they must have planted 21 - 15 = 6 trees. The answer is 6.\n'),  # noqa: E501
        ('Q: If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?',  # noqa: E501
         'A: There are 3 cars in the parking lot already. 2 more arrive. Now there are 3 + 2 = 5 cars. The answer is 5.\n'),  # noqa: E501
        ('Q: Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?',  # noqa: E501
         "A: Leah had 32 chocolates and Leah's sister had 42. That means there were originally 32 + 42 = 74 chocolates. 35 have been eaten. So in total they still have 74 - 35 = 39 chocolates. The answer is 39.\n"),  # noqa: E501
        ('Q: Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did Jason give to Denny?',  # noqa: E501
         'A: Jason had 20 lollipops. Since he only has 12 now, he must have given the rest to Denny. The number of lollipops he has given to Denny must have been 20 - 12 = 8 lollipops. The answer is 8.\n'),  # noqa: E501
        ('Q: Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?',  # noqa: E501
         'A: He has 5 toys. He got 2 from mom, so after that he has 5 + 2 = 7 toys. Then he got 2 more from dad, so in total he has 7 + 2 = 9 toys. The answer is 9.\n'),  # noqa: E501
        ('Q: There were nine computers in the server room. Five more computers were installed each day, from monday to thursday. How many computers are now in the server room?',  # noqa: E501
         'A: There are 4 days from monday to thursday. 5 computers were added each day. That means in total 4 * 5 = 20 computers were added. There were 9 computers in the beginning, so now there are 9 + 20 = 29 computers. The answer is 29.\n'),  # noqa: E501
        ('Q: Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf balls did he have at the end of wednesday?',  # noqa: E501
         'A: Michael initially had 58 balls. He lost 23 on Tuesday, so after that he has 58 - 23 = 35 balls. On Wednesday he lost 2 more so now he has 35 - 2 = 33 balls. The answer is 33.\n'),  # noqa: E501
        ('Q: Olivia has $23. She bought five bagels for $3 each. How much money does she have left?',
         'A: She bought 5 bagels for $3 each. This means she spent 5 * $3 = $15 on the bagels. She had $23 in beginning, so now she has $23 - $15 = $8. The answer is 8.\n'),  # noqa: E501
    ),
}
CLOZE_ANSWER_PREFIX = {"cloze_cn": "A: ", "cloze_en": "A: \n"}


@dataclass(frozen=True)
class MathBenchItem(Sample):
    split: str
    name: str
    question: str
    options: tuple[str, ...]


def get_number(options: Sequence[str]) -> str:
    return "".join(f"{chr(ord('A') + i)}. {o}\n" for i, o in enumerate(options))


def rotation(item: MathBenchItem, pattern: str) -> tuple[str, str]:
    """``get_circular_example`` for one pattern: the question text with its options in the
    rotated order, and the letter the answer moves to."""
    options = [item.options[ord(c) - ord("A")] for c in pattern]
    gold = "ABCD"[pattern.index(item.target)]
    return item.question.strip() + "\n" + get_number(options), gold


def mathbench_postprocess(text: str, name: str) -> tuple[str, bool]:
    """OpenCompass's ``mathbench_postprocess``, and whether it found a number."""
    ans = text
    lines = ans.split("答案是" if "_cn" in name else "The answer is")
    split = len(lines) != 1
    if split:
        ans = lines[1].strip()
    numbers = re.findall(r"-?\d*\.?/?\d+|\d+", re.sub(r"(\d),(\d)", r"\1\2", ans))
    if numbers:
        return (numbers[0] if split else numbers[-1]), True
    return ans, False


def _read(path: Path, split: str, name: str) -> list[MathBenchItem]:
    items = []
    for line_no, row in numbered_jsonl(path):
        n, where = line_no - 1, f"{path}:{line_no}"
        try:
            question, answer = str(row["question"]), str(row["answer"]).strip()
            options = tuple(str(o) for o in row.get("options", ()))
        except (KeyError, TypeError) as exc:
            raise DataError(f"{where}: not a MathBench record ({exc})") from None
        if "choice" in name and (len(options) != 4 or answer not in "ABCD" or not answer):
            raise DataError(f"{where}: circular evaluation needs 4 options and a letter answer")
        items.append(MathBenchItem(f"{split}-{name}-{n}", answer, split, name,
                                   question if "choice" in name else question.strip(), options))
    return items


def _load_local(root: Path) -> list[MathBenchItem]:
    items: list[MathBenchItem] = []
    for split, names in SETS:
        for name in names:
            candidates = [root / s / f"{name}.jsonl" for s in SPLIT_ALIASES.get(split, (split,))]
            path = next((p for p in candidates if p.is_file()), None)
            if path is None:
                raise DataError(f"mathbench: {candidates[0]} not found")
            items += _read(path, split, name)
    return items


@register
class MathBench:
    name = "mathbench"
    modes = (Mode.GEN,)
    default_shots = 8
    metric = Metric("circular_and_cloze", by_group=True)

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[MathBenchItem]:
        if ctx.shots > len(CLOZE_PROMPTS["cloze_en"]):
            raise DataError(f"mathbench: shots={ctx.shots}, but the cloze protocol has 8")
        return load_local(self.name, ctx, DATA, {"upstream": _load_local})

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return [p for p in layout_files(DATA, ctx.data_dir) if p.suffix == ".jsonl"]

    def group(self, sample: MathBenchItem) -> str:
        return f"{sample.split}-{sample.name}"

    def requests(self, sample: MathBenchItem, ctx: BenchmarkContext) -> list[Request]:
        params = GenerationParams(max_tokens=ctx.max_tokens or 512)
        return [GenerateRequest(p, params) for p in prompts_for(sample, ctx.shots, ctx.kind)]

    def score(self, sample: MathBenchItem, responses: Sequence[Response],
              ctx: BenchmarkContext) -> Score:
        texts = []
        for r in responses:
            assert isinstance(r, GenerateResponse)
            texts.append(r.text)
        if "choice" in sample.name:
            return score_circular(sample, texts)
        return score_cloze(sample, texts[0])


def prompts_for(sample: MathBenchItem, shots: int, kind: ModelKind) -> list[Prompt]:
    if "choice" in sample.name:
        template = SINGLE_CHOICE_PROMPTS[sample.name]
        return [rounds_to_prompt([Round("HUMAN", template.replace("{question}", rotation(sample, c)[0]))],
                                 kind) for c in CIRCULAR_PATTERNS]
    rounds: list[Round] = []
    for q, a in CLOZE_PROMPTS[sample.name][:shots]:
        rounds += [Round("HUMAN", q), Round("BOT", a)]
    rounds.append(Round("HUMAN", f"Q: {sample.question}"))
    if kind is ModelKind.BASE:
        rounds.append(Round("BOT", CLOZE_ANSWER_PREFIX[sample.name]))
    return [rounds_to_prompt(rounds, kind)]


def score_circular(sample: MathBenchItem, texts: Sequence[str]) -> Score:
    """``perf_4``: right under all four rotations; ``acc_4``/``acc_1`` as extras."""
    picks = [first_option(t, "ABCD") for t in texts]
    right = [p == rotation(sample, c)[1] for p, c in zip(picks, CIRCULAR_PATTERNS, strict=True)]
    extras = (("acc_4", sum(right) / len(right)), ("acc_1", float(right[0])))
    extracted = "".join(p or "-" for p in picks)
    if None in picks:
        return Score(0.0, extracted, parse_failed=True, extras=extras,
                     detail=f"no option letter in {picks.count(None)} of 4 rotations")
    return Score(float(all(right)), extracted, extras=extras)


def score_cloze(sample: MathBenchItem, text: str) -> Score:
    pred, found = mathbench_postprocess(text, sample.name)
    correct = pred == sample.target
    if not found and not correct:
        return Score(0.0, None, parse_failed=True, detail="no number in the answer")
    return Score(float(correct), pred)
