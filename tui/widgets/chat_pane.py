"""The chat transcript (streamed Markdown) and the prompt input with history."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Collapsible, Input, Markdown, Static
from textual.widgets.markdown import MarkdownStream

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

FLUSH_INTERVAL_S = 1 / 12
"""How often streamed text reaches the Markdown widget (12 Hz, what the eye needs): tokens
are batched in between, so a fast model does not pay for a repaint per token."""


@functools.cache
def _markdown_parser() -> MarkdownIt:
    """One parser for every message: the widget's default builds one per streamed batch."""
    from markdown_it import MarkdownIt

    return MarkdownIt("gfm-like")


class HistoryInput(Input):
    """An input that recalls earlier prompts with up and down."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous prompt", show=False, id="history_previous"),
        Binding("down", "history(1)", "Next prompt", show=False, id="history_next"),
    ]

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self.history: list[str] = []
        """Earlier prompts, oldest first."""
        self._cursor = 0
        self._draft = ""

    def remember(self, text: str) -> None:
        """Add ``text`` to the history and reset the recall position."""
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._cursor = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        """Show the previous (``-1``) or next (``1``) prompt of the history."""
        if not self.history:
            return
        if self._cursor == len(self.history):
            self._draft = self.value
        self._cursor = max(0, min(len(self.history), self._cursor + step))
        at_end = self._cursor == len(self.history)
        self.value = self._draft if at_end else self.history[self._cursor]
        self.cursor_position = len(self.value)


class ReplyWriter:
    """Feeds streamed text to a Markdown widget in batches, never one UI update per token.

    The first text is shown at once; after that a ticker hands what arrived to the widget
    every ``interval_s``, so the repaint rate is bounded however fast tokens come.
    ``on_flush`` runs after each batch: what else should repaint then joins the same frame.
    """

    def __init__(
        self,
        stream: MarkdownStream,
        interval_s: float = FLUSH_INTERVAL_S,
        on_flush: Callable[[], None] | None = None,
    ) -> None:
        self._stream = stream
        self._interval_s = interval_s
        self._on_flush = on_flush
        self._pending: list[str] = []
        self._ticker: asyncio.Task[None] | None = None
        self.chars = 0
        """Characters written so far."""
        self.flushes = 0
        """Batches handed to the widget (each one repaint of the message)."""
        self.widget: Markdown | None = None
        """The message widget written to."""

    async def write(self, text: str) -> None:
        """Queue ``text``; the ticker hands it to the widget within ``interval_s``."""
        if not text:
            return
        self._pending.append(text)
        self.chars += len(text)
        if self._ticker is None:
            await self._flush()  # the first words show without waiting
            self._ticker = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self._flush()

    async def _flush(self) -> None:
        if self._pending:
            batch = "".join(self._pending)
            self._pending.clear()
            self.flushes += 1
            await self._stream.write(batch)
            if self._on_flush is not None:
                self._on_flush()

    async def close(self) -> None:
        """Write what is left and wait until the widget shows all of it."""
        if self._ticker is not None:
            self._ticker.cancel()
            with suppress(asyncio.CancelledError):
                await self._ticker
        await self._flush()
        await self._stream.stop()


class ThinkingBlock(Collapsible):
    """A reply's thinking: collapsed above the answer, streamed live, expandable."""

    def __init__(self) -> None:
        super().__init__(
            Static("", classes="thinking-text"),
            title="Thinking…",
            collapsed=True,
            classes="thinking",
        )
        self._parts: list[str] = []
        self._last_flush = 0.0
        self._started = time.monotonic()

    @property
    def text(self) -> str:
        """The thinking so far."""
        return "".join(self._parts)

    def write(self, text: str) -> None:
        """Add ``text``; the widget is updated at most :data:`FLUSH_INTERVAL_S` apart."""
        self._parts.append(text)
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL_S:
            self._last_flush = now
            self._show()

    def _show(self) -> None:
        self.query_one(".thinking-text", Static).update(Text(self.text))
        self.title = f"Thinking… {len(self.text):,} characters"

    def finish(self, tokens: int) -> None:
        """Show all of it and say how long and how many tokens the model thought."""
        self._show()
        seconds = time.monotonic() - self._started
        counted = f" · {tokens:,} tokens" if tokens else ""
        self.title = f"Thought for {seconds:.1f} s{counted}"


class ChatPane(Vertical):
    """Transcript above, prompt below; posts `Submitted` with the prompt text."""

    @dataclass
    class Submitted(Message):
        """The user sent a prompt."""

        text: str

    reply_writer: ReplyWriter | None = None
    """The writer of the latest reply (None before the first)."""

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="transcript")
        yield HistoryInput(placeholder="Message (enter sends, escape stops)", id="prompt")

    @property
    def transcript(self) -> VerticalScroll:
        """The scrolling transcript container."""
        return self.query_one("#transcript", VerticalScroll)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            return
        prompt = self.query_one(HistoryInput)
        prompt.remember(text)
        prompt.value = ""
        self.post_message(self.Submitted(text))

    async def add_user(self, text: str) -> None:
        """Show a user message (plain text, never markup)."""
        await self.transcript.mount(Static(Text(text), classes="message user"))
        self.transcript.scroll_end(animate=False)

    async def add_note(self, text: str) -> None:
        """Show a one-line note (errors, stops) in the transcript."""
        await self.transcript.mount(Static(Text(text), classes="message note"))
        self.transcript.scroll_end(animate=False)

    async def add_assistant(self, text: str) -> Markdown:
        """Show a finished assistant message."""
        widget = Markdown(text, classes="message assistant", parser_factory=_markdown_parser)
        await self.transcript.mount(widget)
        self.transcript.scroll_end(animate=False)
        return widget

    async def begin_reply(self, on_flush: Callable[[], None] | None = None) -> ReplyWriter:
        """Mount an empty assistant message and return a writer streaming into it
        (``on_flush``: see :class:`ReplyWriter`)."""
        widget = await self.add_assistant("")
        self.transcript.anchor()
        writer = ReplyWriter(Markdown.get_stream(widget), on_flush=on_flush)
        writer.widget = widget
        self.reply_writer = writer
        return writer

    async def begin_thinking(self, writer: ReplyWriter) -> ThinkingBlock:
        """Mount a collapsed thinking block above the answer ``writer`` streams into."""
        block = ThinkingBlock()
        await self.transcript.mount(block, before=writer.widget)
        return block

    def toggle_thinking(self) -> bool:
        """Expand every thinking block if the last one is collapsed, else collapse them all.

        Returns:
            False when there is no thinking block.
        """
        blocks = list(self.transcript.query(ThinkingBlock))
        if not blocks:
            return False
        collapse = not blocks[-1].collapsed
        for block in blocks:
            block.collapsed = collapse
        return True

    async def clear(self) -> None:
        """Remove every message."""
        await self.transcript.remove_children()

    def restore_prompt(self, text: str) -> None:
        """Put ``text`` back in the prompt (a message that was not answered), unless the
        user has typed something new meanwhile."""
        prompt = self.query_one(HistoryInput)
        if not prompt.value.strip():
            prompt.value = text
            prompt.cursor_position = len(text)

    def focus_prompt(self) -> None:
        """Put the keyboard focus on the prompt (none yet while the pane is being composed:
        a screen may resume before its children are mounted)."""
        for prompt in self.query(HistoryInput):
            prompt.focus()
