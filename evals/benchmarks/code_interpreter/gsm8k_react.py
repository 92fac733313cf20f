"""GSM8K with a Python interpreter (ReAct), 4-shot, chat models: the InternLM2 report's
"GSM8K (ReAct)" (appendix figures 20-21; OpenCompass ``gsm8k_agent_gen_c3dff3``).

The loop, prompt and transcript are ``_react``'s; the data, reference answers and the
comparison are plain ``gsm8k``'s: the number in the ``Final Answer:`` line (its last number,
thousands separators removed) must equal the reference. The exemplars are our own short
problems (OpenCompass reuses three of its CoT exemplars with a ``solution()`` function); one
shows state kept between two calls and one recovers from an error. OpenCompass's agent
evaluator also reports "soft" accuracies (the tool's last result taken as the answer); only
strict accuracy is the report's number, with the share of samples that used the tool beside it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from evals.benchmarks.base import BenchmarkContext, register
from evals.benchmarks.code_interpreter._react import Exemplar, ReactBenchmark, Step
from evals.benchmarks.reasoning_math.gsm8k import GSM8K, GSM8KItem, extract_answer, is_equal
from evals.records import Score

EXEMPLARS: tuple[Exemplar, ...] = (
    Exemplar(
        "A baker makes 3 trays of 24 cookies and sells 50 of them. How many cookies are left?",
        (Step("I count the cookies made, then take away the ones sold.\n```python\n"
              "made = 3 * 24\nleft = made - 50\nprint(left)\n```", "22"),),
        "The interpreter says 22 cookies remain.\nFinal Answer: 22",
    ),
    Exemplar(
        "Tom buys 4 notebooks at $2.50 each and a pen for $1.75. He pays with a $20 bill. "
        "How much change does he get?",
        (Step("First the total cost.\n```python\ncost = 4 * 2.50 + 1.75\ncost\n```", "11.75"),
         Step("The purchase costs $11.75; now the change from $20.\n```python\n"
              "change = 20 - cost\nchange\n```", "8.25")),
        "Tom gets $8.25 back.\nFinal Answer: 8.25",
    ),
    Exemplar(
        "A train travels 180 km in 2.5 hours. At the same speed, how far does it go in 4 hours?",
        (Step("Speed is distance over time; then distance for 4 hours.\n```python\n"
              "speed = 180 / 2.5\nprint(speed * hours)\n```",
              'Error:\nTraceback (most recent call last):\n  File "<cell-1>", line 2, in '
              "<module>\n    print(speed * hours)\n                   ^^^^^\n"
              "NameError: name 'hours' is not defined"),
         Step("I forgot to define the time; speed is already set.\n```python\nhours = 4\n"
              "print(speed * hours)\n```", "288.0")),
        "At 72 km per hour the train covers 288 km in 4 hours.\nFinal Answer: 288",
    ),
    Exemplar(
        "Sara has twice as many stickers as Ben, and together they have 96 stickers. "
        "How many stickers does Sara have?",
        (Step("Ben has one share and Sara two, so 96 is three shares.\n```python\n"
              "ben = 96 / 3\nsara = 2 * ben\nprint(sara)\n```", "64.0"),),
        "Sara has 64 stickers.\nFinal Answer: 64",
    ),
)


@register
class GSM8KReact(ReactBenchmark[GSM8KItem]):
    name = "gsm8k_react"
    exemplars = EXEMPLARS
    data = GSM8K.data

    def load(self, ctx: BenchmarkContext) -> list[GSM8KItem]:
        self.check(ctx)
        return GSM8K().load(replace(ctx, shots=0))

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return GSM8K().data_files(ctx)

    def question(self, sample: GSM8KItem) -> str:
        return sample.question

    def grade(self, sample: GSM8KItem, final: str) -> Score:
        pred = extract_answer(final)
        if pred is None:
            return Score(0.0, None, parse_failed=True, detail="no number in the final answer")
        return Score(float(is_equal(pred, sample.target)), pred)
