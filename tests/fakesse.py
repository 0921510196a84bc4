"""A fake OpenAI-compatible SSE server on loopback, for chat edge cases.

Usage::

    with serve_fake_sse("normal", tokens=20) as url:
        reply = chat_once(url, [{"role": "user", "content": "hi"}], api_key="k")

Token i is the text ``"w{i} "``.

Modes (``FakeSSE(mode=...)``): ``normal`` (``tokens`` tokens, ``delay_s`` apart,
finish ``stop``), ``fast`` (``tokens`` tokens with no delay, for UI stress tests),
``ping`` (``: ping`` comments between tokens), ``error`` (an error chunk after two
tokens), ``malformed`` (a bad JSON chunk among good ones), ``die`` (the connection
is cut after half the tokens), ``no_finish`` (``[DONE]`` without a finish reason),
``slow`` (20 ms between tokens), ``timings`` (a final chunk carrying llama-server
style ``timings``: :data:`TIMINGS` and ``predicted_n``), ``hostile`` (the tokens are
:data:`HOSTILE_TOKENS`: terminal escapes and markup), ``hostile_error`` (an error chunk
whose message carries them), ``http_error`` (status 500 with a hostile body),
``shapes`` (chunks of the wrong shape among good ones: ``"choices": 5``,
``"delta": "str"``, a numeric ``content``), ``reasoning`` (:data:`THOUGHT` as
``reasoning_content`` deltas, then the tokens), ``think_tags`` (the same thinking inline in
the content as ``<think>…</think>``, the tags cut across chunks: :data:`THINK_TAG_CHUNKS`),
``overflow`` (llama-server's 400 ``exceed_context_size_error``: :data:`OVERFLOW_PROMPT`
tokens > ``n_ctx``), ``empty`` (200 and no chunk at all, as llama-cpp-python's server
answers a prompt longer than its context), ``progress`` (``prompt_progress`` chunks, when
the request asks with ``return_progress``, ``delay_s`` apart, then the tokens),
``endless_line`` (one token, then a ``data:`` line that never ends: 64 MiB). Also serves
``GET /v1/models`` (model id ``model_id``), ``GET /props`` (with ``n_ctx`` set: llama-server
style ``default_generation_settings.n_ctx`` and ``build_info``; ``GET /metrics`` and
``GET /slots`` as llama-server answers them, one idle slot of ``n_ctx``), ``POST
/extras/tokenize`` (whitespace tokens). Every chat request body is kept in ``requests``,
every GET path in ``got``. The server thread is a
daemon and stops by itself after ``lifetime_s``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    doc = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(doc)}\n\n".encode()


ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4=\x07\x9b31m"
"""Clear the screen, set the title, write the clipboard, 8-bit CSI colour."""
HOSTILE_TOKENS = ("safe ", ESCAPES, "[bold red]loud[/] ", "[/]", "[@click=app.quit]x[/] ", "end")
HOSTILE_ID = f"evil{ESCAPES}[/]model"

THOUGHT = "the user greets me so I greet back"
"""What the ``reasoning`` and ``think_tags`` modes think (8 whitespace tokens)."""
THINK_TAG_CHUNKS = ["<th", "ink>", "the user greets ", "me so I greet back</t", "hink>", "\n\n"]
"""The ``think_tags`` mode's content before its tokens: both tags cut across chunks."""
OVERFLOW_PROMPT = 20_009
"""Prompt tokens the ``overflow`` mode says the request had."""
PROGRESS_TOTAL = 8192
"""Prompt tokens the ``progress`` mode reports reading."""

TIMINGS = {"prompt_n": 7, "prompt_per_second": 1234.5, "predicted_per_second": 987.25}
"""What the ``timings`` mode's final chunk reports (plus ``predicted_n`` = ``tokens``)."""


def _timings_chunk(tokens: int) -> bytes:
    doc = {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "timings": {**TIMINGS, "predicted_n": tokens},
    }
    return f"data: {json.dumps(doc)}\n\n".encode()


