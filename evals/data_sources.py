"""Where each benchmark's data lives, and how a user gets it: the registry behind
``evals data status`` and ``evals data fetch``.

Every benchmark declares a ``DataSpec`` in its own module (its ``data`` attribute): the local
layouts its loader reads (evals' own, the upstream files, OpenCompass's ``data/`` folder,
files fetched from the hub), the pinned remote source ``evals data fetch`` downloads (a Hugging
Face dataset repo at a commit, or a GitHub repository's raw files at a commit; never a
loading script), the items the full set has, its license, and the sha256 of every file
where it is known. Loaders read local files only: the hub is never contacted during a run,
and a missing set is one line at once (``MissingDataError``) naming the fetch command.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from evals.errors import DataError

Host = Literal["hub", "github"]


class MissingDataError(DataError):
    """A benchmark's data is absent from ``data_dir`` (as opposed to present but broken): the
    run names every such set at once, and ``--skip-missing`` runs the rest."""

    def __init__(self, benchmark: str, message: str) -> None:
        super().__init__(message)
        self.benchmark = benchmark


@dataclass(frozen=True)
class Layout:
    """One way a benchmark's files can sit under ``data_dir``: a file or folder ``root``
    (what the layout's reader gets), found when it exists with every path of ``requires``
    inside it. ``name``: ``evals`` (the sets of ../shared/data), ``upstream`` (the original
    release's files), ``opencompass`` (OpenCompass's ``data/`` bundle), ``hub`` (what
    ``evals data fetch`` downloads from the hub)."""

    name: str
    root: str
    requires: tuple[str, ...] = ()

    def found(self, data_dir: Path) -> Path | None:
        root = data_dir / self.root
        if root.exists() and all((root / p).exists() for p in self.requires):
            return root
        return None


@dataclass(frozen=True)
class RemoteFile:
    path: str
    """Inside the remote repository."""
    dest: str
    """Under ``data_dir``: where one of the benchmark's layouts reads it."""
    sha256: str | None = None
    size: int | None = None
    blob: str | None = None
    """The hub's git blob id (sha1) of a file kept in git rather than LFS: what a fetched
    file is checked against when no sha256 is pinned for it."""


@dataclass(frozen=True)
class Remote:
    """A pinned source: the repository, the commit, the files (hub paths may be glob
    patterns, ``all/test-*.parquet``: a hub commit is immutable, and the hub checks each
    file against its own sha256 as it sends it)."""

    host: Host
    repo: str
    revision: str
    files: tuple[RemoteFile, ...]
    gated: bool = False
    """The hub asks for an accepted licence and a token (``HF_TOKEN``)."""
    hub: tuple[str, str | None] | None = None
    """The benchmark's hub dataset and config (lm-eval's, where lm-eval has it), also when
    the files come from the upstream GitHub release."""

    def url(self, file: RemoteFile) -> str:
        if self.host == "github":
            base = os.environ.get("EVALS_GITHUB_RAW", "https://raw.githubusercontent.com")
            return f"{base.rstrip('/')}/{self.repo}/{self.revision}/{file.path}"
        base = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        return f"{base.rstrip('/')}/datasets/{self.repo}/resolve/{self.revision}/{file.path}"


@dataclass(frozen=True)
class DataSpec:
    """A benchmark's data: see the module docstring."""

    layouts: tuple[Layout, ...]
    remote: Remote | None
    items: int | None
    """Items of the full set evals scores (None where it depends on what is there)."""
    license: str
    manual: str = ""
    """Without a remote: where a user gets the files by hand, and where they go."""

    def locate(self, data_dir: Path) -> tuple[Layout, Path] | None:
        for layout in self.layouts:
            path = layout.found(data_dir)
            if path is not None:
                return layout, path
        return None

    def require(self, benchmark: str, data_dir: Path) -> tuple[Layout, Path]:
        """The first layout present, else ``MissingDataError`` naming where the files go and
        the command that gets them."""
        found = self.locate(data_dir)
        if found is None:
            raise MissingDataError(benchmark, missing_message(benchmark, self, data_dir))
        return found


def missing_message(benchmark: str, spec: DataSpec, data_dir: Path) -> str:
    where = " or ".join(str(data_dir / layout.root) for layout in spec.layouts[:2])
    return f"{benchmark}: data not found ({where}); {fetch_hint(benchmark, spec)}"


def fetch_hint(benchmark: str, spec: DataSpec) -> str:
    if spec.remote is None:
        return spec.manual or "no public source to fetch from; put the files under data_dir"
    token = " (gated: accept its licence on the hub and set HF_TOKEN)" if spec.remote.gated else ""
    return f"run `evals data fetch -b {benchmark}`{token}"


def git_blob_of(path: Path) -> str:
    """git's object id of a file's bytes (sha1 of ``blob <size>\\0`` and the content)."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


Verdict = Literal["ok", "mismatch", "unknown"]


def verify(data_dir: Path, paths: Iterable[Path]) -> tuple[Verdict, list[str]]:
    """Checksums of the files found against the known ones (the registry's, and those
    ``evals data fetch`` recorded for files it fetched by pattern): ``mismatch`` (naming
    the files) when any differs, ``ok`` when every file with a known checksum matches and
    there is one, ``unknown`` when none of them has a known checksum."""
    known = {**known_checksums(), **fetched_checksums(data_dir)}
    bad, checked = [], 0
    for path in paths:
        rel = path.relative_to(data_dir).as_posix()
        expected = known.get(rel)
        if expected is None:
            continue
        checked += 1
        if sha256_of(path) != expected:
            bad.append(rel)
    if bad:
        return "mismatch", bad
    return ("ok" if checked else "unknown"), []


def files_under(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path


def read_sums(text: str) -> dict[str, str]:
    """A ``SHA256SUMS`` file (``sha256  relative/path`` lines) as a mapping."""
    out = {}
    for line in text.splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and len(parts[0]) == 64:
            out[parts[1].strip().lstrip("*")] = parts[0]
    return out


DATA = files("evals") / "data"
LOCK = ".evals-fetched.sha256"
"""Under ``data_dir``: the sha256 of every file ``evals data fetch`` placed whose checksum the
registry does not pin (hub files fetched by pattern), recorded as the hub sent them."""


@cache
def known_checksums() -> dict[str, str]:
    """Relative path under ``data_dir`` -> sha256: the shared data's ``SHA256SUMS`` and the
    pinned upstream files (``evals/data/checksums.sha256``)."""
    return read_sums(DATA.joinpath("checksums.sha256").read_text(encoding="utf-8"))


def fetched_checksums(data_dir: Path) -> dict[str, str]:
    lock = data_dir / LOCK
    return read_sums(lock.read_text(encoding="utf-8")) if lock.is_file() else {}


def record_fetched(data_dir: Path, sums: Mapping[str, str]) -> None:
    merged = {**fetched_checksums(data_dir), **sums}
    (data_dir / LOCK).write_text("".join(f"{h}  {p}\n" for p, h in sorted(merged.items())),
                                 encoding="utf-8")


@cache
def _table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.joinpath("remote_files.json").read_text("utf-8"))
    return data


def remote(name: str) -> Remote:
    """A benchmark's pinned source from ``evals/data/remote_files.json`` (generated from the
    shared data's provenance and the hub's commit pages; file lists are long)."""
    raw = _table()[name]
    hub = raw.get("hub")
    return Remote(raw["host"], raw["repo"], raw["revision"],
                  tuple(RemoteFile(path, dest, sha, size) for path, dest, sha, size in raw["files"]),
                  bool(raw.get("gated", False)), (hub[0], hub[1]) if hub else None)


NOT_DATA = ("SHA256SUMS", "LICENSE", "README", ".")
"""Names of files beside a set that are not part of it (checksums, licences, hidden)."""


def layout_files(spec: DataSpec, data_dir: Path) -> list[Path]:
    """The data files of the layout found (the run manifest hashes them); [] when none is."""
    found = spec.locate(data_dir)
    if not found:
        return []
    return [p for p in files_under([found[1]]) if not p.name.startswith(NOT_DATA)]
