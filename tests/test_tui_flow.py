"""The whole product in one test: catalog → enter → download → serve → streamed reply → quit.

Real parts only: the fake hub serves the real SmolLM2 bytes on loopback under the
catalog's repository name, the server is the real llama.cpp with that model, and the
app is driven by Pilot.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from localctl import paths
from localctl.config import Config
from localctl.runfile import live_servers
from tests.fakehub import FakeHub
from tests.tui_flow import (
    FLOW_CTX,
    FLOW_MODEL_ID,
    FLOW_QUANT,
    flow_repo,
    prompt_and_wait,
    select_flow_row,
    wait_until,
)
from tui.app import make_app
from tui.widgets.chat_pane import ChatPane

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]  # each test serves the real model


@pytest.fixture
def hub(smollm2_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub([flow_repo(smollm2_path)], lifetime_s=280) as running:
        monkeypatch.setenv("HF_ENDPOINT", running.url)
        yield running


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_enter_downloads_serves_and_chats_then_q_leaves_no_server(hub: FakeHub) -> None:
    config = Config(default_ctx=FLOW_CTX)
    app = make_app(config=config)
    async with app.run_test(size=(150, 45)) as pilot:
        await select_flow_row(app, pilot)
        row = app.catalog_screen.shown_rows[0]
        assert row.key == f"{FLOW_MODEL_ID}:{FLOW_QUANT}"
        assert row.local_path is None and row.plan is not None

        await pilot.press("enter")
        await wait_until(pilot, lambda: app.chat_screen.endpoint is not None, 180, "server")
        assert hub.file_gets(), "the file came from the hub"
        server = app.server
        assert server is not None and server.pid is not None
        pid = server.pid
        assert server.url.startswith("http://127.0.0.1:")
        assert [s.url for s in live_servers()] == [server.url], "run file written for chat --url"
        await wait_until(pilot, lambda: app.focused is not None and app.focused.id == "prompt", 5)

        await prompt_and_wait(app, pilot, "Say hello in five words.")
        chat = app.chat_screen
        reply = [m for m in chat.history if m["role"] == "assistant"]
        assert reply and reply[0]["content"].strip()
        snap = chat.snapshot
        assert snap.replies == 1 and snap.gen_tok_s > 0 and snap.ttft_s > 0
        assert snap.session_completion_tokens > 0 and snap.session_prompt_tokens > 0
        assert snap.api_equivalent_usd and all(v > 0 for v in snap.api_equivalent_usd.values())
        assert snap.energy_usd > 0 and snap.energy_source
        transcript = chat.query_one(ChatPane).transcript
        assert len(transcript.children) >= 2
        await wait_until(
            pilot, lambda: (chat.query_one("#meters").system.server_rss_bytes or 0) > 0, 5
        )

        await wait_until(pilot, lambda: any("RSS ready" in ln for ln in app.log_lines), 10)
        import json

        records = paths.measurements_file().read_text().splitlines()
        record = json.loads(records[-1])
        assert record["model"] == row.key and record["rss_bytes"] > 0
        assert record["estimate_rss_bytes"] > 0 and record["ctx"] == FLOW_CTX

        saved = list((paths.data_dir()).rglob("*.json*"))
        assert saved, "the conversation was saved"

        await pilot.press("f1")
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, 30, "quit")
    assert _gone(pid), "quitting stops the server it started"
    assert live_servers() == []


async def test_server_crash_is_shown_and_restart_offered(hub: FakeHub) -> None:
    app = make_app(config=Config(default_ctx=FLOW_CTX))
    async with app.run_test(size=(150, 45)) as pilot:
        await select_flow_row(app, pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.chat_screen.endpoint is not None, 180, "server")
        assert app.server is not None and app.server.pid is not None
        psutil.Process(app.server.pid).kill()
        from tui.screens.modals import ConfirmModal

        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), 30, "restart offer")
        assert app.server is None and app.chat_screen.endpoint is None
        await wait_until(pilot, lambda: any("SIGKILL" in ln for ln in app.log_lines), 5, "cause")
        await pilot.press("y")
        await wait_until(pilot, lambda: app.chat_screen.endpoint is not None, 120, "restart")
        assert app.server is not None and app.server.pid is not None
        restarted = app.server.pid
        await app.action_quit()
    assert _gone(restarted)


async def test_gguf_in_a_model_folder_is_listed_planned_and_served_without_a_download(
    smollm2_path: Path, tmp_path: Path
) -> None:
    from localctl.config import save_config

    folder = tmp_path / "my-models"
    folder.mkdir()
    (folder / smollm2_path.name).symlink_to(smollm2_path)  # the catalog's own file name
    (folder / "tiny-chat.Q4_1.gguf").symlink_to(smollm2_path)  # a file the catalog does not know
    (folder / "broken.gguf").write_bytes(b"GGUF\x03\x00")  # unreadable header: left out
    config = Config(default_ctx=FLOW_CTX, model_folders=(str(folder),))
    save_config(config)
    app = make_app(config=config)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = app.catalog_screen
        await wait_until(pilot, lambda: screen.planned_ctx == screen.ctx, 60, "plan")

        def scanned() -> bool:  # the first plan comes before the folder scan; wait for both
            rows = screen.all_rows
            local = [row for row in rows if row.model.family == "local"]
            marked = [row for row in rows if row.local_path is not None and row not in local]
            return bool(local and marked) and all(row.plan is not None for row in local)

        await wait_until(pilot, scanned, 60, "scan")
        catalog_row = next(r for r in screen.all_rows if r.key == f"{FLOW_MODEL_ID}:{FLOW_QUANT}")
        assert catalog_row.local_path == folder / smollm2_path.name, "marked downloaded"
        local = [row for row in screen.all_rows if row.model.family == "local"]
        assert [row.key for row in local] == ["tiny-chat.q4_1:Q4_1"]
        assert local[0].plan is not None and local[0].plan.weights_bytes > 90_000_000
        await pilot.press("slash", *"local", "enter")
        await wait_until(pilot, lambda: len(screen.shown_rows) == 1, 10, "one row")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.chat_screen.endpoint is not None, 120, "server")
        assert app.server is not None
        pid = app.server.pid
        # Leaving without the quit action (as an exception would) still stops the server.
    assert pid is not None and _gone(pid)
