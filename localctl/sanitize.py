"""Text from outside made inert before any terminal or widget shows it.

Model replies, server error bodies, model ids, hub names and headers, GGUF metadata,
file names and stored conversations are written by someone else. A terminal obeys
the control sequences such text may carry (``ESC[2J`` clears the screen,
``ESC]0;…`` sets the title, ``ESC]52;…`` writes the clipboard), so every such string
goes through :func:`printable` on its way in: the engine cleans what it hands to the
CLI and the TUI, and :class:`TerminalWriter` cleans everything the CLI writes to a
terminal.
"""

from __future__ import annotations

import re
from typing import Any, TextIO, cast

_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[\x20-/]*[@-~]?             # CSI (7- and 8-bit), its end optional
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])           # OSC, DCS, SOS, PM, APC …
      [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?          # … up to BEL or ST (or the end)
    | \x1b[\x20-/]*[\x30-~]?                         # any other escape sequence
    """,
    re.VERBOSE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 controls except tab and newline, DEL and C1 controls."""


def printable(text: object) -> str:
    """``text`` with every terminal control sequence and control character removed.

    Tabs and newlines stay; ``\\r\\n`` becomes ``\\n``; a lone ``\\r`` is removed (it
    would let a reply overwrite what is already on the line).

    Args:
        text: Anything; non-strings are shown with ``str()``.

    Returns:
        Text that a terminal or a widget displays as is.
    """
    value = text if isinstance(text, str) else str(text)
    if value.isprintable():
        return value
    value = value.replace("\r\n", "\n")
    return _CONTROL.sub("", _SEQUENCE.sub("", value))


def one_line(text: object, limit: int = 2000) -> str:
    """:func:`printable` ``text`` as one line of at most ``limit`` characters (for errors)."""
    line = " ".join(printable(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class TerminalWriter:
    """A text stream that passes :func:`printable` text to a terminal.

    ``\\r`` (the CLI's own progress lines) is kept; everything else goes through
    :func:`printable`. Every other attribute (``fileno``, ``isatty``, ``buffer``,
    ``encoding``) is the wrapped stream's.
    """

    def __init__(self, stream: TextIO) -> None:
        """Wrap ``stream``."""
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` cleaned; returns ``len(text)`` as a stream does."""
        self._stream.write("\r".join(printable(part) for part in text.split("\r")))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_terminal(stream: TextIO) -> TextIO:
    """``stream`` wrapped in a :class:`TerminalWriter` when it is a terminal, else as is."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError, OSError):
        return stream
    return cast("TextIO", TerminalWriter(stream)) if tty else stream
