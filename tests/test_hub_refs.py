"""Hub references (``OWNER/REPO:QUANT``, ``OWNER/REPO/FILE.gguf``) as a user types them:
planned from the remote header before any byte is downloaded, refused offline at once,
and catalog rows whose files vanished from the hub refused before a download."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_localctl
from tests.fakehub import (
    DEFAULT_REPO,
    SMOLLM2_FILE,
    FakeHub,
    fake_smollm2_entry,
    hub_env,
    smollm2_repo,
)

HUGE = ["--ctx", "16777216", "--parallel", "1024"]
"""A context no machine holds: every plan says won't fit."""
HUB_REFS = [f"{DEFAULT_REPO}:Q4_1", f"{DEFAULT_REPO}/{SMOLLM2_FILE}"]


_localctl = run_localctl


def _downloaded() -> list[Path]:
    return list(Path(os.environ["HF_HOME"]).rglob("*.gguf"))


@pytest.fixture
def hub(smollm2_path: Path) -> Iterator[FakeHub]:
    with FakeHub([smollm2_repo(smollm2_path)], lifetime_s=240) as fake:
        yield fake


@pytest.mark.parametrize("ref", HUB_REFS)
def test_pull_of_a_hub_quant_that_wont_fit_is_refused_before_any_byte(
    hub: FakeHub, ref: str
) -> None:
    from localctl.config import Config, save_config

    save_config(Config(default_ctx=1 << 24, parallel=1024))
    refused = _localctl("pull", ref, env=hub_env(hub))
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert f"{DEFAULT_REPO}:Q4_1 won't fit at context 16,777,216" in lines[0]
    assert "pass --force" in lines[0]
    assert hub.file_gets(), "the plan came from the remote header"
    assert not _downloaded(), "nothing downloaded"
    forced = _localctl("pull", ref, "--force", env=hub_env(hub))
    assert forced.returncode == 0, forced.stderr
    assert [p.name for p in _downloaded()] == [SMOLLM2_FILE]


def test_pull_of_a_hub_quant_that_fits_downloads_it(hub: FakeHub) -> None:
    done = _localctl("pull", f"{DEFAULT_REPO}:Q4_1", "--json", env=hub_env(hub))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["repo"] == DEFAULT_REPO
    assert [p.name for p in _downloaded()] == [SMOLLM2_FILE]


