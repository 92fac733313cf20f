"""``evals data fetch``: the pinned files of a benchmark into ``data_dir``, verified.

Hub files come through ``huggingface_hub`` (``HF_TOKEN`` for gated sets, ``HF_ENDPOINT`` for
mirrors; it resumes an interrupted download from its ``.incomplete`` file); GitHub files are
raw files at a commit (``EVALS_GITHUB_RAW`` for a mirror), resumed from a ``.part`` file with
a Range request. Every file is checked against its pinned sha256 before it is moved into
place: a mismatch is refused with one line and the file kept aside as ``<dest>.rejected``,
never used. ``--from DIR`` links (or copies) the files of an OpenCompass ``data/`` folder
instead of downloading anything.
"""

from __future__ import annotations

import http.client
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from evals.data_sources import (
    DataSpec,
    Remote,
    RemoteFile,
    git_blob_of,
    known_checksums,
    record_fetched,
    sha256_of,
)
from evals.errors import DataError

CHUNK = 1 << 16
Progress = Callable[[str, int, int | None], None]
"""(file, bytes so far, total bytes or None)."""


@dataclass(frozen=True)
class Fetched:
    benchmark: str
    downloaded: tuple[str, ...]
    present: tuple[str, ...]
    """Files already in place with the right checksum (nothing to do)."""


def offline() -> bool:
    return any(os.environ.get(v, "0") in ("1", "true", "True", "yes")
               for v in ("HF_HUB_OFFLINE", "EVALS_OFFLINE"))


def fetch(benchmark: str, spec: DataSpec, data_dir: Path,
          progress: Progress | None = None) -> Fetched:
    remote = spec.remote
    if remote is None:
        raise DataError(f"{benchmark}: no public source to fetch from; put its files under "
                        f"{data_dir}")
    if offline():
        raise DataError(f"{benchmark}: offline (HF_HUB_OFFLINE=1); unset it to fetch, or "
                        "copy the files in with `evals data fetch --from DIR`")
    wanted = _hub_files(benchmark, remote) if remote.host == "hub" else list(remote.files)
    downloaded, present, recorded = [], [], {}
    for file in wanted:
        dest = data_dir / file.dest
        if dest.is_file() and _matches(dest, file):
            present.append(file.dest)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        got = (_from_hub if remote.host == "hub" else _from_github)(
            benchmark, remote, file, data_dir, progress)
        _accept(benchmark, got, dest, file)
        downloaded.append(file.dest)
        if known_checksums().get(file.dest) is None:
            recorded[file.dest] = file.sha256 or sha256_of(dest)
    record_fetched(data_dir, recorded)
    return Fetched(benchmark, tuple(downloaded), tuple(present))


def _matches(path: Path, file: RemoteFile) -> bool:
    if file.sha256 is not None:
        return sha256_of(path) == file.sha256
    return file.blob is None or git_blob_of(path) == file.blob


