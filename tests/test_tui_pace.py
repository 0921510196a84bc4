"""The chat shows a reply at a pace that leaves the model its CPU (bench tui_chat measures it)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Markdown, ProgressBar, Static

import localctl.library
from localctl.config import Config
from localctl.meters import SystemSnapshot
from tests.fakesse import FakeSSE
from tests.tui_flow import fill_attach, wait_until
from tests.tui_helpers import Harness, model
from tui.app import make_app
from tui.screens.chat import ChatScreen
from tui.widgets.chat_pane import (
    BUSY,
    ROOMY,
    TAIL_STEP_LINES,
    BlockSplitter,
    ChatPane,
    Pace,
    StreamTail,
    pace_for,
    tail_step,
)

SIZE = (120, 36)
QUICK = Pace(text_s=0.01, format_s=0.0, meters_s=1.0)
"""Text shown every 10 ms, blocks formatted at once."""
UNFORMATTED = Pace(text_s=0.01, format_s=60.0, meters_s=60.0)
"""Text shown every 10 ms, blocks formatted a minute later (not within a test)."""


@pytest.fixture(autouse=True)
def small_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localctl.library, "load_models", lambda: [model("llama-3.1-8b")])


def test_blocks_finish_at_blank_lines_headings_and_closing_fences() -> None:
    blocks = BlockSplitter()
    blocks.feed("# Title\nFirst para")
    assert blocks.text[: blocks.finished] == "# Title\n"
    blocks.feed("graph goes on\n\n```python\nx = 1\n\n")
    assert blocks.text[: blocks.finished] == "# Title\nFirst paragraph goes on\n\n"  # fence open
    blocks.feed("y = 2\n``` \nafter")
    assert blocks.take() == "# Title\nFirst paragraph goes on\n\n```python\nx = 1\n\ny = 2\n``` \n"
    assert blocks.text == "after" and blocks.finished == 0
    blocks.feed(" the fence\n\n~~~~\n````\n")  # a ```` line does not close a ~~~~ fence
    assert blocks.finished == len("after the fence\n\n")
    assert blocks.take(everything=True) == "after the fence\n\n~~~~\n````\n"


def test_the_pace_follows_the_machine() -> None:
    assert pace_for(SystemSnapshot(cpu_percent=97.0, cpu_count=2).idle_cores) == BUSY
    assert pace_for(SystemSnapshot(cpu_percent=40.0, cpu_count=2).idle_cores) == BUSY
    assert pace_for(SystemSnapshot(cpu_percent=10.0, cpu_count=4).idle_cores) == ROOMY
    assert pace_for(SystemSnapshot(cpu_percent=80.0, cpu_count=16).idle_cores) == ROOMY
    assert BUSY.text_s >= 3 * ROOMY.text_s and BUSY.meters_s > ROOMY.meters_s


def test_the_tail_reserves_half_the_transcript_and_the_newest_line_stays_in_view() -> None:
    assert tail_step(40) == 20 and tail_step(17) == TAIL_STEP_LINES
    assert tail_step(6) == 5 and tail_step(1) == 1  # fewer rows than the view shows
    assert tail_step(0) == TAIL_STEP_LINES  # not laid out yet


async def test_text_within_its_reserved_rows_repaints_without_laying_out_the_screen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch that adds to the last line redraws that line; the screen is laid out again
    once when the text outgrows the rows it reserved (half the transcript), not per batch,
    and not a second time for the tail's new size."""
    layouts: list[float] = []
    refresh_layout = Screen._refresh_layout

    def counted(screen: Screen[object], *args: object, **kwargs: object) -> None:
        layouts.append(time.monotonic())
        refresh_layout(screen, *args, **kwargs)  # type: ignore[arg-type]

    pane = ChatPane()
    async with Harness(pane).run_test(size=SIZE) as pilot:
        writer = await pane.begin_reply()
        writer.pace = UNFORMATTED
        tail = pane.query_one(StreamTail)
        viewport = pane.transcript.scrollable_content_region.height
        assert tail.step == tail_step(viewport) > TAIL_STEP_LINES
        await writer.write("word ")
        # No prompt above it here: the whole view (given once the pane is laid out).
        await wait_until(pilot, lambda: tail.size.height == viewport, 10, "room given")
        room = tail.size.height
        monkeypatch.setattr(Screen, "_refresh_layout", counted)
        for _ in range(12):  # 60 characters: still the first of the reserved rows
            await writer.write("word ")
            await pilot.pause(0.03)
        assert tail.text.count("word") == 13 and not layouts
        assert tail.size.width == pane.query_one(Markdown).size.width  # as wide as the reply
        words = room * tail.size.width // 5 + 20  # past the reserved rows
        for _ in range(words):
            await writer.write("word ")
        await wait_until(pilot, lambda: tail.size.height > room, 10, "rows reserved")
        await pilot.pause(0.2)  # time for a second layout, were one asked for
        assert len(layouts) == 1
        assert tail.size.height == room + tail.step  # one step past the room
        await writer.close()
        await pilot.pause()
        assert pane.query_one(Markdown).source == "word " * (13 + words)
        assert not pane.query(StreamTail)


