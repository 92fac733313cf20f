"""MATH with a Python interpreter (ReAct), 4-shot, chat models: the InternLM2 report's
"MATH (ReAct)" (Figure 14; OpenCompass ``math_agent_gen_af2293`` with lagent's ReAct).

The loop, prompt and transcript are ``_react``'s; the data and reference answers are plain
``math``'s (the last ``\\boxed{}`` of each solution). The exemplars are our own problems
solved with sympy, as OpenCompass's are; OpenCompass's four end in
"FinalAnswer: The final answer is $26$. I hope it is correct.", ours in
"Final Answer: <the answer in LaTeX>". Grading is ``MATHAgentEvaluator``'s strict verdict:
the final answer, unwrapped from ``$...$`` or ``\\boxed{}``, must be equivalent to the
reference under the MATH normalisation (``is_equiv``, the chat models' v2 stripping); the
math-verify verdict on the same text is an extra. Groups are MATH's seven subjects, but the
score is the mean over problems, as for plain ``math``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from evals.benchmarks.base import BenchmarkContext, register
from evals.benchmarks.code_interpreter._react import Exemplar, ReactBenchmark, Step
from evals.benchmarks.reasoning_math.math import (
    HendrycksMATH,
    MATHItem,
    extract_boxed_answer,
    is_equiv,
    math_verify_equal,
)
from evals.records import Score

EXEMPLARS: tuple[Exemplar, ...] = (
    Exemplar(
        "What is the coefficient of $x^2$ in the expansion of $(2x - 3)^4$?",
        (Step("I expand the polynomial with sympy and read off the coefficient.\n```python\n"
              "from sympy import symbols, expand\nx = symbols('x')\n"
              "expand((2*x - 3)**4).coeff(x, 2)\n```", "216"),),
        "The $x^2$ term of the expansion has coefficient 216.\nFinal Answer: 216",
    ),
    Exemplar(
        "Find all real $t$ such that $t^2 - 5t + 6 \\le 0$. Express your answer in interval "
        "notation.",
        (Step("The quadratic's roots bound the interval where it is not positive.\n```python\n"
              "from sympy import symbols, solve\nt = symbols('t')\nsolve(t**2 - 5*t + 6, t)\n```",
              "[2, 3]"),
         Step("The parabola opens upward, so it is non-positive between the roots. A quick "
              "check at the midpoint:\n```python\n(2.5)**2 - 5*2.5 + 6\n```", "-0.25")),
        "The inequality holds between the roots, endpoints included.\nFinal Answer: [2,3]",
    ),
    Exemplar(
        "Two fair six-sided dice are rolled. What is the probability that the sum is a prime "
        "number? Express your answer as a common fraction.",
        (Step("I enumerate the 36 outcomes.\n```python\nfrom fractions import Fraction\n"
              "primes = {2, 3, 5, 7, 11}\nhits = sum(a + b in prime for a in range(1, 7) "
              "for b in range(1, 7))\n```",
              'Error:\nTraceback (most recent call last):\n  File "<cell-1>", line 3, in '
              "<module>\nNameError: name 'prime' is not defined"),
         Step("A typo in the set's name; `primes` is defined.\n```python\n"
              "hits = sum(a + b in primes for a in range(1, 7) for b in range(1, 7))\n"
              "Fraction(hits, 36)\n```", "5/12")),
        "15 of the 36 outcomes have a prime sum.\nFinal Answer: \\frac{5}{12}",
    ),
    Exemplar(
        "Compute $\\sqrt{50} + \\sqrt{18}$ in simplest radical form.",
        (Step("sympy simplifies radicals exactly.\n```python\nfrom sympy import sqrt\n"
              "sqrt(50) + sqrt(18)\n```", "8*sqrt(2)"),),
        "$\\sqrt{50} = 5\\sqrt{2}$ and $\\sqrt{18} = 3\\sqrt{2}$.\nFinal Answer: 8\\sqrt{2}",
    ),
)


def unwrap(final: str) -> str:
    """The answer alone: ``\\boxed{}`` content, else the text without ``$`` and a final dot."""
    boxed = extract_boxed_answer(final)
    if boxed is not None:
        return boxed
    return final.strip().rstrip(".").strip().strip("$").strip()


@register
class MATHReact(ReactBenchmark[MATHItem]):
    name = "math_react"
    exemplars = EXEMPLARS
    data = HendrycksMATH.data

    def load(self, ctx: BenchmarkContext) -> list[MATHItem]:
        self.check(ctx)
        return HendrycksMATH().load(replace(ctx, shots=0))

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return HendrycksMATH().data_files(ctx)

    def group(self, sample: MATHItem) -> str:
        return sample.subject

    def question(self, sample: MATHItem) -> str:
        return sample.problem

    def grade(self, sample: MATHItem, final: str) -> Score:
        pred = unwrap(final)
        extras = (("math_verify", float(math_verify_equal(f"${pred}$", sample.target))),)
        if not pred:
            return Score(0.0, None, parse_failed=True, extras=extras,
                         detail="empty final answer")
        return Score(float(is_equiv(pred, sample.target or None, "v2")), pred, extras=extras)
