"""The log pane: library logging, warnings, server events and the server's own log."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, RichLog

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
            # Long lines wrap (a path or a llama.cpp message is never cut at the edge).
            yield RichLog(id="log", wrap=True, markup=False, highlight=False, max_lines=5000)

    def on_mount(self) -> None:
        log = self.query_one(RichLog)
        for line in self._lines:
            self.write_line(line)
        if self._server_tail:
            log.write(Text("---- server log (tail) ----"))
            for line in self._server_tail.splitlines():
                self.write_line(line)
        log.focus()

    @property
    def text(self) -> str:
        """What the pane shows, as plain text (wrapped lines joined back)."""
        return "\n".join(strip.text for strip in self.query_one(RichLog).lines)

    def write_line(self, line: str) -> None:
        """Append one line (wrapped to the pane's width)."""
        self.query_one(RichLog).write(Text(printable(line)))
