"""The one exception family whose messages are fit to show a user.

The CLI prints a ``LocalctlError`` as one line on stderr and exits with its
``exit_code`` (2 for bad input, 1 for a runtime failure); the TUI shows it as a
notification. Never put a traceback or a multi-line message in one.
"""

from __future__ import annotations


class LocalctlError(Exception):
    """A failure the user can act on; ``str(error)`` is one plain line."""

    exit_code: int = 1


class BadInputError(LocalctlError):
    """The user asked for something that cannot be done as asked (exit code 2)."""

    exit_code = 2


class CatalogError(BadInputError):
    """A catalog entry is malformed or a model/quant is unknown."""


class GgufError(BadInputError):
    """A GGUF file is malformed, truncated, hostile or unreadable."""


class ConfigError(BadInputError):
    """The config file is invalid; the message names file, line and key."""


class HardwareError(BadInputError):
    """An unknown or malformed simulated hardware profile."""


class DownloadError(LocalctlError):
    """A download failed (network, hub, disk, integrity)."""


class ServerError(LocalctlError):
    """The model server could not start, crashed, or could not be reached."""


class ChatError(LocalctlError):
    """A chat request failed or its stream broke."""
