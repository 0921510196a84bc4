"""Fast-stream measurement: the real app's chat screen against a fast SSE server on loopback.

Used by tests/test_tui_stream.py and bench/tui.py. Uses ``tests/fakesse.py`` when it offers
``serve_fake_sse``; otherwise a small OpenAI-compatible streaming server defined here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from textual import events
from textual.binding import Binding, BindingType

from localctl.chat_session import ChatEndpoint
from tui.app import LocalctlApp, make_app
from tui.widgets.chat_pane import ChatPane
from tui.widgets.meters_pane import MetersPane

PROBE_INTERVAL_S = 0.02
BATCH_S = 0.01


def token_text(i: int) -> str:
    """The ``i``-th token the fake server sends (a paragraph break every 200 tokens)."""
    return f"w{i} " if i % 200 != 199 else f"w{i}\n\n"


def expected_text(tokens: int) -> str:
    """The whole reply of ``tokens`` tokens."""
    return "".join(token_text(i) for i in range(tokens))


class _Handler(BaseHTTPRequestHandler):
    tokens: ClassVar[int] = 0
    tok_s: ClassVar[float] = 0.0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        started = time.perf_counter()
        chunk: list[bytes] = []
        for i in range(self.tokens):
            event = {
                "id": "x",
                "object": "chat.completion.chunk",
                "model": "fake",
                "choices": [{"index": 0, "delta": {"content": token_text(i)}}],
            }
            chunk.append(b"data: " + json.dumps(event).encode() + b"\n\n")
            due = started + (i + 1) / self.tok_s if self.tok_s else 0.0
            if len(chunk) >= 64 or (self.tok_s and time.perf_counter() >= due - BATCH_S):
                self.wfile.write(b"".join(chunk))
                self.wfile.flush()
                chunk.clear()
                if self.tok_s:
                    pause = due - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
        final = {
            "id": "x",
            "object": "chat.completion.chunk",
            "model": "fake",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": self.tokens},
        }
        chunk.append(b"data: " + json.dumps(final).encode() + b"\n\ndata: [DONE]\n\n")
        self.wfile.write(b"".join(chunk))
        self.wfile.flush()


@contextlib.contextmanager
def fast_sse_server(tokens: int, tok_s: float = 0.0) -> Iterator[str]:
    """An OpenAI-compatible streaming server on 127.0.0.1; yields its base URL."""
    handler = type("Handler", (_Handler,), {"tokens": tokens, "tok_s": tok_s})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class ProbeApp(LocalctlApp):
    """The real app plus a probe key whose handling time is recorded."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f12", "probe", "Probe", show=False, id="probe"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probe_sent: list[float] = []
        self.latencies: list[float] = []

    def action_probe(self) -> None:
        self.latencies.append(time.perf_counter() - self.probe_sent[len(self.latencies)])


async def measure_stream(tokens: int = 12_000, tok_s: float = 0.0) -> dict[str, Any]:
    """Stream ``tokens`` into the chat while probe keys are pressed; returns the figures."""
    from localctl.config import Config

    base = make_app(hw_profile="rtx4090", config=Config())
    app = ProbeApp(base.context)
    with fast_sse_server(tokens, tok_s) as url:
        async with app.run_test(size=(140, 42)) as pilot:
            await app.action_show_chat()
            chat = app.chat_screen
            chat.connect(ChatEndpoint(url, None, "fake"), f"fake server at {url}")
            await pilot.pause()
            done = asyncio.Event()
            started = time.perf_counter()
            chat.post_message(ChatPane.Submitted("go"))

            async def probe() -> None:
                driver = app._driver
                assert driver is not None
                while not done.is_set():
                    app.probe_sent.append(time.perf_counter())
                    key = events.Key("f12", None)
                    key.set_sender(app)
                    driver.send_message(key)
                    await asyncio.sleep(PROBE_INTERVAL_S)

            meters = chat.query_one(MetersPane)
            renders_before = meters.renders
            prober = asyncio.create_task(probe())
            deadline = started + 120
            while len(chat.history) < 2 and time.perf_counter() < deadline:
                await asyncio.sleep(0.005)
            done.set()
            elapsed = time.perf_counter() - started
            await prober
            await pilot.pause(0.2)
            markdown = chat.query_one(ChatPane).transcript.query("Markdown").last()
            source = getattr(markdown, "source", "")
            latencies = app.latencies or [0.0]
            writer = chat.query_one(ChatPane).reply_writer
            return {
                "tokens": tokens,
                "server_tok_s": tok_s,
                "seconds": elapsed,
                "rendered_tok_s": tokens / elapsed,
                "complete": source == expected_text(tokens),
                "max_key_latency_ms": 1000 * max(latencies),
                "p50_key_latency_ms": 1000 * statistics.median(latencies),
                "probes": len(app.latencies),
                "meters_gen_tok_s": chat.snapshot.gen_tok_s,
                "text_repaints": writer.flushes if writer is not None else 0,
                "meter_repaints": meters.renders - renders_before,
            }
