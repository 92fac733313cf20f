"""Token-exact haystack contexts for needle-in-a-haystack tests.

Why this shape: a 200k-token context must be built in seconds and sized with the evaluated
model's own tokenizer. So the haystack is tokenized once (per document, without special
tokens) and every cell slices those ids, inserts the needle ids at a sentence boundary and
decodes once. One re-tokenization of the final text verifies the count, because a tokenizer
may merge tokens across a seam (e.g. ``"\\n" + "\\n"``); the haystack prefix is then
resized and rebuilt.

Size guarantee: ``Context.token_count`` is the length of ``tokenizer(text,
add_special_tokens=False)``. It never exceeds the target; it equals the target unless no
haystack length in the small search window re-tokenizes to exactly the target, in which
case the largest count below the target is returned (``Context.exact`` is False).

Repeats: repeat ``r`` orders the documents by ``random.Random(r).shuffle`` (OpenCompass
shuffles its JSONL lines with ``random.seed(repeat)``); repeat ``None`` keeps file order.
When a target needs more tokens than the haystack holds, the ordered documents are cycled,
as OpenCompass's per-line accumulation would need to.
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from evals.errors import DataError

SENTENCE_ENDS = frozenset(".!?。！？\n")
_SEARCH_STEPS = 10


class Tokenizer(Protocol):
    """The slice of a Hugging Face tokenizer this module uses."""

    all_special_ids: list[int]

    def __call__(self, text: str, **kwargs: Any) -> Any: ...

    def decode(self, ids: Sequence[int], **kwargs: Any) -> str: ...


@dataclass(frozen=True)
class Document:
    """One haystack document: its ids and the token indices where a sentence ends."""

    text: str
    ids: tuple[int, ...]
    boundaries: tuple[int, ...]  # sorted; always holds 0 and len(ids)


@dataclass(frozen=True)
class Haystack:
    """A tokenized haystack; build once per (source, tokenizer) with ``load_haystack``."""

    source: Path
    documents: tuple[Document, ...]

    @property
    def token_count(self) -> int:
        return sum(len(d.ids) for d in self.documents)

    def stream(self, n_tokens: int, repeat: int | None = None) -> tuple[list[int], list[int]]:
        """First ``n_tokens`` ids of the (shuffled, cycled) haystack and its boundaries."""
        order = list(range(len(self.documents)))
        if repeat is not None:
            random.Random(repeat).shuffle(order)
        ids: list[int] = []
        bounds: list[int] = [0]
        k = 0
        while len(ids) < n_tokens:
            doc = self.documents[order[k % len(order)]]
            start = len(ids)
            ids.extend(doc.ids)
            bounds.extend(start + b for b in doc.boundaries if b > 0)
            k += 1
        del ids[n_tokens:]
        bounds = [b for b in bounds if b < n_tokens] + [n_tokens]
        return ids, sorted(set(bounds))


@dataclass(frozen=True)
class NeedlePlacement:
    """Where one needle landed: requested vs. actual depth, in haystack tokens."""

    text: str
    requested_depth: float
    depth_percent: float  # actual: haystack tokens before the needle / haystack tokens
    token_position: int  # index of the needle's first id in ``Context`` ids (pre-verify)
    char_offset: int  # ``Context.text[char_offset:].startswith(text)``


@dataclass(frozen=True)
class Context:
    """A haystack + needles text sized with the evaluated model's tokenizer."""

    text: str
    token_count: int
    target_tokens: int
    haystack_tokens: int
    needles: tuple[NeedlePlacement, ...]
    exact: bool


def _read_texts(path: Path, field: str) -> list[str]:
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise DataError(f"{path}: no .txt files in haystack folder; add text files")
        return [f.read_text(encoding="utf-8") for f in files]
    if not path.is_file():
        raise DataError(f"{path}: haystack not found; give a folder of .txt, a .txt or a .jsonl")
    if path.suffix == ".jsonl":
        texts = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get(field), str):
                    raise DataError(f"{path}:{n}: no string field '{field}' in JSONL line")
                texts.append(record[field])
        return texts
    return [path.read_text(encoding="utf-8")]


def _boundaries(text: str, tokenizer: Tokenizer) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Token ids and the token indices just after each sentence end (char offsets mapped)."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    ends = [int(e) for _, e in enc["offset_mapping"]]
    bounds = {0, len(ids)}
    for pos, ch in enumerate(text):
        if ch in SENTENCE_ENDS:
            # after the last token ending exactly at the char (byte-level BPE may split a
            # full-width char over tokens sharing one offset), else after the spanning token
            j = bisect.bisect_right(ends, pos + 1)
            if j > 0 and ends[j - 1] == pos + 1:
                bounds.add(j)
            elif j < len(ids):
                bounds.add(j + 1)
    return tuple(ids), tuple(sorted(bounds))


def load_haystack(path: Path, tokenizer: Tokenizer, text_field: str = "text") -> Haystack:
    """Load and tokenize a haystack once; documents end with a blank line (a boundary)."""
    texts = [t.strip() + "\n\n" for t in _read_texts(path, text_field) if t.strip()]
    if not texts:
        raise DataError(f"{path}: haystack is empty; give non-empty text")
    docs = []
    for t in texts:
        ids, bounds = _boundaries(t, tokenizer)
        docs.append(Document(text=t, ids=ids, boundaries=bounds))
    return Haystack(source=path, documents=tuple(docs))


