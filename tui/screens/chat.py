"""The chat screen: streamed replies beside live meters."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from contextlib import aclosing, contextmanager, suppress
from dataclasses import dataclass
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
from textual.worker import WorkerCancelled, WorkerFailed

from localctl.chat_session import ChatSession, ContextTrimmed, SavingStopped, TurnEnded
from localctl.meters import CpuClock
from localctl.replies import PromptProgress, ThinkingDelta, TokenDelta
from localctl.sanitize import printable
from localctl.server_metrics import ServerMetricsReader
from tui.widgets.chat_pane import ROOMY, ChatPane, ThinkingBlock, pace_for
from tui.widgets.meters_pane import MetersPane

if TYPE_CHECKING:
    from textual.worker import Worker

    from localctl.chat_session import ChatEndpoint
    from localctl.config import Config
    from localctl.conversations import Conversation
    from localctl.meters import MeterSnapshot, SystemSnapshot
    from localctl.model_settings import ModelSettings
    from localctl.server_metrics import ServerMetrics
    from tui.context import TuiContext

SYSTEM_REFRESH_S = 1.0
"""How often the machine meters are sampled; the server's own figures (/metrics, /slots)
too, except while a reply streams: asking then would take time from the reply."""
LIVE_METERS_S = ROOMY.meters_s
"""How often a timer shows a reply still streaming in the meters while no text comes (a
long prompt, a pause); while text comes, they are shown with it (one frame for both) at
its pace (:class:`~tui.widgets.chat_pane.Pace`)."""
PROGRESS_AFTER_S = 1.0
"""A prompt still being read after this long shows its progress in the TTFT meter."""
STOP_GRACE_S = 1.0
"""After escape, how long a reply may take to notice before its worker is cancelled."""


@contextmanager
def _young_objects_only() -> Iterator[None]:
    """Inside, garbage collections look only at objects made inside.

    A full collection walks every object of the app (some 0.1 s of CPU on a small machine)
    and came every second or so while a reply streamed, taking that time from the model;
    the older objects are set aside (``gc.freeze``) and put back afterwards, so cycles among
    them are still collected later."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class ChatScreen(Screen[None]):
    """Chat with the served model while the meters run."""

    AUTO_FOCUS = "#prompt"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop_generation", "Stop", id="stop_generation"),
        # Priority: the prompt has the focus and would take ctrl+e as "cursor to end".
        Binding("ctrl+e", "model_settings", "Model", id="model_settings", priority=True),
        Binding("ctrl+n", "new_conversation", "New", id="new_conversation"),
        Binding("ctrl+r", "toggle_thinking", "Thinking", id="toggle_thinking", priority=True),
        Binding("ctrl+o", "load_conversation", "Open", id="load_conversation"),
        # The app's q, s and l are letters the prompt types; these work while it has focus.
        Binding("ctrl+l", "app.server_log", "Log", id="chat_log", priority=True),
        Binding("ctrl+t", "app.stop_server", "Unload", id="chat_stop_server", priority=True),
        Binding("ctrl+q", "app.quit", "Quit", id="chat_quit", priority=True),
    ]

    @dataclass
    class ReplyStreamed(Message):
        """A reply finished streaming (or was stopped, or failed)."""

        text: str
        status: str = "complete"
        """``complete``, ``stopped`` (escape) or ``interrupted`` (the stream failed)."""
        meters: MeterSnapshot | None = None
        """The session meters after it; None when nothing was counted."""

    def __init__(self, context: TuiContext) -> None:
        super().__init__(id="chat-screen")
        self.context = context
        self.session = ChatSession(context.config)
        """History, settings, conversation file and meters of this chat."""
        self.server_pid: int | None = None
        """Process of the served model, for its RSS in the meters (set by the app)."""
        self._reply_worker: Worker[None] | None = None
        self._cancel = asyncio.Event()
        """Set to stop the reply being streamed."""
        self.replies_finished = 0
        """Replies that ended (done, stopped or failed) since the app started."""
        self._status = "no server - pick a model in the catalog (F1)"
        self._server_figures = ServerMetricsReader()
        self._cpu_clock = CpuClock()
        self._priced: MeterSnapshot | None = None
        """Meters priced for a server connected before the screen was mounted."""
        self._sampled_at = 0.0
        self._live_shown_at = 0.0
        self._held_reading: SystemSnapshot | None = None
        """A machine reading that waits for the next live meters (a reply is streaming)."""

    @property
    def endpoint(self) -> ChatEndpoint | None:
        """Where replies come from (None: no server)."""
        return self.session.endpoint

    @property
    def history(self) -> list[dict[str, str]]:
        """The conversation so far, as OpenAI-style messages (without the system prompt)."""
        return self.session.history

    @property
    def conversation(self) -> Conversation | None:
        """The conversation file being written (None until the first prompt)."""
        return self.session.conversation

    @property
    def settings(self) -> ModelSettings:
        """System prompt and sampling settings in force."""
        return self.session.settings

    def compose(self) -> ComposeResult:
        yield Static(Text(printable(self._status)), id="server-status")
        with Horizontal(id="chat-main"):
            yield ChatPane(id="chat")
            yield MetersPane(id="meters")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.set_interval(SYSTEM_REFRESH_S, self._sample_system)
        self.set_interval(LIVE_METERS_S, partial(self._show_live_meters, slack=1.5))
        self._sample_system()
        if self._priced is not None:
            self.query_one(MetersPane).snapshot, self._priced = self._priced, None

    def on_unmount(self) -> None:
        self._server_figures.close()

    def _show_live_meters(self, slack: float = 1.0) -> None:
        """While a reply streams, the meters count it as far as it got, at most once each
        ``slack`` times its pace's ``meters_s``; a machine reading that came meanwhile is
        shown with them."""
        if not (self.replying and self.is_mounted):
            return
        now = time.monotonic()
        writer = self.query_one(ChatPane).reply_writer
        every = (writer.pace if writer is not None else ROOMY).meters_s * slack
        if now - self._live_shown_at < every:
            return
        self._live_shown_at = now
        meters = self.query_one(MetersPane)
        if self._held_reading is not None:
            meters.system, self._held_reading = self._held_reading, None
        meters.snapshot = self.session.live_meters()

    def on_screen_resume(self) -> None:
        self.query_one(ChatPane).focus_prompt()

    def configure(self, config: Config) -> None:
        """Use ``config`` (API models, prices, configured watts) from the next reply on."""
        self.session.configure(config)

    # -- server ---------------------------------------------------------------

    def connect(self, endpoint: ChatEndpoint | None, status: str) -> None:
        """Talk to ``endpoint`` from now on (None: no server) and show ``status``."""
        self.session.connect(endpoint)
        self._status = status
        if self.is_mounted:
            self.query_one("#server-status", Static).update(Text(printable(status)))
        if endpoint is not None:
            # The meters price the model as hosted; finding its twin reads the catalog
            # (~0.1 s of CPU): now, not in the middle of the first reply.
            self.run_worker(
                self._price_meters,
                name="hosted twin",
                group="hosted",
                thread=True,
                exclusive=True,
                exit_on_error=False,
            )

    def _price_meters(self) -> None:
        """Show the meters priced for the model now served, every line there before its
        first reply (so the live meters redraw in place); on a worker thread."""
        from localctl.cost import hosted_model_for

        endpoint = self.session.endpoint
        if endpoint is None:
            return
        hosted_model_for(endpoint.model)
        meters = self.session.meters
        self.app.call_from_thread(self._show_meters, meters)

    def _show_meters(self, meters: MeterSnapshot) -> None:
        if not self.is_mounted:
            self._priced = meters  # shown once mounted
        elif not self.replying:
            self.query_one(MetersPane).snapshot = meters

    # -- replies --------------------------------------------------------------

    @property
    def replying(self) -> bool:
        """True while a reply streams."""
        return self._reply_worker is not None and self._reply_worker.is_running

    async def on_chat_pane_submitted(self, message: ChatPane.Submitted) -> None:
        pane = self.query_one(ChatPane)
        if self.session.endpoint is None:
            pane.restore_prompt(message.text)  # kept for when a server runs again
            await pane.add_note("No server is running: press F1 and enter on a model.")
            return
        if self.replying:
            pane.restore_prompt(message.text)
            await pane.add_note("Still replying: escape stops the reply first.")
            return
        await pane.add_user(message.text)
        self._cancel = asyncio.Event()
        self._reply_worker = self._stream_reply(message.text, self._cancel)

    @work(group="reply", exclusive=True, exit_on_error=False)
    async def _stream_reply(self, prompt: str, cancel: asyncio.Event) -> None:
        """Stream one reply into the transcript, garbage collections looking at what the
        reply makes only (see :func:`_young_objects_only`), the prompt's cursor still."""
        pane = self.query_one(ChatPane)
        pane.hold_cursor(True)
        try:
            with _young_objects_only():
                await self._reply(prompt, cancel)
        finally:
            pane.hold_cursor(False)

    async def _reply(self, prompt: str, cancel: asyncio.Event) -> None:
        """Stream one reply into the transcript; the MarkdownStream batches widget updates."""
        from localctl.errors import LocalctlError

        pane = self.query_one(ChatPane)
        gauges = self.query_one(MetersPane)
        writer = await pane.begin_reply(on_flush=self._show_live_meters)
        self._live_shown_at = time.monotonic()  # the first live meters one interval in
        # The stream is read twice per repaint of the text, whatever the pace becomes.
        self.session.read_every = lambda: writer.pace.text_s / 2
        parts: list[str] = []
        ended: TurnEnded | None = None
        thinking: ThinkingBlock | None = None
        try:
            async with aclosing(self.session.send(prompt, cancel)) as events:
                async for event in events:
                    if isinstance(event, TokenDelta):
                        if gauges.progress is not None:  # a repaint only when it changes
                            gauges.progress = None
                        parts.append(event.text)
                        await writer.write(event.text)
                    elif isinstance(event, ThinkingDelta):
                        if gauges.progress is not None:
                            gauges.progress = None
                        if thinking is None:
                            thinking = await pane.begin_thinking(writer)
                        thinking.write(event.text)
                        self._show_live_meters()
                    elif isinstance(event, PromptProgress):
                        slow = event.elapsed_s >= PROGRESS_AFTER_S
                        done = event.processed >= event.total
                        gauges.progress = event if slow and not done else None
                    elif isinstance(event, SavingStopped):
                        self.notify(event.reason.capitalize(), severity="warning")
                    elif isinstance(event, ContextTrimmed):
                        await pane.add_note(f"— {event.describe()} —")
                    elif isinstance(event, TurnEnded):
                        ended = event
        except asyncio.CancelledError:
            pass
        except LocalctlError as error:
            gauges.progress = None
            await writer.close()
            await pane.add_note(f"Reply failed: {error}")
            if not parts:
                pane.restore_prompt(prompt)  # unanswered: ready to send again
            self.post_message(self.ReplyStreamed("".join(parts), status="interrupted"))
            return
        gauges.progress = None
        await writer.close()
        if thinking is not None:
            thinking.finish(ended.reply.metrics.reasoning_tokens if ended is not None else 0)
        if ended is not None and ended.failed:
            await pane.add_note(f"Reply failed: {ended.reply.error}")
            pane.restore_prompt(prompt)
            self.post_message(self.ReplyStreamed("", status="interrupted"))
            return
        status = ended.reply.status if ended is not None else "stopped"
        if status == "stopped":
            await pane.add_note("(stopped)")
        elif ended is not None and status == "interrupted":
            await pane.add_note(f"Reply cut short: {ended.reply.error}")
        meters = ended.meters if ended is not None else None
        self.post_message(self.ReplyStreamed("".join(parts), status=status, meters=meters))

    def on_chat_screen_reply_streamed(self, message: ReplyStreamed) -> None:
        self.replies_finished += 1
        # A reply stopped before it ended is counted too (as far as it got).
        meters = message.meters if message.meters is not None else self.session.meters
        self.query_one(MetersPane).snapshot = meters
        self._sample_system(due=True)  # the server's figures were not read while it streamed

    def action_toggle_thinking(self) -> None:
        """Expand or collapse the replies' thinking."""
        if not self.query_one(ChatPane).toggle_thinking():
            self.notify("No reply has thinking to show.")

    def action_stop_generation(self) -> None:
        """Stop the reply being streamed (its worker is cancelled if it does not stop soon)."""
        if not self.replying:
            return
        self._cancel.set()
        worker = self._reply_worker

        def hard_stop() -> None:
            if worker is not None and worker.is_running:
                worker.cancel()

        self.set_timer(STOP_GRACE_S, hard_stop)

    # -- conversations and settings -----------------------------------------------

    async def action_new_conversation(self) -> None:
        """Start an empty conversation (the current one stays saved)."""
        worker = self._reply_worker
        if worker is not None and worker.is_running:
            # The stopped reply must be recorded in the old conversation, not the new one.
            self._cancel.set()
            worker.cancel()
            with suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()
        self.session.new_conversation()
        await self.query_one(ChatPane).clear()

    def action_load_conversation(self) -> None:
        """Pick a saved conversation and show it."""
        from localctl import conversations
        from tui.screens.modals import ConversationModal

        found, _warnings = conversations.list_conversations()
        self.app.push_screen(ConversationModal(found), self._load_picked)

    async def _load_picked(self, conversation_id: str | None) -> None:
        if conversation_id is None:
            return
        from localctl.errors import LocalctlError

        await self.action_new_conversation()
        try:
            self.session.resume(conversation_id)
        except LocalctlError as error:
            self.notify(str(error), severity="error")
            return
        pane = self.query_one(ChatPane)
        conversation = self.session.conversation
        shown = conversation.messages if conversation is not None else self.session.history
        for item in shown:
            if item["role"] == "user":
                await pane.add_user(item["content"])
            elif item["role"] == "assistant":
                await pane.add_assistant(item["content"])
                if item.get("status", "complete") != "complete":
                    await pane.add_note(f"({item['status']})")

    def action_model_settings(self) -> None:
        """Edit the system prompt and sampling settings of this model."""
        from tui.screens.modals import ModelSettingsModal

        self.app.push_screen(ModelSettingsModal(self.session.settings), self._settings_picked)

    def _settings_picked(self, settings: ModelSettings | None) -> None:
        if settings is None:
            return
        try:
            self.session.use_settings(settings)
        except OSError as error:
            self.notify(f"Settings in force but not remembered: {error}", severity="warning")

    # -- meters ---------------------------------------------------------------

    def _sample_system(self, *, due: bool = False) -> None:
        """Read the machine on a worker thread; while a reply streams only once each
        ``meters_s`` of its pace (``due``: now in any case), as the reading is shown then."""
        now = time.monotonic()
        writer = self.query_one(ChatPane).reply_writer if self.is_mounted else None
        every = writer.pace.meters_s if writer is not None and self.replying else 0.0
        if not due and now - self._sampled_at < every - SYSTEM_REFRESH_S / 2:
            return
        self._sampled_at = now
        endpoint = self.session.endpoint
        native = endpoint is not None and self.session.native_server
        server = endpoint if native and not self.replying else None
        self.run_worker(
            partial(self._read_system, self.server_pid, server, native),
            name="system meters",
            group="system",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _read_system(self, pid: int | None, server: ChatEndpoint | None, native: bool) -> None:
        """Sample the machine, and ``server``'s own figures unless it is None (kept as shown
        while ``native``, cleared when the server is not a native one)."""
        from localctl.meters import system_snapshot

        reading = system_snapshot(self._cpu_clock, pid)
        if server is None:
            self.app.call_from_thread(self._show_system, reading, keep_server=native)
            return
        figures = self._server_figures.read(server.url, server.api_key)
        self.app.call_from_thread(self._show_system, reading, figures)

    def _show_system(
        self,
        reading: SystemSnapshot,
        figures: ServerMetrics | None = None,
        *,
        keep_server: bool = False,
    ) -> None:
        if not self.is_mounted:
            return
        meters = self.query_one(MetersPane)
        if self.replying:
            self._held_reading = reading  # shown with the live meters, in their frame
            self._pace_reply(reading)
        else:
            meters.system, self._held_reading = reading, None
        if not keep_server:
            meters.server = figures

    def _pace_reply(self, reading: SystemSnapshot) -> None:
        """Show the streaming text as often as the machine has room for, judged by a reading
        taken wholly while the reply streamed (an earlier one saw the machine idle)."""
        writer = self.query_one(ChatPane).reply_writer
        if writer is None or writer.started_at is None:
            return
        if reading.cpu_since >= writer.started_at:
            writer.pace = pace_for(reading.idle_cores)

    @property
    def snapshot(self) -> MeterSnapshot:
        """The meters shown now."""
        return self.query_one(MetersPane).snapshot
