"""The localctl Textual app (placeholder until the TUI lands)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static


class LocalctlApp(App[int]):
    """The localctl control panel."""

    CSS_PATH = "app.tcss"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("localctl")
        yield Footer()


def make_app(*, hw_profile: str | None = None, ctx: int | None = None) -> LocalctlApp:
    """Build the app; shared by the CLI, the tests and the screenshot script."""
    return LocalctlApp()
