"""What a new user scripts in the first hour: every bad input is one line, nothing runs wild."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from localctl.cli import main
from localctl.errors import BadInputError
from tests.conftest import run_localctl


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("localctl: warning:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["--ctx", "-5"],
        ["--ctx", "0"],
        ["fit", "smollm2-135m:Q4_1", "--ctx", "0"],
        ["models", "--ctx", "-1"],
        ["--ctx", "0", "models"],
        ["fit", "smollm2-135m:Q4_1", "--ctx", "99999999999"],
    ],
)
def test_a_context_that_no_plan_can_use_is_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    line = one_line_error(capsys)
    assert line.startswith("localctl: --ctx ") and "must be 1 to" in line


def test_the_tui_is_not_built_with_a_context_of_zero() -> None:
    from localctl.config import Config
    from tui.app import make_app

    with pytest.raises(BadInputError, match="context 0"):
        make_app(ctx=0, config=Config())
    assert make_app(config=Config(default_ctx=2048)).context.initial_ctx == 2048


def test_the_tui_refuses_to_start_without_a_terminal(tmp_path: os.PathLike[str]) -> None:
    out = os.path.join(tmp_path, "out.txt")
    with open(out, "w") as handle:
        result = subprocess.run(
            [sys.executable, "-m", "localctl"],
            stdout=handle,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a terminal" in lines[0], result.stderr
    with open(out) as handle:
        assert handle.read() == ""


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("127.0.0.1:8091", "did you mean http://127.0.0.1:8091?"),
        ("localhost:8080", "did you mean http://localhost:8080?"),
        ("notaurl", "needs http:// or https://"),
        ("http://", "has no host"),
        ("http://127.0.0.1:99999", "port outside 1-65535"),
        ("ftp://127.0.0.1:8080", "needs http:// or https://"),
    ],
)
def test_every_bad_chat_url_is_one_line_and_saves_nothing(
    url: str, says: str, isolated_dirs: os.PathLike[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "--url", url, "--prompt", "hi"]) == 2
    line = one_line_error(capsys)
    assert says in line and repr(url) in line
    assert not os.path.exists(os.path.join(isolated_dirs, "data", "conversations"))


def test_a_failed_chat_request_leaves_no_conversation(capsys: pytest.CaptureFixture[str]) -> None:
    from localctl.conversations import list_conversations

    for url in ("http://127.0.0.1:9", "http://127.0.0.1:9/v1"):
        assert main(["chat", "--url", url, "--prompt", "hi"]) == 1
        assert "cannot connect" in one_line_error(capsys)
    with _refusing_server() as url:
        assert main(["chat", "--url", url, "--api-key", "wrong", "--prompt", "hi"]) == 1
        assert "401" in one_line_error(capsys)
    assert list_conversations() == ([], [])


def test_a_stopped_reply_keeps_its_mark_in_list_export_and_reload(
    tmp_path: os.PathLike[str], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from localctl.conversations import Conversation, load

    conversation = Conversation.new("why is the sky blue", model="smollm2-135m:Q4_1")
    conversation.add("user", "why is the sky blue")
    conversation.delta("Because of Rayleigh")
    conversation.end_reply("Because of Rayleigh", "stopped")
    reloaded = load(conversation.path)
    assert reloaded.messages[-1] == {
        "role": "assistant",
        "content": "Because of Rayleigh",
        "status": "stopped",
    }
    assert reloaded.model == "smollm2-135m:Q4_1" and reloaded.status == "stopped"

    assert main(["chats", "list"]) == 0
    out = capsys.readouterr().out
    header, _rule, row = out.splitlines()[:3]
    assert header.split()[:5] == ["ID", "date", "model", "status", "messages"]
    assert "smollm2-135m:Q4_1" in row and "stopped" in row
    assert row.split()[1].count("-") == 2  # YYYY-MM-DD

    assert main(["chats", "list", "--json"]) == 0
    item = json.loads(capsys.readouterr().out)["conversations"][0]
    assert item["model"] == "smollm2-135m:Q4_1" and item["status"] == "stopped"
    assert item["created"][:4].isdigit()

    assert main(["chats", "export", conversation.id]) == 0
    assert "**assistant** (stopped)" in capsys.readouterr().out
    assert main(["chats", "export", conversation.id, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["messages"][-1]["status"] == "stopped" and doc["model"] == "smollm2-135m:Q4_1"


def test_export_to_a_file_refuses_to_overwrite_without_force(
    tmp_path: os.PathLike[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from localctl.conversations import Conversation

    conversation = Conversation.new("tides")
    conversation.add("user", "tides")
    conversation.end_reply("The moon.", "complete")
    target = os.path.join(tmp_path, "notes.md")
    with open(target, "w") as handle:
        handle.write("my own notes\n")
    assert main(["chats", "export", conversation.id, "-o", target]) == 2
    assert "pass --force" in one_line_error(capsys)
    with open(target) as handle:
        assert handle.read() == "my own notes\n"
    assert main(["chats", "export", conversation.id, "-o", target, "--force"]) == 0
    with open(target) as handle:
        assert "The moon." in handle.read()


def test_a_continued_conversation_keeps_no_prompt_of_a_failed_turn() -> None:
    from localctl.conversations import Conversation, load

    conversation = Conversation.new("q")
    conversation.add("system", "Be brief.")
    conversation.add("user", "first")
    conversation.end_reply("", "interrupted")  # the server was down
    assert not conversation.path.exists()
    conversation.add("user", "again")
    conversation.end_reply("Answer.", "complete")
    conversation.add("user", "more")
    conversation.end_reply("", "interrupted")
    assert [m["content"] for m in load(conversation.path).messages] == [
        "Be brief.",
        "again",
        "Answer.",
    ]


def test_cost_and_chat_assume_the_same_power_on_this_machine(
    tmp_path: os.PathLike[str], capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    from pathlib import Path

    from localctl.meters import PowerMeter

    reading = PowerMeter(None, powercap_root=Path(tmp_path)).read()
    if reading.measured:
        pytest.skip("this machine's GPU power is measured, not assumed")
    assert main(["cost", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["watts"] == reading.watts and doc["watts_source"] == "assumed"


def test_helper_endpoints_a_server_lacks_are_asked_once() -> None:
    from localctl.chat import chat_once
    from tests.fakesse import FakeSSE

    with FakeSSE("normal", tokens=5) as fake:
        for _ in range(3):
            reply = chat_once(fake.url, [{"role": "user", "content": "hi"}], api_key="k")
            assert reply.status == "complete" and reply.metrics.completion_tokens == 5
    misses = [p for p in fake.posted if p in ("/tokenize", "/apply-template")]
    assert sorted(misses) == ["/apply-template", "/tokenize"]
    assert fake.posted.count("/v1/chat/completions") == 3


@contextlib.contextmanager
def _refusing_server() -> Iterator[str]:
    """A loopback server answering 401 to every request."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


