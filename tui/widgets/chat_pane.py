"""The chat transcript (streamed Markdown) and the prompt input with history."""

from __future__ import annotations

import asyncio
import functools
import math
import re
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Collapsible, Input, Markdown, Static
from textual.widgets.markdown import MarkdownStream

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@dataclass(frozen=True)
class Pace:
    """How often a streaming reply is shown: tokens are batched in between, never a repaint
    per token."""

    text_s: float
    """Seconds between repaints of its text."""
    format_s: float
    """Seconds between hand-overs of its finished blocks to the Markdown widget, where they
    are formatted (a mount and a layout of the screen, some 30 ms on a small machine)."""
    meters_s: float
    """Seconds between updates of the meters beside it (some 20 ms on a small machine)."""


ROOMY = Pace(text_s=1 / 12, format_s=0.0, meters_s=1.0)
"""While the machine has two cores to spare: 12 Hz (what the eye needs), each block
formatted as soon as it is finished, the meters every second."""
BUSY = Pace(text_s=1 / 4, format_s=5.0, meters_s=2.0)
"""While the cores are busy (a model computing on the CPU), whose time each frame takes
from the model: 4 Hz, blocks formatted every 5 s, the meters updated every 2 s. A frame of the
screen costs 5-10 ms of a core on a small machine; this keeps the reply's display near 4%
of one (the CLI's own reading of the stream costs some 6%)."""


SPARE_CORES = 2.0
"""Cores' worth of unused CPU that make a machine roomy: a model decoding on the CPU
sleeps between its steps, so one idle core's worth is seen on a busy 2-core machine."""


def pace_for(idle_cores: float) -> Pace:
    """The pace for a machine with ``idle_cores`` cores' worth of CPU unused."""
    return ROOMY if idle_cores >= SPARE_CORES else BUSY


TAIL_STEP_LINES = 8
"""The unfinished end of a reply reserves its height in steps of at least this many lines,
or half the transcript's height when that is more: the screen is laid out again (some
10-25 ms on a small machine) when the text outgrows them, not at every repaint."""


def tail_step(viewport_rows: int) -> int:
    """Rows a streaming reply's tail reserves at a time in a transcript showing
    ``viewport_rows``: half of them (at least :data:`TAIL_STEP_LINES`), fewer than all of them,
    so the newest line stays in view above the rows reserved for what follows."""
    if viewport_rows <= 0:
        return TAIL_STEP_LINES
    return max(viewport_rows // 2, min(TAIL_STEP_LINES, viewport_rows - 1), 1)


_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r" {0,3}#{1,6}(?:[ \t]|$)")


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


def _closes(fence: str, marker: str, after: str) -> bool:
    """True when a line of ``marker`` followed by ``after`` closes code fence ``fence``."""
    return marker[0] == fence[0] and len(marker) >= len(fence) and not after.strip()


class BlockSplitter:
    """Finds where streamed Markdown's finished blocks end.

    A block is finished after a blank line, a heading line or a closing code fence (never
    inside an open fence): no later text changes how it renders, so it can go to the
    Markdown widget once. Each line is looked at once.
    """

    def __init__(self) -> None:
        self.text = ""
        """Text not yet taken."""
        self.finished = 0
        """Length of the finished blocks at the start of :attr:`text`."""
        self._scanned = 0
        self._fence: str | None = None

    def feed(self, text: str) -> None:
        """Add ``text``."""
        self.text += text
        while (end := self.text.find("\n", self._scanned)) >= 0:
            line = self.text[self._scanned : end]
            self._scanned = end + 1
            marker = _FENCE.match(line)
            if self._fence is not None:
                if marker is not None and _closes(
                    self._fence, marker.group(1), line[marker.end() :]
                ):
                    self._fence = None
                    self.finished = self._scanned
            elif marker is not None:
                self._fence = marker.group(1)
            elif not line.strip() or _HEADING.match(line):
                self.finished = self._scanned

    def take(self, everything: bool = False) -> str:
        """Remove and return the finished blocks (``everything``: all the text)."""
        cut = len(self.text) if everything else self.finished
        done, self.text = self.text[:cut], self.text[cut:]
        self._scanned = max(self._scanned - cut, 0)
        self.finished = 0
        return done


