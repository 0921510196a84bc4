"""App flows with run_test: catalog, search, context, detail, settings, help, logging."""

from __future__ import annotations

import logging
import tomllib

import pytest
from textual.widgets import DataTable

from localctl import paths
from localctl.config import Config, load_config
from tests.tui_helpers import planned, wait_for
from tui.app import LocalctlApp, make_app
from tui.screens.catalog import CatalogScreen
from tui.screens.help import HelpModal
from tui.screens.settings import SettingsModal
from tui.widgets.catalog_table import CatalogTable
from tui.widgets.detail_pane import DetailPane

SIZE = (150, 45)
PROFILE = "rtx4090"


def verdicts(app: LocalctlApp) -> list[str]:
    table = app.catalog_screen.query_one(CatalogTable)
    return [str(table.get_row_at(i)[3]) for i in range(table.row_count)]


async def test_catalog_renders_every_row_with_a_verdict():
    app = make_app(hw_profile=PROFILE, ctx=8192, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: planned(app))
        shown = verdicts(app)
        assert len(shown) == len(app.catalog_screen.all_rows) > 10
        allowed = ("GPU", "partial ", "CPU", "won't fit")
        assert all(v.startswith(allowed) for v in shown), shown
        # The biggest row (gpt-oss-120b, 62 GiB) still fits 64 GiB RAM + 24 GiB VRAM partly.
        assert "GPU" in shown and any(v.startswith("partial ") for v in shown)
        assert "RTX 4090" in str(app.catalog_screen.query_one("#hardware").render())


async def test_search_keeps_only_matching_rows():
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: planned(app))
        await pilot.press("slash", *"qwen")
        await pilot.pause()
        rows = app.catalog_screen.shown_rows
        assert rows and all("qwen" in row.key.lower() for row in rows)
        assert len(rows) < len(app.catalog_screen.all_rows)
        await pilot.press("enter")
        assert isinstance(app.focused, CatalogTable)


async def test_context_change_recomputes_every_verdict():
    app = make_app(hw_profile=PROFILE, ctx=4096, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: planned(app))
        before = {row.key: row.plan for row in app.catalog_screen.all_rows}
        await pilot.press("plus")
        await wait_for(pilot, lambda: app.catalog_screen.ctx == 8192 and planned(app))
        after = app.catalog_screen.all_rows
        assert all(row.plan is not None and row.plan.ctx == 8192 for row in after if row.plan)
        grew = [r.plan.kv_bytes > before[r.key].kv_bytes for r in after if r.plan and before[r.key]]
        assert grew and all(grew)


async def test_detail_pane_shows_the_plan_of_the_selected_row():
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: planned(app))
        await pilot.press("down", "down")
        await pilot.pause()
        row = app.catalog_screen.query_one(CatalogTable).current_row
        assert row is not None and row.plan is not None
        pane = app.catalog_screen.query_one(DetailPane)
        assert pane.row is not None and pane.row.key == row.key
        text = str(pane.query_one("#detail-text").render())
        assert f"GPU layers: {row.plan.gpu_layers}/{row.plan.n_layers}" in text
        assert f"Repo: {row.model.repo}" in text
        bars = pane.query_one("PlanBar").render().plain
        assert "VRAM" in bars and "weights" in bars


async def test_settings_save_writes_config_toml():
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsModal))
        modal = app.screen
        modal.query_one("#default-ctx").value = "16384"
        modal.query_one("#electricity").value = "0.31"
        modal.query_one("#api-models").value = "openai:gpt-4o-mini, openai:gpt-5"
        modal.query_one("#port").value = "8181"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsModal))
        written = tomllib.loads(paths.config_file().read_text())
        assert written["default_ctx"] == 16384
        assert written["cost"]["electricity_usd_per_kwh"] == 0.31
        assert written["cost"]["api_models"] == ["openai:gpt-4o-mini", "openai:gpt-5"]
        assert written["server"]["port"] == 8181
        assert paths.config_file().stat().st_mode & 0o777 == 0o600
        assert load_config().default_ctx == 16384
        await wait_for(pilot, lambda: app.catalog_screen.ctx == 16384 and planned(app))


