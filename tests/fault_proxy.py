"""A fault-injecting HTTP proxy in front of an OpenAI-compatible server, for judge tests.

The first distinct request bodies get one fault of each kind, on their first attempt only
(so every retry goes through): HTTP 503 and 429, a
timeout (the answer comes after the client gave up), a body cut in half, and an HTML error
page instead of JSON. A further share of requests is answered with a well-formed completion
whose content is garbage and whose logprobs are dropped: not retryable, it must show up as an
unreadable verdict.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

TRANSIENT = ("http_503", "http_429", "timeout", "truncated", "html")
GARBAGE_VERDICT = "garbage_verdict"
GARBAGE_TEXT = "\u00bf\u00bf#!garbage!#"


class FaultProxy:
    def __init__(self, upstream: str, timeout_s: float, every: int = 10) -> None:
        self.upstream = upstream.rstrip("/")
        self.sleep_s = timeout_s + 1.0
        self.every = every
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self._slots: dict[str, int] = {}
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=600)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()

    def fault_for(self, body: bytes) -> str | None:
        """The first distinct bodies get one transient fault each, on their first attempt
        only; after them every ``every``-th body gets a garbage verdict (on every attempt:
        it is a valid answer, not something to retry)."""
        key = hashlib.sha256(body).hexdigest()
        with self._lock:
            first = key not in self._slots
            if first:
                self._slots[key] = len(self._slots)
            n = self._slots[key]
        if n < len(TRANSIENT):
            return TRANSIENT[n] if first else None
        return GARBAGE_VERDICT if (n - len(TRANSIENT)) % self.every == 0 else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                resp = proxy._client.get(proxy.upstream + self.path.removeprefix("/v1"))
                self._send(resp.status_code, resp.content)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                kind = proxy.fault_for(body)
                with proxy._lock:
                    proxy.injected[kind or "none"] += 1
                if kind == "http_503":
                    return self._send(503, b'{"error": "overloaded"}')
                if kind == "http_429":
                    return self._send(429, b'{"error": "rate limited"}')
                if kind == "timeout":
                    time.sleep(proxy.sleep_s)
                    return self._send(503, b"{}")
                if kind == "html":
                    return self._send(200, b"<html><body>502 Bad Gateway</body></html>",
                                      "text/html")
                resp = proxy._client.post(proxy.upstream + self.path.removeprefix("/v1"),
                                          content=body,
                                          headers={"Content-Type": "application/json"})
                with proxy._lock:
                    proxy.forwarded += 1
                out = resp.content
                if kind == "truncated":
                    out = out[: len(out) // 2]
                elif kind == GARBAGE_VERDICT and resp.status_code == 200:
                    out = _garble(out)
                return self._send(resp.status_code, out)

        return Handler


def _garble(body: bytes) -> bytes:
    data = json.loads(body)
    for choice in data.get("choices", []):
        if isinstance(choice.get("message"), dict):
            choice["message"]["content"] = GARBAGE_TEXT
        if "text" in choice:
            choice["text"] = GARBAGE_TEXT
        choice["logprobs"] = None
    return json.dumps(data).encode()
