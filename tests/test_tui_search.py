"""The TUI's hub search mode and its catalog refresh action, against the fake hub."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static
from textual.worker import WorkerState

from localctl import hub as hubmod
from localctl import paths, snapshot
from localctl.config import Config
from localctl.hub import env as hub_environ
from tests.conftest import SMOLLM2_SIZE
from tests.fakehub import (
    DEFAULT_REPO,
    GATED_SEARCH_REPO,
    FakeHub,
    search_repos,
)
from tests.test_refresh import MODEL, Q6_FILE, Q6_SHA, Q6_SIZE, _catalog_entry
from tests.tui_flow import wait_until
from tui.app import make_app
from tui.widgets.detail_pane import DetailPane

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def hub(smollm2_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub(search_repos(smollm2_path), lifetime_s=280) as running:
        monkeypatch.setenv("HF_ENDPOINT", running.url)
        yield running


def _text(widget: Static) -> str:
    return str(widget.render())


async def _search(app, pilot, query: str = "smollm2") -> None:  # type: ignore[no-untyped-def]
    await pilot.press("f4")
    screen = app.search_screen
    await wait_until(pilot, lambda: app.screen is screen, 10, "search screen")
    await pilot.press(*query, "enter")
    await wait_until(pilot, lambda: bool(screen.rows) and not screen.searching, 60, "results")


async def test_search_lists_quants_and_plans_the_highlighted_one_from_its_header(
    hub: FakeHub,
) -> None:
    app = make_app(config=Config(default_ctx=2048), hw_profile="rtx4090")
    async with app.run_test(size=(160, 45)) as pilot:
        await _search(app, pilot)
        screen = app.search_screen
        keys = [row.key for row in screen.rows]
        assert keys[:2] == [f"{DEFAULT_REPO}:Q4_1", f"{DEFAULT_REPO}:Q8_0"]
        assert screen.rows[0].quant.size_bytes == SMOLLM2_SIZE
        status = _text(screen.query_one("#hub-status", Static))
        assert f"{GATED_SEARCH_REPO} is gated: accept the licence on" in status
        await wait_until(pilot, lambda: screen.rows[0].plan is not None, 60, "plan from header")
        planned = screen.rows[0]
        assert planned.plan is not None and planned.plan.n_layers == 30
        assert planned.model.arch.n_layers == 30 and planned.quant.sha256
        detail = screen.query_one(DetailPane)
        assert detail.row is not None and detail.row.plan is not None
        text = _text(detail.query_one("#detail-text", Static))
        assert "Fit: GPU" in text and "On the hub: 5,000 downloads · updated 2026-11-20" in text
        assert all(r.status == 206 for r in hub.file_gets()), "header only, by range"
        assert not hubmod.hub_cache_dir().exists() or not list(
            hubmod.hub_cache_dir().glob("**/blobs/*")
        )


@pytest.mark.slow
async def test_search_select_enter_downloads_and_serves_it(hub: FakeHub) -> None:
    app = make_app(config=Config(default_ctx=2048))
    async with app.run_test(size=(160, 45)) as pilot:
        await _search(app, pilot)
        screen = app.search_screen
        await wait_until(pilot, lambda: screen.rows[0].plan is not None, 60, "plan")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.chat_screen.endpoint is not None, 240, "server")
        assert sum(r.range_start is None for r in hub.file_gets()) >= 1, "the file was fetched"
        server = app.server
        assert server is not None and server.pid is not None
        assert app.chat_screen.endpoint.model == f"{DEFAULT_REPO}:Q4_1"  # type: ignore[union-attr]
        await pilot.press("q")


async def test_refresh_action_runs_off_the_ui_thread_and_marks_rows(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakehub import listed_file, smollm2_repo

    repo = smollm2_repo(smollm2_path)
    repo.files.append(listed_file(Q6_FILE, Q6_SIZE, Q6_SHA))
    paths.user_catalog_file().parent.mkdir(parents=True, exist_ok=True)
    paths.user_catalog_file().write_text(_catalog_entry(repo), encoding="utf-8")
    repo.files = [f for f in repo.files if f.path != Q6_FILE]
    with FakeHub([repo], lifetime_s=200) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.faults.delay_s = 1.0
        app = make_app(config=Config(default_ctx=2048), hw_profile="rtx4090")
        async with app.run_test(size=(160, 45)) as pilot:
            catalog = app.catalog_screen
            await wait_until(pilot, lambda: catalog.planned_ctx == 2048, 60, "catalog")
            app.action_refresh_catalog()
            await pilot.press("f4")  # the UI answers while the hub is slow
            workers = [w for w in app.workers if w.group == "refresh"]
            assert app.screen is app.search_screen
            assert workers and workers[0].state in (WorkerState.PENDING, WorkerState.RUNNING)
            await wait_until(
                pilot,
                lambda: any(
                    r.key == f"{MODEL}:Q6_K" and r.quant.hub_status == "vanished"
                    for r in catalog.all_rows
                ),
                120,
                "refreshed rows",
            )
            assert any("vanished" in line for line in app.log_lines)
            row = next(r for r in catalog.all_rows if r.key == f"{MODEL}:Q4_1")
            assert row.quant.hub_status == "confirmed"

            # Offline: the snapshot stays, the log says how old it is.
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{probe.getsockname()[1]}")
            monkeypatch.setattr(hub_environ, "RETRY_DELAYS_S", (0.01,))
            before = len(app.log_lines)
            app.action_refresh_catalog()
            await wait_until(pilot, lambda: len(app.log_lines) > before, 60, "offline report")
            line = app.log_lines[before]
            assert "keeping the last snapshot (" in line and " old, from 20" in line
            assert snapshot.load_catalog().get(MODEL).quant("Q6_K").hub_status == "vanished"  # type: ignore[union-attr]
