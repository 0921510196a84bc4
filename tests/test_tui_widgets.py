"""Single widgets of the TUI in a harness app."""

from __future__ import annotations

from textual.widgets import Markdown

from localctl.meters import SessionMeters
from localctl.replies import ReplyMetrics
from tests.tui_helpers import Harness, hardware, plan, rows
from tui.widgets.catalog_table import CatalogTable
from tui.widgets.chat_pane import ChatPane, HistoryInput
from tui.widgets.detail_pane import DetailPane
from tui.widgets.meters_pane import MetersPane
from tui.widgets.plan_bar import PlanBar

SIZE = (120, 36)


def _cell_texts(table: CatalogTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_catalog_table_shows_each_verdict_with_its_own_style():
    table = CatalogTable()
    app = Harness(table)
    async with app.run_test(size=SIZE) as pilot:
        table.show_rows(rows())
        await pilot.pause()
        cells = _cell_texts(table)
        assert [row[3] for row in cells] == ["GPU", "partial 20/32", "CPU", "won't fit"]
        assert cells[0][4] == "42.5"
        assert cells[3][4] == "-"
        styles = {str(table.get_row_at(i)[3].style) for i in range(4)}
        assert len(styles) == 4, "every placement has its own colour"


async def test_catalog_table_enter_and_d_post_requests_for_the_current_row():
    table = CatalogTable()
    app = Harness(table)
    async with app.run_test(size=SIZE) as pilot:
        table.show_rows(rows())
        table.focus()
        await pilot.press("down", "enter")
        await pilot.press("d")
        await pilot.pause()
        runs = [m for m in app.messages if isinstance(m, CatalogTable.RunRequested)]
        downloads = [m for m in app.messages if isinstance(m, CatalogTable.DownloadRequested)]
        assert [m.row.key for m in runs] == ["llama-3.1-8b:Q8_0"]
        assert [m.row.key for m in downloads] == ["llama-3.1-8b:Q8_0"]


async def test_plan_bar_draws_vram_and_ram_bars_with_a_legend():
    bar = PlanBar()
    app = Harness(bar)
    async with app.run_test(size=SIZE) as pilot:
        bar.hardware = hardware(gpu=True)
        bar.plan = plan("partial")
        await pilot.pause()
        lines = bar.render().plain.splitlines()
        assert lines[0].startswith("VRAM") and "4.0 GiB / 8.0 GiB" in lines[0]
        assert lines[1].startswith("RAM") and "2.0 GiB / 24.0 GiB" in lines[1]
        assert "weights 5.0 GiB" in lines[2] and "KV 1.0 GiB" in lines[2]
        assert "compute 512.0 MiB" in lines[3]
        assert "█" in lines[0] and "░" in lines[0]


async def test_detail_pane_describes_the_plan_as_plain_text():
    pane = DetailPane()
    app = Harness(pane)
    async with app.run_test(size=SIZE) as pilot:
        pane.hardware = hardware()
        pane.row = rows()[1]
        await pilot.pause()
        text = str(pane.query_one("#detail-text").render())
        assert "Fit: partial 20/32" in text
        assert "GPU layers: 20/32" in text
        assert "~42 tok/s (35–48)" in text
        assert "prompt ~1,234 tok/s" in text.lower()
        assert "4,096-token prompt in 3.2 s" in text
        assert "published llama-bench" in text
        assert "Licence: llama3.1" in text
        assert "Repo: example/llama-3.1-8b-GGUF" in text
        assert "llama-3.1-8b-Q8_0.gguf" in text
        assert "[bold]not markup[/bold]" in text
        assert "Server command" not in text  # no configuration given: no command


async def test_detail_pane_shows_the_server_command_the_plan_would_launch():
    from dataclasses import replace

    from localctl.config import Config, ServerConfig

    pane = DetailPane()
    app = Harness(pane)
    config = replace(Config(), server=replace(ServerConfig(), port=8123))
    async with app.run_test(size=SIZE) as pilot:
        pane.hardware = hardware()
        pane.config = config
        pane.row = rows()[1]
        await pilot.pause()
        text = str(pane.query_one("#detail-text").render())
        assert "Server command:" in text
        assert "--model llama-3.1-8b-Q8_0.gguf" in text.replace("\n", " ")
        assert "--port 8123" in text


async def test_history_input_recalls_earlier_prompts_with_up_and_down():
    pane = ChatPane()
    app = Harness(pane)
    async with app.run_test(size=SIZE) as pilot:
        pane.focus_prompt()
        for prompt in ("first", "second"):
            await pilot.press(*prompt, "enter")
        await pilot.press(*"draft")
        prompt_input = pane.query_one(HistoryInput)
        await pilot.press("up")
        assert prompt_input.value == "second"
        await pilot.press("up", "up")
        assert prompt_input.value == "first"
        await pilot.press("down", "down")
        assert prompt_input.value == "draft"
        submitted = [m.text for m in app.messages if isinstance(m, ChatPane.Submitted)]
        assert submitted == ["first", "second"]


async def test_streamed_reply_renders_completely_and_never_as_markup():
    pane = ChatPane()
    app = Harness(pane)
    async with app.run_test(size=SIZE) as pilot:
        writer = await pane.begin_reply()
        tokens = ["tok "] * 2000 + ["[@click=app.quit]boom[/] ", "[bold]x[/bold]"]
        for token in tokens:
            await writer.write(token)
        await writer.close()
        await pilot.pause()
        markdown = pane.query_one(Markdown)
        assert markdown.source == "".join(tokens)
        assert app.is_running
        text = "".join(str(block._content) for block in markdown.children)
        assert "[@click=app.quit]boom[/]" in text


async def test_a_reply_writer_calls_back_after_each_batch_it_hands_over():
    """What else must repaint while a reply streams (the live meters) joins the text's frames."""
    pane = ChatPane()
    app = Harness(pane)
    async with app.run_test(size=SIZE) as pilot:
        handed: list[int] = []
        writer = await pane.begin_reply(on_flush=lambda: handed.append(writer.chars))
        for _ in range(3):
            await writer.write("tok ")
            await pilot.pause(0.2)  # past the batching interval
        await writer.close()
        assert len(handed) == writer.flushes >= 2  # the first words go at once
        assert handed == sorted(handed) and handed[-1] == 12


def _reply(completion_tokens: int) -> ReplyMetrics:
    return ReplyMetrics(
        ttft_s=0.25,
        prompt_tokens=20,
        prompt_tok_s=400.0,
        completion_tokens=completion_tokens,
        gen_tok_s=55.5,
        total_s=2.0,
    )


async def test_meters_pane_redraws_figures_that_change_in_place():
    from localctl.config import Config

    meters_widget = MetersPane()
    app = Harness(meters_widget)
    async with app.run_test(size=SIZE) as pilot:
        totals = SessionMeters()
        for completion in (100, 2_345):
            totals.add(_reply(completion))
            meters_widget.snapshot = totals.snapshot(Config().cost)
            await pilot.pause()
        tokens = str(meters_widget.query_one("#tokens").render())
        assert "2 replies" in tokens and "2,445 tok" in tokens


async def test_meters_pane_shows_session_figures_and_costs():
    from localctl.config import Config

    meters_widget = MetersPane()
    app = Harness(meters_widget)
    async with app.run_test(size=SIZE) as pilot:
        totals = SessionMeters()
        totals.add(_reply(100))
        meters_widget.snapshot = totals.snapshot(Config().cost)
        await pilot.pause()
        speed = str(meters_widget.query_one("#speed").render())
        tokens = str(meters_widget.query_one("#tokens").render())
        assert "55.5 tok/s" in speed and "250 ms" in speed
        assert "100 tok" in tokens
        snap = meters_widget.snapshot
        assert snap.energy_usd > 0 and snap.energy_source == "estimate"
        from localctl import cost

        assert snap.api_equivalent_usd == cost.api_equivalent(20, 100, Config().cost.api_models)
        costs = str(meters_widget.query_one("#costs").render())
        assert "prices: genai-prices" in costs and "other tokenizers" in costs
        assert "estimate power" in costs


def test_progress_line_names_part_size_speed_and_eta():
    from localctl.hub import PullProgress
    from tui.widgets.download_panel import progress_line

    line = progress_line(
        PullProgress(1, 2, "m-00001-of-00002.gguf", 512, 1024, 512 * 2**20, 2**30, 2**20, 65.0)
    )
    assert line == "file 1/2 m-00001-of-00002.gguf  512.0 MiB/1.0 GiB  1.0 MiB/s  ETA 1m05s"


async def test_filter_bar_shows_the_context_it_is_given_and_requests_the_one_picked():
    from textual.widgets import Select

    from tui.widgets.filter_bar import FilterBar

    bar = FilterBar(ctx=4096)
    app = Harness(bar)
    async with app.run_test(size=SIZE) as pilot:
        bar.ctx = 12000  # set by its owner: shown (an odd value joins the choices), not echoed
        await pilot.pause()
        select = bar.query_one("#ctx", Select)
        assert select.value == 12000
        assert not [m for m in app.messages if isinstance(m, FilterBar.ContextRequested)]
        select.value = 32768  # picked by the user: a request, the shown value is unchanged
        await pilot.pause()
        requests = [m.ctx for m in app.messages if isinstance(m, FilterBar.ContextRequested)]
        assert requests == [32768] and bar.ctx == 12000


def test_context_steps_through_the_offered_lengths():
    from tui.rows import step_ctx

    assert step_ctx(4096, 1) == 8192 and step_ctx(4096, -1) == 2048
    assert step_ctx(2048, -1) == 2048 and step_ctx(131072, 1) == 131072
    assert step_ctx(12000, 1) == 16384 and step_ctx(12000, -1) == 8192


async def test_hardware_bar_names_the_machine_once_known():
    from tui.widgets.hardware_bar import HardwareBar

    bar = HardwareBar()
    app = Harness(bar)
    async with app.run_test(size=SIZE) as pilot:
        assert "detecting hardware" in str(bar.render())
        bar.hardware = hardware()
        await pilot.pause()
        line = str(bar.render())
        assert "Test CPU (8c/16t)" in line and "RAM 24.0/32.0 GiB free" in line
        assert "GPU0 RTX Test 7.0/8.0 GiB" in line


def test_focusing_the_prompt_of_a_pane_not_yet_composed_does_nothing():
    ChatPane().focus_prompt()  # a chat screen resuming before its pane is mounted