class _SizedInOnePass(Widget):
    """A widget sized by the layout in progress, which needs no second one: Textual's
    default asks for another layout of the screen (through the virtual size) whenever a
    widget's size changes, a second frame of the whole screen each time."""

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)


class StreamTail(_SizedInOnePass):
    """The end of a streaming reply not yet formatted, as plain text under the Markdown.

    Wrapped lines are kept: a repaint re-wraps only the last paragraph and redraws only the
    rows it changed, and the height grows in steps of ``step`` rows, so showing more text
    costs no layout of the screen until it outgrows the rows reserved.
    """

    DEFAULT_CSS = """
    StreamTail { width: 1fr; padding: 0 1; }
    """

    def __init__(self, step: int = TAIL_STEP_LINES) -> None:
        super().__init__(classes="stream-tail")
        self.text = ""
        """The text shown."""
        self.step = max(step, 1)
        """Rows reserved at a time; the first are there before the first text."""
        self.styles.height = self.step
        self._rows: list[Strip] = []
        self._line_starts: list[int] = []
        """Row where each of the text's lines begins."""
        self._width = 0
        self._reserved = self.step
        self._floor = 0
        """Rows kept whatever the text: the room the reply was given below its prompt, less
        what of it has gone to the Markdown above."""

    def fit(self, viewport_rows: int) -> None:
        """The transcript now shows ``viewport_rows``: the room given for the old size goes,
        and the steps follow the new one (the newest line stays in view)."""
        self.step = tail_step(viewport_rows)
        self.reserve(0)

    def reserve(self, rows: int) -> None:
        """Keep at least ``rows`` rows until the text hands them over (:meth:`handed_over`)."""
        self._floor = max(rows, 0)
        self._resize(len(self._rows))

    def handed_over(self, text: str) -> None:
        """``text``, the start of what is shown, has gone to the Markdown above: as many
        rows of the room are now there."""
        lines = text.count("\n")
        rows = self._line_starts[lines] if lines < len(self._line_starts) else len(self._rows)
        self._floor = max(self._floor - rows, 0)

    def _resize(self, rows: int) -> None:
        past = max(rows - self._floor, 0)  # rows beyond the room: reserved a step at a time
        reserved = self._floor + math.ceil(past / self.step) * self.step or self.step
        if reserved != self._reserved:
            self._reserved = reserved
            self.styles.height = reserved  # lays the screen out again

    def show(self, text: str) -> None:
        """Show ``text`` instead of what is shown."""
        width = self.content_size.width
        old, self.text = self.text, text
        if width != self._width or not text.startswith(old):
            first_line = 0
        else:  # text was added: only the last line shown can have changed
            first_line = max(len(self._line_starts) - 1, 0)
        self._wrap(width, first_line)

    def _wrap(self, width: int, first_line: int) -> None:
        self._width = width
        if width <= 0:
            self._rows, self._line_starts = [], []
            return
        before = len(self._rows)
        first_row = self._line_starts[first_line] if first_line < len(self._line_starts) else 0
        del self._rows[first_row:]
        del self._line_starts[first_line:]
        console = self.app.console
        style = self.rich_style
        lines = self.text.split("\n") if self.text else []
        for line in lines[first_line:]:
            self._line_starts.append(len(self._rows))
            for row in Text(line, style=style).wrap(console, width):
                self._rows.append(Strip(row.render(console)).extend_cell_length(width, style))
        rows = len(self._rows)
        self._resize(rows)
        self.refresh(Region(0, first_row, width, max(rows, before) - first_row))

    def on_resize(self) -> None:
        if self.content_size.width != self._width:  # a new height needs no new lines
            self._wrap(self.content_size.width, 0)

    def render_line(self, y: int) -> Strip:
        if y < len(self._rows):
            return self._rows[y]
        return Strip.blank(self.content_size.width, self.rich_style)