def writer_step(pane: ChatPane) -> int:
    return tail_step(pane.transcript.scrollable_content_region.height)


async def test_the_prompt_goes_to_the_top_and_its_reply_gets_the_rest_of_the_view() -> None:
    pane = ChatPane()
    async with Harness(pane).run_test(size=SIZE) as pilot:
        for number in range(40):
            await pane.add_note(f"earlier message {number}")
        await pane.add_user("hello")
        user = pane.query(".user").last()
        writer = await pane.begin_reply()
        await pilot.pause(0.2)
        view = pane.transcript.scrollable_content_region
        assert user.region.y - view.y == user.styles.margin.top
        tail = pane.query_one(StreamTail)
        assert tail.region.bottom == view.bottom
        await writer.close()


async def test_blocks_handed_to_the_markdown_take_their_rows_from_the_room() -> None:
    """The room given to a reply is shared by its formatted blocks and its tail: handing a
    block over moves rows, the reply's area stays (the view does not jump)."""
    pane = ChatPane()
    async with Harness(pane).run_test(size=SIZE) as pilot:
        await pane.add_user("hello")
        writer = await pane.begin_reply()
        writer.pace = UNFORMATTED
        await pilot.pause(0.2)
        tail = pane.query_one(StreamTail)
        room = tail.outer_size.height
        await writer.write("".join(f"Paragraph {n} of the reply.\n\n" for n in range(6)))
        await pilot.pause(0.1)
        writer.pace = QUICK
        await writer.write("The last one, unfinished")
        await pilot.pause(0.3)
        markdown = pane.query_one(Markdown)
        assert tail.text == "The last one, unfinished"
        assert tail.outer_size.height < room
        assert abs(markdown.outer_size.height + tail.outer_size.height - room) <= 2
        await writer.close()


async def test_a_finished_reply_keeps_its_rows_until_the_next_message() -> None:
    """The rows reserved for a reply stay when it ends (the transcript does not jump); the
    next message gives them back."""
    pane = ChatPane()
    async with Harness(pane).run_test(size=SIZE) as pilot:
        await pane.add_user("hello")
        writer = await pane.begin_reply()
        writer.pace = UNFORMATTED
        await writer.write("A short reply.")
        await pilot.pause(0.1)
        height = pane.transcript.virtual_size.height
        await writer.close()
        await pilot.pause(0.1)
        reply = pane.query_one(Markdown)
        assert pane.transcript.virtual_size.height == height
        assert reply.outer_size.height >= writer_step(pane)
        await pane.add_user("and then?")
        await pilot.pause(0.1)
        assert reply.outer_size.height <= 2  # its paragraph
        writer = await pane.begin_reply()
        await writer.write("Another short reply.")
        await pilot.pause(0.1)
        await writer.close()
        await pilot.pause(0.1)
        reply = pane.query(Markdown).last()
        assert reply.outer_size.height >= writer_step(pane)
        await pilot.resize_terminal(SIZE[0], SIZE[1] // 2)  # a smaller terminal: given back
        await pilot.pause(0.2)
        assert reply.outer_size.height <= 2
        view = pane.transcript.scrollable_content_region
        assert view.y <= reply.region.y < view.bottom  # in view, not above a blank end


async def test_finished_blocks_are_formatted_at_the_pace_and_the_rest_at_the_end() -> None:
    pane = ChatPane()
    async with Harness(pane).run_test(size=SIZE) as pilot:
        writer = await pane.begin_reply()
        writer.pace = QUICK
        await writer.write("First paragraph.\n\nSecond, not fin")
        await pilot.pause(0.1)
        markdown = pane.query_one(Markdown)
        assert markdown.source == "First paragraph.\n\n"
        assert pane.query_one(StreamTail).text == "Second, not fin"
        writer.pace = UNFORMATTED
        await writer.write("ished.\n\nThird")
        await pilot.pause(0.1)
        assert markdown.source == "First paragraph.\n\n"  # the next hand-over is a minute away
        await writer.close()
        assert markdown.source == "First paragraph.\n\nSecond, not finished.\n\nThird"


@asynccontextmanager
async def _chat_attached(tokens: int) -> AsyncIterator[tuple[Pilot[int], ChatScreen]]:
    """The app attached to a fake server that streams ``tokens`` tokens 10 ms apart, with
    its chat screen shown."""
    app = make_app(hw_profile="rtx4090", config=Config())
    with FakeSSE("normal", tokens=tokens, delay_s=0.01) as fake:
        async with app.run_test(size=SIZE) as pilot:
            await fill_attach(app, pilot, fake.url)
            await wait_until(pilot, lambda: app.screen is app.chat_screen, 10, "chat screen")
            yield pilot, app.chat_screen


async def test_a_reading_taken_while_the_reply_streams_sets_its_pace() -> None:
    """The reply starts BUSY; a reading that covers only its streaming decides, and
    the prompt's cursor holds still until the reply ends."""
    async with _chat_attached(tokens=400) as (pilot, chat):
        pane = chat.query_one(ChatPane)
        prompt = chat.query_one("#prompt")
        prompt.value = "go"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.reply_writer is not None, 10, "reply")
        writer = pane.reply_writer
        assert writer is not None
        await wait_until(pilot, lambda: writer.started_at is not None, 10, "text")
        assert writer.pace == BUSY and not prompt.cursor_blink  # type: ignore[attr-defined]
        since = writer.started_at
        assert since is not None
        idle = SystemSnapshot(cpu_percent=5.0, cpu_count=4, cpu_since=since - 0.5)
        chat._show_system(idle)  # taken partly before the reply: says nothing of it
        assert writer.pace == BUSY
        idle = SystemSnapshot(cpu_percent=5.0, cpu_count=4, cpu_since=since + 0.1)
        busy = SystemSnapshot(cpu_percent=99.0, cpu_count=4, cpu_since=since + 1.1)
        chat._show_system(idle)
        assert writer.pace == ROOMY
        chat._show_system(busy)
        assert writer.pace == BUSY
        await wait_until(pilot, lambda: chat.replies_finished == 1, 30, "reply ended")
        assert prompt.cursor_blink  # type: ignore[attr-defined]


