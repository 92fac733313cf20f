"""Needle test definitions (needle_haystack/*.yaml): what to run, validated on load.

YAML holds no prompts or code: kind, language, haystack, lengths, depths, repeats and the
needles file. Paths are relative to the data dir unless absolute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals.config import read_yaml
from evals.errors import ConfigError

# CDME cdme200k.py lengths and int(linspace(0, 100, 20)) depths.
CDME_LENGTHS = (
    16000,
    32000,
    48000,
    64000,
    80000,
    96000,
    112000,
    128000,
    144000,
    160000,
    176000,
    192000,
    200000,
)
CDME_DEPTHS = (0, 5, 10, 15, 21, 26, 31, 36, 42, 47, 52, 57, 63, 68, 73, 78, 84, 89, 94, 100)


DEFINITIONS_DIR = Path(__file__).resolve().parents[4] / "needle_haystack"


class NeedleTestSpec(BaseModel):
    """One needle test; ``lengths`` are context tokens counted with the model's tokenizer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["single", "multi_retrieval", "multi_reasoning", "ancestral_trace"]
    language: Literal["en", "zh"]
    haystack: str | None = None
    text_field: str = "text"
    needles: str | None = None
    lengths: tuple[int, ...] = CDME_LENGTHS
    depths: tuple[int, ...] = CDME_DEPTHS
    repeats: int = Field(default=10, ge=1)
    num_needles: tuple[int, ...] = ()
    depth_diff: int = Field(default=10, ge=0, le=100)
    reserve_tokens: int = Field(default=512, ge=0)
    cap_to_model_max: bool = True

    @model_validator(mode="after")
    def _check(self) -> NeedleTestSpec:
        if any(n <= 0 for n in self.lengths):
            raise ValueError("lengths: must be positive token counts")
        if any(not 0 <= d <= 100 for d in self.depths):
            raise ValueError("depths: must be percentages in 0..100")
        needs_haystack = self.kind != "ancestral_trace"
        if needs_haystack and not self.haystack:
            raise ValueError(f"haystack: required for kind '{self.kind}'")
        if self.kind in ("multi_reasoning", "ancestral_trace") and not self.num_needles:
            raise ValueError(f"num_needles: required for kind '{self.kind}'")
        if self.kind != "single" and not self.needles:
            raise ValueError(f"needles: required for kind '{self.kind}'")
        return self

    def resolve(self, path: str, data_dir: Path) -> Path:
        """Relative paths: under data_dir (a user's NeedleBench data), else the needle files
        that ship with the definitions (``needle_haystack/needlebench/``, our own text in
        NeedleBench's formats); a path found in neither is reported under data_dir."""
        p = Path(path).expanduser()
        if p.is_absolute():
            return p
        bundled = DEFINITIONS_DIR / p
        return bundled if not (data_dir / p).exists() and bundled.exists() else data_dir / p

    def effective_lengths(self, model_max: int, override: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """The length grid to run: an override wins; else lengths above the model max drop."""
        grid = override if override else self.lengths
        if override or not self.cap_to_model_max:
            return tuple(grid)
        return tuple(n for n in grid if n <= model_max)


def load_spec(path: Path) -> NeedleTestSpec:
    """Parse one YAML definition; errors are one line naming the file and the field."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: needle test definition must be a mapping")
    raw.setdefault("name", path.stem)
    try:
        return NeedleTestSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or _field_from(err["msg"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{path}: field '{field}': {msg}") from exc


def _field_from(msg: str) -> str:
    """Model-level errors name their field as 'field: ...' in the message."""
    text = msg.removeprefix("Value error, ")
    return text.split(":", 1)[0] if ":" in text else "?"
