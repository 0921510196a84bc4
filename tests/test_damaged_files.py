"""Damaged files on disk cost only themselves: no traceback, nothing else lost (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localctl.cli import main
from localctl.conversations import Conversation


def test_a_corrupt_conversation_line_is_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    conversation = Conversation.new(title="tides")
    conversation.add("user", "hi")
    conversation.end_reply("hello", "complete")
    with conversation.path.open("a", encoding="utf-8") as handle:
        for line in ("5", "[1]", '"x"', "null", '{"type": "message", "role": 5}', '{"type": 3}'):
            handle.write(line + "\n")
        handle.write(json.dumps({"type": "message", "role": "user", "content": "after"}) + "\n")
    assert main(["chats", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["conversations"][0]["messages"] == 3
    assert doc["warnings"] == [f"conversation {conversation.id}: skipped 6 damaged line(s)"]
    assert main(["chats", "export", "last"]) == 0
    assert "after" in capsys.readouterr().out


USER_CATALOG = """
[[model]]
id = "broken-one"
name = "Broken"
family = "test"
repo = "someone/broken"
license = "mit"
params = "many"
quants = ["Q4_K_M"]
file = "broken-{quant}.gguf"
[model.arch]
architecture = "llama"
n_layers = 2
n_embd = 64
n_heads = 4
n_kv_heads = 2
key_length = 16
value_length = 16
n_vocab = 32
ctx_train = 4096

[[model]]
id = "split-five"
name = "Split"
family = "test"
repo = "someone/split"
license = "mit"
params = 1000000000
quants = ["Q4_K_M"]
file = "split-{quant}.gguf"
split_file = 5
[model.arch]
architecture = "llama"
n_layers = 2
n_embd = 64
n_heads = 4
n_kv_heads = 2
key_length = 16
value_length = 16
n_vocab = 32
ctx_train = 4096

[[model]]
id = "huge-pattern"
name = "Huge"
family = "test"
repo = "someone/huge"
license = "mit"
params = 1000000000
quants = ["Q4_K_M"]
file = "PATTERN"
[model.arch]
architecture = "llama"
n_layers = 2
n_embd = 64
n_heads = 4
n_kv_heads = 2
key_length = 16
value_length = 16
n_vocab = 32
ctx_train = 4096

[[model]]
id = "good-one"
name = "Good"
family = "test"
repo = "someone/good"
license = "mit"
params = 1000000000
quants = ["Q4_K_M"]
file = "good-{quant}.gguf"
[model.arch]
architecture = "llama"
n_layers = 2
n_embd = 64
n_heads = 4
n_kv_heads = 2
key_length = 16
value_length = 16
n_vocab = 32
ctx_train = 4096
"""


def _write_user_catalog(pattern: str) -> None:
    from localctl import paths

    paths.ensure_private_dir(paths.config_dir())
    paths.user_catalog_file().write_text(USER_CATALOG.replace("PATTERN", pattern))


def test_one_bad_user_catalog_entry_skips_only_that_entry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from catalog.loader import load_catalog
    from localctl import paths

    _write_user_catalog("{quant:>99999999}" + "x" * 2000)
    catalog = load_catalog(paths.user_catalog_file())
    ids = {m.id for m in catalog.models}
    assert "good-one" in ids and len(ids) > 4
    assert not ids & {"broken-one", "split-five", "huge-pattern"}
    assert len(catalog.warnings) == 3
    assert all(w.endswith("entry skipped") and len(w) < 600 for w in catalog.warnings)
    assert main(["models", "--json", "--hw", "rtx4090"]) == 0
    out, err = capsys.readouterr()
    assert "good-one" in out and err.count("entry skipped") == 3
    assert main(["fit", "good-one", "--hw", "rtx4090"]) == 0


def test_an_unreadable_user_catalog_leaves_the_curated_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from catalog.loader import load_catalog
    from localctl import paths

    _write_user_catalog("x")
    paths.user_catalog_file().write_text("[[model]\nthis is not toml")
    catalog = load_catalog(paths.user_catalog_file())
    assert len(catalog.models) > 4 and "the file is ignored" in catalog.warnings[0]


async def test_the_tui_keeps_its_catalog_when_a_user_entry_is_bad() -> None:
    from localctl.config import Config
    from tests.tui_flow import wait_until
    from tui.app import make_app

    _write_user_catalog("x{quant}")
    app = make_app(hw_profile="rtx4090", config=Config())
    async with app.run_test(size=(150, 45)) as pilot:
        screen = app.catalog_screen
        await wait_until(pilot, lambda: bool(screen.all_rows), 60, "rows")
        keys = {row.model.id for row in screen.all_rows}
        assert "good-one" in keys and "llama-3.1-8b" in keys
        await wait_until(
            pilot, lambda: any("entry skipped" in line for line in app.log_lines), 5, "warning"
        )


def test_offline_pull_answers_from_the_cache_without_backoff(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import time

    from localctl.hub import env as hub_env
    from localctl.hub import pull
    from tests.fakehub import DEFAULT_REPO, FakeHub, smollm2_repo

    with FakeHub([smollm2_repo(smollm2_path)]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        first = pull(f"{DEFAULT_REPO}:Q8_0")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(hub_env, "RETRY_DELAYS_S", (30.0, 30.0))
    started = time.monotonic()
    again = pull(f"{DEFAULT_REPO}:Q8_0")
    assert time.monotonic() - started < 30, "no backoff pause before the cache answered"
    assert again.files == first.files and again.downloaded_bytes == 0


def test_a_refused_download_leaves_no_empty_partial_file(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localctl.errors import DownloadError
    from localctl.hub import pull, repo_cache_dir
    from tests.fakehub import DEFAULT_REPO, FakeHub, smollm2_repo

    with FakeHub([smollm2_repo(smollm2_path)]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.faults.hostile_etag = "not-a-hash[/]"
        with pytest.raises(DownloadError, match="unexpected ETag"):
            pull(f"{DEFAULT_REPO}:Q4_1")
    leftovers = list(repo_cache_dir(DEFAULT_REPO).rglob("*.incomplete"))
    assert leftovers == []