HUGE = ["--ctx", "16777216", "--parallel", "1024"]
"""A context no machine holds: every plan says won't fit."""


_localctl = functools.partial(run_localctl, timeout=60)


def _huge_config() -> None:
    from localctl.config import Config, save_config

    save_config(Config(default_ctx=1 << 24, parallel=1024))


def test_pull_refuses_what_the_plan_says_wont_fit_before_any_byte(
    smollm2_path: os.PathLike[str], isolated_dirs: os.PathLike[str]
) -> None:
    from pathlib import Path

    from tests.fakehub import FakeHub, hub_env
    from tests.tui_flow import flow_repo

    _huge_config()
    with FakeHub([flow_repo(Path(smollm2_path))], lifetime_s=120) as hub:
        result = _localctl("pull", "smollm2-135m:Q4_1", env=hub_env(hub))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "smollm2-135m:Q4_1 won't fit" in lines[0]
        assert "pass --force" in lines[0]
        assert not any(Path(os.environ["HF_HOME"]).rglob("*.gguf")), "nothing downloaded"
        forced = _localctl("pull", "smollm2-135m:Q4_1", "--force", env=hub_env(hub))
        assert forced.returncode == 0, forced.stderr
        assert any(Path(os.environ["HF_HOME"]).rglob("*.gguf"))


