"""The TUI in a new user's first hour: help, settings, won't-fit rows, layout, chat keys."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label

from localctl import paths
from localctl.config import Config
from tests.fit_helpers import TinyModel
from tests.tui_helpers import planned
from tests.tui_helpers import wait_for as wait_app
from tui.app import LocalctlApp, make_app
from tui.screens.help import HelpModal
from tui.screens.settings import SettingsModal

SIZE = (150, 45)
PROFILE = "rtx4090"


async def wait_for(pilot: Pilot[int], condition: Callable[[], bool], timeout_s: float = 30) -> None:
    """:func:`tests.tui_helpers.wait_for`, with this file's longer default."""
    await wait_app(pilot, condition, timeout_s)


async def open_settings(app: LocalctlApp, pilot: Pilot[int]) -> SettingsModal:
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(app.screen, SettingsModal))
    await pilot.pause()
    assert isinstance(app.screen, SettingsModal)
    return app.screen


async def test_help_shows_keys_as_typed_and_its_title_literally() -> None:
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpModal))
        title = app.screen.query_one(".modal-title", Label).render()
        assert "[keymap]" in str(title)
        table = app.screen.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        keys = {row[3]: row[1] for row in rows}
        assert keys["help"] == "?"
        assert keys["ctx_up"] == "+ / ]" and keys["ctx_down"] == "- / ["
        assert keys["settings"] == ", / f3"
        assert not any("_" in row[1] for row in rows), [row[1] for row in rows]


async def test_settings_open_with_the_first_field_focused_and_typing_lands_in_it(
    tmp_path: Path,
) -> None:
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_settings(app, pilot)
        focused = app.focused
        assert isinstance(focused, Input) and focused.id == "model-folders"
        await pilot.press(*"/x")
        assert modal.query_one("#model-folders", Input).value == "/x"


async def test_settings_refuse_a_model_folder_that_does_not_exist() -> None:
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_settings(app, pilot)
        modal.query_one("#model-folders", Input).value = "0"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SettingsModal)
        assert not paths.config_file().exists()
        messages = [n.message for n in app._notifications]
        assert any("model folder '0' does not exist" in m for m in messages), messages


async def test_settings_edit_parallel_threads_server_path_and_system_prompt(
    tmp_path: Path,
) -> None:
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_settings(app, pilot)
        modal.query_one("#parallel", Input).value = "2"
        modal.query_one("#threads", Input).value = "3"
        modal.query_one("#llama-server-path", Input).value = str(tmp_path / "missing")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SettingsModal), "a missing binary is refused"
        modal.query_one("#llama-server-path", Input).value = str(binary)
        modal.query_one("#config-system-prompt").text = "Answer in French."
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsModal))
        written = tomllib.loads(paths.config_file().read_text())
        assert written["parallel"] == 2 and written["system_prompt"] == "Answer in French."
        assert written["server"]["threads"] == 3
        assert written["server"]["llama_server_path"] == str(binary)
        assert app.context.config.parallel == 2


async def test_a_model_folder_added_in_settings_is_scanned_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny-folder-model.Q8_0.gguf").write_bytes(TinyModel().build())
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: planned(app))
        screen = app.catalog_screen
        assert not any(r.key.startswith("tiny-folder-model") for r in screen.all_rows)
        modal = await open_settings(app, pilot)
        modal.query_one("#model-folders", Input).value = str(folder)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsModal))

        def listed() -> bool:
            rows = [r for r in screen.all_rows if r.key.startswith("tiny-folder-model")]
            return bool(rows) and rows[0].downloaded and rows[0].plan is not None

        await wait_for(pilot, listed, 120)


async def test_a_row_that_wont_fit_asks_before_downloading_or_serving() -> None:
    from tui.screens.modals import ConfirmModal

    app = make_app(hw_profile="m1-16", config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: planned(app), 60)
        screen = app.catalog_screen
        wont = next(r for r in screen.all_rows if r.placement == "none" and not r.downloaded)
        await pilot.press("slash", *f"{wont.model.id} {wont.quant.name}", "enter")
        await wait_for(pilot, lambda: [r.key for r in screen.shown_rows][:1] == [wont.key])
        for key, answer in (("enter", "n"), ("d", "escape"), ("enter", "enter")):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
            text = str(app.screen.query_one("#confirm-detail").render())
            assert "won't fit" in text and "needs" in text
            await pilot.press(answer)  # enter picks the focused button: Cancel
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmModal))
            await pilot.pause(0.2)
            assert not screen.downloading and app.server is None


