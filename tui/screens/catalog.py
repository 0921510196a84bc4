"""The catalog screen: hardware line, filters, table of verdicts, detail pane, download bar."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Input, Select

from localctl.hardware import resolve_hardware
from localctl.library import CatalogRow, catalog_rows, plan_rows
from tui.rows import SORT_KEYS, families, select_rows, step_ctx
from tui.widgets.catalog_table import CatalogTable
from tui.widgets.detail_pane import DetailPane, with_draft
from tui.widgets.download_panel import DownloadPanel
from tui.widgets.filter_bar import FilterBar
from tui.widgets.hardware_bar import HardwareBar

if TYPE_CHECKING:
    from pathlib import Path

    from localctl.config import Config
    from localctl.hardware import Hardware
    from localctl.hub import PullProgress
    from localctl.request import PlanRequest
    from tui.context import TuiContext

DETAIL_MIN_SCREEN = 100
"""Narrower screens give the table the whole width (the detail pane hides; F1's table
then keeps model, quant, size, fit and tok/s whole at 80 columns)."""

PLAN_BATCH = 64
"""Rows planned between two table updates."""


class CatalogScreen(Screen[None]):
    """Browse models and quants with fit verdicts for this machine."""

    AUTO_FOCUS = "#catalog"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search", id="search"),
        Binding("f", "toggle_fits", "Fits", id="fits_only"),
        Binding("o", "cycle_sort", "Sort", id="sort"),
        Binding("plus,right_square_bracket", "ctx(1)", "Ctx+", id="ctx_up"),
        Binding("minus,left_square_bracket", "ctx(-1)", "Ctx-", id="ctx_down", show=False),
        Binding("escape", "escape", "Cancel download", id="cancel_download", show=False),
        Binding("b", "bench", "Bench here", id="bench", show=False),
    ]

    @dataclass
    class HardwareReady(Message):
        """The machine was detected (or the profile loaded)."""

        hardware: Hardware

    @dataclass
    class RowsReady(Message):
        """Rows (planned or not yet) for context ``ctx``."""

        rows: list[CatalogRow]
        ctx: int
        planned: bool

    @dataclass
    class LoadFailed(Message):
        """Catalog or hardware could not be loaded."""

        reason: str

    @dataclass
    class BenchFinished(Message):
        """A ``localctl bench`` run of a downloaded row ended (``summary`` says how)."""

        summary: str
        failed: bool = False

    @dataclass
    class CancelDownloadRequested(Message):
        """The user pressed escape while a download runs."""

    ctx: reactive[int] = reactive(4096, init=False)
    """Context length the verdicts are for: the one owner of it. Setting it re-plans."""

    def __init__(self, context: TuiContext) -> None:
        super().__init__(id="catalog-screen")
        self.context = context
        self.set_reactive(CatalogScreen.ctx, context.initial_ctx)
        self.hardware: Hardware | None = None
        self.all_rows: list[CatalogRow] = []
        self.planned_ctx = 0
        """Context the current verdicts were computed for (0 until the first plan)."""
        self.downloading = False
        """True while the app runs a download (escape then cancels it)."""
        self.download_fraction = 0.0
        """Share of the running (or last) download on disk, 0 to 1."""
        self._plan_cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield HardwareBar(id="hardware")
        yield FilterBar(ctx=self.ctx, id="filters")
        with Horizontal(id="catalog-main"):
            yield CatalogTable(id="catalog")
            yield DetailPane(id="detail")
        panel = DownloadPanel(id="download")
        panel.display = False
        yield panel
        yield Footer(compact=True, show_command_palette=False)

    def on_resize(self) -> None:
        self.query_one(DetailPane).display = self.size.width >= DETAIL_MIN_SCREEN

    def on_mount(self) -> None:
        self.query_one(CatalogTable).loading = True
        self._load()

    # -- loading and planning -------------------------------------------------

    def _load(self) -> None:
        """Plan every row at ``ctx`` on a worker (a plan still running is cancelled)."""
        self._plan_cancel.set()
        self._plan_cancel = cancel = threading.Event()
        config, profile, ctx = self.context.config, self.context.hw_profile, self.ctx
        self.run_worker(
            lambda: self._load_rows(profile, ctx, config.kv_type, config.parallel, cancel),
            name="load catalog",
            group="plan",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _load_rows(
        self, profile: str | None, ctx: int, kv_type: str, parallel: int, cancel: threading.Event
    ) -> None:
        """Thread: plan with what is known at once, then probe, scan and re-plan.

        The first plan uses the cached (or assumed) memory bandwidth and the catalog's own
        rows; the bandwidth probe and the scan of the model folders come after it, and
        only what they change is planned again. Only posts messages.
        """
        from localctl.errors import LocalctlError
        from localctl.request import PlanRequest

        known, config = self.hardware, self.context.config
        first_load = not self.all_rows
        try:
            hardware = known or resolve_hardware(profile, measure=False)
            self.post_message(self.HardwareReady(hardware))
            rows = self.all_rows or catalog_rows(config, on_disk=False)
            request = PlanRequest.from_config(config, ctx=ctx, kv_type=kv_type, parallel=parallel)
        except (LocalctlError, NotImplementedError) as error:
            self.post_message(self.LoadFailed(str(error) or type(error).__name__))
            return
        if first_load:
            self.post_message(self.RowsReady(rows, ctx, planned=False))
        planned = self._plan_batches(rows, [], hardware, request, ctx, cancel)
        if planned is None or (known is not None and not first_load):
            return
        detect = known is None and not (profile and profile.strip())
        try:
            measured = resolve_hardware(profile) if detect else hardware  # the probe
            every = catalog_rows(config) if first_load else rows  # the scan
        except (LocalctlError, NotImplementedError) as error:
            self.post_message(self.LoadFailed(str(error) or type(error).__name__))
            return
        if cancel.is_set():
            return
        if measured != hardware:
            self.post_message(self.HardwareReady(measured))
        if measured != hardware or first_load:  # new figures, or the files on disk found
            shown = planned + every[len(planned) :]  # the old verdicts until replaced
            self._plan_batches(every, [], measured, request, ctx, cancel, shown)

    def _plan_batches(
        self,
        rows: list[CatalogRow],
        planned: list[CatalogRow],
        hardware: Hardware,
        request: PlanRequest,
        ctx: int,
        cancel: threading.Event,
        shown: list[CatalogRow] | None = None,
    ) -> list[CatalogRow] | None:
        """Plan ``rows`` after the ``planned`` prefix, posting batches; None if cancelled.

        Rows not planned yet are shown as in ``shown`` (default: ``rows``, unplanned).
        """
        planned = list(planned)
        rest = rows if shown is None else shown
        if len(planned) == len(rows):
            return planned
        config = self.context.config
        for row in plan_rows(rows[len(planned) :], hardware, request, cancel):
            if config.drafts:  # the verdict counts the configured draft's memory too
                row = with_draft(row, config, hardware)[0]
            planned.append(row)
            if len(planned) % PLAN_BATCH and len(planned) < len(rows):
                continue
            if cancel.is_set():
                return None
            done = len(planned) == len(rows)
            self.post_message(self.RowsReady(planned + rest[len(planned) :], ctx, planned=done))
        return None if cancel.is_set() else planned

    def reload(self) -> None:
        """Read the catalog again (after a hub refresh) and re-plan every row."""
        self.all_rows = []
        self.planned_ctx = 0
        self._load()

    def replan(self, ctx: int | None = None, *, rescan: bool = False) -> None:
        """Re-compute every verdict once (at ``ctx`` when given, e.g. after settings changed).

        ``rescan`` lists the files on disk again first (the model folders changed).
        """
        if rescan:
            self.all_rows = []
        if ctx is not None and ctx != self.ctx:
            self.ctx = ctx  # the watcher re-plans
        else:
            self._load()

    def watch_ctx(self, ctx: int) -> None:
        self.query_one(FilterBar).ctx = ctx
        self._load()

    def on_catalog_screen_hardware_ready(self, message: HardwareReady) -> None:
        self.hardware = message.hardware
        self.query_one(HardwareBar).hardware = message.hardware
        self.query_one(DetailPane).hardware = message.hardware
        self.query_one(DetailPane).config = self.context.config

    def on_catalog_screen_rows_ready(self, message: RowsReady) -> None:
        if message.ctx != self.ctx:
            return
        first = not self.all_rows
        first_plan = not self.planned_ctx
        self.all_rows = message.rows
        self.query_one(DetailPane).config = self.context.config
        if message.planned:
            self.planned_ctx = message.ctx
        if first:
            self.query_one(FilterBar).set_families(families(message.rows))
        table = self.query_one(CatalogTable)
        if table.loading:
            table.loading = False
            self.refresh_bindings()  # the footer shows the table's keys (Run, Download) now
        self._show(keep_cursor=not first_plan)

    def on_catalog_screen_load_failed(self, message: LoadFailed) -> None:
        self.query_one(CatalogTable).loading = False
        self.notify(message.reason, title="Catalog", severity="error", timeout=10)

    # -- filters --------------------------------------------------------------

    def _show(self, *, keep_cursor: bool = True) -> None:
        filters = self.query_one(FilterBar).filters
        rows = select_rows(
            self.all_rows,
            query=filters.query,
            fits_only=filters.fits_only,
            downloaded_only=filters.downloaded_only,
            family=filters.family,
            sort=filters.sort,
        )
        table = self.query_one(CatalogTable)
        table.show_rows(rows, keep_cursor=keep_cursor)
        if not rows:
            self.query_one(DetailPane).row = None

    @property
    def shown_rows(self) -> list[CatalogRow]:
        """Rows currently in the table, in order."""
        table = self.query_one(CatalogTable)
        keys = [key.value for key in table.rows]
        by_key = {row.key: row for row in self.all_rows}
        return [by_key[key] for key in keys if key in by_key]

    def on_filter_bar_changed(self, message: FilterBar.Changed) -> None:
        self._show()

    def on_filter_bar_context_requested(self, message: FilterBar.ContextRequested) -> None:
        self.ctx = message.ctx

    def on_catalog_table_row_focused(self, message: CatalogTable.RowFocused) -> None:
        self.query_one(DetailPane).row = message.row

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            event.stop()
            self.query_one(CatalogTable).focus()

    # -- actions --------------------------------------------------------------

    def action_bench(self) -> None:
        """Measure the selected downloaded row here; predictions then say "calibrated here"."""
        row = self.query_one(CatalogTable).current_row
        if self.context.hw_profile:
            self.notify(
                "Bench measures this machine: start localctl without --hw",
                title="Bench",
                severity="warning",
            )
            return
        if row is None or row.local_path is None:
            self.notify("Bench needs a downloaded row", title="Bench", severity="warning")
            return
        path, name, config = row.local_path, row.key, self.context.config
        self.notify(f"Benchmarking {name} (512-token prompt, 128 tokens, 3 runs)…", title="Bench")
        self.run_worker(
            lambda: self._bench(path, name, config),
            name="bench",
            group="bench",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _bench(self, path: Path, name: str, config: Config) -> None:
        from localctl.benchrun import run_bench
        from localctl.errors import LocalctlError
        from localctl.hardware import resolve_hardware

        try:
            report = run_bench(path, name, resolve_hardware(None), config)
        except LocalctlError as error:
            self.post_message(self.BenchFinished(str(error), failed=True))
            return
        result = report.result
        summary = (
            f"pp512 {result.prompt_tok_s:.0f} ± {result.prompt_tok_s_sd:.0f}, "
            f"tg128 {result.gen_tok_s:.1f} ± {result.gen_tok_s_sd:.1f} tok/s"
        )
        if not report.stored:
            summary += f"; not stored ({report.busy})"
        self.post_message(self.BenchFinished(summary))

    def on_catalog_screen_bench_finished(self, message: BenchFinished) -> None:
        self.notify(
            message.summary,
            title="Bench",
            severity="error" if message.failed else "information",
            timeout=10,
        )
        if not message.failed:
            self.replan()

    def action_search(self) -> None:
        """Focus the search box."""
        self.query_one("#search", Input).focus()

    def action_toggle_fits(self) -> None:
        """Show only rows that fit, or all rows."""
        box = self.query_one("#fits-only", Checkbox)
        box.value = not box.value

    def action_cycle_sort(self) -> None:
        """Sort by the next key (fit, speed, size, name)."""
        select = self.query_one("#sort", Select)
        current = select.value if isinstance(select.value, str) else SORT_KEYS[0]
        select.value = SORT_KEYS[(SORT_KEYS.index(current) + 1) % len(SORT_KEYS)]

    def action_ctx(self, direction: int) -> None:
        """Step the context length up or down."""
        self.ctx = step_ctx(self.ctx, direction)

    def action_escape(self) -> None:
        """Cancel the running download, or leave the search box."""
        if self.downloading:
            self.post_message(self.CancelDownloadRequested())
        else:
            self.query_one(CatalogTable).focus()

    # -- download feedback (called by the app) ----------------------------------

    def download_began(self, ref: str) -> None:
        """Show the download bar for ``ref``."""
        self.downloading = True
        self.download_fraction = 0.0
        self.query_one(DownloadPanel).begin(ref)

    def download_progressed(self, progress: PullProgress) -> None:
        """Move the download bar."""
        self.download_fraction = progress.total_done / max(progress.total_bytes, 1)
        self.query_one(DownloadPanel).show_progress(progress)

    def download_ended(
        self, message: str, key: str | None = None, path: Path | None = None
    ) -> None:
        """Hide the download bar; mark ``key`` as on disk at ``path`` when given."""
        self.downloading = False
        self.query_one(DownloadPanel).finish(message)
        if key is not None and path is not None:
            self.all_rows = [
                replace(row, local_path=path) if row.key == key else row for row in self.all_rows
            ]
            self._show()
