"""The ``cibench_en`` and ``cibench_zh`` benchmarks: one round per step's try, scored
from the cells the model ran (see the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evals.benchmarks.base import BenchmarkContext, Metric, register
from evals.benchmarks.tool_use.cibench.data import (
    ROOTS,
    Task,
    load_tasks,
    not_scorable_counts,
    notebook_paths,
    spec,
)
from evals.benchmarks.tool_use.cibench.notebook import Output, gold_output
from evals.benchmarks.tool_use.cibench.react import (
    Turn,
    closed,
    fold_system,
    group_steps,
    history,
    make_turn,
    parse_reply,
    run_cells,
)
from evals.benchmarks.tool_use.cibench.scoring import METRICS, PRIMARY, CIBenchMetric, step_score
from evals.data_sources import DataSpec
from evals.errors import ConfigError, DataError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    GenerationParams,
    Mode,
    ModelKind,
    Request,
    Response,
    Score,
)
from evals.sandbox.tools import CellMemo, CellResult


class _CIBench:
    name: str
    subset: str
    data: DataSpec
    modes = (Mode.GEN,)
    default_shots = 0

    def __init__(self) -> None:
        self.metric: Metric = CIBenchMetric("cibench", subset=self.subset)
        self._cells: CellMemo[CellResult | None] = CellMemo()
        self._gold: dict[str, tuple[str | None, ...] | str] = {}

    def load(self, ctx: BenchmarkContext) -> list[Task]:
        if ctx.kind is not ModelKind.CHAT:
            raise ConfigError(f"{self.name}: the agent protocol is for chat models; drop it "
                              "from base models' suites")
        tasks = load_tasks(ctx.data_dir, self.subset)
        scorable = [t for t in tasks if not t.blockers]
        if not scorable:
            counts = not_scorable_counts(ctx.data_dir, self.subset)
            raise DataError(
                f"{self.name}: none of the {len(tasks)} tasks can be scored here (input files "
                f"missing: {counts['missing_files']}, packages missing: "
                f"{counts['missing_packages']}, NLTK data missing: {counts['nltk_data']}); put "
                "OpenCompass's cibench_dataset/datasources/data under "
                f"{self._base(ctx) / 'datasources' / 'data'}")
        return scorable

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        root = self._base(ctx) / self.subset
        return notebook_paths(root) if root.is_dir() else []

    def _base(self, ctx: BenchmarkContext) -> Path:
        found = self.data.locate(ctx.data_dir)
        return found[1] if found else ctx.data_dir / ROOTS[0]

    def group(self, sample: Task) -> str:
        return sample.module

    def requests(self, sample: Task, ctx: BenchmarkContext) -> list[Request]:
        return [self._ask(sample, [], ctx)]

    def follow_up(self, sample: Task, responses: Sequence[Response],
                  ctx: BenchmarkContext) -> list[Request]:
        steps = group_steps(self._turns(sample, responses, ctx, fresh=True))
        done = len(steps) if closed(steps[-1]) else len(steps) - 1
        if done >= len(sample.questions):
            return []
        return [self._ask(sample, steps, ctx)]

    def score(self, sample: Task, responses: Sequence[Response], ctx: BenchmarkContext) -> Score:
        steps = group_steps(self._turns(sample, responses, ctx, fresh=False))
        gold = self._reference(sample, ctx)
        transcript = _transcript(sample, steps)
        if isinstance(gold, str):
            return Score(0.0, None, detail=f"not scorable: {gold}\n{transcript}", weight=0.0,
                         extras=(("not_scorable", 1.0),))
        per: dict[str, list[float]] = {"tool_rate": [], "executable": []}
        for tag, step, target in zip(sample.tags, steps, gold, strict=False):
            calls = [t for t in step if t.action.kind == "ipython"]
            per["tool_rate"].append(float(bool(calls)))
            per["executable"].append(float(bool(calls) and calls[-1].success))
            if tag != "exec" and tag in METRICS:
                per.setdefault(METRICS[tag], []).append(step_score(tag, step, target))
        for name in ("tool_rate", "executable"):  # steps never reached score 0
            per[name] += [0.0] * (len(sample.tags) - len(per[name]))
        for tag in sample.tags[len(steps):]:
            if tag != "exec" and tag in METRICS:
                per.setdefault(METRICS[tag], []).append(0.0)
        means = {name: sum(v) / len(v) for name, v in per.items() if v}
        applicable = [means[n] for n in (*PRIMARY, "general_correct") if n in means]
        extras = [("not_scorable", 0.0)]
        for name, values in per.items():
            extras += [(name, means[name]), (f"{name}_steps", float(len(values)))]
        return Score(sum(applicable) / len(applicable), None, extras=tuple(extras),
                     detail=transcript)

    def _reference(self, sample: Task, ctx: BenchmarkContext) -> tuple[str | None, ...] | str:
        """The gold outputs, or why the reference solution cannot produce them here."""
        if sample.gold is not None:
            return sample.gold
        if sample.id not in self._gold:
            cells = run_cells(sample.codes, sample.inputs, (str(ctx.data_dir),))
            gold: list[str | None] = []
            for i, cell in enumerate(cells):
                assert cell is not None
                if cell.status != "ok":
                    tail = (cell.error or cell.status).strip().splitlines()[-1:] or [cell.status]
                    self._gold[sample.id] = f"reference step {i + 1} fails here: {tail[0][:200]}"
                    break
                gold.append(gold_output(_as_outputs(cell))[1])
            else:
                self._gold[sample.id] = tuple(gold)
        return self._gold[sample.id]

    def _turns(self, sample: Task, responses: Sequence[Response], ctx: BenchmarkContext,
               fresh: bool) -> list[Turn]:
        replies = [_text(r) for r in responses]
        actions = [parse_reply(r) for r in replies]
        cells = tuple(a.code for a in actions if a.kind == "ipython" and a.code)
        new_cell = bool(actions) and actions[-1].kind == "ipython" and bool(actions[-1].code)
        results = self._run(sample, cells, ctx, fresh and new_cell)
        turns, k = [], 0
        for reply, action in zip(replies, actions, strict=True):
            cell = None
            if action.kind == "ipython" and action.code:
                cell, k = results[k], k + 1
            turns.append(make_turn(reply, action, cell))
        return turns

    def _run(self, sample: Task, cells: tuple[str, ...], ctx: BenchmarkContext,
             fresh: bool) -> list[CellResult | None]:
        """Results of ``cells`` in order (see "State" in the module docstring); a cell that
        timed out before is not run again."""
        def replay(cs: tuple[str, ...], known: Sequence[CellResult | None]
                   ) -> list[CellResult | None]:
            skip = frozenset(i for i, c in enumerate(known[:-1])
                             if c is not None and c.status == "timeout")
            return run_cells(cs, sample.inputs, (str(ctx.data_dir),), skip)

        return self._cells.results(sample.id, cells, fresh, replay)

    def _ask(self, sample: Task, steps: Sequence[Sequence[Turn]],
             ctx: BenchmarkContext) -> GenerateRequest:
        messages = fold_system(history(sample, steps))
        params = GenerationParams(max_tokens=ctx.max_tokens or 512)
        return GenerateRequest(ChatPrompt(messages), params)


def _as_outputs(cell: CellResult) -> list[Output]:
    outs = [Output("stream", cell.stdout, stream="stdout")] if cell.stdout else []
    outs += [Output("display_data", "", png=png) for png in cell.images]
    if cell.value is not None:
        outs.append(Output("execute_result", cell.value))
    return outs


def _text(response: Response) -> str:
    assert isinstance(response, GenerateResponse)
    return response.text


def _transcript(task: Task, steps: Sequence[Sequence[Turn]]) -> str:
    parts = []
    for i, step in enumerate(steps):
        tag = task.tags[i] if i < len(task.tags) else "?"
        for j, turn in enumerate(step, 1):
            shown = turn.action.code if turn.action.kind == "ipython" else turn.reply
            status = "ok" if turn.success else "failed"
            parts.append(f"[step {i + 1} ({tag}) try {j}: {turn.action.kind}, {status}]\n"
                         f"{shown.rstrip()[:2000]}\n[response]\n{turn.response}")
    return "\n".join(parts) or "[no steps]"


@register
class CIBenchEN(_CIBench):
    name = "cibench_en"
    subset = "cibench_template"
    data = spec(subset)


@register
class CIBenchZH(_CIBench):
    name = "cibench_zh"
    subset = "cibench_template_chinese"
    data = spec(subset)