def screen_text(app: LocalctlApp) -> list[str]:
    """The screen as plain text lines (what a terminal of the app's size shows)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False).splitlines()


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_the_catalog_drops_whole_columns_and_never_cuts_a_number(
    size: tuple[int, int],
) -> None:
    from tui.widgets.catalog_table import CatalogTable
    from tui.widgets.hardware_bar import HardwareBar

    app = make_app(hw_profile=PROFILE, ctx=8192, config=Config())
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: planned(app), 60)
        await pilot.pause(0.3)
        screen = app.catalog_screen
        table = screen.query_one(CatalogTable)
        columns = table.shown_columns
        assert columns[:2] == ("model", "quant") and {"fit", "tok_s"} <= set(columns)
        widths = sum(c.get_render_width(table) for c in table.columns.values())
        assert widths <= table.size.width - table.styles.scrollbar_size_vertical
        speed, size_at = columns.index("tok_s"), columns.index("size") if "size" in columns else -1
        for index, row in enumerate(screen.shown_rows):
            cells = [str(c) for c in table.get_row_at(index)]
            assert row.plan is not None and cells[speed] == f"{row.plan.predicted_tok_s:.1f}"
            if size_at >= 0:
                assert cells[size_at].endswith(("iB", " B"))
        # The footer follows the focus (the table's keys first) after a refresh.
        await wait_for(pilot, lambda: "⏎ Run" in screen_text(app)[-1], 10)
        lines = screen_text(app)
        bar = str(screen.query_one(HardwareBar).render())
        assert len(bar) <= size[0] and bar.strip() in lines[0]
        footer = lines[-1]
        for key in ("⏎ Run", "d Download", "/ Search", "q Quit", "? Help"):
            assert key in footer, footer
        assert "by fit" in "\n".join(lines[1:4]) and "ctx 8,192" in "\n".join(lines[1:4])


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_the_chat_footer_and_prices_fit(size: tuple[int, int]) -> None:
    from localctl.meters import MeterSnapshot
    from tui.widgets.meters_pane import MetersPane

    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=size) as pilot:
        await app.action_show_chat()
        await pilot.pause(0.3)
        pane = app.chat_screen.query_one(MetersPane)
        pane.snapshot = MeterSnapshot(
            api_equivalent_usd={"anthropic:claude-sonnet-4-6-20991231-extended": 1234.5678},
            energy_usd=0.00012,
            replies=1,
        )
        await pilot.pause(0.3)
        costs = str(pane.query_one("#costs").render()).splitlines()
        assert costs[0].endswith("$1,234.57") and len(costs[0]) <= pane.content_size.width
        assert costs[1].startswith("local energy") and costs[1].endswith("$0.000120")
        footer = screen_text(app)[-1]
        for key in ("^q Quit", "^t Unload", "^l Log", "^e Model", "esc Stop", "f1 Catalog"):
            assert key in footer, footer


async def test_a_keymap_id_that_names_no_binding_is_reported() -> None:
    app = make_app(hw_profile=PROFILE, config=Config(keymap={"nosuch": "x", "download": "g"}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(app._notifications))
        messages = [n.message for n in app._notifications]
        assert any("[keymap]" in m and "nosuch" in m and "download" not in m for m in messages)


async def test_settings_refuse_an_api_model_without_a_price() -> None:
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_settings(app, pilot)
        modal.query_one("#api-models", Input).value = "openai:gpt-99"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SettingsModal) and not paths.config_file().exists()
        assert any("gpt-99" in n.message for n in app._notifications)


async def test_the_log_pane_wraps_long_lines_instead_of_cutting_them() -> None:
    from tui.screens.log import LogModal

    long_line = "llama_model_load: " + " ".join(f"word{i}" for i in range(60))
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=(80, 24)) as pilot:
        app.record(long_line)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogModal))
        await pilot.pause(0.3)
        assert isinstance(app.screen, LogModal)
        text = app.screen.text
        assert " ".join(text.split()).count("word59") == 1
        assert max(len(line) for line in text.splitlines()) <= 80


def test_per_tensor_chatter_stays_out_of_the_server_tail(tmp_path: Path) -> None:
    from localctl.server import ModelServer, ServerOptions
    from tests.server_helpers import write_fake_exe

    body = (
        "import sys, time\n"
        "for i in range(500):\n"
        "    print(f\"llama_graph_n_input_tensors: input tensor 'inp_{i}'\")\n"
        "    print(f'create_tensor: loading tensor blk.{i}.ffn_up.weight')\n"
        "print('srv  update_slots: all slots are idle', flush=True)\n"
        "time.sleep(60)\n"
    )
    exe = write_fake_exe(tmp_path, body)
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF")
    server = ModelServer(
        ServerOptions(
            model_path=model_file,
            backend="llama-server",
            llama_server_path=str(exe),
            port=0,
            log_dir=tmp_path / "logs",
        )
    )
    try:
        server.start_sync(timeout_s=3)
    except Exception:  # the fake never answers HTTP; only its output matters here
        pass
    finally:
        server.stop_sync()
    assert server.log_tail(5) == ["srv  update_slots: all slots are idle"]
    assert server.log_path is not None
    assert server.log_path.read_text().count("create_tensor") == 500


async def test_a_row_past_its_trained_context_is_marked() -> None:
    from tui.widgets.catalog_table import CatalogTable

    app = make_app(hw_profile=PROFILE, ctx=131072, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: planned(app), 60)
        screen = app.catalog_screen
        table = screen.query_one(CatalogTable)
        fit = table.shown_columns.index("fit")
        cells = {row.key: str(table.get_row_at(i)[fit]) for i, row in enumerate(screen.shown_rows)}
        past = [r for r in screen.shown_rows if r.past_training]
        within = [r for r in screen.shown_rows if r.plan is not None and not r.past_training]
        assert past and within
        assert all(cells[r.key].endswith(" !") for r in past)
        assert not any(cells[r.key].endswith(" !") for r in within)