class FakeSSE:
    """The fake server; a context manager giving ``.url``."""

    def __init__(
        self,
        mode: str = "normal",
        tokens: int = 10,
        delay_s: float = 0.005,
        lifetime_s: float = 60,
        model_id: str = "fake",
        api_key: str | None = None,
        n_ctx: int | None = None,
        words: tuple[str, ...] = (),
        thought: str = "",
    ) -> None:
        self.mode, self.tokens, self.delay_s, self.lifetime_s = mode, tokens, delay_s, lifetime_s
        self.model_id = model_id
        self.api_key = api_key
        """When set, a request without ``Authorization: Bearer <api_key>`` gets 401."""
        self.n_ctx = n_ctx
        self.words = words
        """Token texts to send instead of ``w{i} `` (then ``tokens`` is their number)."""
        self.thought = thought or THOUGHT
        """What the ``reasoning`` mode thinks."""
        if words:
            self.tokens = len(words)
        self.requests: list[dict[str, Any]] = []
        self.posted: list[str] = []
        """Paths of the POST requests received, in order."""
        self.got: list[str] = []
        """Paths of the GET requests received, in order."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, doc: object, status: int = 200) -> None:
                self._body(json.dumps(doc).encode(), "application/json", status)

            def _body(self, body: bytes, content_type: str, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                fake.got.append(self.path)
                if self.path == "/props" and fake.n_ctx:
                    settings = {"n_ctx": fake.n_ctx}
                    self._json({"default_generation_settings": settings, "build_info": "fake"})
                    return
                if self.path == "/metrics" and fake.n_ctx:
                    body = b"llamacpp:requests_processing 0\nllamacpp:prompt_tokens_total 5\n"
                    self._body(body, "text/plain")
                    return
                if self.path == "/slots" and fake.n_ctx:
                    self._json([{"id": 0, "n_ctx": fake.n_ctx, "n_prompt_tokens": 0}])
                    return
                self._json({"data": [{"id": fake.model_id, "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                wanted = f"Bearer {fake.api_key}"
                if fake.api_key is not None and self.headers.get("Authorization") != wanted:
                    self.rfile.read(length)
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.posted.append(self.path)
                if self.path == "/extras/tokenize":
                    self._json({"tokens": list(range(len(str(body.get("input", "")).split())))})
                    return
                if self.path != "/v1/chat/completions":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                fake.requests.append(body)
                if fake.mode == "overflow":
                    error = {
                        "code": 400,
                        "message": "request exceeds the available context size",
                        "type": "exceed_context_size_error",
                        "n_prompt_tokens": OVERFLOW_PROMPT,
                        "n_ctx": fake.n_ctx or 4096,
                    }
                    self._json({"error": error}, 400)
                    return
                if fake.mode == "http_error":
                    body = f"<h1>{ESCAPES}[/]broken</h1>".encode() * 1000
                    self.send_response(500)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                fake._stream(self)
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _stream(self, h: BaseHTTPRequestHandler) -> None:
        mode, w = self.mode, h.wfile
        delay = 0.0 if mode == "fast" else 0.02 if mode == "slow" else self.delay_s
        if mode == "hostile":
            for token in HOSTILE_TOKENS:
                w.write(_chunk(token))
            w.write(_chunk(finish="stop") + b"data: [DONE]\n\n")
            w.flush()
            return
        if mode == "empty":
            w.flush()
            return
        if mode == "reasoning":
            for word in self.thought.split(" "):
                doc = {"choices": [{"index": 0, "delta": {"reasoning_content": word + " "}}]}
                w.write(f"data: {json.dumps(doc)}\n\n".encode())
                w.flush()
                time.sleep(delay)
        if mode == "think_tags":
            for piece in THINK_TAG_CHUNKS:
                w.write(_chunk(piece))
                w.flush()
                time.sleep(delay)
        if mode == "progress" and self.requests[-1].get("return_progress"):
            for done in range(0, PROGRESS_TOTAL + 1, PROGRESS_TOTAL // 4):
                progress = {"total": PROGRESS_TOTAL, "cache": 0, "processed": done,
                            "time_ms": done / 2}  # fmt: skip
                doc = {"choices": [], "prompt_progress": progress}
                w.write(f"data: {json.dumps(doc)}\n\n".encode())
                w.flush()
                time.sleep(delay)
        if mode == "endless_line":
            w.write(_chunk("w0 ") + b"data: ")
            block = b"x" * (1 << 20)
            with contextlib.suppress(OSError):
                for _ in range(64):
                    w.write(block)
            return
        if mode == "hostile_error":
            doc = {"error": {"message": f"bad{ESCAPES}[/]thing", "code": 500}}
            w.write(f"data: {json.dumps(doc)}\n\n".encode())
            w.flush()
            return
        for i in range(self.tokens):
            if mode == "shapes" and i == 1:
                for bad in ({"choices": 5}, {"choices": [{"delta": "str"}]}, {"choices": ["x"]}):
                    w.write(f"data: {json.dumps(bad)}\n\n".encode())
                w.write(b'data: {"choices": [{"delta": {"content": 7}}]}\n\n')
            if mode == "die" and i == self.tokens // 2:
                w.flush()
                h.connection.shutdown(2)
                return
            if mode == "error" and i == 2:
                w.write(b'data: {"error": {"message": "model exploded", "code": 500}}\n\n')
                w.flush()
                return
            if mode == "malformed" and i == 1:
                w.write(b"data: {not json\n\n")
            if mode == "ping":
                w.write(b": ping\n\n")
            w.write(_chunk(self.words[i] if self.words else f"w{i} "))
            w.flush()
            if delay:
                time.sleep(delay)
        if mode == "timings":
            w.write(_timings_chunk(self.tokens))
        elif mode not in ("nofinish", "no_finish"):
            w.write(_chunk(finish="stop"))
        w.write(b"data: [DONE]\n\n")
        w.flush()

    def __enter__(self) -> FakeSSE:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._timer = threading.Timer(self.lifetime_s, self._server.shutdown)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def serve_fake_sse(mode: str = "normal", tokens: int = 10, **options: Any) -> Iterator[str]:
    """Run a :class:`FakeSSE` for the ``with`` block; yields its base URL."""
    with FakeSSE(mode=mode, tokens=tokens, **options) as fake:
        yield fake.url
