"""Serving sessions (launch decisions, run file, crash, restart) and remote endpoints."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import pytest

from localctl.config import Config, ServerConfig
from localctl.errors import BadInputError, ServerError
from localctl.runfile import RunInfo, find_api_key, live_servers, write_run_file
from localctl.server import free_port
from localctl.session import (
    LaunchOverrides,
    RemoteEndpoint,
    ServingSession,
    default_threads,
    launch_options,
    launch_summary,
)
from tests.fakesse import serve_fake_sse
from tests.server_helpers import FAKE_HTTP_SERVER, write_fake_exe
from tests.tui_helpers import hardware, plan

MODEL = Path("/models/m.gguf")


def test_launch_takes_the_plan_then_the_config_then_the_overrides() -> None:
    config = Config(server=ServerConfig(host="127.0.0.2", port=8181, extra_args=("--mlock",)))
    planned = plan("partial", ctx=8192, parallel=2, kv_type="q8_0")
    options = launch_options(MODEL, "m:Q4_K_M", planned, config, hardware())
    assert (options.ctx, options.parallel, options.kv_type) == (8192, 2, "q8_0")
    assert (options.gpu_layers, options.host, options.port) == (20, "127.0.0.2", 8181)
    assert options.threads == 8 and options.api_key is None
    assert options.extra_args == ("--mlock",) and options.backend == planned.backend
    assert launch_summary(options, planned) == "ctx 8192, 20/32 GPU layers, kv q8_0"
    overrides = LaunchOverrides(
        backend="llama-server",
        host="0.0.0.0",
        port=9000,
        threads=3,
        gpu_layers=0,
        api_key="k",
        extra_args=("--no-mmap",),
    )
    options = launch_options(MODEL, "m", planned, config, hardware(), overrides)
    assert (options.backend, options.host, options.port) == ("llama-server", "0.0.0.0", 9000)
    assert (options.threads, options.gpu_layers, options.api_key) == (3, 0, "k")
    assert options.extra_args == ("--mlock", "--no-mmap")


def test_without_a_plan_the_config_decides_and_nothing_is_offloaded() -> None:
    config = Config(default_ctx=2048, kv_type="q4_0", parallel=3)
    options = launch_options(MODEL, "m", None, config, None)
    assert (options.ctx, options.parallel, options.kv_type, options.gpu_layers) == (
        2048,
        3,
        "q4_0",
        0,
    )
    assert options.port == 8080 and options.host == "127.0.0.1"


def test_threads_come_from_the_config_else_this_machine_never_a_profile() -> None:
    assert default_threads(Config(server=ServerConfig(threads=5)), hardware()) == 5
    assert default_threads(Config(), hardware()) == 8
    simulated = dataclasses.replace(hardware(), profile="rtx4090")
    assert default_threads(Config(), simulated) is None
    assert default_threads(Config(), None) is None


def test_a_refused_pass_through_flag_in_the_config_stops_the_launch() -> None:
    config = Config(server=ServerConfig(extra_args=("--host", "0.0.0.0")))
    with pytest.raises(BadInputError, match="--host"):
        launch_options(MODEL, "m", None, config, None)


def _fake_session(tmp_path: Path, body: str = FAKE_HTTP_SERVER) -> ServingSession:
    exe = write_fake_exe(tmp_path, body)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    config = Config(
        server=ServerConfig(
            backend="llama-server", llama_server_path=str(exe), port=free_port("127.0.0.1")
        )
    )
    planned = plan("cpu", backend="llama-server")
    options = launch_options(model, "m:Q4_1", planned, config, hardware(gpu=False))
    return ServingSession(options, planned)


async def test_a_session_writes_its_run_file_and_stop_removes_it(tmp_path: Path) -> None:
    session = _fake_session(tmp_path)
    await session.start(timeout_s=30)
    try:
        assert session.ready_s > 0 and session.pid is not None
        assert [s.url for s in live_servers()] == [session.url]
        assert find_api_key(session.url) == session.api_key
        endpoint = session.chat_endpoint()
        assert (endpoint.url, endpoint.api_key, endpoint.model) == (
            session.url,
            session.api_key,
            "m:Q4_1",
        )
        record = session.memory_record()
        assert record is not None and record["reported_model_bytes"] == int(92.10 * 2**20)
        assert "RSS ready" in session.memory_report()
    finally:
        await session.stop()
        await session.stop()  # twice is fine
    assert live_servers() == [] and not session.crashed


async def test_a_crash_is_explained_forgotten_and_restartable(tmp_path: Path) -> None:
    session = _fake_session(tmp_path)
    await session.start(timeout_s=30)
    assert session.pid is not None
    os.kill(session.pid, signal.SIGKILL)
    reason = await session.wait_exit()
    assert "SIGKILL" in reason and session.crashed
    assert live_servers() == [], "a crashed server's run file is removed"
    again = session.restarted()
    assert again.options == session.options and again.plan == session.plan
    await again.start(timeout_s=30)
    try:
        assert again.pid not in (None, session.pid)
        assert [s.url for s in live_servers()] == [again.url]
    finally:
        await again.stop()


async def test_attach_without_a_key_sends_none() -> None:
    with serve_fake_sse("normal", tokens=3) as url:
        remote = await RemoteEndpoint.attach(url + "/v1/")
        assert remote == RemoteEndpoint(url, None)
        assert await remote.model_name() == "fake"
        assert remote.chat_endpoint("fake").api_key is None


async def test_attach_finds_the_key_of_a_server_localctl_started() -> None:
    with serve_fake_sse("normal", tokens=3) as url:
        write_run_file(RunInfo(url, "run-key", os.getpid(), "m", "llama-server", 0.0))
        assert (await RemoteEndpoint.attach(url)).api_key == "run-key"
        assert (await RemoteEndpoint.attach(url, "given")).api_key == "given"


async def test_attach_to_nothing_or_not_http_is_one_clear_error() -> None:
    with pytest.raises(ServerError, match="did not answer"):
        await RemoteEndpoint.attach(f"http://127.0.0.1:{free_port('127.0.0.1')}", timeout_s=0.5)
    with pytest.raises(BadInputError, match="not an http"):
        await RemoteEndpoint.attach("ftp://example.org")
