"""The TUI against servers it did not start: attach from the palette, stop a reply with escape."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Input

import localctl.library
from localctl.config import Config
from localctl.server import free_port
from localctl.session import RemoteEndpoint
from tests.fakesse import serve_fake_sse
from tests.tui_flow import fill_attach, prompt_and_wait, wait_until
from tests.tui_helpers import model
from tui.app import make_app


@pytest.fixture(autouse=True)
def small_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localctl.library, "load_models", lambda: [model("llama-3.1-8b")])


async def _attach(app, pilot, url: str, key: str = "") -> None:
    await fill_attach(app, pilot, url, key)


async def test_attach_chats_with_a_remote_server_and_stop_launches_nothing() -> None:
    app = make_app(hw_profile="rtx4090", config=Config())
    with serve_fake_sse("normal", tokens=12) as url:
        async with app.run_test(size=(150, 45)) as pilot:
            await _attach(app, pilot, url + "/v1", key="remote-key")
            await wait_until(pilot, lambda: app.chat_screen.endpoint is not None, 20, "attach")
            endpoint = app.chat_screen.endpoint
            assert endpoint is not None
            assert endpoint.url == url and endpoint.model == "fake"
            assert endpoint.api_key == "remote-key"
            assert isinstance(app.server, RemoteEndpoint), "nothing was launched"
            assert app.server.api_key == "remote-key"
            await prompt_and_wait(app, pilot, "hello")
            assert app.chat_screen.snapshot.session_completion_tokens > 0
            await app.action_stop_server()
            assert app.server is None and app.chat_screen.endpoint is None


async def test_attach_to_a_dead_url_says_so_and_keeps_the_app() -> None:
    app = make_app(hw_profile="rtx4090", config=Config())
    dead = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    async with app.run_test(size=(150, 45)) as pilot:
        await _attach(app, pilot, dead)
        await wait_until(
            pilot, lambda: any("Attach to" in line for line in app.log_lines), 30, "failure"
        )
        assert app.chat_screen.endpoint is None and app.server is None


async def _send_to_fake(app, pilot, url: str, text: str) -> None:
    """Point the chat at the fake server at ``url`` and send ``text``."""
    from localctl.chat_session import ChatEndpoint

    await app.action_show_chat()
    app.chat_screen.connect(ChatEndpoint(url, "k", "fake"), "fake server")
    await _send(pilot, app.chat_screen, text)


async def _send(pilot, chat, text: str) -> None:
    prompt = chat.query_one("#prompt", Input)
    prompt.value = text
    prompt.focus()
    await pilot.press("enter")


async def test_escape_stops_a_reply_and_keeps_the_partial_text() -> None:
    from tui.widgets.chat_pane import ChatPane

    app = make_app(hw_profile="rtx4090", config=Config())
    with serve_fake_sse("slow", tokens=2000) as url:  # 20 ms a token: 40 s unless stopped
        async with app.run_test(size=(150, 45)) as pilot:
            await _send_to_fake(app, pilot, url, "tell me everything")
            chat = app.chat_screen
            await wait_until(pilot, lambda: chat._reply_worker is not None, 5, "reply starts")
            await pilot.pause(0.5)
            await pilot.press("escape")
            await wait_until(pilot, lambda: chat.replies_finished == 1, 5, "reply stops")
            reply = [m["content"] for m in chat.history if m["role"] == "assistant"]
            assert len(reply) == 1 and 0 < len(reply[0].split()) < 2000
            notes = [str(w.render()) for w in chat.query_one(ChatPane).transcript.query(".note")]
            assert "(stopped)" in notes
            assert chat.conversation is not None
            records = [json.loads(x) for x in chat.conversation.path.read_text().splitlines()]
            assert records[-1] == {"type": "end", "text": reply[0], "status": "stopped"}


async def test_the_conversation_is_on_disk_while_the_reply_streams_and_reloads() -> None:
    from localctl import conversations

    app = make_app(hw_profile="rtx4090", config=Config(system_prompt="Be brief."))
    with serve_fake_sse("slow", tokens=150) as url:  # 3 s of reply
        async with app.run_test(size=(150, 45)) as pilot:
            await _send_to_fake(app, pilot, url, "first question")
            chat = app.chat_screen
            await pilot.pause(1.0)
            assert chat.conversation is not None
            path = chat.conversation.path
            # Killed now, the file already holds the prompt and the reply so far.
            midway = conversations.load(path).messages
            assert midway[0] == {"role": "system", "content": "Be brief."}
            assert midway[1] == {"role": "user", "content": "first question"}
            assert midway[2]["status"] == "interrupted" and midway[2]["content"]
            assert path.stat().st_mode & 0o777 == 0o600
            await wait_until(pilot, lambda: chat.replies_finished == 1, 10, "reply ends")
            first = conversations.load(path).messages

            await chat.action_new_conversation()
            assert chat.history == [] and chat.conversation is None
            await chat._load_picked(path.stem)
            assert [m["role"] for m in chat.history] == ["user", "assistant"]
            await _send(pilot, chat, "second question")
            await wait_until(pilot, lambda: chat.replies_finished == 2, 10, "second reply")
            again = conversations.load(path).messages
            assert [m["role"] for m in again] == [
                "system",
                "user",
                "assistant",
                "user",
                "assistant",
            ]
            assert again[:3] == first


async def test_a_reply_cut_short_keeps_its_text_and_says_why() -> None:
    from tui.widgets.chat_pane import ChatPane

    app = make_app(hw_profile="rtx4090", config=Config())
    with serve_fake_sse("die", tokens=40) as url:
        async with app.run_test(size=(150, 45)) as pilot:
            await _send_to_fake(app, pilot, url, "go")
            chat = app.chat_screen
            await wait_until(pilot, lambda: chat.replies_finished == 1, 10, "reply ends")
            await pilot.pause()
            notes = [str(w.render()) for w in chat.query_one(ChatPane).transcript.query(".note")]
            assert any(note.startswith("Reply cut short: ") for note in notes), notes
            assert chat.history[-1]["content"].startswith("w0 w1 ")
            assert chat.snapshot.replies == 1
