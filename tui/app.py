"""The localctl Textual app: wires the screens and runs the download → serve → chat flow."""

from __future__ import annotations

import threading
import traceback
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerState

from localctl.sanitize import printable
from localctl.session import RemoteEndpoint, ServingSession
from tui import logsink
from tui.commands import LocalctlCommands
from tui.context import TuiContext
from tui.messages import (
    CatalogRefreshed,
    DownloadFailed,
    DownloadFinished,
    DownloadProgressed,
    LogRecorded,
    ServerCrashed,
    ServerStarted,
    ServerStopped,
)
from tui.screens.catalog import CatalogScreen
from tui.screens.chat import ChatScreen
from tui.screens.help import HelpModal, binding_rows
from tui.screens.log import LogModal
from tui.screens.search import SearchScreen
from tui.widgets.catalog_table import CatalogTable
from tui.widgets.chat_pane import ChatPane, HistoryInput
from tui.widgets.detail_pane import DetailPane, row_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.dom import DOMNode

    from localctl.config import Config
    from localctl.hub import PullProgress
    from localctl.library import CatalogRow

LOG_LINES = 5000


class LocalctlApp(App[int]):
    """The localctl control panel: catalog, downloads, server, chat, meters."""

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))
    TITLE = "localctl"
    COMMANDS = App.COMMANDS | {LocalctlCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("f1", "show_catalog", "Catalog", id="show_catalog"),
        Binding("f2", "show_chat", "Chat", id="show_chat"),
        # Every binding is listed by ? (help); the footer keeps to what fits at 80 columns.
        Binding("f4", "show_search", "Hub search", id="show_search", show=False),
        Binding("s", "stop_server", "Stop server", id="stop_server", show=False),
        Binding("l", "server_log", "Log", id="server_log", show=False),
        Binding("comma,f3", "settings", "Settings", id="settings"),
        Binding("ctrl+p", "command_palette", "Palette", id="command_palette", show=False),
    ]

    def __init__(self, context: TuiContext) -> None:
        super().__init__()
        self.context = context
        self.catalog_screen = CatalogScreen(context)
        self.chat_screen = ChatScreen(context)
        self.add_mode("catalog", lambda: self.catalog_screen)
        self.add_mode("chat", lambda: self.chat_screen)
        self.search_screen = SearchScreen(context)
        self.add_mode("search", lambda: self.search_screen)
        self.server: ServingSession | RemoteEndpoint | None = None
        """The server chatted with: one this app started (stopped on quit) or a remote one."""
        self.log_lines: deque[str] = deque(maxlen=LOG_LINES)
        self._download_cancel: threading.Event | None = None
        self._stopping_server = False
        self._undo_logging: Callable[[], None] = lambda: None

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A notification whose text is shown as text: messages carry outside text
        (hub names and headers, server errors, file names), so markup is always off."""
        super().notify(
            printable(message),
            title=printable(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keep the footer short: the key to the screen already shown is left out of it."""
        here = {"show_catalog": CatalogScreen, "show_chat": ChatScreen}.get(action)
        if here is not None:
            try:
                return not isinstance(self.screen, here)
            except ScreenStackError:
                return True
        return True

    # -- life cycle -----------------------------------------------------------

    async def on_mount(self) -> None:
        self._undo_logging = logsink.install(self._log_from_any_thread)
        self._load_prices()
        if self.context.config.keymap:
            self.set_keymap(self.context.config.keymap)
            self._check_keymap()
        await self.switch_mode("catalog")

    @work(thread=True, group="prices", exclusive=True, exit_on_error=False, name="price data")
    def _load_prices(self) -> None:
        """Thread: load genai-prices' data (about 1 s) so no reply's meters wait for it."""
        from localctl.cost import load_prices

        load_prices()

    def on_unmount(self) -> None:
        self._undo_logging()
        # However the app ends (quit, an exception, a test leaving run_test), the server
        # it started must not outlive it, nor its download keep running.
        if self._download_cancel is not None:
            self._download_cancel.set()
        server, self.server = self.server, None
        if isinstance(server, ServingSession):
            server.stop_sync(grace_s=5.0)

    async def action_quit(self) -> None:
        """Stop the server this app started, then leave."""
        if self._download_cancel is not None:
            self._download_cancel.set()
        await self._stop_server()
        self.exit(0)

    # -- logging --------------------------------------------------------------

    def _log_from_any_thread(self, line: str, level: str) -> None:
        if self.is_running:
            self.post_message(LogRecorded(line, level))

    def on_log_recorded(self, message: LogRecorded) -> None:
        self.log_lines.append(message.line)
        try:
            screen = self.screen
        except ScreenStackError:  # shutting down: the screens are gone
            return
        if isinstance(screen, LogModal):
            screen.write_line(message.line)

    def record(self, line: str, level: str = "INFO") -> None:
        """Add a line to the log pane (UI thread)."""
        self.on_log_recorded(LogRecorded(line, level))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            for line in traceback.format_exception(error):
                for part in line.rstrip().splitlines():
                    self.record(part, "ERROR")
            self.notify(
                f"{event.worker.name or 'task'} failed: {error} (details: l)",
                severity="error",
                timeout=10,
            )

    # -- screens --------------------------------------------------------------

    async def action_show_catalog(self) -> None:
        """Show the catalog."""
        await self.switch_mode("catalog")

    async def action_show_chat(self) -> None:
        """Show the chat."""
        await self.switch_mode("chat")
        self.chat_screen.query_one(ChatPane).focus_prompt()

    async def action_show_search(self) -> None:
        """Search the hub for GGUF repos."""
        await self.switch_mode("search")

    def action_refresh_catalog(self) -> None:
        """List every catalog repo on the hub; changed sizes and vanished files show up."""
        self.notify("Refreshing the catalog from the hub…")
        self._refresh_catalog()

    @work(thread=True, group="refresh", exclusive=True, exit_on_error=False, name="refresh")
    def _refresh_catalog(self) -> None:
        """Thread: ``localctl catalog refresh``; reports through a message."""
        from localctl.errors import LocalctlError
        from localctl.snapshot import refresh_catalog

        try:
            report = refresh_catalog()
        except LocalctlError as error:
            self.post_message(CatalogRefreshed([f"Catalog refresh failed: {error}"], False))
            return
        from localctl.commands.catalog import summary

        self.post_message(CatalogRefreshed(summary(report), not report.offline))

    def on_catalog_refreshed(self, message: CatalogRefreshed) -> None:
        for line in message.lines:
            self.record(line, "INFO" if message.ok else "WARNING")
        more = (
            f" ({len(message.lines) - 1} more lines in the log: l)"
            if len(message.lines) > 1
            else ""
        )
        self.notify(
            message.lines[0] + more,
            title="Catalog refresh",
            severity="information" if message.ok else "warning",
            timeout=10,
        )
        if message.ok:
            self.catalog_screen.reload()

    BINDING_OWNERS: ClassVar[tuple[tuple[str, type[DOMNode]], ...]] = ()
    """Where the help screen and the ``[keymap]`` check find bindings (set below the class)."""

    def action_help(self) -> None:
        """Show every key binding."""
        self.push_screen(HelpModal(binding_rows(self.BINDING_OWNERS, self.context.config.keymap)))

    def _check_keymap(self) -> None:
        """Say which ``[keymap]`` ids name no binding (they would do nothing)."""
        known = {
            item.id
            for _where, owner in self.BINDING_OWNERS
            for item in owner.BINDINGS
            if isinstance(item, Binding) and item.id
        }
        unknown = sorted(set(self.context.config.keymap) - known)
        if unknown:
            line = f"[keymap] in config.toml names no binding: {', '.join(unknown)} (ids: ?)"
            self.record(line, "WARNING")
            self.notify(line, title="Config", severity="warning", timeout=15, markup=False)

    def action_server_log(self) -> None:
        """Show the log pane with the server's log tail."""
        server = self.server
        tail = "\n".join(server.log_tail(200)) if isinstance(server, ServingSession) else ""
        self.push_screen(LogModal(list(self.log_lines), tail))

    def action_settings(self) -> None:
        """Edit the configuration."""
        from tui.screens.settings import SettingsModal

        row = self.catalog_screen.query_one(CatalogTable).current_row
        model = None
        if row is not None:
            model = (row.key, row_path(row))
        self.push_screen(SettingsModal(self.context.config, model=model), self._settings_saved)

    def _settings_saved(self, config: Config | None) -> None:
        if config is None:
            return
        old = self.context.config
        self.context.config = config
        self.notify("Settings saved.")
        if config.keymap != old.keymap:
            self.set_keymap(config.keymap)
        self.chat_screen.configure(config)
        plan_inputs = ("default_ctx", "kv_type", "parallel")
        server_inputs = ("backend", "llama_server_path")
        rescan = config.model_folders != old.model_folders
        drafts = config.drafts != old.drafts
        if drafts:
            self.catalog_screen.query_one(DetailPane).config = config
        if (
            rescan
            or drafts  # a row's verdict counts its draft's memory
            or any(getattr(config, k) != getattr(old, k) for k in plan_inputs)
            or any(getattr(config.server, k) != getattr(old.server, k) for k in server_inputs)
        ):
            new_ctx = config.default_ctx if config.default_ctx != old.default_ctx else None
            self.catalog_screen.replan(new_ctx, rescan=rescan)

    # -- download → serve → chat ----------------------------------------------

    def run_row(self, row: CatalogRow, serve: bool) -> None:
        """Download ``row`` if needed and, when ``serve``, start it and open the chat."""
        self._run_row(row, serve=serve)

    def on_catalog_table_run_requested(self, message: CatalogTable.RunRequested) -> None:
        self._run_row(message.row, serve=True)

    def on_catalog_table_download_requested(self, message: CatalogTable.DownloadRequested) -> None:
        if message.row.local_path is not None:
            self.notify(f"{message.row.key} is already on disk.")
            return
        self._run_row(message.row, serve=False)

    def on_catalog_screen_cancel_download_requested(
        self, message: CatalogScreen.CancelDownloadRequested
    ) -> None:
        if self._download_cancel is not None:
            self._download_cancel.set()

    @work(group="flow", exclusive=True, exit_on_error=False, name="run model")
    async def _run_row(self, row: CatalogRow, serve: bool) -> None:
        """Download ``row`` if needed, then (when ``serve``) start its server and open the chat.

        A row whose files the last ``catalog refresh`` found gone from the hub is refused
        in one line; a row whose plan says it won't fit asks first (nothing is fetched or
        started unless the user says so).
        """
        from localctl.errors import DownloadError
        from localctl.library import check_on_hub, file_on_disk

        try:
            check_on_hub(row.target)
        except DownloadError as error:
            self.notify(str(error), title="Download", severity="error", timeout=15)
            self.record(str(error), "WARNING")
            return
        if not await self._confirm_if_wont_fit(row, serve=serve):
            return
        path = file_on_disk(row.target, self.context.config)
        if path is None:
            path = await self._download(row)
        if path is not None and serve:
            await self._serve(row, path)

    async def _confirm_if_wont_fit(self, row: CatalogRow, *, serve: bool) -> bool:
        """True when ``row`` fits, or the user chose to go ahead although it won't."""
        from localctl.errors import WontFitError
        from localctl.session import check_fits
        from tui.screens.modals import ConfirmModal

        if row.plan is None:
            return True
        try:
            check_fits(row.plan, row.key, hint="it will most likely fail to load; go ahead")
        except WontFitError as error:
            verb = "Download" if row.local_path is None else "Start"
            if row.local_path is None and serve:
                verb = "Download and start"
            go = await self.push_screen_wait(
                ConfirmModal(
                    f"{row.key} won't fit here. {verb} it anyway?",
                    str(error),
                    f"{verb} anyway",
                    "Cancel",
                    default=False,
                )
            )
            if not go:
                self.notify(f"{row.key}: nothing downloaded or started.")
            return go
        return True

    async def _download(self, row: CatalogRow) -> Path | None:
        """Run the pull in a thread; progress arrives as messages. None when it failed."""
        cancel = threading.Event()
        self._download_cancel = cancel
        self.catalog_screen.download_began(row.key)
        worker = self.run_worker(
            lambda: self._pull_thread(row, cancel),
            name=f"download {row.key}",
            group="download",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )
        path: Path | None = await worker.wait()
        self._download_cancel = None
        return path

    def _pull_thread(self, row: CatalogRow, cancel: threading.Event) -> Path | None:
        """Thread: pull the row's files; reports only through messages."""
        from localctl import hub
        from localctl.errors import LocalctlError, describe_os_error

        def progress(update: PullProgress) -> None:
            self.post_message(DownloadProgressed(ref, update))

        ref = row.key
        try:
            result = hub.pull(row.target.hub_ref(), progress=progress, cancel=cancel)
        except LocalctlError as error:
            self.post_message(DownloadFailed(ref, str(error), cancelled=cancel.is_set()))
            return None
        except OSError as error:
            self.post_message(DownloadFailed(ref, describe_os_error(error)))
            return None
        self.post_message(DownloadFinished(ref, result))
        return result.path

    def on_download_progressed(self, message: DownloadProgressed) -> None:
        self.catalog_screen.download_progressed(message.progress)

    def on_download_finished(self, message: DownloadFinished) -> None:
        result = message.result
        line = f"Downloaded {message.ref}: {len(result.files)} file(s) in {result.seconds:.1f} s"
        self.record(line)
        self.catalog_screen.download_ended(line, message.ref, result.path)

    def on_download_failed(self, message: DownloadFailed) -> None:
        if message.cancelled:
            line = f"Download of {message.ref} cancelled (it resumes next time)."
            self.notify(line, severity="warning")
        else:
            line = f"Download of {message.ref} failed: {message.reason}"
            self.notify(line, title="Download", severity="error", timeout=15)
        self.record(line, "WARNING")
        self.catalog_screen.download_ended(line)

    async def _serve(self, row: CatalogRow, path: Path) -> None:
        """Start the server with the row's plan and switch to the chat."""
        from localctl.errors import LocalctlError
        from localctl.session import LaunchOverrides, launch_options, with_configured_draft

        await self._stop_server()
        config = self.context.config
        hw = self.catalog_screen.hardware
        try:
            plan, draft = with_configured_draft(row.key, path, row.plan, config, hw)
            overrides = LaunchOverrides(draft_path=draft)
            options = launch_options(path, row.key, plan, config, hw, overrides)
            session = ServingSession(options, plan)
        except LocalctlError as error:
            self.post_message(ServerCrashed(str(error), ""))
            return
        await self._launch(session)

    async def _launch(self, session: ServingSession) -> None:
        """Start ``session``, chat with it, watch it and report its memory."""
        from localctl.errors import LocalctlError
        from localctl.session import launch_summary

        summary = launch_summary(session.options, session.plan)
        self.notify(f"Starting {session.name} ({summary})…")
        self.record(f"Starting server for {session.options.model_path} ({summary})")
        try:
            await session.start()
        except LocalctlError as error:
            self.post_message(ServerCrashed(str(error), ""))
            return
        self.server = session
        self.chat_screen.server_pid = session.pid
        self.record(f"Server backend {session.backend}, pid {session.pid}")
        if session.port_note:
            self.record(session.port_note, "WARNING")
        self.post_message(ServerStarted(session.url, session.name))
        self.chat_screen.connect(
            session.chat_endpoint(), f"{session.name} · {session.url} · {summary}"
        )
        await self.switch_mode("chat")
        self.chat_screen.query_one(ChatPane).focus_prompt()
        self._watch_server(session)
        if session.plan is not None and self.context.hw_profile is None:
            await self._report_memory(session)

    async def _report_memory(self, session: ServingSession) -> None:
        """Log the plan beside what llama.cpp allocated and the measured RSS (and store it)."""
        import asyncio

        from localctl.errors import LocalctlError

        try:
            report = await asyncio.to_thread(session.memory_report)
        except (LocalctlError, OSError) as error:
            self.record(f"Memory report failed: {error}", "WARNING")
            return
        self.record(f"Memory of {session.url}: plan vs llama.cpp vs measured")
        for line in report.splitlines():
            self.record(line)

    @work(group="watch", exclusive=True, exit_on_error=False, name="watch server")
    async def _watch_server(self, session: ServingSession) -> None:
        """Wait for the server process to end; an unexpected end offers a restart."""
        from tui.screens.modals import ConfirmModal

        reason = await session.wait_exit()
        if self._stopping_server or self.server is not session:
            return
        self.server = None
        self.chat_screen.server_pid = None
        tail = "\n".join(session.log_tail(20))
        self.post_message(ServerCrashed(reason, tail))
        self.chat_screen.connect(None, f"server crashed ({reason}) - see the log (l)")
        again = await self.push_screen_wait(
            ConfirmModal(
                f"The server for {session.name} crashed. Restart it?", tail, "Restart", "No"
            )
        )
        if again:
            self._restart(session.restarted())

    @work(group="flow", exclusive=True, exit_on_error=False, name="restart server")
    async def _restart(self, session: ServingSession) -> None:
        """Start ``session`` (a crashed one's fresh copy) in place of the current server."""
        await self._stop_server()
        await self._launch(session)

    def on_server_started(self, message: ServerStarted) -> None:
        self.record(f"Server for {message.model} answers at {message.url}")

    def on_server_stopped(self, message: ServerStopped) -> None:
        self.record(f"Server at {message.url} stopped")

    def on_server_crashed(self, message: ServerCrashed) -> None:
        self.record(f"Server failed: {message.reason}", "ERROR")
        for line in message.log_tail.splitlines():
            self.record(f"  {line}", "ERROR")
        line = f"Server failed: {message.reason} (log: l)"
        self.notify(line, title="Server", severity="error", timeout=15)

    async def _stop_server(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        self._stopping_server = True
        self.chat_screen.server_pid = None
        try:
            if isinstance(server, ServingSession):
                await server.stop()
        finally:
            self._stopping_server = False
        self.chat_screen.connect(None, "server stopped - pick a model in the catalog (F1)")
        self.post_message(ServerStopped(server.url))

    def action_attach(self) -> None:
        """Chat with an OpenAI-compatible server that runs elsewhere (vLLM, Ollama, another box)."""
        from tui.screens.modals import AttachModal

        self.push_screen(AttachModal(), self._attach_picked)

    def _attach_picked(self, answer: tuple[str, str | None] | None) -> None:
        if answer is not None:
            self._attach_to(*answer)

    @work(group="flow", exclusive=True, exit_on_error=False, name="attach")
    async def _attach_to(self, url: str, api_key: str | None) -> None:
        """Stop our own server, check ``url`` answers, then chat with it."""
        from localctl.errors import LocalctlError

        await self._stop_server()
        try:
            remote = await RemoteEndpoint.attach(url, api_key)
        except LocalctlError as error:
            self.notify(f"Cannot attach: {error}", title="Attach", severity="error", timeout=15)
            self.record(f"Attach to {url} failed: {error}", "ERROR")
            return
        self.server = remote
        model = await remote.model_name()
        self.record(f"Attached to {remote.url} (model {model})")
        self.chat_screen.connect(
            remote.chat_endpoint(model),
            f"{model} · {remote.url} · attached (not started by localctl)",
        )
        await self.switch_mode("chat")
        self.chat_screen.query_one(ChatPane).focus_prompt()

    async def action_stop_server(self) -> None:
        """Stop the model server."""
        if self.server is None:
            self.notify("No server is running.")
            return
        await self._stop_server()
        self.notify("Server stopped.")


LocalctlApp.BINDING_OWNERS = (
    ("app", LocalctlApp),
    ("catalog", CatalogScreen),
    ("catalog table", CatalogTable),
    ("chat", ChatScreen),
    ("hub search", SearchScreen),
    ("prompt", HistoryInput),
)


def make_app(
    *,
    hw_profile: str | None = None,
    ctx: int | None = None,
    config: Config | None = None,
) -> LocalctlApp:
    """Build the app; shared by the CLI, the tests and the screenshot script.

    Args:
        hw_profile: Simulated hardware profile name or path; None detects this machine.
        ctx: Context length for the verdicts; None uses the config's ``default_ctx``.
        config: Configuration to use; None reads ``config.toml``.

    Raises:
        ConfigError: the config file is invalid.
        BadInputError: ``ctx`` is not a usable context length.
    """
    from localctl.config import load_config
    from localctl.request import PlanRequest

    config = config if config is not None else load_config()
    ctx = ctx if ctx is not None else config.default_ctx
    PlanRequest(ctx=ctx)  # a context no plan can use is refused here, not shown as '?'
    context = TuiContext(config=config, hw_profile=hw_profile, initial_ctx=ctx)
    return LocalctlApp(context)
