"""A loopback HTTP server that answers as the Hugging Face hub and as GitHub's raw file host
do for what ``evals data fetch`` asks: the hub's tree listing (``/api/datasets/<repo>/tree/
<rev>``, files with their LFS sha256), its resolve URLs (HEAD for metadata, GET with Range),
a gated repository's 401 with ``X-Error-Code: GatedRepo``, and GitHub's
``/<owner>/<repo>/<rev>/<path>`` raw files with Range. Parquet files are listed as LFS
files (with their sha256), the rest as files kept in git (their sha1 blob id), as the hub
lists them. Faults are scripted per file: served
corrupted, or cut off after half the bytes once (a dropped connection)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


@dataclass
class HubRepo:
    revision: str
    files: dict[str, bytes]
    gated: bool = False


@dataclass
class Loopback:
    hub: dict[str, HubRepo] = field(default_factory=dict)
    github: dict[str, bytes] = field(default_factory=dict)
    """``<owner>/<repo>/<rev>/<path>`` -> bytes."""
    corrupt: set[str] = field(default_factory=set)
    """Paths (hub file path or GitHub key) served with one byte changed."""
    cut_once: set[str] = field(default_factory=set)
    """Paths whose first full GET stops after half the bytes and drops the connection."""
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(method, path, Range header) of every request."""
    url: str = ""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _handler(state: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            path = unquote(urlparse(self.path).path)
            state.requests.append((self.command, path, self.headers.get("Range")))
            if path.startswith("/api/datasets/"):
                return self._tree(path[len("/api/datasets/"):])
            if path.startswith("/datasets/"):
                return self._resolve(path[len("/datasets/"):], body)
            data = state.github.get(path.lstrip("/"))
            if data is None:
                return self._status(404, "Not Found")
            self._bytes(path.lstrip("/"), data, body)

        def _repo(self, rest: str, marker: str) -> tuple[HubRepo, str, str] | None:
            for repo_id, repo in state.hub.items():
                prefix = f"{repo_id}/{marker}/{repo.revision}"
                if rest == prefix or rest.startswith(prefix + "/"):
                    if repo.gated and not self.headers.get("Authorization"):
                        self._status(401, "Unauthorized", {"X-Error-Code": "GatedRepo",
                                                           "X-Error-Message": "gated repo"})
                        return None
                    return repo, repo.revision, rest[len(prefix):].lstrip("/")
            self._status(404, "Not Found", {"X-Error-Code": "RepoNotFound"})
            return None

        def _tree(self, rest: str) -> None:
            found = self._repo(rest, "tree")
            if found is None:
                return
            repo, _, _ = found
            listing = [{"type": "file", "path": p, "size": len(d), "oid": git_blob(d),
                        **({"lfs": {"oid": sha256(d), "size": len(d), "pointerSize": 130}}
                           if p.endswith(".parquet") else {})}
                       for p, d in sorted(repo.files.items())]
            self._json(listing)

        def _resolve(self, rest: str, body: bool) -> None:
            found = self._repo(rest, "resolve")
            if found is None:
                return
            repo, revision, file = found
            data = repo.files.get(file)
            if data is None:
                return self._status(404, "Not Found", {"X-Error-Code": "EntryNotFound"})
            self._bytes(file, data, body, {"X-Repo-Commit": revision,
                                           "ETag": f'"{sha256(data)}"'})

        def _bytes(self, key: str, data: bytes, body: bool,
                   extra: dict[str, str] | None = None) -> None:
            if key in state.corrupt:
                data = bytes([data[0] ^ 1]) + data[1:]
            start = 0
            ranged = self.headers.get("Range")
            if ranged and ranged.startswith("bytes="):
                start = int(ranged[6:].split("-")[0])
                if start >= len(data):
                    return self._status(416, "Range Not Satisfiable")
            part = data[start:]
            self.send_response(206 if start else 200)
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(part)))
            self.send_header("Accept-Ranges", "bytes")
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if not body:
                return
            if key in state.cut_once and not start:
                state.cut_once.discard(key)
                self.wfile.write(part[: len(part) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(part)

        def _json(self, obj: object) -> None:
            raw = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _status(self, code: int, text: str, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps({"error": text}).encode()
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(raw)

    return Handler


@contextmanager
def serve(state: Loopback) -> Iterator[Loopback]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
