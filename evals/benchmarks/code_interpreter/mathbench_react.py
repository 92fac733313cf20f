"""MathBench with a Python interpreter (ReAct), 3-shot, chat models: the InternLM2 report's
Figure 15 (MathBench Application and Knowledge, CN and EN, with tools; OpenCompass's
``mathbench_agent_gen_fbe13b`` with lagent's ReAct).

The loop, prompt and transcript are ``_react``'s. As in OpenCompass's agent config, the
exemplars depend on the set: cloze or single choice, Chinese or English (three each; ours,
own problems). Single-choice questions show their options in the question text
(``get_circular_example``'s ``A. ...`` lines) and the final answer is read with
``first_option``; cloze answers with ``mathbench_postprocess`` and exact match, as plain
``mathbench``.

Sets: the application sets of plain ``mathbench`` (required) and, where the data has them,
the knowledge sets ``<level>_knowledge/single_choice_{cn,en}.jsonl`` (MathBench-T) for the
four levels. Groups are ``<split>-<name>``; the score is their naive average, with
Application CN/EN and Knowledge CN/EN as secondary scores (Figure 15's four bars).

Deviation: each single-choice question is asked once, in its original option order, not four
times rotated. OpenCompass's agent config sets ``with_circular_eval``, which multiplies every
multi-round tool conversation by four; the number here is the unrotated accuracy (the
``acc_1`` extra of plain ``mathbench``), so it is not comparable with circular scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from evals.benchmarks._choice import first_option
from evals.benchmarks.base import BenchmarkContext, Metric, register
from evals.benchmarks.code_interpreter._react import Exemplar, ReactBenchmark, Step
from evals.benchmarks.long_context._longctx import as_metric, category_values, group_stats
from evals.benchmarks.reasoning_math.mathbench import (
    ROOTS,
    MathBench,
    MathBenchItem,
    _read,
    mathbench_postprocess,
    rotation,
)
from evals.records import MetricValue, SampleResult, Score

KNOWLEDGE = tuple((f"{level}_knowledge", ("single_choice_cn", "single_choice_en"))
                  for level in ("college", "high", "middle", "primary"))


def _ex(question: str, code: str, observation: str, answer: str, thought: str) -> Exemplar:
    return Exemplar(question, (Step(f"{thought}\n```python\n{code}\n```", observation),),
                    answer)


EXEMPLARS = {
    ("cloze", "en"): (
        _ex("A farmer has 12 rows of 15 apple trees. Each tree gives 40 apples, and a crate "
            "holds 24 apples. How many crates are needed?",
            "import math\napples = 12 * 15 * 40\nmath.ceil(apples / 24)", "300",
            "7200 apples fill 300 crates exactly.\nFinal Answer: 300",
            "I count the apples, then the crates, rounding up."),
        _ex("What is the remainder when 7^100 is divided by 13?", "pow(7, 100, 13)", "9",
            "Modular exponentiation gives 9.\nFinal Answer: 9",
            "Python's three-argument pow is exact for this."),
        _ex("A shirt costs $40 after a 20% discount. What was its price before the discount?",
            "40 / (1 - 0.20)", "50.0", "The original price was $50.\nFinal Answer: 50",
            "The discounted price is 80% of the original."),
    ),
    ("cloze", "cn"): (
        _ex("一个书架有5层，每层放32本书，已经借出47本。书架上还剩多少本书？",
            "5 * 32 - 47", "113", "书架上还剩113本书。\nFinal Answer: 113",
            "先算总数，再减去借出的书。"),
        _ex("求1到100之间所有能被7整除的数之和。", "sum(n for n in range(1, 101) if n % 7 == 0)",
            "735", "这些数的和是735。\nFinal Answer: 735", "直接枚举求和。"),
        _ex("一辆车以每小时60千米的速度行驶了2.5小时，又以每小时80千米行驶了1.5小时。共行驶多少千米？",
            "60 * 2.5 + 80 * 1.5", "270.0", "共行驶270千米。\nFinal Answer: 270",
            "两段路程分别计算再相加。"),
    ),
    ("choice", "en"): (
        _ex("The solutions of $x^2 - 7x + 10 = 0$ are\nA. 2 and 5\nB. -2 and -5\nC. 1 and 10\n"
            "D. 3 and 4", "from sympy import symbols, solve\nx = symbols('x')\n"
            "solve(x**2 - 7*x + 10, x)", "[2, 5]", "The roots are 2 and 5.\nFinal Answer: A",
            "I solve the quadratic and compare with the options."),
        _ex("The derivative of $\\sin(x^2)$ is\nA. $\\cos(x^2)$\nB. $2x\\sin(x^2)$\n"
            "C. $2x\\cos(x^2)$\nD. $-2x\\cos(x^2)$", "from sympy import symbols, sin, diff\n"
            "x = symbols('x')\ndiff(sin(x**2), x)", "2*x*cos(x**2)",
            "By the chain rule it is $2x\\cos(x^2)$.\nFinal Answer: C",
            "sympy differentiates symbolically."),
        _ex("How many positive divisors does 360 have?\nA. 12\nB. 18\nC. 24\nD. 36",
            "from sympy import divisor_count\ndivisor_count(360)", "24",
            "360 has 24 positive divisors.\nFinal Answer: C", "sympy counts divisors."),
    ),
    ("choice", "cn"): (
        _ex("方程 $2x + 3 = 11$ 的解是\nA. 3\nB. 4\nC. 5\nD. 7",
            "from sympy import symbols, solve\nx = symbols('x')\nsolve(2*x + 3 - 11, x)", "[4]",
            "方程的解是 4。\nFinal Answer: B", "用 sympy 解一元一次方程。"),
        _ex("函数 $y = x^3 - 3x$ 在 $x = 2$ 处的导数值为\nA. 6\nB. 9\nC. 12\nD. 2",
            "from sympy import symbols, diff\nx = symbols('x')\ndiff(x**3 - 3*x, x).subs(x, 2)",
            "9", "导数为 $3x^2 - 3$，在 2 处为 9。\nFinal Answer: B", "先求导再代入。"),
        _ex("从5名学生中选3名参加比赛，共有多少种选法？\nA. 10\nB. 15\nC. 20\nD. 60",
            "from math import comb\ncomb(5, 3)", "10", "共有10种选法。\nFinal Answer: A",
            "这是组合数。"),
    ),
}


def _kind(sample: MathBenchItem) -> tuple[str, str]:
    return ("choice" if "choice" in sample.name else "cloze",
            "cn" if sample.name.endswith("_cn") else "en")


def _knowledge(root: Path) -> list[MathBenchItem]:
    items: list[MathBenchItem] = []
    for split, names in KNOWLEDGE:
        for name in names:
            path = root / split / f"{name}.jsonl"
            if path.is_file():
                items += _read(path, split, name)
    return items


class Figure15Score(Metric):
    def secondary(
        self, results: Sequence[SampleResult], ctx: BenchmarkContext | None = None
    ) -> tuple[MetricValue, ...]:
        """Figure 15's bars: Application and Knowledge, each CN and EN."""
        stats = group_stats(results)
        cats = {f"{part}_{lang}": [g for g in stats if ("knowledge" in g) == (part == "knowledge")
                                   and g.endswith(f"_{lang}")]
                for part in ("application", "knowledge") for lang in ("cn", "en")}
        return tuple(as_metric(n, s) for n, s in category_values(stats, cats).items())