def test_serve_refuses_a_catalog_model_that_wont_fit_before_downloading_it(
    smollm2_path: os.PathLike[str], tmp_path: os.PathLike[str]
) -> None:
    from pathlib import Path

    from tests.fakehub import FakeHub, hub_env
    from tests.server_helpers import FAKE_HTTP_SERVER, write_fake_exe
    from tests.tui_flow import flow_repo

    exe = write_fake_exe(Path(tmp_path), FAKE_HTTP_SERVER)
    with FakeHub([flow_repo(Path(smollm2_path))], lifetime_s=120) as hub:
        env = hub_env(hub, LOCALCTL_LLAMA_SERVER=str(exe))
        args = ["serve", "smollm2-135m:Q4_1", "--backend", "llama-server", "--port", "0"]
        result = _localctl(*args, *HUGE, env=env)
    assert result.returncode == 2, result.stderr
    assert "won't fit at context 16,777,216" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not any(Path(os.environ["HF_HOME"]).rglob("*.gguf")), "nothing downloaded"


def test_serve_refuses_a_local_file_that_wont_fit_and_starts_nothing(
    tmp_path: os.PathLike[str],
) -> None:
    from pathlib import Path

    from tests.fit_helpers import TinyModel
    from tests.server_helpers import FAKE_HTTP_SERVER, write_fake_exe

    folder = Path(tmp_path)
    model = folder / "tiny.gguf"
    model.write_bytes(TinyModel(n_layers=64).build())
    exe = write_fake_exe(folder, FAKE_HTTP_SERVER)
    env = dict(os.environ, LOCALCTL_LLAMA_SERVER=str(exe))
    args = ["serve", str(model), "--backend", "llama-server", "--port", "0", *HUGE]
    result = _localctl(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert "tiny.gguf won't fit" in result.stderr and "--force" in result.stderr
    assert result.stdout == ""


def test_an_explicit_port_that_is_taken_is_an_error_not_another_port(
    tmp_path: os.PathLike[str],
) -> None:
    import socket
    from pathlib import Path

    from tests.fit_helpers import TinyModel
    from tests.server_helpers import FAKE_HTTP_SERVER, write_fake_exe

    folder = Path(tmp_path)
    model = folder / "tiny.gguf"
    model.write_bytes(TinyModel().build())
    exe = write_fake_exe(folder, FAKE_HTTP_SERVER)
    env = dict(os.environ, LOCALCTL_LLAMA_SERVER=str(exe))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["serve", str(model), "--backend", "llama-server", "--port", str(port)]
        result = _localctl(*args, "--ctx", "512", env=env)
    assert result.returncode == 1, result.stderr
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_only_the_default_port_falls_back() -> None:
    from pathlib import Path

    from localctl.config import Config, ServerConfig
    from localctl.session import LaunchOverrides, launch_options

    path = Path("model.gguf")
    assert launch_options(path, "m", None, Config(), None).port_fallback
    chosen = launch_options(path, "m", None, Config(), None, LaunchOverrides(port=8091))
    assert not chosen.port_fallback
    configured = Config(server=ServerConfig(port=9000))
    assert not launch_options(path, "m", None, configured, None).port_fallback


def test_a_crash_log_tail_leaves_out_the_backtrace() -> None:
    from localctl.server import failure_lines

    log = [
        "llama_model_load: loading model",
        "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 274877906944",
        "llama_init_from_model: failed to initialize the context",
        "[New LWP 4242]",
        "[Thread debugging using libthread_db enabled]",
        'Using host libthread_db library "/lib/x86_64-linux-gnu/libthread_db.so.1".',
        "0x00007f3a1c0ea42f in __GI___wait4 () at ../sysdeps/unix/sysv/linux/wait4.c:30",
        "#0  0x00007f3a1c0ea42f in __GI___wait4 () at wait4.c:30",
        "#1  0x00007f3a1c5d1b2a in ggml_print_backtrace () from libggml-base.so",
        "[Inferior 1 (process 4242) detached]",
    ]
    kept = failure_lines(log, 3)
    assert kept == log[:3]


def test_a_wrong_key_is_not_told_to_pass_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    with _refusing_server() as url:
        assert main(["chat", "--url", url, "--api-key", "wrong", "--prompt", "hi"]) == 1
        line = one_line_error(capsys)
        assert "refused the API key it was given" in line and "pass --api-key" not in line
        assert main(["chat", "--url", url, "--prompt", "hi"]) == 1
        assert "none was sent" in one_line_error(capsys)


async def test_attaching_to_a_refused_port_says_so_at_once() -> None:
    import time

    from localctl.errors import ServerError
    from localctl.server import free_port
    from localctl.session import RemoteEndpoint

    started = time.monotonic()
    with pytest.raises(ServerError, match="connection refused"):
        await RemoteEndpoint.attach(f"http://127.0.0.1:{free_port('127.0.0.1')}")
    assert time.monotonic() - started < 5  # was the whole 8 s timeout


def test_cost_names_an_api_model_it_has_no_price_for(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from localctl.config import Config, CostConfig, save_config

    save_config(Config(cost=CostConfig(api_models=("openai:gpt-99", "openai:gpt-5"))))
    assert main(["cost", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["unknown_api_models"] == ["openai:gpt-99"]
    assert list(doc["api_usd_per_month"]) == ["openai:gpt-5"]
    assert "no price for 'openai:gpt-99'" in captured.err


def test_a_broken_gguf_in_a_model_folder_is_reported_not_dropped_silently(
    tmp_path: os.PathLike[str], caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    from pathlib import Path

    from localctl.config import Config, save_config
    from localctl.library import local_targets

    folder = Path(tmp_path) / "models"
    folder.mkdir()
    (folder / "broken.gguf").write_bytes(b"GGUF\x03\x00")
    config = Config(model_folders=(str(folder),))
    save_config(config)
    with caplog.at_level(logging.WARNING, logger="localctl"):
        assert local_targets(set(), config) == []
    assert any(
        "broken.gguf" in r.getMessage() and "left out" in r.getMessage() for r in caplog.records
    )


def test_fit_on_a_folder_says_to_pass_a_gguf_file_in_it(
    tmp_path: os.PathLike[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    folder = Path(tmp_path) / "models"
    folder.mkdir()
    assert main(["fit", str(folder)]) == 2
    assert "is a folder with no .gguf file in it" in one_line_error(capsys)
    (folder / "tiny.Q8_0.gguf").write_bytes(b"")
    assert main(["fit", str(folder)]) == 2
    assert "pass one of its GGUF files (tiny.Q8_0.gguf)" in one_line_error(capsys)


def test_models_speaks_the_units_and_marks_of_the_tui(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    assert main(["models", "--hw", "rtx4090"]) == 0
    out = capsys.readouterr().out
    assert "(tok/s: with the context full)" in out.splitlines()[0]
    assert " GiB" in out and " GB" not in out and "~ " not in out
    assert main(["hw", "--json"]) == 0
    hw_profile = json.loads(capsys.readouterr().out)["profile"]
    assert main(["fit", "smollm2-135m:Q4_1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hardware"]["profile"] == hw_profile is None


def test_a_context_past_training_is_marked_in_models(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from localctl.library import load_user_catalog

    smol = load_user_catalog().get("smollm2-135m")
    past = smol.arch.ctx_train * 2
    assert main(["models", "--hw", "rtx4090", "--ctx", str(past)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("smollm2-135m "))
    assert " !" in line and f"ctx {past} is longer than the model was trained for" in out
    assert main(["models", "--hw", "rtx4090", "--ctx", str(past), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    assert next(r for r in rows if r["model"] == "smollm2-135m")["past_training"] is True
