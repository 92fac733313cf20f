"""The one engine wrapper over a backend: de-duplication, caching, batching, retries, progress.

A run hands the engine every request of every benchmark at once, so a checkpoint is loaded
once and the backend sees large batches. Each finished batch is committed to the SQLite
response cache before the next starts: a killed run loses at most one batch.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from evals.backends.base import Backend
from evals.errors import BackendError, TransientBackendError
from evals.records import (
    SCHEMA_VERSION,
    GenerateRequest,
    GenerateResponse,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
    Prompt,
    Request,
    Response,
    TextPrompt,
    request_key,
    response_from_json,
    response_to_json,
)

log = logging.getLogger(__name__)


class ResponseCache:
    """Responses keyed by (model fingerprint, request hash), in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (model TEXT, key TEXT, schema INTEGER,"
            " body TEXT, PRIMARY KEY (model, key))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS fingerprints (identity TEXT PRIMARY KEY, model TEXT)"
        )
        self._db.commit()

    def fingerprint_of(self, identity: str) -> str | None:
        """The fingerprint a backend reported when it last loaded with this identity
        (``load_identity``): a re-run can look its answers up before loading the model."""
        row = self._db.execute(
            "SELECT model FROM fingerprints WHERE identity=?", (identity,)
        ).fetchone()
        return str(row[0]) if row else None

    def remember_fingerprint(self, identity: str, model: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO fingerprints VALUES (?, ?)", (identity, model))
        self._db.commit()

    def get_many(self, model: str, keys: Sequence[str]) -> dict[str, Response]:
        found: dict[str, Response] = {}
        for i in range(0, len(keys), 500):
            chunk = list(keys[i : i + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, body FROM responses WHERE model=? AND schema=? AND key IN ({marks})",
                [model, SCHEMA_VERSION, *chunk],
            )
            for key, body in rows:
                found[key] = response_from_json(json.loads(body))
        return found

    def put_many(self, model: str, items: Sequence[tuple[str, Response]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
            [(model, k, SCHEMA_VERSION, json.dumps(response_to_json(r))) for k, r in items],
        )
        self._db.commit()

    def absorb(self, other: Path) -> int:
        """Copy in every response of another cache file (a data-parallel shard's); entries
        already here win. Returns how many were new."""
        before = self._db.total_changes
        self._db.execute("ATTACH DATABASE ? AS other", (str(other),))
        try:
            self._db.execute("INSERT OR IGNORE INTO responses SELECT * FROM other.responses")
            self._db.commit()
        finally:
            self._db.execute("DETACH DATABASE other")
        return self._db.total_changes - before

    def close(self) -> None:
        self._db.close()


class ProgressSink(Protocol):
    def start(self, label: str, total: int) -> None: ...

    def advance(self, requests: int, tokens: int) -> None: ...

    def stop(self) -> None: ...


def prefix_order(prompt: Prompt) -> tuple[tuple[str, str], ...]:
    """Sort key that puts prompts sharing a prefix next to each other, compared on the raw
    text (a JSON or repr rendering would escape a needle's leading newline and scatter
    needle contexts that share a haystack prefix). Adjacent prompts then reuse each other's
    KV blocks even when vLLM's prefix cache holds only the previous context."""
    if isinstance(prompt, TextPrompt):
        return (("", prompt.text),)
    return tuple((m.role, m.content) for m in prompt.messages)


@dataclass
class EngineStats:
    requested: int = 0
    unique: int = 0
    cached: int = 0
    computed: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    retries: int = 0
    per_kind_seconds: dict[str, float] = field(default_factory=dict)
    per_kind_tokens: dict[str, int] = field(default_factory=dict)
    """Prompt tokens computed (not from the prefix cache) for scoring, tokens generated
    for generation: with ``per_kind_seconds``, the throughput ``evals plan`` projects at."""


R = TypeVar("R")


def _chunks(items: Sequence[R], size: int) -> Iterator[Sequence[R]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _tokens(response: Response) -> int:
    if isinstance(response, GenerateResponse):
        return response.prompt_tokens + response.output_tokens
    return response.context_tokens + response.tokens


class Engine:
    def __init__(
        self,
        backend: Backend,
        cache: ResponseCache | None = None,
        batch_size: int = 512,
        max_retries: int = 3,
        retry_backoff_s: float = 1.0,
        progress: ProgressSink | None = None,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.progress = progress
        self.fingerprint = backend.fingerprint()
        self.stats = EngineStats()

    def run(self, requests: Sequence[Request]) -> dict[str, Response]:
        """Answer every request; the result is keyed by ``request_key``."""
        unique: dict[str, Request] = {}
        for r in requests:
            unique.setdefault(request_key(r), r)
        self.stats.requested += len(requests)
        self.stats.unique += len(unique)
        done = self.cache.get_many(self.fingerprint, list(unique)) if self.cache else {}
        self.stats.cached += len(done)
        todo = {k: r for k, r in unique.items() if k not in done}
        ll = sorted(
            ((k, r) for k, r in todo.items() if isinstance(r, LoglikelihoodRequest)),
            key=lambda kr: (prefix_order(kr[1].context), kr[1].continuation),
        )
        gen = sorted(
            ((k, r) for k, r in todo.items() if isinstance(r, GenerateRequest)),
            key=lambda kr: prefix_order(kr[1].prompt),
        )
        self._run_kind("loglikelihood", ll, done)
        self._run_kind("generate", gen, done)
        return done

    def _run_kind(
        self, label: str, items: Sequence[tuple[str, Request]], done: dict[str, Response]
    ) -> None:
        if not items:
            return
        if self.progress:
            self.progress.start(label, len(items))
        t0 = time.perf_counter()
        try:
            for chunk in _chunks(list(items), self.batch_size):
                keys = [k for k, _ in chunk]
                responses = self._call_with_retries([r for _, r in chunk])
                pairs = list(zip(keys, responses, strict=True))
                if self.cache:
                    self.cache.put_many(self.fingerprint, pairs)
                done.update(pairs)
                self.stats.computed += len(pairs)
                toks = sum(_tokens(r) for r in responses)
                self._count([r for _, r in chunk], responses)
                if self.progress:
                    self.progress.advance(len(pairs), toks)
        finally:
            elapsed = time.perf_counter() - t0
            self.stats.seconds += elapsed
            self.stats.per_kind_seconds[label] = (
                self.stats.per_kind_seconds.get(label, 0.0) + elapsed
            )
            if self.progress:
                self.progress.stop()

    def _count(self, requests: Sequence[Request], responses: Sequence[Response]) -> None:
        """Tokens the model read: options scored in one pass over a shared context count
        that context once."""
        seen: set[tuple[tuple[str, str], ...]] = set()
        kinds = self.stats.per_kind_tokens
        for q, r in zip(requests, responses, strict=True):
            if isinstance(r, GenerateResponse):
                self.stats.prompt_tokens += r.prompt_tokens
                self.stats.output_tokens += r.output_tokens
                kinds["generate"] = kinds.get("generate", 0) + r.output_tokens
                read = 0
            elif r.context_logprob is not None:
                read = r.context_tokens + r.tokens
            elif isinstance(q, LoglikelihoodRequest) and prefix_order(q.context) not in seen:
                seen.add(prefix_order(q.context))
                read = r.context_tokens
            else:
                continue
            self.stats.prompt_tokens += read
            self.stats.cached_prompt_tokens += r.cached_tokens
            if read:
                kinds["loglikelihood"] = (kinds.get("loglikelihood", 0) + read
                                          - min(read, r.cached_tokens))

    def _dispatch(self, batch: Sequence[Request]) -> Sequence[Response]:
        if all(isinstance(r, GenerateRequest) for r in batch):
            return self.backend.generate([r for r in batch if isinstance(r, GenerateRequest)])
        return self.backend.loglikelihood(
            [r for r in batch if isinstance(r, LoglikelihoodRequest)]
        )

    def _call_with_retries(self, batch: Sequence[Request]) -> list[Response]:
        results: dict[int, Response] = {}
        pending = list(range(len(batch)))
        for attempt in range(self.max_retries + 1):
            try:
                out = self._dispatch([batch[i] for i in pending])
                results.update(zip(pending, out, strict=True))
                return [results[i] for i in range(len(batch))]
            except TransientBackendError as err:
                for pos, resp in err.completed.items():
                    if isinstance(resp, GenerateResponse | LoglikelihoodResponse):
                        results[pending[pos]] = resp
                pending = [i for i in range(len(batch)) if i not in results]
                if attempt == self.max_retries:
                    raise BackendError(
                        f"{self.backend.name}: {len(pending)} requests still failing after "
                        f"{self.max_retries} retries: {err}"
                    ) from err
                self.stats.retries += 1
                wait = self.retry_backoff_s * 2**attempt
                log.warning(
                    "%s: %s; retrying %d requests in %.1fs",
                    self.backend.name, err, len(pending), wait,
                )
                time.sleep(wait)
        raise AssertionError("unreachable")