class ReplyWriter:
    """Feeds streamed text to the reply's widgets in batches, never one UI update per token.

    The first text is shown at once; after that a ticker hands what arrived to the widgets
    at the :attr:`pace`, so the repaint rate is bounded however fast tokens come; it starts
    :data:`BUSY` until the caller knows the machine has room. Finished Markdown blocks go to
    the Markdown widget (a layout of the screen each time) and the rest is shown by the
    ``tail`` (a repaint of its changed rows): Markdown is parsed once per block, not once per
    batch. ``on_flush`` runs after each batch: what else should repaint then joins the same
    frame.
    """

    def __init__(
        self,
        stream: MarkdownStream,
        tail: StreamTail,
        pace: Pace = BUSY,
        on_flush: Callable[[], None] | None = None,
    ) -> None:
        self._stream = stream
        self.pace = pace
        """How often text is shown and formatted; may change while the reply streams."""
        self._formatted_at = time.monotonic()
        """When blocks were last formatted (the first wait a whole ``format_s``)."""
        self._on_flush = on_flush
        self._tail = tail
        self._blocks = BlockSplitter()
        self._pending: list[str] = []
        self._ticker: asyncio.Task[None] | None = None
        self.chars = 0
        """Characters written so far."""
        self.started_at: float | None = None
        """When the first text came (``time.monotonic``); None before."""
        self.flushes = 0
        """Batches handed to the widget (each one repaint of the message)."""
        self.widget: Markdown | None = None
        """The message widget written to."""

    async def write(self, text: str) -> None:
        """Queue ``text``; the ticker shows it within the pace's ``text_s``."""
        if not text:
            return
        self._pending.append(text)
        self.chars += len(text)
        if self._ticker is None:
            self.started_at = time.monotonic()
            await self._flush()  # the first words show without waiting
            self._ticker = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.pace.text_s)
            await self._flush()

    async def _flush(self) -> None:
        if self._pending:
            batch = "".join(self._pending)
            self._pending.clear()
            self.flushes += 1
            self._blocks.feed(batch)
            now = time.monotonic()
            if self._blocks.finished and now - self._formatted_at >= self.pace.format_s:
                self._formatted_at = now
                blocks = self._blocks.take()
                self._tail.handed_over(blocks)
                await self._stream.write(blocks)
            self._tail.show(self._blocks.text)
            if self._on_flush is not None:
                self._on_flush()

    async def close(self) -> None:
        """Write what is left and wait until the Markdown widget shows all of it."""
        if self._ticker is not None:
            self._ticker.cancel()
            with suppress(asyncio.CancelledError):
                await self._ticker
        await self._flush()
        kept = self._tail.outer_size.height
        if self.widget is not None:
            kept += self.widget.outer_size.height
        rest = self._blocks.take(everything=True)
        if rest:
            await self._stream.write(rest)
        await self._stream.stop()
        if self.widget is not None and self.chars:
            # The reply keeps the rows it had reserved, so the transcript does not jump
            # when they go; the next message gives them back (ChatPane.release_rows).
            self.widget.styles.min_height = kept
        await self._tail.remove()


class ThinkingBlock(Collapsible):
    """A reply's thinking: collapsed above the answer, streamed live at the pace of the
    answer's ``writer``, expandable."""

    def __init__(self, writer: ReplyWriter) -> None:
        super().__init__(
            Static("", classes="thinking-text"),
            title="Thinking…",
            collapsed=True,
            classes="thinking",
        )
        self._writer = writer
        self._parts: list[str] = []
        self._last_flush = 0.0
        self._started = time.monotonic()

    @property
    def text(self) -> str:
        """The thinking so far."""
        return "".join(self._parts)

    def write(self, text: str) -> None:
        """Add ``text``; the widget is updated at most the pace's ``text_s`` apart."""
        self._parts.append(text)
        now = time.monotonic()
        if now - self._last_flush >= self._writer.pace.text_s:
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


