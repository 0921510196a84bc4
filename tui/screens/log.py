"""The log pane: library logging, warnings, server events and the server's own log."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Log

from localctl.sanitize import printable


class LogModal(ModalScreen[None]):
    """Log lines as plain text; new lines arrive through `write_line`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,l,q", "dismiss", "Close", id="close_log"),
    ]

    def __init__(self, lines: list[str], server_tail: str) -> None:
        super().__init__()
        self._lines = lines
        self._server_tail = server_tail

    def compose(self) -> ComposeResult:
        with Vertical(id="log-box", classes="modal-box"):
            yield Label("Log (escape closes)", classes="modal-title")
            yield Log(id="log", highlight=False, max_lines=5000)

    def on_mount(self) -> None:
        log = self.query_one(Log)
        log.write_lines(printable(line) for line in self._lines)
        if self._server_tail:
            log.write_line("---- server log (tail) ----")
            log.write_lines(printable(line) for line in self._server_tail.splitlines())
        log.focus()

    def write_line(self, line: str) -> None:
        """Append one line."""
        self.query_one(Log).write_line(printable(line))