def test_serve_of_a_hub_quant_that_wont_fit_is_refused_before_any_byte(
    hub: FakeHub, tmp_path: Path
) -> None:
    from tests.server_helpers import FAKE_HTTP_SERVER, write_fake_exe

    exe = write_fake_exe(tmp_path, FAKE_HTTP_SERVER)
    env = hub_env(hub, LOCALCTL_LLAMA_SERVER=str(exe))
    args = ["serve", f"{DEFAULT_REPO}:Q4_1", "--backend", "llama-server", "--port", "0", *HUGE]
    result = _localctl(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert f"{DEFAULT_REPO}:Q4_1 won't fit at context 16,777,216" in result.stderr
    assert "--force" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert hub.file_gets(), "the plan came from the remote header"
    assert not _downloaded(), "nothing downloaded"


def test_cost_takes_the_speed_of_a_hub_quant_from_its_remote_header(hub: FakeHub) -> None:
    done = _localctl(
        "cost", "--model", f"{DEFAULT_REPO}:Q4_1", "--hw", "rtx4090", "--json", env=hub_env(hub)
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert DEFAULT_REPO in json.dumps(document["model"])
    assert not _downloaded(), "nothing downloaded"


def _closed_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("verb", ["pull", "serve"])
@pytest.mark.parametrize("ref", ["smollm2-135m:Q4_1", f"{DEFAULT_REPO}:Q4_1"])
@pytest.mark.parametrize("endpoint", ["http://no-such-host.invalid", "closed"])
def test_offline_pull_and_serve_fail_at_once_in_one_line(
    verb: str,
    ref: str,
    endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from localctl.cli import main
    from localctl.hub import env as hub_environ

    endpoint = _closed_endpoint() if endpoint == "closed" else endpoint
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    # A retry would now pause 60 s: an unresolvable or refused hub must not be retried.
    monkeypatch.setattr(hub_environ, "RETRY_DELAYS_S", (60.0,))
    started = time.monotonic()
    assert main([verb, ref]) == 1
    assert time.monotonic() - started < 60, "no backoff pause"
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"localctl: cannot reach {endpoint}: "), err
    assert not _downloaded()


def test_offline_a_hub_quant_in_the_cache_still_serves(
    hub: FakeHub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from localctl.cli import main

    pulled = _localctl("pull", f"{DEFAULT_REPO}:Q4_1", env=hub_env(hub))
    assert pulled.returncode == 0, pulled.stderr
    capsys.readouterr()
    monkeypatch.setenv("HF_ENDPOINT", _closed_endpoint())
    assert main(["serve", f"{DEFAULT_REPO}:Q4_1", "--dry-run"]) == 0
    assert str(_downloaded()[0].name) in capsys.readouterr().out


VANISHED_CATALOG = fake_smollm2_entry(f"""[[model.quant]]
name = "Q4_1"
files = ["{SMOLLM2_FILE}"]
size_bytes = 98_000_000

[[model.quant]]
name = "Q6_K"
files = ["SmolLM2-135M-Instruct.Q6_K.gguf"]
size_bytes = 138_772_032
""")


async def test_a_catalog_row_whose_files_vanished_is_refused_before_a_download(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.loader import load_catalog
    from localctl import paths, snapshot
    from localctl.config import Config
    from tests.test_tui_first_hour import wait_for
    from tui.app import make_app

    paths.user_catalog_file().parent.mkdir(parents=True, exist_ok=True)
    paths.user_catalog_file().write_text(VANISHED_CATALOG, encoding="utf-8")
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    snapshot.refresh(load_catalog(paths.user_catalog_file()), only=["fake-smollm2"])
    app = make_app(hw_profile="rtx4090", config=Config())
    async with app.run_test(size=(150, 45), notifications=True) as pilot:
        screen = app.catalog_screen
        await wait_for(pilot, lambda: bool(screen.all_rows), 60)
        gone = next(r for r in screen.all_rows if r.key == "fake-smollm2:Q6_K")
        assert gone.quant.hub_status == "vanished"
        await pilot.press("slash", *"fake-smollm2 Q6_K", "enter")
        await wait_for(pilot, lambda: [r.key for r in screen.shown_rows][:1] == [gone.key])
        for key in ("enter", "d"):
            app.clear_notifications()
            await pilot.press(key)
            await wait_for(pilot, lambda: bool(app._notifications))
            notes = [n.message for n in app._notifications]
            assert len(notes) == 1 and "\n" not in notes[0], notes
            assert notes[0].startswith("fake-smollm2:Q6_K is gone from the hub: ")
            assert "catalog refresh" in notes[0]
            await pilot.pause(0.2)
            assert not screen.downloading and app.server is None
    assert not hub.file_gets() and not _downloaded()


@pytest.mark.parametrize("verb", ["pull", "serve"])
def test_pull_and_serve_refuse_a_catalog_row_whose_files_vanished(
    hub: FakeHub,
    verb: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from catalog.loader import load_catalog
    from localctl import paths, snapshot
    from localctl.cli import main

    paths.user_catalog_file().parent.mkdir(parents=True, exist_ok=True)
    paths.user_catalog_file().write_text(VANISHED_CATALOG, encoding="utf-8")
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    snapshot.refresh(load_catalog(paths.user_catalog_file()), only=["fake-smollm2"])
    capsys.readouterr()
    assert main([verb, "fake-smollm2:Q6_K"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("localctl: fake-smollm2:Q6_K is gone from the hub: ")
    assert "catalog refresh" in lines[0]
    assert not hub.file_gets() and not _downloaded()
