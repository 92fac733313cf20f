"""The ReAct loop's final answer is read as lagent 0.2.4's ``ReActProtocol.parse`` reads its
finish action (the tool benchmarks' reference pipeline: OpenCompass's agent configs run
lagent's ReAct): whether a reply is a final answer, and its text, per reply. lagent's
``react.py`` is loaded by itself, its imports of lagent's model and action code stubbed."""

from __future__ import annotations

from evals.benchmarks.code_interpreter._react import parse_reply
from tests.fidelity.conftest import Reference

LAGENT = r"""
import importlib.util, sys, types
from pathlib import Path
spec = importlib.util.find_spec("lagent")
root = Path(spec.submodule_search_locations[0])
def stub(name, **attrs):
    module = types.ModuleType(name); module.__dict__.update(attrs); module.__path__ = []
    sys.modules[name] = module
class Anything: pass
stub("lagent"); stub("lagent.agents")
stub("lagent.actions", ActionExecutor=Anything)
stub("lagent.llms"); stub("lagent.llms.base_api", BaseAPIModel=Anything)
stub("lagent.llms.base_llm", BaseModel=Anything)
stub("lagent.schema", ActionReturn=Anything, ActionStatusCode=Anything, AgentReturn=Anything)
stub("lagent.agents.base_agent", BaseAgent=object)
source = (root / "agents" / "react.py").read_text()
react = types.ModuleType("lagent.agents.react"); react.__package__ = "lagent.agents"
exec(compile(source, str(root / "agents" / "react.py"), "exec"), react.__dict__)
protocol = react.ReActProtocol()
executor = types.SimpleNamespace(finish_action=types.SimpleNamespace(name="FinishAction"),
                                 no_action=types.SimpleNamespace(name="NoAction"))
RESULT = [list(protocol.parse(m, executor)) for m in DATA]
"""

REPLIES = [
    "The sum is 7.\nFinal Answer: 7",
    "Final Answer: 7\nThat is all.",
    "Final Answer: 3\nWait, I made a mistake.\nFinal Answer: 4",
    "```python\nprint(2 + 2)\n```",
    "```python\nprint(2 + 2)\n```\nObservation: 4\nFinal Answer: 4",
    "final answer: 9",
    "Final Answer:",
    "Final Answer:   $\\frac{1}{2}$  ",
    "I am not sure.",
    "Thought: compute\nFinal Answer: 12 apples",
]


def test_final_answers_are_read_as_lagent_reads_them(reference: Reference) -> None:
    theirs = reference(LAGENT, REPLIES)
    for reply, (_, action, argument) in zip(REPLIES, theirs, strict=True):
        ours = parse_reply(reply)
        assert (ours.final is not None) == (action == "FinishAction"), reply
        if ours.final is not None:
            assert ours.final == argument.strip(), reply
    finals = [parse_reply(r).final for r in REPLIES]
    assert finals[2] == "4" and finals[1] == "7\nThat is all." and finals[5] is None