@register
class MathBenchReact(ReactBenchmark[MathBenchItem]):
    name = "mathbench_react"
    default_shots = 3
    metric = Figure15Score("accuracy", by_group=True)
    exemplars = EXEMPLARS[("cloze", "en")]
    data = MathBench.data

    def load(self, ctx: BenchmarkContext) -> list[MathBenchItem]:
        self.check(ctx)
        items = MathBench().load(replace(ctx, shots=0))
        root = next((ctx.data_dir / r for r in ROOTS if (ctx.data_dir / r).is_dir()), None)
        return items + (_knowledge(root) if root else [])

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return MathBench().data_files(ctx)

    def group(self, sample: MathBenchItem) -> str:
        return f"{sample.split}-{sample.name}"

    def exemplars_for(self, sample: MathBenchItem) -> tuple[Exemplar, ...]:
        return EXEMPLARS[_kind(sample)]

    def question(self, sample: MathBenchItem) -> str:
        if "choice" in sample.name:
            return rotation(sample, "ABCD")[0].rstrip("\n")
        return sample.question

    def grade(self, sample: MathBenchItem, final: str) -> Score:
        if "choice" in sample.name:
            pick = first_option(final, "ABCD")
            if pick is None:
                return Score(0.0, None, parse_failed=True, detail="no option letter")
            return Score(float(pick == sample.target), pick)
        pred, found = mathbench_postprocess(final, sample.name)
        if not found and pred != sample.target:
            return Score(0.0, None, parse_failed=True, detail="no number in the final answer")
        return Score(float(pred == sample.target), pred)