async def test_a_new_default_context_replans_the_catalog_once(monkeypatch):
    app = make_app(hw_profile=PROFILE, ctx=4096, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: planned(app))
        screen = app.catalog_screen
        plans: list[int] = []
        load = screen._load

        def counted() -> None:
            plans.append(screen.ctx)
            load()

        monkeypatch.setattr(screen, "_load", counted)
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsModal))
        app.screen.query_one("#default-ctx").value = "16384"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.ctx == 16384 and planned(app))
        await pilot.pause(0.3)
        assert plans == [16384]
        assert screen.query_one("#ctx").value == 16384, "the control shows the new context"
        await pilot.press("minus")
        await wait_for(pilot, lambda: screen.ctx == 8192 and planned(app))
        assert plans == [16384, 8192]
        assert {r.plan.ctx for r in screen.all_rows if r.plan} == {8192}


async def test_settings_reject_a_bad_value_without_writing():
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsModal))
        app.screen.query_one("#port").value = "99999"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SettingsModal)
        assert not paths.config_file().exists()


async def test_help_lists_every_binding_and_the_keymap_remaps_keys():
    config = Config(keymap={"download": "ctrl+d"})
    app = make_app(hw_profile=PROFILE, config=config)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: planned(app))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpModal))
        table = app.screen.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        ids = {row[3]: row[1] for row in rows}
        for wanted in (
            "run",
            "quit",
            "help",
            "stop_server",
            "server_log",
            "settings",
            "search",
            "cancel_download",
            "stop_generation",
            "new_conversation",
            "command_palette",
            "show_chat",
            "ctx_up",
        ):
            assert wanted in ids, wanted
        assert ids["download"] == "ctrl+d"
        await pilot.press("escape")
        assert isinstance(app.screen, CatalogScreen)


async def test_library_logging_goes_to_the_log_pane():
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        logging.getLogger("huggingface_hub").warning("hub says hello")
        logging.getLogger("httpx").info("quiet request line")
        await wait_for(pilot, lambda: any("hub says hello" in line for line in app.log_lines))
        assert not any("quiet request line" in line for line in app.log_lines)
        await pilot.press("l")
        await pilot.pause()
        log_text = app.screen.text
        assert "hub says hello" in log_text


async def test_a_bad_profile_is_a_notification_not_a_traceback():
    app = make_app(hw_profile="no-such-machine", config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(app._notifications))
        message = next(iter(app._notifications)).message
        assert "no-such-machine" in message
        assert "Traceback" not in message


@pytest.mark.parametrize("key", ["q"])
async def test_quit_key_exits_cleanly(key: str):
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await pilot.pause()
    assert app.return_code == 0


async def test_choosing_the_native_backend_in_settings_replans_for_it(tmp_path):
    from dataclasses import replace

    from localctl.config import ServerConfig

    native = tmp_path / "llama-server"
    native.write_text("#!/bin/sh\nexit 0\n")
    native.chmod(0o755)
    python_server = replace(ServerConfig(), backend="llama-cpp-python")
    app = make_app(hw_profile=PROFILE, config=replace(Config(), server=python_server))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: planned(app))
        rows = app.catalog_screen.all_rows
        assert {r.plan.backend for r in rows if r.plan} == {"llama-cpp-python"}
        server = replace(ServerConfig(), backend="llama-server", llama_server_path=str(native))
        app._settings_saved(replace(Config(), server=server))

        def native_plans() -> bool:
            plans = [r.plan for r in app.catalog_screen.all_rows if r.plan]
            return planned(app) and {p.backend for p in plans} == {"llama-server"}

        await wait_for(pilot, native_plans)


async def test_bench_is_offered_for_this_machine_only():
    app = make_app(hw_profile=PROFILE, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: planned(app))
        await pilot.press("b")
        await wait_for(pilot, lambda: bool(app._notifications))
        message = next(iter(app._notifications)).message
        assert "this machine" in message and "--hw" in message