class Transcript(_SizedInOnePass, VerticalScroll):
    """The scrolling messages; laid out once when its content grows (the layout in progress
    arranges its children and applies its anchor)."""


class ChatPane(Vertical):
    """Transcript above, prompt below; posts `Submitted` with the prompt text."""

    @dataclass
    class Submitted(Message):
        """The user sent a prompt."""

        text: str

    reply_writer: ReplyWriter | None = None
    """The writer of the latest reply (None before the first)."""

    def compose(self) -> ComposeResult:
        yield Transcript(id="transcript")
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

    def on_resize(self) -> None:
        """The rows given to the last reply were measured for the old size: a smaller
        screen would show only their blank end."""
        self.release_rows()
        for tail in self.query(StreamTail):
            tail.fit(self.transcript.scrollable_content_region.height)

    def release_rows(self) -> None:
        """Give back the rows the last reply kept after it ended (a message follows it)."""
        writer = self.reply_writer
        if writer is not None and writer.widget is not None:
            writer.widget.styles.min_height = None

    async def _add(self, message: Widget) -> None:
        """Mount ``message`` at the end of the transcript (the rows the last reply kept
        go back) and scroll to it."""
        self.release_rows()
        await self.transcript.mount(message)
        self.transcript.scroll_end(animate=False)

    async def add_user(self, text: str) -> None:
        """Show a user message (plain text, never markup)."""
        await self._add(Static(Text(text), classes="message user"))

    async def add_note(self, text: str) -> None:
        """Show a one-line note (errors, stops) in the transcript."""
        await self._add(Static(Text(text), classes="message note"))

    async def add_assistant(self, text: str) -> Markdown:
        """Show a finished assistant message."""
        widget = Markdown(text, classes="message assistant", parser_factory=_markdown_parser)
        await self._add(widget)
        return widget

    async def begin_reply(self, on_flush: Callable[[], None] | None = None) -> ReplyWriter:
        """Mount an empty assistant message and return a writer streaming into it
        (``on_flush``: see :class:`ReplyWriter`)."""
        widget = await self.add_assistant("")
        tail = StreamTail(tail_step(self.transcript.scrollable_content_region.height))
        await self.transcript.mount(tail)
        self.transcript.anchor()
        self.call_after_refresh(self._give_room, tail)
        writer = ReplyWriter(Markdown.get_stream(widget), tail, on_flush=on_flush)
        writer.widget = widget
        self.reply_writer = writer
        return writer

    def _give_room(self, tail: StreamTail) -> None:
        """Once the prompt is laid out, reserve the rest of the view below it for the reply:
        the prompt goes to the top, and a reply that fits the screen lays nothing out again
        while it streams."""
        if not tail.is_mounted:
            return
        above = 0
        for widget in reversed(self.transcript.children):
            if widget is tail or not widget.has_class("message") or widget.has_class("assistant"):
                continue
            if widget.has_class("user"):
                above = widget.outer_size.height + widget.styles.margin.top
            break
        tail.reserve(self.transcript.scrollable_content_region.height - above)

    async def begin_thinking(self, writer: ReplyWriter) -> ThinkingBlock:
        """Mount a collapsed thinking block above the answer ``writer`` streams into."""
        block = ThinkingBlock(writer)
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

    def hold_cursor(self, held: bool) -> None:
        """Stop the prompt's cursor blinking while ``held`` (a reply streams: each blink is
        a frame of the whole screen, taken from the model on a small machine)."""
        self.query_one(HistoryInput).cursor_blink = not held

    def focus_prompt(self) -> None:
        """Put the keyboard focus on the prompt (none yet while the pane is being composed:
        a screen may resume before its children are mounted)."""
        for prompt in self.query(HistoryInput):
            prompt.focus()
