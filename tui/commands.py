"""Command palette provider: app actions and "run MODEL:QUANT" for every catalog row."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

from localctl.sanitize import printable

if TYPE_CHECKING:
    from textual.fuzzy import Matcher

    from tui.app import LocalctlApp

ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("Catalog", "show_catalog", "Browse models and fit verdicts"),
    ("Chat", "show_chat", "Chat with the served model"),
    ("Search the hub", "show_search", "GGUF repos on Hugging Face: quants, sizes, fit"),
    (
        "Refresh catalog from the hub",
        "refresh_catalog",
        "Exact files, sizes and sha256 of every catalog repo; flags changes",
    ),
    ("Settings", "settings", "Edit config.toml"),
    ("Help: keys", "help", "Every key binding"),
    ("Server log", "server_log", "Log pane with the server's log tail"),
    ("Stop server", "stop_server", "Stop the model server"),
    ("Attach to server", "attach", "Chat with an OpenAI-compatible URL (vLLM, Ollama…)"),
    ("Quit", "quit", "Stop the server and leave"),
)


def _highlight(matcher: Matcher, name: str) -> Text:
    """``name`` as text (a row key comes from a file name: never markup), matches reversed."""
    text = Text(name)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, name)
    for offset in offsets:
        if not name[offset].isspace():
            text.stylize("reverse", offset, offset + 1)
    return text


class LocalctlCommands(Provider):
    """App actions, then one "Run" and one "Download" command per catalog row."""

    @property
    def _app(self) -> LocalctlApp:
        return cast("LocalctlApp", self.app)

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = self._app
        commands: list[tuple[str, Callable[[], object], str]] = [
            (name, partial(app.run_action, action), help_text)
            for name, action, help_text in ACTIONS
        ]
        for row in app.catalog_screen.all_rows:
            key = printable(row.key)
            commands.append(
                (
                    f"Run {key}",
                    partial(app.run_row, row, True),
                    escape(f"{row.verdict} · download if needed, serve, chat"),
                )
            )
            if not row.downloaded:
                commands.append(
                    (f"Download {key}", partial(app.run_row, row, False), "download only")
                )
        return commands

    async def discover(self) -> Hits:
        for name, command, help_text in self._commands()[: len(ACTIONS)]:
            yield DiscoveryHit(Text(name), command, text=name, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, command, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, _highlight(matcher, name), command, text=name, help=help_text)
