"""The chat screen in the first hour: keys from the prompt, live meters, stopped replies."""

from __future__ import annotations

import gc
from contextlib import aclosing

import pytest
from textual.widgets import Input

import localctl.library
from localctl.chat_session import ChatEndpoint, ChatSession
from localctl.config import Config
from localctl.replies import TokenDelta
from tests.fakesse import FakeSSE, serve_fake_sse
from tests.tui_flow import fill_attach, wait_until
from tests.tui_helpers import model
from tui.app import make_app
from tui.screens.log import LogModal
from tui.screens.modals import ConversationModal, ModelSettingsModal
from tui.widgets.chat_pane import ChatPane
from tui.widgets.meters_pane import MetersPane

SIZE = (150, 45)


@pytest.fixture(autouse=True)
def small_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localctl.library, "load_models", lambda: [model("llama-3.1-8b")])


async def _attach(app, pilot, url: str) -> None:
    await fill_attach(app, pilot, url)
    await wait_until(pilot, lambda: app.chat_screen.endpoint is not None, 10, "attached")
    await wait_until(pilot, lambda: app.screen is app.chat_screen, 10, "chat screen")


def _prompt(app) -> Input:
    return app.chat_screen.query_one("#prompt", Input)


async def _send(pilot, app, text: str) -> None:
    prompt = _prompt(app)
    prompt.focus()
    prompt.value = text
    await pilot.press("enter")


async def test_model_settings_log_unload_and_quit_keys_work_from_the_prompt() -> None:
    app = make_app(hw_profile="rtx4090", config=Config())
    with serve_fake_sse("normal", tokens=3) as url:
        async with app.run_test(size=SIZE) as pilot:
            await _attach(app, pilot, url)
            chat = app.chat_screen
            assert app.focused is _prompt(app)
            shown = {b.key: b.description for _, b, _, _ in chat.active_bindings.values() if b.show}
            assert {"ctrl+e", "ctrl+l", "ctrl+t", "ctrl+q", "escape"} <= shown.keys(), shown
            await pilot.press("q", "s", "l")  # letters in the prompt are text
            assert _prompt(app).value == "qsl" and app.is_running
            await pilot.press("ctrl+e")
            await wait_until(pilot, lambda: isinstance(app.screen, ModelSettingsModal), 5, "^e")
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("ctrl+l")
            await wait_until(pilot, lambda: isinstance(app.screen, LogModal), 5, "^l")
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is chat, 5, "back")
            await pilot.press("ctrl+t")
            await wait_until(pilot, lambda: chat.endpoint is None, 5, "^t disconnects")
            # A message sent with no server is kept in the prompt for when one runs again.
            _prompt(app).value = ""
            await _send(pilot, app, "are you there?")
            await pilot.pause(0.2)
            assert _prompt(app).value == "are you there?"
            await pilot.press("ctrl+q")
            await pilot.pause(0.5)
        assert app.return_code == 0


async def test_meters_run_while_a_reply_streams_and_count_a_stopped_one() -> None:
    app = make_app(hw_profile="rtx4090", config=Config())
    with serve_fake_sse("slow", tokens=2000) as url:  # 20 ms a token: 40 s unless stopped
        async with app.run_test(size=SIZE) as pilot:
            await _attach(app, pilot, url)
            chat = app.chat_screen
            await _send(pilot, app, "tell me everything")

            def live() -> bool:
                snap = chat.snapshot
                return chat.replying and snap.live and snap.session_completion_tokens >= 10

            await wait_until(pilot, live, 10, "meters while streaming")
            during = chat.snapshot
            assert during.gen_tok_s > 0 and during.energy_wh > 0 and during.api_equivalent_usd
            # Garbage collections during the reply leave the app's older objects out...
            assert gc.get_freeze_count() > 1000
            await pilot.press("escape")
            await wait_until(pilot, lambda: chat.replies_finished == 1, 10, "stopped")
            assert gc.get_freeze_count() == 0  # ...which are collected as usual after it
            after = chat.snapshot
            assert not after.live and after.replies == 1
            assert after.session_completion_tokens >= during.session_completion_tokens
            assert after.energy_wh > 0 and all(v > 0 for v in after.api_equivalent_usd.values())


