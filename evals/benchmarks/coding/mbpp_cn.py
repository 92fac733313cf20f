# ruff: noqa: E501, RUF002  (the exemplars are verbatim prompt text)
"""MBPP-CN, OpenCompass's Chinese translation of MBPP: 3-shot, pass@1, score = % passed.

Follows OpenCompass ``mbpp_cn_gen_1d1481`` (kept in 0.5.4 as ``deprecated_mbpp_cn_gen_1d1481``):
the three MBPP exemplars with Chinese instructions, then ``你是一名专业的 Python 程序员，你的任务是:
{text} 你的代码应该通过这些测试:\\n\\n {test_list}  \\n`` (ASCII colons in the task's turn, full-width
ones in the exemplars, as upstream), at most 512 new tokens. Scoring is MBPP's
(``MBPPEvaluator``): extraction, execution and the deliberate differences are those of
``evals/benchmarks/coding/mbpp.py``.

Data: OpenCompass's ``mbpp_cn.jsonl`` (JSON lines with ``text``, ``code``, ``task_id``,
``test_list``, as MBPP's), read from ``<data_dir>/mbpp_cn/mbpp_cn.jsonl``; ``MBPPDataset``
evaluates records 10-509 (``train[10:510]``, 500 tasks). The file is distributed with
OpenCompass's data archive only (no hub dataset or repository file we could pin), so ``evals
data fetch`` cannot get it; it is not in the offline shared data, and the tests use a small fixture written in
the same format (``tests/fixtures/mbpp_cn/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evals.benchmarks._prompt import rounds_to_prompt
from evals.benchmarks.base import BenchmarkContext, Defaults, Metric, load_local, register
from evals.benchmarks.coding.mbpp import MBPPItem, load_full_test, mbpp_rounds, score_generation
from evals.data_sources import DataSpec, Layout
from evals.errors import DataError
from evals.records import GenerateRequest, GenerationParams, Mode, Request, Response, Score

DATA_FILE = "mbpp_cn/mbpp_cn.jsonl"
DATA = DataSpec(
    layouts=(Layout("opencompass", DATA_FILE),), remote=None, items=500,
    license="CC BY 4.0 (MBPP); the translation states none",
    manual="it ships only in OpenCompass's data archive (OpenCompassData-core): put "
           "data/mbpp_cn/mbpp_cn.jsonl under <data_dir>, or `evals data fetch --from "
           "<OpenCompass data/>`")

EXEMPLARS: tuple[tuple[str, str], ...] = (
    (
        "你是一名专业的 Python 程序员，你的任务是：编写一个函数，从给定的两个元组列表中查找相似的元素。 你的代码应该通过这些测试：\n\n assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4) \n assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14) \n",
        "[BEGIN]\n 'def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & set(test_tup2))\r\n  return (res)' \n[DONE] \n\n ",
    ),
    (
        "你是一名专业的 Python 程序员，你的任务是：编写一个 Python 函数来识别一个整数是否不是素数。 你的代码应该通过这些测试：\n\n assert is_not_prime(2) == False \n assert is_not_prime(10) == True \n assert is_not_prime(35) == True \n",
        "[BEGIN]\n 'import math\r\ndef is_not_prime(n):\r\n    result = False\r\n    for i in range(2,int(math.sqrt(n)) + 1):\r\n        if n % i == 0:\r\n            result = True\r\n    return result' \n[DONE] \n\n ",
    ),
    (
        "你是一名专业的 Python 程序员，你的任务是：编写一个函数，使用堆队列算法从给定的数字列表中查找最大整数。 你的代码应该通过这些测试：\n\n assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] \n assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] \n assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35] \n",
        "[BEGIN]\n 'import heapq as hq\r\ndef heap_queue_largest(nums,n):\r\n  largest_nums = hq.nlargest(n, nums)\r\n  return largest_nums' \n[DONE] \n\n ",
    ),
)
TASK = "你是一名专业的 Python 程序员，你的任务是: {text} 你的代码应该通过这些测试:\n\n {test_list}  \n"


def _read(path: Path) -> list[MBPPItem]:
    return [MBPPItem(i.id.removeprefix("full/"), i.target, i.text, i.tests)
            for i in load_full_test(path)]


@register
class MBPPCN(Defaults):
    name = "mbpp_cn"
    modes = (Mode.GEN,)
    default_shots = 3
    metric = Metric("pass@1")

    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[MBPPItem]:
        if ctx.shots != len(EXEMPLARS):
            raise DataError(f"mbpp_cn: shots={ctx.shots} unsupported (the protocol is 3-shot)")
        return load_local(self.name, ctx, DATA, {"opencompass": _read})

    def requests(self, sample: MBPPItem, ctx: BenchmarkContext) -> list[Request]:
        rounds = mbpp_rounds(EXEMPLARS, TASK, sample, ctx.kind)
        params = GenerationParams(max_tokens=ctx.max_tokens or 512)
        return [GenerateRequest(rounds_to_prompt(rounds, ctx.kind), params)]

    def score(self, sample: MBPPItem, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        return score_generation(sample, responses)
