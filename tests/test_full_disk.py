"""A full disk costs the log, never the server or the chat (issue 16 #7).

The disk fills up through ``RLIMIT_FSIZE`` set on the localctl process: a write past
the limit fails with ``EFBIG`` exactly where a full disk fails with ``ENOSPC``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from localctl import paths
from tests.fakesse import serve_fake_sse
from tests.fit_helpers import TinyModel
from tests.server_helpers import write_fake_exe

CHATTY_SERVER = """
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = sys.argv[1:]
port = int(args[args.index("--port") + 1])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def chatter():
    while True:
        for i in range(100):
            print("srv  log line " + "x" * 100, flush=True)
        time.sleep(0.05)


threading.Thread(target=chatter, daemon=True).start()
threading.Timer(120, lambda: os._exit(3)).start()
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def _small_files(limit: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_serve_keeps_serving_when_its_log_cannot_be_written(tmp_path: Path) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(TinyModel().build())
    fake = write_fake_exe(tmp_path, CHATTY_SERVER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "localctl", "serve", str(model), "--backend", "llama-server",
         "--port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "LOCALCTL_LLAMA_SERVER": str(fake)},
        preexec_fn=_small_files(64 << 10),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        document = json.loads(proc.stdout.readline())
        deadline = time.monotonic() + 20
        logs = list(paths.logs_dir().glob("server-*.log"))
        while time.monotonic() < deadline and not any(p.stat().st_size >= 64 << 10 for p in logs):
            time.sleep(0.1)
        assert logs and logs[0].stat().st_size >= 60 << 10, "the log reached the limit"
        time.sleep(1.0)  # well past the failed write
        assert proc.poll() is None, "serve is still running"
        with urllib.request.urlopen(document["url"] + "/health", timeout=5) as answer:
            assert answer.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "cannot write the server log" in err and "Traceback" not in err
    assert stat_mode(logs[0]) == 0o600


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_chat_with_a_full_disk_answers_without_saving_and_says_so() -> None:
    with serve_fake_sse("normal", tokens=5) as url:
        result = subprocess.run(
            [sys.executable, "-m", "localctl", "chat", "--url", url, "--prompt", "hi"],
            capture_output=True, text=True, timeout=60, preexec_fn=_small_files(0),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("w0 w1 w2 w3 w4")
    assert "not saved" in result.stderr and "Traceback" not in result.stderr


def test_the_server_log_tail_is_inert(tmp_path: Path) -> None:
    from localctl.errors import ServerError
    from localctl.server import ModelServer, ServerOptions
    from tests.server_helpers import FAKE_SEGV

    colourful = FAKE_SEGV.replace(
        'print("main: loading model", flush=True)',
        'print("main: \\x1b[31mloading\\x1b[0m model \\x1b]0;pwned\\x07", flush=True)',
    )
    fake = write_fake_exe(tmp_path, colourful)
    model = tmp_path / "tiny.gguf"
    model.write_bytes(TinyModel().build())
    server = ModelServer(
        ServerOptions(model_path=model, backend="llama-server", port=0, llama_server_path=str(fake))
    )
    with pytest.raises(ServerError, match="SIGSEGV") as caught:  # its error carries the tail
        server.start_sync(timeout_s=20)
    assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value)
    assert server.log_tail(5) == ["main: loading model "]
    assert server.log_path is not None and b"\x1b[31m" in server.log_path.read_bytes()
