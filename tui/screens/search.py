"""The hub search screen: GGUF repos on the hub, planned from their remote headers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from catalog.schema import HUB_SOURCE, ArchSpec, ModelSpec, QuantSpec
from localctl.hardware import resolve_hardware
from localctl.library import CatalogRow
from tui.widgets.catalog_table import CatalogTable
from tui.widgets.detail_pane import DetailPane

if TYPE_CHECKING:
    from localctl.hardware import Hardware
    from localctl.hub.listing import QuantSet
    from localctl.search import RepoHit, SearchResult
    from tui.app import LocalctlApp
    from tui.context import TuiContext

UNREAD_ARCH = ArchSpec("unread", 0, 0, 0, 0, 0, 0, 0, 0)
"""Architecture of a hub quant whose header has not been read yet."""


def unplanned_row(hit: RepoHit, quant: QuantSet) -> CatalogRow:
    """A table row for one quant of a search result, before its header is read."""

    spec = QuantSpec(
        name=quant.quant,
        files=tuple(f.path for f in quant.files),
        size_bytes=quant.size_bytes,
        sha256=tuple(f.sha256 or "" for f in quant.files),
        file_sizes=tuple(f.size_bytes for f in quant.files),
    )
    updated = hit.last_modified[:10] or "?"
    note = f"{hit.downloads:,} downloads · updated {updated}"
    model = ModelSpec(
        id=hit.repo,
        name=hit.repo,
        family=HUB_SOURCE,
        repo=hit.repo,
        params=0,
        arch=UNREAD_ARCH,
        license="",
        quants=(spec,),
        notes=note,
        source=HUB_SOURCE,
    )
    return CatalogRow(model, spec, quality=note, pull_ref=quant.ref)


class SearchScreen(Screen[None]):
    """Search the hub for GGUF repos; a highlighted quant is planned from its header."""

    AUTO_FOCUS = "#hub-query"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_query", "Query", id="hub_query"),
        Binding("escape", "back", "Catalog", id="hub_back"),
    ]

    @dataclass
    class ResultsReady(Message):
        """A search answered."""

        result: SearchResult

    @dataclass
    class SearchFailed(Message):
        """A search failed; ``reason`` is one line."""

        reason: str

    @dataclass
    class RowPlanned(Message):
        """A quant's header was read and planned (or ``row.plan_error`` says why not)."""

        row: CatalogRow

    def __init__(self, context: TuiContext) -> None:
        super().__init__(id="search-screen")
        self.context = context
        self.rows: list[CatalogRow] = []
        """The quants found, in table order (planned ones replaced as they come)."""
        self.searching = False
        """True while a search runs."""
        self._hits: dict[str, tuple[RepoHit, QuantSet]] = {}
        self._run_when_planned = ""
        """Key of the row ``enter`` was pressed on before its plan was ready."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search the hub for GGUF repos, e.g. qwen3", id="hub-query")
        yield Static(Text("Type words of a repo name and press enter."), id="hub-status")
        with Horizontal(id="hub-main"):
            yield CatalogTable(id="hub-results", note_label="downloads · last update")
            yield DetailPane(id="hub-detail")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def _app(self) -> LocalctlApp:
        return cast("LocalctlApp", self.app)

    def _hardware(self) -> Hardware:
        known = self._app.catalog_screen.hardware
        return known if known is not None else resolve_hardware(self.context.hw_profile)

    # -- searching ------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "hub-query":
            return
        event.stop()
        query = event.value.strip()
        if not query:
            return
        self.searching = True
        self._status(f"Searching {query!r}…")
        self.run_worker(
            lambda: self._search(query),
            name="hub search",
            group="hub-search",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _search(self, query: str) -> None:
        """Thread: ask the hub; only posts messages."""
        from localctl.errors import LocalctlError
        from localctl.search import search_hub

        try:
            self.post_message(self.ResultsReady(search_hub(query)))
        except LocalctlError as error:
            self.post_message(self.SearchFailed(str(error)))

    def on_search_screen_results_ready(self, message: ResultsReady) -> None:
        self.searching = False
        result = message.result
        self._hits = {q.ref: (hit, q) for hit in result.hits for q in hit.quants}
        self.rows = [unplanned_row(hit, q) for hit in result.hits for q in hit.quants]
        lines = [f"{len(result.hits)} repos, {len(self.rows)} quant files for {result.query!r}"]
        lines += [f"{hit.repo}: {hit.error}" for hit in result.hits if hit.error]
        self._status("\n".join(lines))
        table = self.query_one(CatalogTable)
        table.show_rows(self.rows, keep_cursor=False)
        if self.rows:
            table.focus()
        else:
            self.query_one(DetailPane).row = None

    def on_search_screen_search_failed(self, message: SearchFailed) -> None:
        self.searching = False
        self._status(message.reason)
        self.notify(message.reason, title="Hub search", severity="error", timeout=10)

    def _status(self, text: str) -> None:
        self.query_one("#hub-status", Static).update(Text(text))

    # -- planning from the remote header ------------------------------------------

    def on_catalog_table_row_focused(self, message: CatalogTable.RowFocused) -> None:
        message.stop()
        row = message.row
        self.query_one(DetailPane).row = row
        if row.plan is None and not row.plan_error:
            self._plan(row)

    def _plan(self, row: CatalogRow) -> None:
        self.run_worker(
            lambda: self._plan_thread(row),
            name=f"plan {row.key}",
            group="hub-plan",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _plan_thread(self, row: CatalogRow) -> None:
        """Thread: read the quant's header by HTTP range and plan it; only posts messages."""
        from localctl.errors import LocalctlError
        from localctl.plan import plan as plan_gguf
        from localctl.request import PlanRequest
        from localctl.search import hub_model, read_quant_header
        from localctl.shape import shape_from_gguf_set

        hit, quant = self._hits[row.key]
        config = self.context.config
        try:
            gguf = read_quant_header(hit.repo, quant, hit.commit)
            model, spec = hub_model(hit.repo, quant, gguf)
            request = PlanRequest.from_config(config, ctx=self._app.catalog_screen.ctx)
            plan = plan_gguf(shape_from_gguf_set(gguf), self._hardware(), request)
        except (LocalctlError, OSError, ValueError) as error:
            self.post_message(self.RowPlanned(replace(row, plan_error=str(error))))
            return
        self.post_message(
            self.RowPlanned(
                CatalogRow(model, spec, quality=row.quality, plan=plan, pull_ref=row.key)
            )
        )

    async def on_search_screen_row_planned(self, message: RowPlanned) -> None:
        planned = message.row
        self.rows = [planned if r.key == planned.key else r for r in self.rows]
        table = self.query_one(CatalogTable)
        table.show_rows(self.rows)
        detail = self.query_one(DetailPane)
        if detail.row is not None and detail.row.key == planned.key:
            detail.row = planned
        if self._run_when_planned == planned.key:
            self._run_when_planned = ""
            await self._run(planned)

    # -- running --------------------------------------------------------------

    async def on_catalog_table_run_requested(self, message: CatalogTable.RunRequested) -> None:
        message.stop()
        row = next((r for r in self.rows if r.key == message.row.key), message.row)
        if row.plan is None and not row.plan_error:
            self._run_when_planned = row.key
            self.notify(f"Reading the header of {row.key} first…")
            return
        await self._run(row)

    async def on_catalog_table_download_requested(
        self, message: CatalogTable.DownloadRequested
    ) -> None:
        message.stop()
        await self._app.switch_mode("catalog")
        self._app.run_row(message.row, serve=False)

    async def _run(self, row: CatalogRow) -> None:
        if row.plan_error:
            self.notify(row.plan_error, title=row.key, severity="error", timeout=10)
            return
        # The download bar lives on the catalog screen; the chat opens once it serves.
        await self._app.switch_mode("catalog")
        self._app.run_row(row, serve=True)

    # -- actions --------------------------------------------------------------

    def action_focus_query(self) -> None:
        """Focus the query box."""
        self.query_one("#hub-query", Input).focus()

    async def action_back(self) -> None:
        """Back to the catalog."""
        await self._app.switch_mode("catalog")
