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
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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
    """One way a benchmark's files can sit under ``data_dir``; found when every path exists.
    ``name``: ``evals`` (the re-serialized sets of ../shared/data), ``upstream`` (the
    original release's files), ``opencompass`` (OpenCompass's ``data/`` bundle), ``hub``
    (the files ``evals data fetch`` downloads from the hub)."""

    name: str
    paths: tuple[str, ...]

    def found(self, data_dir: Path) -> Path | None:
        if all((data_dir / p).exists() for p in self.paths):
            return data_dir / self.paths[0]
        return None


@dataclass(frozen=True)
class RemoteFile:
    path: str
    """Inside the remote repository."""
    dest: str
    """Under ``data_dir``: where one of the benchmark's layouts reads it."""
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Remote:
    """A pinned source: the repository, the commit, the files."""

    host: Host
    repo: str
    revision: str
    files: tuple[RemoteFile, ...]
    gated: bool = False
    """The hub asks for an accepted licence and a token (``HF_TOKEN``)."""

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
    checksums: Mapping[str, str] = field(default_factory=dict)
    """Relative path under ``data_dir`` -> sha256, for files of any layout."""

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
    where = " or ".join(str(data_dir / layout.paths[0]) for layout in spec.layouts[:2])
    return f"{benchmark}: data not found ({where}); {fetch_hint(benchmark, spec)}"


def fetch_hint(benchmark: str, spec: DataSpec) -> str:
    if spec.remote is None:
        return "no public source to fetch from; put the files under data_dir"
    token = " (gated: accept its licence on the hub and set HF_TOKEN)" if spec.remote.gated else ""
    return f"run `evals data fetch -b {benchmark}`{token}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


Verdict = Literal["ok", "mismatch", "unknown"]


def verify(spec: DataSpec, data_dir: Path, paths: Iterable[Path]) -> tuple[Verdict, list[str]]:
    """Checksums of the files found against the known ones: ``mismatch`` (naming the files)
    when any differs, ``ok`` when every file with a known checksum matches and there is one,
    ``unknown`` when none of them has a known checksum."""
    bad, checked = [], 0
    for path in paths:
        rel = str(path.relative_to(data_dir))
        expected = spec.checksums.get(rel)
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
