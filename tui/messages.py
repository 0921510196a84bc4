"""App-wide events, named for what happened. Widget-local events live in their widgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from localctl.hub import PullProgress, PullResult


@dataclass
class LogRecorded(Message):
    """A line for the log pane (library logging, warnings, server events)."""

    line: str
    level: str = "INFO"


@dataclass
class DownloadProgressed(Message):
    """A download moved on; a backlog collapses to the newest one."""

    ref: str
    progress: PullProgress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DownloadProgressed) and message.ref == self.ref


@dataclass
class DownloadFinished(Message):
    """Every file of ``ref`` is on disk."""

    ref: str
    result: PullResult


@dataclass
class DownloadFailed(Message):
    """A download stopped; ``reason`` is one line fit for the user."""

    ref: str
    reason: str
    cancelled: bool = False


@dataclass
class ServerStarted(Message):
    """A model server answers at ``url``."""

    url: str
    model: str


@dataclass
class ServerStopped(Message):
    """The server was stopped on purpose."""

    url: str


@dataclass
class ServerCrashed(Message):
    """The server died; ``log_tail`` holds its last lines."""

    reason: str
    log_tail: str


@dataclass
class CatalogRefreshed(Message):
    """``catalog refresh`` finished: its summary lines; ``ok`` when the hub answered."""

    lines: list[str]
    ok: bool
