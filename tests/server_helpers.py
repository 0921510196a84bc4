"""Server fixtures every test module can use.

tests/conftest.py registers this module as a plugin, so the fixtures are found by name.
Do not import them into a test module: pytest would give that module its own copy, and a
``session`` server would then be started (and kept until the end) once per module.

Fixtures:

- ``native_llama_server`` (session): ``Path`` of a native ``llama-server`` binary:
  ``LOCALCTL_LLAMA_SERVER`` when set, else the one ``scripts/install.sh`` built beside
  this Python, else a build in ``~/.cache/localctl-test/llama-server/bin``
  (``LOCALCTL_TEST_CACHE`` moves it). Tests never compile: without one they skip.
- ``smollm2_server`` (session): a *running* ``ModelServer`` (llama-cpp-python
  backend, SmolLM2, ctx 2048, 127.0.0.1, random port and key). Use ``.url`` (no
  ``/v1``) and ``.api_key``; do not stop it. Runs started by it are not in the
  per-test run-file dir: pass the key explicitly or call ``write_run_file`` yourself.
- ``fake_server_exe`` (function): factory ``(tmp_path, body) -> Path`` writing an
  executable Python script usable as ``LOCALCTL_LLAMA_SERVER``. ``FAKE_HTTP_SERVER``
  is a body that serves ``/health`` and echoes its env and argv as JSON at ``/env``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localctl.server import ModelServer, ServerOptions
from tests.conftest import fetch_smollm2, test_cache_dir

FAKE_HTTP_SERVER = """
import json, os, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer

args = sys.argv[1:]
port = int(args[args.index("--port") + 1])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"env": dict(os.environ), "argv": sys.argv}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


print("load_tensors:   CPU_Mapped model buffer size =    92.10 MiB", flush=True)
threading.Timer(120, lambda: os._exit(3)).start()
HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

FAKE_SEGV = """
import os, signal
print("main: loading model", flush=True)
os.kill(os.getpid(), signal.SIGSEGV)
"""


def write_fake_exe(folder: Path, body: str, name: str = "llama-server") -> Path:
    """Write an executable Python script named ``name`` into ``folder``."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    path.chmod(0o755)
    return path


def native_binary_path() -> Path | None:
    """The native build tests use, or None when there is none here."""
    from localctl.native import installed_binary

    env = os.environ.get("LOCALCTL_LLAMA_SERVER")
    if env:
        return Path(env)
    for path in (installed_binary(), test_cache_dir() / "llama-server" / "bin" / "llama-server"):
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


@pytest.fixture(scope="session")
def native_llama_server() -> Path:
    """A native llama-server binary; the test skips when none is built (tests never compile)."""
    path = native_binary_path()
    if path is None or not path.is_file():
        pytest.skip("no native llama-server here: ./scripts/install.sh builds one")
    return path


def start_native_smollm2(
    binary: Path, ctx: int, log_dir: Path, *, draft: Path | None = None
) -> ModelServer:
    """Start the native ``binary`` with SmolLM2 on a free loopback port; returns once ready.

    ``draft`` adds a draft model for speculative decoding.
    """
    from localctl.server import free_port

    server = ModelServer(
        ServerOptions(
            model_path=fetch_smollm2(),
            backend="llama-server",
            port=free_port("127.0.0.1"),
            ctx=ctx,
            llama_server_path=str(binary),
            log_dir=log_dir,
            draft_path=draft,
        )
    )
    server.start_sync(timeout_s=120)
    return server


@pytest.fixture(scope="session")
def smollm2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """A running llama-cpp-python server with SmolLM2 (shared by the whole session)."""
    from localctl.server import free_port

    server = ModelServer(
        ServerOptions(
            model_path=fetch_smollm2(),
            model_name="smollm2",
            backend="llama-cpp-python",
            port=free_port("127.0.0.1"),
            ctx=2048,
            threads=os.cpu_count() or 1,
            log_dir=tmp_path_factory.mktemp("server-logs"),
        )
    )
    server.start_sync(timeout_s=120)
    try:
        yield server
    finally:
        server.stop_sync()


@pytest.fixture
def fake_server_exe() -> Callable[[Path, str], Path]:
    """Factory writing a fake ``llama-server`` script (see module docstring)."""
    return write_fake_exe
