"""Produce the README screenshots (SVG) from a real run of the TUI.

States: ``catalog.svg`` (verdicts for a simulated RTX 4090 box), ``detail.svg`` (the memory
plan of a partially offloaded model), ``download.svg`` (a download from the loopback fake
hub, mid-way) and ``chat.svg`` (a reply streamed by the real SmolLM2-135M server, with
the meters); the catalog and the chat also at 100x30 and 80x24 (``catalog-80x24.svg``…).
Everything runs in a throwaway home folder; nothing leaves 127.0.0.1.

Usage: ``python scripts/screenshots.py [--out screenshots]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZE = (150, 42)
SMALL_SIZES = ((100, 30), (80, 24))
"""Terminal sizes the catalog and the chat are also captured at (``catalog-100x30.svg``…)."""
TRICKLE_BYTES_S = 12 << 20
REPLY_TOKENS = 96
"""Cap on each captured reply."""


async def _wait(pilot: object, condition: Callable[[], bool], timeout_s: float = 60) -> None:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await pilot.pause(0.05)


def _save(app: object, out: Path, name: str) -> Path:
    from textual.app import App

    assert isinstance(app, App)
    path = out / name
    app.save_screenshot(filename=name, path=str(out))
    print(f"wrote {path}")
    return path


async def _save_small(app: object, pilot: object, out: Path, name: str) -> None:
    """Capture the screen shown at each of :data:`SMALL_SIZES`, then go back to :data:`SIZE`."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    for width, height in SMALL_SIZES:
        await pilot.resize_terminal(width, height)
        await pilot.pause(0.5)
        _save(app, out, f"{name}-{width}x{height}.svg")
    await pilot.resize_terminal(*SIZE)
    await pilot.pause(0.3)


async def shoot_catalog(out: Path) -> None:
    """Catalog and detail states on a simulated RTX 4090 machine."""
    from localctl.config import Config
    from tui.app import make_app
    from tui.widgets.catalog_table import CatalogTable

    app = make_app(hw_profile="rtx4090", ctx=8192, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        screen = app.catalog_screen
        await _wait(pilot, lambda: bool(screen.all_rows) and screen.planned_ctx == 8192)
        await pilot.pause(0.3)
        _save(app, out, "catalog.svg")
        await _save_small(app, pilot, out, "catalog")
        await pilot.press("slash", *"70b")
        await pilot.press("enter")
        await pilot.pause(0.2)
        table = screen.query_one(CatalogTable)
        for index, row in enumerate(screen.shown_rows):
            if row.plan is not None and row.plan.placement == "partial":
                table.move_cursor(row=index)
                break
        await pilot.pause(0.3)
        _save(app, out, "detail.svg")


async def shoot_flow(out: Path, hub: object) -> None:
    """Download from the fake hub, serve SmolLM2 on this machine, chat with it."""
    from localctl.config import Config
    from tests.tui_flow import FLOW_CTX, prompt_and_wait, select_flow_row
    from tui.app import make_app

    app = make_app(config=Config(default_ctx=FLOW_CTX))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.catalog_screen
        await select_flow_row(app, pilot)
        hub.faults.trickle_bytes_s = TRICKLE_BYTES_S  # type: ignore[attr-defined]
        await pilot.press("enter")
        await _wait(pilot, lambda: screen.download_fraction >= 0.4)
        await pilot.pause(0.3)
        _save(app, out, "download.svg")
        hub.faults.trickle_bytes_s = None  # type: ignore[attr-defined]
        await _wait(pilot, lambda: app.chat_screen.endpoint is not None, timeout_s=180)
        # Short replies: a busy CPU should not decide whether the captures are taken.
        session = app.chat_screen.session
        session.use_settings(replace(session.settings, max_tokens=REPLY_TOKENS), remember=False)
        await prompt_and_wait(app, pilot, "Name three uses of a terminal UI, briefly.")
        await prompt_and_wait(app, pilot, "Now say it as a haiku.")
        await pilot.pause(1.2)
        _save(app, out, "chat.svg")
        await _save_small(app, pilot, out, "chat")
        await app.action_quit()


THINKING = (
    "The user asks for a good first model on a 16 GB laptop. Memory first: an 8B model at "
    "Q4_K_M is about 4.9 GB of weights plus roughly 0.6 GB of KV cache at 4k context, which "
    "leaves room for the browser. Speed: a laptop CPU streams maybe 50-70 GB/s, so about "
    "10 tokens/s. A 3B model would be twice as fast but noticeably weaker at reasoning. "
    "Recommend the 8B, mention the 3B as the fast option."
)
ANSWER = (
    "Start with **Qwen3-8B at Q4_K_M**: about 5.5 GB with a 4k context, so it fits beside your "
    "other work, at roughly 10 tokens/s on a laptop CPU.\n\nIf you want snappier replies, "
    "**Llama-3.2-3B** runs about twice as fast, at some cost in reasoning."
)


async def shoot_thinking(out: Path) -> None:
    """A thinking reply from a loopback server: the block collapsed, then expanded."""
    from localctl.chat_session import ChatEndpoint
    from localctl.config import Config
    from tests.fakesse import FakeSSE
    from tui.app import make_app

    words = tuple(word + " " for word in ANSWER.split(" "))
    with FakeSSE("reasoning", words=words, thought=THINKING, n_ctx=4096, delay_s=0.01) as fake:
        app = make_app(hw_profile="m4-max-128", config=Config())
        async with app.run_test(size=SIZE) as pilot:
            await app.action_show_chat()
            chat = app.chat_screen
            chat.connect(ChatEndpoint(fake.url, "k", "qwen3-8b:Q4_K_M"), "qwen3-8b:Q4_K_M")
            prompt = chat.query_one("#prompt")
            prompt.value = "Which model should I start with on a 16 GB laptop?"  # type: ignore[attr-defined]
            prompt.focus()
            await pilot.press("enter")
            await _wait(pilot, lambda: chat.replies_finished == 1)
            await pilot.pause(0.5)
            _save(app, out, "thinking-collapsed.svg")
            await pilot.press("ctrl+r")
            await pilot.pause(0.5)
            _save(app, out, "thinking-expanded.svg")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--only", choices=("catalog", "flow", "thinking"), default=None)
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    from tests.conftest import fetch_smollm2
    from tests.fakehub import FakeHub

    with tempfile.TemporaryDirectory(prefix="localctl-shots-") as folder:
        home = Path(folder)
        os.environ.update(
            {
                "LOCALCTL_HOME": str(home / "localctl"),
                "HF_HOME": str(home / "hf"),
                "XDG_CONFIG_HOME": str(home / "xdg-config"),
                "XDG_DATA_HOME": str(home / "xdg-data"),
                "XDG_CACHE_HOME": str(home / "xdg-cache"),
                "HF_HUB_DISABLE_TELEMETRY": "1",
            }
        )
        os.environ.pop("HF_TOKEN", None)
        if args.only in (None, "catalog"):
            asyncio.run(shoot_catalog(out))
        if args.only in (None, "thinking"):
            asyncio.run(shoot_thinking(out))
        if args.only in (None, "flow"):
            from tests.tui_flow import flow_repo

            with FakeHub([flow_repo(fetch_smollm2())], lifetime_s=600) as hub:
                os.environ["HF_ENDPOINT"] = hub.url
                asyncio.run(shoot_flow(out, hub))
    return 0


if __name__ == "__main__":
    sys.exit(main())
