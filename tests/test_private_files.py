"""Everything localctl writes is private, and keys stay out of argv (issue 16 #6, #9, #13)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from localctl import paths
from localctl.auth import api_key_from
from localctl.cli import main
from localctl.conversations import Conversation
from localctl.errors import BadInputError
from localctl.runfile import RunInfo, find_api_key, live_servers, remove_run_file, write_run_file
from tests.fakesse import serve_fake_sse


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_and_every_parent_it_creates_are_0700(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCALCTL_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "made" / "here"))
    conversation = Conversation.new(title="private")
    conversation.add("user", "hi")
    conversation.end_reply("hello", "complete")
    created = [tmp_path / "made", tmp_path / "made" / "here", paths.data_dir()]
    assert conversation.path.is_relative_to(paths.data_dir())
    for folder in [*created, conversation.path.parent]:
        assert _mode(folder) == 0o700, folder
    assert _mode(conversation.path) == 0o600


def test_an_existing_open_data_dir_is_made_private(isolated_dirs: Path) -> None:
    data = paths.data_dir()
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    paths.ensure_private_dir(data)
    assert _mode(data) == 0o700


def test_export_over_an_existing_file_makes_it_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conversation = Conversation.new(title="secret plans")
    conversation.add("user", "secret")
    target = tmp_path / "out.md"
    target.write_text("old")
    target.chmod(0o644)
    conversation.end_reply("ok", "complete")
    assert main(["chats", "export", conversation.id, "-o", str(target), "--force"]) == 0
    assert _mode(target) == 0o600 and "secret" in target.read_text()


def test_api_key_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("file-key\n")
    assert api_key_from(None, str(key_file)) == "file-key"
    assert api_key_from("argv-key", None) == "argv-key"
    assert api_key_from(None, None) is None
    monkeypatch.setenv("LOCALCTL_API_KEY", "env-key")
    assert api_key_from(None, None) == "env-key"
    for bad in ("", "two\nlines\n", "x" * 5000):
        key_file.write_text(bad)
        with pytest.raises(BadInputError):
            api_key_from(None, str(key_file))
    with pytest.raises(BadInputError):
        api_key_from("a", str(key_file))
    with pytest.raises(BadInputError, match="cannot read"):
        api_key_from(None, str(tmp_path / "missing"))
    key_file.write_text("file-key\n")
    with serve_fake_sse("normal", tokens=3, api_key="file-key") as url:
        argv = ["chat", "--url", url, "--prompt", "hi", "--no-save", "--json"]
        assert main([*argv, "--api-key-file", str(key_file)]) == 0
        monkeypatch.setenv("LOCALCTL_API_KEY", "file-key")
        assert main(argv) == 0
        monkeypatch.setenv("LOCALCTL_API_KEY", "wrong")
        assert main(argv) == 1
    assert "refused the API key" in capsys.readouterr().err


def test_losing_serve_does_not_remove_the_winners_run_file(isolated_dirs: Path) -> None:
    url = "http://127.0.0.1:8080"
    write_run_file(RunInfo(url, "winner-key", os.getpid(), "m", "llama-server", 1.0))
    remove_run_file(url)  # the loser's clean-up: its own process is gone, ours is alive
    assert find_api_key(url) == "winner-key"
    remove_run_file(url, os.getpid())
    assert find_api_key(url) is None


@pytest.mark.parametrize(
    "doc",
    [
        {"url": 5, "api_key": "k", "pid": 1, "model": "m", "backend": "b", "started_at": 1},
        {"url": "u", "api_key": "k", "pid": "1", "model": "m", "backend": "b", "started_at": 1},
        {"url": "u", "api_key": "k", "pid": 0, "model": "m", "backend": "b", "started_at": 1},
        {"url": "u", "api_key": None, "pid": 1, "model": "m", "backend": "b", "started_at": 1},
        {"url": "u"},
        [1, 2],
        "text",
    ],
)
def test_a_wrong_typed_run_file_is_ignored(
    isolated_dirs: Path, doc: object, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = paths.ensure_private_dir(paths.servers_dir())
    (folder / "8080.json").write_text(json.dumps(doc))
    assert live_servers() == []
    assert find_api_key("http://127.0.0.1:8080") is None
    with serve_fake_sse("normal", tokens=2) as url:
        port = url.rsplit(":", 1)[1]
        (folder / f"{port}.json").write_text(json.dumps(doc))
        assert main(["chat", "--url", url, "--prompt", "hi", "--no-save", "--json"]) == 0


def test_two_servers_on_one_port_get_their_own_private_logs(isolated_dirs: Path) -> None:
    from localctl.server import ModelServer, ServerOptions

    logs = []
    for _ in range(2):
        server = ModelServer(ServerOptions(backend="llama-cpp-python", port=8080))
        handle = server._open_log(paths.logs_dir())
        assert handle is not None
        handle.write(b"mine\n")
        handle.close()
        logs.append(server.log_path)
    assert logs[0] != logs[1]
    assert all(p is not None and p.read_bytes() == b"mine\n" for p in logs)
    assert all(p is not None and _mode(p) == 0o600 for p in logs)
    assert _mode(paths.logs_dir()) == 0o700


def test_measurements_are_private(isolated_dirs: Path) -> None:
    from localctl.measurements import append_measurement

    assert append_measurement({"model": "m"})
    assert _mode(paths.measurements_file()) == 0o600
    paths.measurements_file().chmod(0o644)
    assert append_measurement({"model": "n"})
    assert _mode(paths.measurements_file()) == 0o600
    assert len(paths.measurements_file().read_text().splitlines()) == 2


def test_config_and_its_new_folders_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localctl.config import Config, save_config

    monkeypatch.delenv("LOCALCTL_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "new" / "config"))
    path = save_config(Config())
    assert _mode(path) == 0o600
    for folder in (tmp_path / "new", tmp_path / "new" / "config", path.parent):
        assert _mode(folder) == 0o700, folder
