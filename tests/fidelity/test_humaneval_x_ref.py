"""HumanEval-X postprocessing agrees with OpenCompass 0.5.4's ``_clean_up_code`` per sample,
for every language, on real declarations, so the program text we compile is upstream's."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from evals.benchmarks.coding.humaneval_x import LANGUAGES, clean_up_code
from tests.fidelity.conftest import Reference

LANG_FILES = {"python": "python", "cpp": "cpp", "go": "go", "java": "java", "js": "js"}


def _outputs(rec: dict[str, str], lang: str) -> list[str]:
    decl, sol = rec["declaration"], rec["canonical_solution"]
    fence = {"python": "python", "cpp": "cpp", "go": "go", "java": "java", "js": "javascript"}
    return [
        sol,
        sol + "\n\nint main() {\n  return 0;\n}\n",
        sol + "\nfunc main() {\n}\n",
        sol + "\n    public static void main(String[] args) {\n    }\n}\n",
        f"```{fence[lang]}\n{decl}{sol}```\nThis works because ...",
        f"Here is the solution:\n```\n{decl}{sol}\n```",
        f"```{fence[lang]}\n{sol}",
        repr(sol),
        decl + sol,
        "\n\n" + sol + "\n\nprint(1)\n\ndef other():\n    pass\n",
        sol.rstrip().rstrip("}"),
        "",
        "I don't know.",
        "    return 1\n# comment\n    x = 2\n",
        "\n    return 1\n\n\n\nclass A:\n    pass",
    ]


def _records(data_dir: Path, lang: str) -> list[dict[str, str]]:
    path = data_dir / "humaneval_x" / f"humaneval_{LANG_FILES[lang]}.jsonl.gz"
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [rows[i] for i in (0, 17, 162)]


REF = """
h = oc("opencompass.datasets.humanevalx")
RESULT = [h._clean_up_code(text, lang, decl) for text, lang, decl in DATA]
"""


def test_clean_up_code_agrees_for_every_language(reference: Reference, data_dir: Path) -> None:
    cases = []
    for lang in LANGUAGES:
        for rec in _records(data_dir, lang):
            cases += [[text, lang, rec["declaration"]] for text in _outputs(rec, lang)]
    expected = reference(REF, cases)
    assert len(expected) == len(cases) == 5 * 3 * 15
    for (text, lang, decl), ref in zip(cases, expected, strict=True):
        assert clean_up_code(text, lang, decl) == ref, (lang, text)


def test_quoted_output_is_unwrapped_without_eval(reference: Reference) -> None:
    """Upstream eval()s the output; a literal unwraps the same, an expression is left as is."""
    cases = [["'    return a + b\\n'", "python", "def add(a, b):\n"],
             ["__import__('os').getcwd()", "python", "def f():\n"]]
    expected = reference(REF, cases)
    assert clean_up_code(*cases[0]) == expected[0]
    assert clean_up_code(*cases[1]) == "    __import__('os').getcwd()"
