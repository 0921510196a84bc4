"""The server supervisor against real llama.cpp servers and fake executables."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from localctl.errors import BadInputError, ServerError
from localctl.server import (
    ModelServer,
    ServerOptions,
    ServerStatus,
    check_passthrough,
    child_env,
    explain_exit,
    free_port,
    parse_buffers,
)
from tests.server_helpers import (
    FAKE_HTTP_SERVER,
    FAKE_SEGV,
    start_native_smollm2,
    write_fake_exe,
)


def _get(url: str, key: str | None = None, body: dict[str, Any] | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def _status_without_key(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _chat(server: ModelServer) -> str:
    doc = _get(
        server.url + "/v1/chat/completions",
        server.api_key,
        {"messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 8},
    )
    return str(doc["choices"][0]["message"]["content"])


def _assert_stops_cleanly(server: ModelServer) -> None:
    pid = server.pid
    assert pid is not None
    kids = psutil.Process(pid).children(recursive=True)
    server.stop_sync()
    assert server.status is ServerStatus.STOPPED
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not any(k.is_running() for k in kids)


# --------------------------------------------------------------------------- real servers


@pytest.mark.slow
def test_llama_cpp_python_backend_serves_with_key(
    smollm2_server: ModelServer,
) -> None:
    server = smollm2_server
    assert server.status is ServerStatus.READY
    models = _get(server.url + "/v1/models", server.api_key)
    assert models["data"]
    assert _status_without_key(server.url + "/v1/models") == 401
    assert _chat(server)
    assert server.api_key not in " ".join(psutil.Process(server.pid).cmdline())
    assert server.buffers.model_bytes > 90 * 2**20
    assert server.measure()["rss_bytes"] > 50 * 2**20


@pytest.fixture(scope="module")
def native_server(
    native_llama_server: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ModelServer]:
    server = start_native_smollm2(native_llama_server, 512, tmp_path_factory.mktemp("native-logs"))
    yield server
    server.stop_sync()


@pytest.mark.slow
@pytest.mark.native
def test_native_backend_serves_with_key_and_reports_buffers(native_server: ModelServer) -> None:
    assert native_server.backend == "llama-server"
    assert _get(native_server.url + "/v1/models", native_server.api_key)["data"]
    assert _status_without_key(native_server.url + "/v1/models") == 401
    assert _chat(native_server)
    buffers = native_server.buffers
    assert buffers.model_bytes > 90 * 2**20
    assert buffers.kv_bytes > 0
    assert buffers.compute_bytes > 0
    _assert_stops_cleanly(native_server)


# --------------------------------------------------------------------------- fake executables


def _fake_options(exe: Path, tmp_path: Path, **kw: Any) -> ServerOptions:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    return ServerOptions(
        model_path=model,
        backend="llama-server",
        llama_server_path=str(exe),
        log_dir=tmp_path / "logs",
        **kw,
    )


def test_taken_port_moves_to_a_free_one(tmp_path: Path) -> None:
    exe = write_fake_exe(tmp_path, FAKE_HTTP_SERVER)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ModelServer(_fake_options(exe, tmp_path, port=port))
        server.start_sync(timeout_s=30)
        try:
            assert server.port != port
            assert f"port {port} is taken" in server.port_note
            assert server.url.endswith(f":{server.port}")
        finally:
            _assert_stops_cleanly(server)


def test_child_env_is_allow_listed_and_key_not_in_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLAMA_ARG_HOST", "0.0.0.0")
    monkeypatch.setenv("API_KEY", "planted")
    monkeypatch.setenv("CONFIG_FILE", "/tmp/evil.json")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    exe = write_fake_exe(tmp_path, FAKE_HTTP_SERVER)
    server = ModelServer(_fake_options(exe, tmp_path, port=free_port("127.0.0.1")))
    server.start_sync(timeout_s=30)
    try:
        seen = _get(server.url + "/env")
    finally:
        server.stop_sync()
    env = seen["env"]
    assert "LLAMA_ARG_HOST" not in env
    assert "CONFIG_FILE" not in env
    assert "API_KEY" not in env
    assert env["LLAMA_API_KEY"] == server.api_key
    assert env["OMP_NUM_THREADS"] == "2"
    assert server.api_key not in " ".join(seen["argv"])
    assert "--host" in seen["argv"] and "127.0.0.1" in seen["argv"]


def test_sigsegv_at_start_is_reported_with_cause(tmp_path: Path) -> None:
    exe = write_fake_exe(tmp_path, FAKE_SEGV)
    server = ModelServer(_fake_options(exe, tmp_path, port=free_port("127.0.0.1")))
    with pytest.raises(ServerError) as caught:
        server.start_sync(timeout_s=30)
    message = str(caught.value)
    assert "SIGSEGV" in message
    assert "GGML_NATIVE=OFF" in message
    assert "loading model" in message
    assert server.status is ServerStatus.CRASHED


def test_missing_native_binary_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No binary anywhere: not beside this Python (where the install puts one), not on PATH.
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("LOCALCTL_LLAMA_SERVER", raising=False)
    with pytest.raises(BadInputError, match="llama-server not found"):
        ModelServer(ServerOptions(backend="llama-server", llama_server_path=str(tmp_path / "nope")))


# --------------------------------------------------------------------------- pure parts


def test_refused_passthrough_flags() -> None:
    for flag in ("--host", "--port=9", "--api-key", "--cors", "--api-key-file", "--tools"):
        with pytest.raises(BadInputError, match="not allowed"):
            check_passthrough([flag, "x"])
    assert check_passthrough(["--mlock", "--temp", "0.2"]) == ("--mlock", "--temp", "0.2")


def test_explain_exit_names_the_cause() -> None:
    assert "CPU-feature mismatch" in explain_exit(-signal.SIGSEGV)
    assert "OOM" in explain_exit(-signal.SIGKILL)
    assert "SIGSEGV" in explain_exit(128 + signal.SIGSEGV)
    assert "code 1" in explain_exit(1)


def test_child_env_drops_unlisted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_ARG_PORT", "1")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("LC_ALL", "C")
    env = child_env({"X": "1"})
    assert "LLAMA_ARG_PORT" not in env and "HOST" not in env
    assert env["LC_ALL"] == "C" and env["X"] == "1"


def test_parse_buffers_reads_llama_cpp_log() -> None:
    lines = [
        "load_tensors: offloaded 0/31 layers to GPU",
        "load_tensors:   CPU_Mapped model buffer size =    92.10 MiB",
        "llama_context:        CPU  output buffer size =     0.19 MiB",
        "llama_kv_cache:        CPU KV buffer size =    11.25 MiB",
        "llama_kv_cache: size =   11.25 MiB (   512 cells,  30 layers,  1/1 seqs), K (f16):",
        "sched_reserve:        CPU compute buffer size =    98.25 MiB",
    ]
    got = parse_buffers(lines)
    assert got.model_bytes == int(92.10 * 2**20)
    assert got.kv_bytes == int(11.25 * 2**20)
    assert got.compute_bytes == int(98.25 * 2**20)
    assert (got.offloaded_layers, got.total_layers) == (0, 31)


def test_child_dies_with_a_killed_supervisor(tmp_path: Path) -> None:
    exe = write_fake_exe(tmp_path, FAKE_HTTP_SERVER)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from localctl.server import ModelServer, ServerOptions, free_port\n"
        f"s = ModelServer(ServerOptions(model_path=Path({str(model)!r}), backend='llama-server',"
        f" llama_server_path={str(exe)!r}, port=free_port('127.0.0.1'),"
        f" log_dir=Path({str(tmp_path / 'logs')!r})))\n"
        "s.start_sync(30)\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    sup = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert sup.stdout is not None
    child_pid = int(sup.stdout.readline())
    child = psutil.Process(child_pid)
    sup.kill()
    sup.wait(10)
    psutil.wait_procs([child], timeout=10)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


async def test_async_start_from_a_short_lived_thread_keeps_the_child(tmp_path: Path) -> None:
    import threading

    exe = write_fake_exe(tmp_path, FAKE_HTTP_SERVER)
    server = ModelServer(_fake_options(exe, tmp_path, port=free_port("127.0.0.1")))
    starter = threading.Thread(target=server.start_sync, args=(30,))
    starter.start()
    starter.join(40)
    try:
        assert server.status is ServerStatus.READY
        assert "env" in _get(server.url + "/env")  # still alive after its starter ended
    finally:
        await server.stop()
    assert server.status.value == "stopped"
    assert await server.wait_exit() == "stopped"
