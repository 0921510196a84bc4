"""The chat screen shows a reply's thinking collapsed above the answer; ctrl+r expands it."""

from __future__ import annotations

import pytest
from textual.widgets import Input

import localctl.library
from localctl.chat_session import ChatEndpoint
from localctl.config import Config
from tests.fakesse import THOUGHT, serve_fake_sse
from tests.tui_flow import wait_until
from tests.tui_helpers import model
from tui.app import make_app
from tui.widgets.chat_pane import ChatPane, ThinkingBlock
from tui.widgets.meters_pane import MetersPane


@pytest.fixture(autouse=True)
def small_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localctl.library, "load_models", lambda: [model("llama-3.1-8b")])


@pytest.mark.parametrize("mode", ["reasoning", "think_tags"])
async def test_thinking_is_a_collapsed_block_above_the_answer(mode: str) -> None:
    app = make_app(hw_profile="rtx4090", config=Config())
    with serve_fake_sse(mode, tokens=6, n_ctx=4096) as url:
        async with app.run_test(size=(150, 45)) as pilot:
            await app.action_show_chat()
            chat = app.chat_screen
            chat.connect(ChatEndpoint(url, "k", "fake"), "fake server")
            prompt = chat.query_one("#prompt", Input)
            prompt.value = "hello"
            prompt.focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: chat.replies_finished == 1, 20, "reply")
            pane = chat.query_one(ChatPane)
            blocks = list(pane.transcript.query(ThinkingBlock))
            assert len(blocks) == 1 and blocks[0].collapsed
            block = blocks[0]
            assert block.text.strip() == THOUGHT
            assert block.title.startswith("Thought for") and "8 tokens" in block.title
            children = list(pane.transcript.children)
            answer = children[children.index(block) + 1]
            assert "w0 w1" in answer.source  # the Markdown answer follows the block
            assert "think" not in answer.source
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert not block.collapsed
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert block.collapsed
            assert chat.history[-1]["content"].strip() == "w0 w1 w2 w3 w4 w5"
            meters = chat.query_one(MetersPane)
            shown = str(meters.query_one("#tokens").render())
            assert "thinking" in shown and "8 tok" in shown
            assert "context" in shown and "/ 4,096 tokens" in shown
