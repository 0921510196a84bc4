"""The draft model for speculative decoding, set per model in the settings dialog."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.pilot import Pilot

from localctl import paths
from localctl.config import Config, ServerConfig, load_config
from tests.tui_helpers import wait_for
from tui.app import LocalctlApp, make_app
from tui.screens.settings import SettingsModal
from tui.widgets.detail_pane import DetailPane

SIZE = (150, 45)
LOCAL_KEY = "tiny-chat.q4_1:Q4_1"


def _config(folder: Path) -> Config:
    return Config(
        default_ctx=2048,
        model_folders=(str(folder),),
        server=ServerConfig(backend="llama-server"),
    )


def _app_with_local_model(tmp_path: Path, model: Path) -> LocalctlApp:
    """The app with a model folder holding ``model`` as ``tiny-chat.Q4_1.gguf``."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny-chat.Q4_1.gguf").symlink_to(model)
    return make_app(config=_config(folder))


def _detail(app: LocalctlApp) -> str:
    return str(app.catalog_screen.query_one(DetailPane).query_one("#detail-text").render())


async def _open_settings_on_local_row(app: LocalctlApp, pilot: Pilot[int]) -> SettingsModal:
    screen = app.catalog_screen
    await wait_for(pilot, lambda: bool(screen.all_rows) and screen.planned_ctx == screen.ctx, 60)
    await pilot.press("slash", *"local", "enter")
    await wait_for(pilot, lambda: [r.key for r in screen.shown_rows] == [LOCAL_KEY])
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(app.screen, SettingsModal))
    assert isinstance(app.screen, SettingsModal)
    return app.screen


async def test_a_draft_set_in_settings_is_saved_and_in_the_server_command(
    smollm2_path: Path, tmp_path: Path
) -> None:
    app = _app_with_local_model(tmp_path, smollm2_path)
    async with app.run_test(size=SIZE) as pilot:
        modal = await _open_settings_on_local_row(app, pilot)
        assert "--model-draft" not in _detail(app)
        before = app.catalog_screen.query_one(DetailPane).row
        assert before is not None and before.plan is not None
        modal.query_one("#draft-model").value = str(smollm2_path)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsModal))
        written = tomllib.loads(paths.config_file().read_text())
        assert written["drafts"] == {LOCAL_KEY: str(smollm2_path)}
        assert load_config().drafts == {LOCAL_KEY: str(smollm2_path)}
        await wait_for(pilot, lambda: "--model-draft" in _detail(app))
        text = _detail(app)
        assert f"--model-draft {smollm2_path}" in " ".join(text.split())
        assert "Draft model: SmolLM2-135M-Instruct.Q4_1.gguf" in text
        # The plan shown (bars and totals) now holds the draft's memory too.
        bars = app.catalog_screen.query_one("PlanBar")
        assert bars.plan is not None and bars.plan.draft is not None
        assert bars.plan.total_bytes > before.plan.total_bytes + 60_000_000
        # The table's row is planned with it too: its verdict counts the draft's memory.
        screen = app.catalog_screen

        def table_row_total() -> int:
            row = next((r for r in screen.all_rows if r.key == LOCAL_KEY), None)
            return row.plan.total_bytes if row is not None and row.plan is not None else 0

        await wait_for(pilot, lambda: table_row_total() > before.plan.total_bytes + 60_000_000)

        # Clearing the field takes the draft out again.
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsModal))
        assert app.screen.query_one("#draft-model").value == str(smollm2_path)
        app.screen.query_one("#draft-model").value = ""
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsModal))
        assert not tomllib.loads(paths.config_file().read_text()).get("drafts")
        await wait_for(pilot, lambda: "--model-draft" not in _detail(app))
        await wait_for(pilot, lambda: table_row_total() == before.plan.total_bytes)


async def test_an_incompatible_or_missing_draft_is_refused_in_one_line(
    smollm2_path: Path, gemma3_path: Path, tmp_path: Path
) -> None:
    app = _app_with_local_model(tmp_path, smollm2_path)
    async with app.run_test(size=SIZE) as pilot:
        modal = await _open_settings_on_local_row(app, pilot)
        for draft, says in (
            (gemma3_path, "cannot draft for tiny-chat.Q4_1.gguf"),
            (tmp_path / "nowhere.gguf", "nowhere.gguf"),
        ):
            modal.query_one("#draft-model").value = str(draft)
            app.clear_notifications()
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen is modal, "the dialog stays open"
            shown = [n.message for n in app._notifications]
            assert len(shown) == 1 and says in shown[0], shown
            assert "\n" not in shown[0] and "Traceback" not in shown[0]
            assert not paths.config_file().exists(), "nothing written"