async def test_the_server_is_not_asked_for_its_figures_while_a_reply_streams() -> None:
    """/metrics and /slots wait for the reply's end (asking would take time from it); the
    machine meters go on, and the server's figures shown stay."""
    app = make_app(hw_profile="rtx4090", config=Config())
    with FakeSSE("normal", tokens=300, delay_s=0.02, n_ctx=4096) as fake:  # 6 s of reply
        async with app.run_test(size=SIZE) as pilot:
            await _attach(app, pilot, fake.url)
            chat = app.chat_screen
            meters = chat.query_one(MetersPane)
            await _send(pilot, app, "tell me everything")

            def streamed(tokens: int) -> bool:
                return chat.replying and chat.snapshot.session_completion_tokens >= tokens

            await wait_until(pilot, lambda: streamed(25), 10, "streaming")
            asked = fake.got.count("/metrics")
            sampled = meters.system
            await wait_until(pilot, lambda: meters.system is not sampled, 5, "machine sampled")
            # The live meters show the reply every 1-2 s (its pace): 200 tokens, 4 s in.
            await wait_until(pilot, lambda: streamed(200), 10, "two more seconds of reply")
            assert fake.got.count("/metrics") == asked
            await wait_until(pilot, lambda: chat.replies_finished == 1, 10, "reply ended")
            await wait_until(pilot, lambda: fake.got.count("/metrics") > asked, 5, "read after")
            await wait_until(pilot, lambda: meters.server is not None, 5, "figures shown")
            assert meters.server is not None and meters.server.n_ctx == 4096


async def test_the_hosted_twin_is_looked_up_on_connect_not_during_the_first_reply() -> None:
    from localctl.cost import hosted_model_for

    hosted_model_for.cache_clear()
    app = make_app(hw_profile="rtx4090", config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await app.action_show_chat()
        app.chat_screen.connect(ChatEndpoint("http://127.0.0.1:9", None, "m:Q4_0"), "test")
        await wait_until(pilot, lambda: hosted_model_for.cache_info().currsize == 1, 10, "twin")
        assert app.chat_screen.replies_finished == 0


async def test_a_reply_cut_off_by_its_reader_still_counts() -> None:
    with serve_fake_sse("slow", tokens=2000) as url:
        session = ChatSession(Config(), ChatEndpoint(url, "k", "fake"))
        async with aclosing(session.send("go")) as events:
            seen = 0
            async for event in events:
                seen += isinstance(event, TokenDelta)
                if seen == 5:
                    break
    totals = session.totals
    assert totals.replies == 1 and totals.completion_tokens == 5
    assert totals.generation_s > 0 and totals.energy_wh > 0
    assert session.history[-1] == {"role": "assistant", "content": "w0 w1 w2 w3 w4 "}


async def test_the_picker_shows_date_model_and_status_and_a_reload_keeps_stopped() -> None:
    from localctl.conversations import Conversation, started

    saved = Conversation.new("why is the sky blue", model="smollm2-135m:Q4_1")
    saved.add("user", "why is the sky blue")
    saved.end_reply("Because of Rayleigh", "stopped")
    app = make_app(hw_profile="rtx4090", config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await app.action_show_chat()
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, ConversationModal), 5, "picker")
        option = app.screen.query_one("#conversations").get_option_at_index(0)
        label = str(option.prompt)
        assert started(saved) in label and "smollm2-135m:Q4_1" in label
        assert "(stopped)" in label and "why is the sky blue" in label
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.chat_screen.history), 5, "loaded")
        notes = [str(w.render()) for w in app.chat_screen.query_one(ChatPane).query(".note")]
        assert "(stopped)" in notes