def _hub_files(benchmark: str, remote: Remote) -> list[RemoteFile]:
    """The registry's hub files, patterns expanded against the repository's tree at the
    pinned commit; each with its sha256: the registry's where it pins one, else the hub's
    own LFS record for that commit (a commit never changes)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError
    from huggingface_hub.hf_api import RepoFile

    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None,
                token=os.environ.get("HF_TOKEN") or None)
    try:
        tree = [f for f in api.list_repo_tree(remote.repo, revision=remote.revision,
                                              repo_type="dataset", recursive=True)
                if isinstance(f, RepoFile)]
    except GatedRepoError:
        raise DataError(_gated(benchmark, remote)) from None
    except (HfHubHTTPError, OSError) as exc:
        raise DataError(f"{benchmark}: {remote.repo}@{remote.revision[:12]}: "
                        f"{_reason(exc)}; check the network (HF_ENDPOINT for a mirror)") from None
    out = []
    for spec in remote.files:
        matches = [f for f in tree if fnmatch(f.path, spec.path)]
        if not matches:
            raise DataError(f"{benchmark}: {remote.repo}@{remote.revision[:12]} has no file "
                            f"matching {spec.path}")
        for f in matches:
            lfs_sha = f.lfs.sha256 if f.lfs is not None else None
            dest = spec.dest if spec.path == f.path else f"hub/{remote.repo}/{f.path}"
            out.append(RemoteFile(f.path, dest, spec.sha256 or lfs_sha, f.size,
                                  None if lfs_sha else f.blob_id))
    return out


def _gated(benchmark: str, remote: Remote) -> str:
    return (f"{benchmark}: hub dataset {remote.repo} is gated: accept its terms on its page "
            "and set HF_TOKEN to a token of that account")


def _accept(benchmark: str, got: Path, dest: Path, file: RemoteFile) -> None:
    """Into place only with the pinned checksum (the hub's git blob id for a file it keeps
    in git, not LFS); otherwise kept aside and refused."""
    kind, want, actual = "sha256", file.sha256, None
    if want is not None:
        actual = sha256_of(got)
    elif file.blob is not None:
        kind, want, actual = "git blob id", file.blob, git_blob_of(got)
    if want is not None and actual != want:
        rejected = dest.with_name(dest.name + ".rejected")
        os.replace(got, rejected)
        raise DataError(f"{benchmark}: {file.path} has {kind} {str(actual)[:12]}..., the "
                        f"pinned source says {want[:12]}...; kept aside as {rejected}, not "
                        "used (a changed upstream or a corrupted download: fetch again)")
    os.replace(got, dest)


def _from_hub(benchmark: str, remote: Remote, file: RemoteFile, data_dir: Path,
              progress: Progress | None) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

    staging = data_dir / ".fetch" / benchmark
    try:
        path = hf_hub_download(remote.repo, file.path, repo_type="dataset",
                               revision=remote.revision, local_dir=staging,
                               endpoint=os.environ.get("HF_ENDPOINT") or None,
                               token=os.environ.get("HF_TOKEN") or None)
    except GatedRepoError:
        raise DataError(_gated(benchmark, remote)) from None
    except (HfHubHTTPError, OSError) as exc:
        raise DataError(f"{benchmark}: {remote.repo}@{remote.revision[:12]}:{file.path}: "
                        f"{_reason(exc)}; run the same command again to resume") from None
    if progress is not None:
        size = Path(path).stat().st_size
        progress(file.dest, size, size)
    return Path(path)


def _from_github(benchmark: str, remote: Remote, file: RemoteFile, data_dir: Path,
                 progress: Progress | None) -> Path:
    """Streamed into ``<dest>.part``; an existing part is resumed with a Range request
    (restarted when the server answers with the whole file)."""
    part = data_dir / (file.dest + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(remote.url(file), headers={"Range": f"bytes={have}-"}
                                     if have else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            resumed = have and response.status == 206
            total = _total(response.headers, have if resumed else 0)
            with open(part, "ab" if resumed else "wb") as out:
                done = have if resumed else 0
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(file.dest, done, total)
        if total is not None and done < total:  # http.client reads a cut body as a short one
            raise DataError(f"{benchmark}: {remote.url(file)}: the connection closed after "
                            f"{done} of {total} bytes; run the same command again to resume")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part is already whole
            return part
        raise DataError(f"{benchmark}: {remote.url(file)}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DataError(f"{benchmark}: {remote.url(file)}: {_reason(exc)}; run the same "
                        "command again to resume") from None
    return part


def _total(headers: object, offset: int) -> int | None:
    length = getattr(headers, "get", lambda _: None)("Content-Length")
    return offset + int(length) if length and str(length).isdigit() else None


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", "") or exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def link_from(benchmark: str, spec: DataSpec, source: Path, data_dir: Path,
              copy: bool = False) -> list[str]:
    """The first of the benchmark's layouts that ``source`` has (an OpenCompass ``data/``
    folder, whose layouts are tried first, or another data_dir), linked (or copied) to the
    same relative path under ``data_dir``, where the loader reads that layout. Several of
    OpenCompass's paths are the upstream ones (``gsm8k/test.jsonl``, ``cmmlu/``), so every
    layout counts. Returns what was placed; [] when ``source`` has no layout of this
    benchmark or the path is taken already."""
    ordered = sorted(spec.layouts, key=lambda layout: layout.name != "opencompass")
    for layout in ordered:
        if layout.found(source) is None:
            continue
        target = data_dir / layout.root
        if target.exists() or target.is_symlink():
            return []
        target.parent.mkdir(parents=True, exist_ok=True)
        origin = source / layout.root
        if copy:
            (shutil.copytree if origin.is_dir() else shutil.copy2)(origin, target)
        else:
            target.symlink_to(origin.resolve())
        return [layout.root]
    return []


def fetch_command(benchmarks: Sequence[str]) -> str:
    return "evals data fetch " + " ".join(f"-b {b}" for b in benchmarks)
