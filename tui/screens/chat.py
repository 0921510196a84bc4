"""The chat screen: streamed replies beside live meters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui import engine
from tui.widgets.chat_pane import ChatPane
from tui.widgets.meters_pane import MetersPane

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.worker import Worker

    from localctl.chat import ReplyMetrics
    from localctl.config import Config
    from localctl.conversations import Conversation
    from localctl.meters import PowerReading
    from tui.context import TuiContext
    from tui.engine import ChatEndpoint, ModelSettings
    from tui.values import MeterSnapshot, SystemReading

SYSTEM_REFRESH_S = 1.0


def _delta(conversation: Conversation, text: str) -> None:
    conversation.delta(text)


class ChatScreen(Screen[None]):
    """Chat with the served model while the meters run."""

    AUTO_FOCUS = "#prompt"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop_generation", "Stop", id="stop_generation"),
        Binding("ctrl+n", "new_conversation", "New chat", id="new_conversation"),
        Binding("ctrl+o", "load_conversation", "Load chat", id="load_conversation"),
        Binding("ctrl+e", "model_settings", "Model settings", id="model_settings"),
    ]

    @dataclass
    class ReplyStreamed(Message):
        """A reply finished streaming (or was stopped) with these figures."""

        figures: ReplyMetrics | None
        text: str
        status: str = "complete"
        """``complete``, ``stopped`` (escape) or ``interrupted`` (the stream failed)."""

    def __init__(self, context: TuiContext) -> None:
        super().__init__(id="chat-screen")
        self.context = context
        self.endpoint: ChatEndpoint | None = None
        """Where replies come from; set by the app once a server answers."""
        self.history: list[dict[str, str]] = []
        """The conversation so far, as OpenAI-style messages (without the system prompt)."""
        self.settings: ModelSettings = engine.default_model_settings(context.config)
        self.conversation: Conversation | None = None
        """The conversation file being written as the chat goes (None until the first prompt)."""
        self.meters = engine.SessionMeters(context.config)
        self.server_pid: int | None = None
        """Process of the served model, for its RSS in the meters (set by the app)."""
        self._power_meter = engine.power_meter(context.config)
        self._power_samples: list[PowerReading] = []
        """Power sampled while the current reply streams (averaged into its energy)."""
        self._last_power: PowerReading | None = None
        self._reply_worker: Worker[None] | None = None
        self.replies_finished = 0
        """Replies that ended (done, stopped or failed) since the app started."""
        self._status = "no server - pick a model in the catalog (F1)"

    def compose(self) -> ComposeResult:
        yield Static(Text(self._status), id="server-status")
        with Horizontal(id="chat-main"):
            yield ChatPane(id="chat")
            yield MetersPane(id="meters")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(SYSTEM_REFRESH_S, self._sample_system)
        self._sample_system()

    def on_screen_resume(self) -> None:
        self.query_one(ChatPane).focus_prompt()

    def configure(self, config: Config) -> None:
        """Use ``config`` (API models, prices, configured watts) from the next reply on."""
        self.meters.configure(config)
        self._power_meter = engine.power_meter(config)

    # -- server ---------------------------------------------------------------

    def connect(self, endpoint: ChatEndpoint | None, status: str) -> None:
        """Talk to ``endpoint`` from now on (None: no server) and show ``status``."""
        self.endpoint = endpoint
        self._status = status
        if self.is_mounted:
            self.query_one("#server-status", Static).update(Text(status))
        if endpoint is not None:
            self.settings = engine.model_settings_for(self.context.config, endpoint.model)

    # -- replies --------------------------------------------------------------

    async def on_chat_pane_submitted(self, message: ChatPane.Submitted) -> None:
        pane = self.query_one(ChatPane)
        if self.endpoint is None:
            await pane.add_note("No server is running: press F1 and enter on a model.")
            return
        if self._reply_worker is not None and self._reply_worker.is_running:
            await pane.add_note("Still replying: escape stops the reply first.")
            return
        self.history.append({"role": "user", "content": message.text})
        await pane.add_user(message.text)
        self._save(lambda c: c.add("user", message.text), first_prompt=message.text)
        self._power_samples = []
        self._reply_worker = self._stream_reply(self.endpoint, list(self.history))

    @work(group="reply", exclusive=True, exit_on_error=False)
    async def _stream_reply(self, endpoint: ChatEndpoint, messages: list[dict[str, str]]) -> None:
        """Stream one reply into the transcript; the MarkdownStream batches widget updates."""
        from localctl.errors import LocalctlError

        pane = self.query_one(ChatPane)
        writer = await pane.begin_reply()
        parts: list[str] = []
        figures: ReplyMetrics | None = None
        stopped = False
        try:
            async for event in engine.stream_reply(endpoint, messages, self.settings):
                if isinstance(event, str):
                    parts.append(event)
                    self._save(partial(_delta, text=event))
                    await writer.write(event)
                else:
                    figures = event
        except asyncio.CancelledError:
            stopped = True
        except LocalctlError as error:
            await writer.close()
            await pane.add_note(f"Reply failed: {error}")
            self.post_message(self.ReplyStreamed(None, "".join(parts), status="interrupted"))
            return
        await writer.close()
        if stopped:
            await pane.add_note("(stopped)")
        status = "stopped" if stopped else "complete"
        self.post_message(self.ReplyStreamed(figures, "".join(parts), status=status))

    def on_chat_screen_reply_streamed(self, message: ReplyStreamed) -> None:
        self.replies_finished += 1
        if message.text:
            self.history.append({"role": "assistant", "content": message.text})
        if message.figures is not None:
            power = engine.mean_power(self._power_samples) or self._last_power
            self.query_one(MetersPane).snapshot = self.meters.add(message.figures, power)
        self._save(lambda c: c.end_reply(message.text, message.status))

    def _save(
        self, write: Callable[[Conversation], None], *, first_prompt: str | None = None
    ) -> None:
        """Append to the conversation file (a small append; 0.25 s batches for deltas).

        A failed write is reported once and the chat goes on unsaved.
        """
        if self.conversation is None and first_prompt is not None:
            try:
                self.conversation = engine.new_conversation(
                    first_prompt, self.settings.system_prompt
                )
            except OSError as error:
                self.notify(f"Conversation not saved: {error}", severity="warning")
                return
        if self.conversation is None:
            return
        try:
            write(self.conversation)
        except OSError as error:
            self.conversation = None
            self.notify(f"Conversation no longer saved: {error}", severity="warning")

    def action_stop_generation(self) -> None:
        """Stop the reply being streamed."""
        if self._reply_worker is not None and self._reply_worker.is_running:
            self._reply_worker.cancel()

    # -- conversations and settings -----------------------------------------------

    async def action_new_conversation(self) -> None:
        """Start an empty conversation (the current one stays saved)."""
        self.action_stop_generation()
        self.history = []
        self.conversation = None
        await self.query_one(ChatPane).clear()

    def action_load_conversation(self) -> None:
        """Pick a saved conversation and show it."""
        from tui.screens.modals import ConversationModal

        self.app.push_screen(ConversationModal(engine.list_conversations()), self._load_picked)

    async def _load_picked(self, conversation_id: str | None) -> None:
        if conversation_id is None:
            return
        from localctl.errors import LocalctlError

        try:
            conversation = engine.open_conversation(conversation_id)
        except LocalctlError as error:
            self.notify(str(error), severity="error")
            return
        await self.action_new_conversation()
        self.conversation = conversation
        self.history = [
            {"role": m["role"], "content": m["content"]}
            for m in conversation.messages
            if m["role"] in ("user", "assistant")
        ]
        pane = self.query_one(ChatPane)
        for item in self.history:
            if item["role"] == "user":
                await pane.add_user(item["content"])
            else:
                await pane.add_assistant(item["content"])

    def action_model_settings(self) -> None:
        """Edit the system prompt and sampling settings of this model."""
        from tui.screens.modals import ModelSettingsModal

        self.app.push_screen(ModelSettingsModal(self.settings), self._settings_picked)

    def _settings_picked(self, settings: ModelSettings | None) -> None:
        if settings is not None:
            self.settings = settings
            engine.remember_model_settings(replace(settings))

    # -- meters ---------------------------------------------------------------

    def _sample_system(self) -> None:
        self.run_worker(
            self._read_system,
            name="system meters",
            group="system",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _read_system(self) -> None:
        reading = engine.read_system(self.server_pid)
        power = self._power_meter.read()
        self.app.call_from_thread(self._show_system, reading, power)

    def _show_system(self, reading: SystemReading, power: PowerReading) -> None:
        self._last_power = power
        if self._reply_worker is not None and self._reply_worker.is_running:
            self._power_samples.append(power)
        if self.is_mounted:
            self.query_one(MetersPane).system = reading

    @property
    def snapshot(self) -> MeterSnapshot:
        """The meters shown now."""
        return self.query_one(MetersPane).snapshot