def count_tokens(text: str, tokenizer: Tokenizer) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _nearest(bounds: list[int], want: float) -> int:
    i = bisect.bisect_left(bounds, want)
    cands = bounds[max(i - 1, 0) : i + 1]
    return min(cands, key=lambda b: (abs(b - want), b))


def _assemble(
    haystack: Haystack,
    hay_len: int,
    needles: Sequence[tuple[float, str]],
    needle_ids: Sequence[list[int]],
    tokenizer: Tokenizer,
    repeat: int | None,
) -> tuple[str, list[NeedlePlacement], bool]:
    """Decoded context, placements, and whether the cut end is a whole character."""
    ids, bounds = haystack.stream(hay_len, repeat)
    points = [_nearest(bounds, hay_len * depth / 100) for depth, _ in needles]
    order = sorted(range(len(needles)), key=lambda i: (points[i], i))
    pieces: list[str] = []
    chars = 0
    prev = 0
    inserted = 0
    placed: dict[int, NeedlePlacement] = {}

    def decode(part: list[int]) -> str:
        return tokenizer.decode(part, clean_up_tokenization_spaces=False)

    for i in order:
        seg = decode(ids[prev : points[i]])
        pieces.append(seg)
        chars += len(seg)
        depth, text = needles[i]
        actual = 100.0 * points[i] / hay_len if hay_len else 0.0
        placed[i] = NeedlePlacement(text, depth, actual, points[i] + inserted, chars)
        pieces.append(text)
        chars += len(text)
        inserted += len(needle_ids[i])
        prev = points[i]
    tail = decode(ids[max(prev, hay_len - 8) :])
    pieces.append(decode(ids[prev:]))
    return "".join(pieces), [placed[i] for i in range(len(needles))], not tail.endswith("\ufffd")


def build_context(
    haystack: Haystack,
    target_tokens: int,
    needles: Sequence[tuple[float, str]],
    tokenizer: Tokenizer,
    repeat: int | None = None,
) -> Context:
    """Haystack prefix + needles at the sentence boundaries nearest the requested depths.

    Needle texts are inserted verbatim (wrap them in newlines as OpenCompass does before
    calling). Needles sharing a boundary keep their given order.
    """
    needle_ids = [list(tokenizer(t, add_special_tokens=False)["input_ids"]) for _, t in needles]
    hay_len = target_tokens - sum(len(n) for n in needle_ids)
    if hay_len < 0:
        raise DataError(f"target of {target_tokens} tokens is shorter than the needles")
    best: tuple[int, str, list[NeedlePlacement], int] | None = None
    tried: set[int] = set()
    for _ in range(_SEARCH_STEPS):
        if hay_len in tried or hay_len < 0:
            break
        tried.add(hay_len)
        text, placed, whole = _assemble(haystack, hay_len, needles, needle_ids, tokenizer, repeat)
        if not whole:  # the cut split a multi-byte character: drop the partial token
            hay_len -= 1
            continue
        count = count_tokens(text, tokenizer)
        if count <= target_tokens and (best is None or count > best[0]):
            best = (count, text, placed, hay_len)
        if count == target_tokens:
            break
        hay_len += target_tokens - count
    if best is None:
        raise DataError(f"could not fit a context in {target_tokens} tokens")
    count, text, placed, hay_len = best
    return Context(text, count, target_tokens, hay_len, tuple(placed), count == target_tokens)


@dataclass(frozen=True)
class PromptBudget:
    """How many tokens the context may take once template, question and output are added.

    CDME sizes only haystack + needles; the rendered prompt adds the template and question
    (``overhead``) and the model must still generate ``reserve`` tokens. When target +
    overhead + reserve exceeds ``max_len`` the context is shrunk (policy "shrink") or the
    cell is skipped (policy "skip", ``context_tokens`` is 0 and ``skipped`` True).
    """

    requested_tokens: int
    context_tokens: int
    overhead_tokens: int
    reserve_tokens: int
    max_len: int
    skipped: bool

    @property
    def shrunk(self) -> bool:
        return not self.skipped and self.context_tokens < self.requested_tokens


def measure_overhead(render: Callable[[str], str], tokenizer: Tokenizer, margin: int = 2) -> int:
    """Tokens the prompt adds around an empty context, plus a seam margin.

    ``render(context)`` must return the full model input (chat template applied), so that
    template special tokens are counted as the model will see them.
    """
    return count_tokens(render(""), tokenizer) + margin


def fit_prompt(
    target_tokens: int,
    overhead_tokens: int,
    max_len: int,
    reserve_tokens: int,
    policy: Literal["shrink", "skip"] = "shrink",
) -> PromptBudget:
    room = max_len - overhead_tokens - reserve_tokens
    if target_tokens <= room:
        ctx, skipped = target_tokens, False
    elif policy == "shrink" and room > 0:
        ctx, skipped = room, False
    else:
        ctx, skipped = 0, True
    return PromptBudget(target_tokens, ctx, overhead_tokens, reserve_tokens, max_len, skipped)


def check_prompt(prompt: str, tokenizer: Tokenizer, max_len: int, reserve_tokens: int) -> int:
    """Token count of the final prompt; raises if prompt + reserved output exceeds max_len."""
    n = count_tokens(prompt, tokenizer)
    if n + reserve_tokens > max_len:
        msg = f"needle prompt of {n} tokens + {reserve_tokens} output exceeds max length {max_len}"
        raise DataError(msg)
    return n
