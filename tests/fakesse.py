"""A fake OpenAI-compatible streaming server on 127.0.0.1 for chat edge cases.

``serve_fake_sse(mode, tokens=N)`` is a context manager yielding the base URL. Modes:
``normal`` (N tokens then finish_reason ``stop`` and ``[DONE]``), ``ping`` (ping
comments between chunks), ``error`` (an error chunk after 2 tokens), ``malformed``
(a broken JSON chunk among good ones), ``die`` (closes the connection after 3
tokens), ``no_finish`` (``[DONE]`` without a finish_reason), ``slow`` (20 ms per
token). ``/extras/tokenize`` counts whitespace-separated words. The server stops
itself after ``lifetime_s``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _chunk(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def _handler(mode: str, tokens: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/extras/tokenize":
                payload = json.dumps({"tokens": list(range(len(body["input"].split())))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if self.path != "/v1/chat/completions":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(tokens):
                if mode == "die" and i == 3:
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                if mode == "error" and i == 2:
                    self.wfile.write(b'data: {"error": {"message": "model exploded"}}\n\n')
                    return
                if mode == "malformed" and i == 1:
                    self.wfile.write(b"data: {not json\n\n")
                if mode == "ping":
                    self.wfile.write(b": ping\n\n")
                if mode == "slow":
                    time.sleep(0.02)
                self.wfile.write(_chunk(f"w{i} "))
                self.wfile.flush()
            if mode != "no_finish":
                self.wfile.write(_chunk(finish="stop"))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


@contextlib.contextmanager
def serve_fake_sse(
    mode: str = "normal", tokens: int = 10, lifetime_s: float = 60.0
) -> Iterator[str]:
    """Run the fake server in a daemon thread; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(mode, tokens))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    timer = threading.Timer(lifetime_s, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()
