"""The TUI shows outside text as inert text: no control sequences, no markup (issue 16 #3, #4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Input, Static

from localctl.config import Config, save_config
from tests.fakehub import FakeHub
from tests.fakesse import ESCAPES, HOSTILE_ID, serve_fake_sse
from tests.fit_helpers import TinyModel, kv_str
from tests.tui_flow import fill_attach, flow_repo, select_flow_row, wait_until
from tui.app import make_app
from tui.commands import LocalctlCommands
from tui.widgets.detail_pane import DetailPane

CONTROL = ("\x1b", "\x07", "\x9b", "\x9d")


def _inert(text: str) -> bool:
    return not any(c in text for c in CONTROL)


def _static_text(widget: Static) -> str:
    content = widget.render()
    return content.plain if isinstance(content, Text) else str(content)


async def test_attached_server_id_and_reply_are_shown_inert() -> None:
    app = make_app(hw_profile="rtx4090", config=Config())
    with serve_fake_sse("hostile", model_id=HOSTILE_ID) as url:
        async with app.run_test(size=(150, 45)) as pilot:
            await fill_attach(app, pilot, url)
            chat = app.chat_screen
            await wait_until(pilot, lambda: chat.endpoint is not None, 20, "attach")
            assert chat.endpoint is not None and chat.endpoint.model == "evil[/]model"
            status = _static_text(chat.query_one("#server-status", Static))
            assert _inert(status) and "evil[/]model" in status
            prompt = chat.query_one("#prompt", Input)
            prompt.value = "hi"
            prompt.focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: chat.replies_finished == 1, 20, "reply")
            reply = chat.history[-1]["content"]
            assert _inert(reply) and "[bold red]loud[/]" in reply
            assert app.is_running


async def test_markup_in_notifications_is_text_not_a_crash() -> None:
    app = make_app(hw_profile="rtx4090", config=Config())
    async with app.run_test(size=(150, 45), notifications=True) as pilot:
        app.notify(f"X-Repo-Commit [/] [@click=app.quit]x[/]{ESCAPES}", title="[b]t[/]")
        await wait_until(pilot, lambda: bool(app.screen.query("Toast")), 5, "toast shown")
        await pilot.pause(0.3)
        assert app.is_running
        note = next(iter(app._notifications))
        assert note.message == "X-Repo-Commit [/] [@click=app.quit]x[/]" and not note.markup


@pytest.fixture
def hostile_hub(smollm2_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub([flow_repo(smollm2_path)], lifetime_s=100) as running:
        running.faults.hostile_commit = "[/]evil[@click=app.quit]"
        monkeypatch.setenv("HF_ENDPOINT", running.url)
        yield running


async def test_a_hub_header_with_markup_fails_the_download_in_words(hostile_hub: FakeHub) -> None:
    app = make_app(config=Config(default_ctx=2048))
    async with app.run_test(size=(150, 45), notifications=True) as pilot:
        await select_flow_row(app, pilot)
        await pilot.press("d")
        await wait_until(
            pilot, lambda: any("failed" in line for line in app.log_lines), 30, "failure"
        )
        await wait_until(pilot, lambda: bool(app.screen.query("Toast")), 5, "toast shown")
        await pilot.pause(0.3)
        assert app.is_running
        assert any("[/]evil" in n.message for n in app._notifications)


@pytest.fixture
def hostile_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    model = TinyModel()
    kvs = [kv for kv in model.kvs() if b"general.name" not in kv]
    kvs += [
        kv_str("general.name", f"name{ESCAPES}[/]"),
        kv_str("general.license", f"lic{ESCAPES}[@click=app.quit]x[/]"),
    ]
    (folder / "evil[@click=app.quit]q\x1b[2J.gguf").write_bytes(model.build(kvs=kvs))
    save_config(Config(model_folders=(str(folder),)))
    return folder


async def test_gguf_metadata_and_file_names_are_inert_in_table_detail_and_palette(
    hostile_folder: Path,
) -> None:
    app = make_app(hw_profile="rtx4090", config=Config(model_folders=(str(hostile_folder),)))
    async with app.run_test(size=(150, 45)) as pilot:
        screen = app.catalog_screen
        await wait_until(
            pilot, lambda: any("evil" in r.key for r in screen.all_rows), 60, "local row"
        )
        row = next(r for r in screen.all_rows if "evil" in r.key)
        await pilot.press("slash", *"evil", "enter")
        await wait_until(pilot, lambda: len(screen.shown_rows) == 1, 10, "one row")
        await pilot.pause(0.3)
        detail = _static_text(screen.query_one(DetailPane).query_one("#detail-text", Static))
        assert _inert(detail) and "name[/]" in detail and "[@click=app.quit]x[/]" in detail
        table = screen.query_one("CatalogTable")
        cells = [str(c) for c in table.get_row(row.key)]
        assert all(_inert(c) for c in cells)
        provider = LocalctlCommands(screen)
        hits = [hit async for hit in provider.search("evil")]
        assert hits and all(_inert(str(h.prompt)) for h in hits)
        assert all(isinstance(h.prompt, Text) for h in hits)
        assert app.is_running
