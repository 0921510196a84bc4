"""Every bound on work is explicit: header size, nesting, parse time, response size (#12)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import catalog.gguf
from catalog.errors import GgufError
from catalog.gguf import read_gguf
from localctl.remote_gguf import read_remote_gguf
from tests.fakehub import FakeFile, FakeHub, FakeRepo
from tests.fit_helpers import TinyModel, nested_array_header


def test_a_64_mib_nested_array_header_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "nested.gguf"
    path.write_bytes(nested_array_header())
    assert path.stat().st_size > 60 << 20
    started = time.thread_time()
    with pytest.raises(GgufError, match="arrays of arrays"):
        read_gguf(path)
    assert time.thread_time() - started < catalog.gguf.MAX_PARSE_CPU_S


def test_a_header_that_costs_too_much_cpu_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(TinyModel().build())
    assert read_gguf(path).name == "tiny"
    monkeypatch.setattr(catalog.gguf, "MAX_PARSE_CPU_S", -1.0)
    with pytest.raises(GgufError, match="s of CPU"):
        read_gguf(path)


@pytest.fixture
def oversized_hub() -> Iterator[FakeHub]:
    data = TinyModel().build()
    tiny = FakeFile(path="tiny.gguf", size=len(data), data=data)
    with FakeHub([FakeRepo("someone/tiny-GGUF", [tiny])]) as hub:
        hub.faults.oversized_range_bytes = 256 << 20
        yield hub


def test_a_range_reply_far_larger_than_asked_is_not_read_whole(oversized_hub: FakeHub) -> None:
    url = f"{oversized_hub.url}/someone/tiny-GGUF/resolve/main/tiny.gguf"
    info = read_remote_gguf(url)
    assert info.name == "tiny"
    time.sleep(0.5)
    assert oversized_hub.body_bytes_sent < 64 << 20


def test_a_stream_line_without_end_stops_the_reply_not_the_memory() -> None:
    from localctl.chat import MAX_SSE_LINE_BYTES, chat_once
    from tests.fakesse import serve_fake_sse

    with serve_fake_sse("endless_line") as url:
        reply = chat_once(url, [{"role": "user", "content": "hi"}], api_key="k")
    assert reply.status == "interrupted" and reply.text == "w0 "
    assert f"over {MAX_SSE_LINE_BYTES >> 20} MiB" in reply.error


def test_a_hostile_header_in_a_model_folder_costs_the_catalog_nothing(tmp_path: Path) -> None:
    from localctl import library
    from localctl.config import Config, save_config

    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "nested.gguf").write_bytes(nested_array_header())
    (folder / "tiny.gguf").write_bytes(TinyModel().build())
    config = Config(model_folders=(str(folder),))
    save_config(config)
    started = time.thread_time()
    targets = library.local_targets(set(), config)
    assert [t.local_path.name for t in targets if t.local_path] == ["tiny.gguf"]
    assert time.thread_time() - started < catalog.gguf.MAX_PARSE_CPU_S


def test_a_tokenize_reply_that_never_ends_is_not_read_whole() -> None:
    import asyncio
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx

    from localctl.tokens import MAX_HELPER_REPLY_BYTES, count_tokens

    sent = [0]

    class Endless(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # an answer of token ids that goes on and on
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            chunk = b"1," * (1 << 19)
            try:
                self.wfile.write(b'{"tokens": [')
                while sent[0] < 4 * MAX_HELPER_REPLY_BYTES:
                    self.wfile.write(chunk)
                    sent[0] += len(chunk)
            except OSError:
                return

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    async def count() -> int | None:
        async with httpx.AsyncClient(timeout=30) as client:
            return await count_tokens(client, base, "hello", None)

    import tracemalloc

    tracemalloc.start()
    try:
        assert asyncio.run(count()) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        server.shutdown()
        server.server_close()
    # Read up to the bound and dropped: never the 64 MiB the server had to send.
    assert peak < 3 * MAX_HELPER_REPLY_BYTES
