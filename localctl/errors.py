"""The one exception family whose messages are fit to show a user.

The CLI prints a ``LocalctlError`` as one line on stderr and exits with its
``exit_code`` (2 for bad input, 1 for a runtime failure); the TUI shows it as a
notification. Never put a traceback or a multi-line message in one.
"""

from __future__ import annotations

from catalog.errors import BadInputError, CatalogError, GgufError, LocalctlError

__all__ = [
    "BadInputError",
    "CatalogError",
    "ChatError",
    "ConfigError",
    "DownloadError",
    "GgufError",
    "HardwareError",
    "LocalctlError",
    "ServerError",
    "WontFitError",
    "describe_os_error",
]


class ConfigError(BadInputError):
    """The config file is invalid; the message names file, line and key."""


class HardwareError(BadInputError):
    """An unknown or malformed simulated hardware profile."""


class WontFitError(BadInputError):
    """The fit plan says the model does not fit this machine (``--force`` tries anyway)."""


class DownloadError(LocalctlError):
    """A download failed (network, hub, disk, integrity)."""


class ServerError(LocalctlError):
    """The model server could not start, crashed, or could not be reached."""


class ChatError(LocalctlError):
    """A chat request failed or its stream broke."""


def describe_os_error(error: OSError) -> str:
    """One line for a filesystem failure (a full disk named as such)."""
    import errno

    if error.errno == errno.ENOSPC:
        return f"the disk is full ({error.filename or 'download folder'})"
    return f"{error.strerror or error} ({error.filename or ''})".strip()


class ContextOverflowError(ChatError):
    """A prompt does not fit the server's context."""

    def __init__(self, prompt_tokens: int, n_ctx: int, advice: str = "") -> None:
        self.prompt_tokens = prompt_tokens
        self.n_ctx = n_ctx
        message = f"the prompt is {prompt_tokens:,} tokens > context {n_ctx:,}"
        super().__init__(f"{message}; {advice}" if advice else message)