async def test_nothing_animates_unseen_and_the_meters_run_no_timers() -> None:
    """An empty ProgressBar animates at 15 Hz even while hidden, and each one runs a 1 Hz
    timer: every wake-up of the app is time taken from a model on a small machine."""
    app = make_app(hw_profile="rtx4090", config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await app.action_show_chat()
        await pilot.pause(0.2)
        widgets: list[Widget] = [
            *app.catalog_screen.walk_children(Widget),
            *app.chat_screen.walk_children(Widget),
        ]
        assert [w for w in widgets if w.auto_refresh] == []
        assert not app.chat_screen.query(ProgressBar)
        assert not app.catalog_screen.query(ProgressBar)  # none while no download runs


async def test_the_tail_wraps_again_when_the_terminal_narrows() -> None:
    pane = ChatPane()
    async with Harness(pane).run_test(size=SIZE) as pilot:
        writer = await pane.begin_reply()
        writer.pace = UNFORMATTED
        tail = pane.query_one(StreamTail)
        await writer.write("word " * 100)
        await pilot.pause(0.1)
        wide = tail.content_size.width
        rows = [tail.render_line(y) for y in range(tail.size.height)]
        await pilot.resize_terminal(SIZE[0] // 2, SIZE[1])
        await pilot.pause(0.2)
        narrow = tail.content_size.width
        assert narrow < wide
        assert {row.cell_length for row in rows} == {wide}
        assert {tail.render_line(y).cell_length for y in range(tail.size.height)} == {narrow}
        text = "\n".join(tail.render_line(y).text for y in range(tail.size.height))
        assert text.split() == ["word"] * 100
        await writer.close()


async def test_live_meters_redraw_in_place_and_the_machine_is_read_at_their_pace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a reply streams at the BUSY pace, the meters update without a layout of the
    screen (their lines are all there before the first reply) and the machine is read once
    per meters interval, not every second."""
    import tui.screens.chat as chat_module
    from tui.widgets.meters_pane import MetersPane

    monkeypatch.setattr(chat_module, "pace_for", lambda idle_cores: BUSY)
    reads: list[float] = []
    read_system = chat_module.ChatScreen._read_system

    def counted_read(screen: chat_module.ChatScreen, *args: object) -> None:
        reads.append(time.monotonic())
        read_system(screen, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(chat_module.ChatScreen, "_read_system", counted_read)
    async with _chat_attached(tokens=500) as (pilot, chat):
        meters = chat.query_one(MetersPane)
        costs = meters.query_one("#costs", Static)
        await wait_until(pilot, lambda: "gpt" in str(costs.content), 10, "meters priced")
        laid_out: list[str] = []
        refresh = Widget.refresh

        def spy(widget: Widget, *regions: object, **flags: bool) -> Widget:
            inside = widget is meters or meters in widget.ancestors
            if flags.get("layout") and inside and chat.replying:
                laid_out.append(f"{type(widget).__name__}#{widget.id}")
            return refresh(widget, *regions, **flags)  # type: ignore[arg-type]

        monkeypatch.setattr(Widget, "refresh", spy)
        renders = meters.renders
        chat.query_one("#prompt").value = "go"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(pilot, lambda: chat.replying, 10, "reply")
        started = time.monotonic()
        reads.clear()
        await wait_until(pilot, lambda: chat.replies_finished == 1, 30, "reply ended")
        streamed = time.monotonic() - started
        assert streamed > 3  # long enough for live meters and several readings
        assert meters.renders - renders >= 2  # live while it streamed, then its end
        assert laid_out == []
        while_streaming = [t for t in reads if t < started + streamed - 0.2]
        assert len(while_streaming) <= streamed / (BUSY.meters_s - 0.5) + 1
