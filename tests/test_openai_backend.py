"""The openai backend against a stub OpenAI-compatible server on loopback, with faults."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evals.backends.base import BackendSpec
from evals.backends.openai_backend import OpenAIBackend
from evals.config import ModelSpec, OpenAIConfig, RunnerConfig
from evals.errors import BackendError
from evals.records import (
    ChatPrompt,
    GenerateRequest,
    GenerateResponse,
    GenerationParams,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
    Message,
    TextPrompt,
    request_key,
)
from evals.run.engine import Engine


class Stub(BaseHTTPRequestHandler):
    faults: list[str] = []
    seen: list[dict[str, object]] = []
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            Stub.seen.append(body)
            fault = Stub.faults.pop(0) if Stub.faults else "ok"
        if fault == "500":
            return self._reply(500, b'{"error": "boom"}')
        if fault == "429":
            return self._reply(429, b'{"error": "slow down"}')
        if fault == "garbage":
            return self._reply(200, b"<html>proxy error")
        if fault == "truncated":
            return self._reply(200, b'{"choices": [{"te')
        if fault == "400":
            return self._reply(400, b'{"error": "bad model"}')
        usage = {"prompt_tokens": 3, "completion_tokens": 2}
        if self.path.endswith("/chat/completions"):
            text = "chat:" + body["messages"][-1]["content"]
            choice: dict[str, object] = {"message": {"content": text}, "finish_reason": "stop"}
            if body.get("logprobs"):
                tops = [{"token": "M", "logprob": -0.1}, {"token": "m", "logprob": -2.5}]
                choice["logprobs"] = {"content": [{"token": "M", "logprob": -0.1,
                                                   "top_logprobs": tops[: body["top_logprobs"]]}]}
            return self._reply(200, json.dumps({"choices": [choice], "usage": usage}).encode())
        if body.get("echo"):
            # prompt "ab" + " c": three tokens "a", "b", " c", plus one generated token
            lp = {"tokens": ["a", "b", " c", "x"], "token_logprobs": [None, -1.0, -2.0, -0.1],
                  "text_offset": [0, 1, 2, 4],
                  "top_logprobs": [None, {"b": -1.0}, {" d": -0.5, " c": -2.0}, {"x": -0.1}]}
            return self._reply(200, json.dumps({"choices": [{"text": "ab cx", "logprobs": lp}],
                                                "usage": usage}).encode())
        lps = {"top_logprobs": [{"x": -0.2, "y": -1.7}]} if body.get("logprobs") else None
        return self._reply(200, json.dumps({"choices": [{"text": "gen:" + body["prompt"],
                           "finish_reason": "length", "logprobs": lps}], "usage": usage}).encode())


@pytest.fixture()
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Stub.faults, Stub.seen = [], []
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def _backend(url: str) -> OpenAIBackend:
    runner = RunnerConfig(backend="openai", openai=OpenAIConfig(base_url=url, concurrency=4,
                                                                timeout_s=5))
    return OpenAIBackend(BackendSpec(ModelSpec(name="m", path="served", kind="chat"), "served", runner))


def _requests() -> list[GenerateRequest]:
    p = GenerationParams(max_tokens=4, stop=("\n",))
    return [GenerateRequest(TextPrompt(f"t{i}"), p) for i in range(4)] + [
        GenerateRequest(ChatPrompt((Message("user", f"c{i}"),)), p) for i in range(2)
    ]


def test_completions_and_chat(server: str) -> None:
    out = _backend(server).generate(_requests())
    assert [r.text for r in out] == ["gen:t0", "gen:t1", "gen:t2", "gen:t3", "chat:c0", "chat:c1"]
    assert all(b["model"] == "served" and b["stop"] == ["\n"] for b in Stub.seen)


def test_faults_are_retried_and_results_complete(server: str) -> None:
    Stub.faults = ["500", "429", "garbage", "truncated"]
    engine = Engine(_backend(server), None, max_retries=3, retry_backoff_s=0)
    reqs = _requests()
    out = engine.run(reqs)
    assert engine.stats.retries >= 1
    texts = {r.prompt.text if isinstance(r.prompt, TextPrompt) else r.prompt.messages[0].content:
             out[request_key(r)] for r in reqs}
    assert all(isinstance(v, GenerateResponse) for v in texts.values())
    assert texts["t2"].text == "gen:t2"
    assert len(Stub.seen) == 6 + 4  # each fault cost exactly one extra request


def test_client_errors_fail_at_once(server: str) -> None:
    Stub.faults = ["400"]
    with pytest.raises(BackendError, match="HTTP 400"):
        Engine(_backend(server), None, retry_backoff_s=0).run(_requests()[:1])


def test_loglikelihood_from_echoed_logprobs(server: str) -> None:
    (resp,) = _backend(server).loglikelihood([LoglikelihoodRequest(TextPrompt("ab"), " c")])
    assert resp == LoglikelihoodResponse(logprob=-2.0, tokens=1, is_greedy=False,
                                         context_logprob=-1.0, context_tokens=2)


def test_top_logprobs_from_chat_and_completions(server: str) -> None:
    """A judge's preference weights: chat returns content[i].top_logprobs, completions a
    token -> logprob map per position; both become (token, logprob) pairs."""
    p = GenerationParams(max_tokens=1, logprobs=2)
    chat, text = _backend(server).generate([
        GenerateRequest(ChatPrompt((Message("user", "judge"),)), p),
        GenerateRequest(TextPrompt("judge"), p)])
    assert chat.top_logprobs == ((("M", -0.1), ("m", -2.5)),)
    assert text.top_logprobs == ((("x", -0.2), ("y", -1.7)),)
    assert [b.get("top_logprobs") for b in Stub.seen if "messages" in b] == [2]
    assert [b.get("logprobs") for b in Stub.seen if "prompt" in b] == [2]
    plain = _backend(server).generate([GenerateRequest(TextPrompt("t"), GenerationParams(4))])
    assert plain[0].top_logprobs == ()


def test_request_keys_unchanged_by_the_logprobs_field() -> None:
    """Responses cached before ``GenerationParams.logprobs`` existed stay valid: a request
    without logprobs hashes as it did (key computed at commit e109fc6)."""
    r = GenerateRequest(ChatPrompt((Message("user", "hi"),)),
                        GenerationParams(max_tokens=8, stop=("x",)))
    assert request_key(r) == "76b7b95fd6c25e84370c7d72c3af08685009cdb1eb3a34cce67df00df7951b0e"
    with_lp = GenerateRequest(r.prompt, GenerationParams(max_tokens=8, stop=("x",), logprobs=5))
    assert request_key(with_lp) != request_key(r)
