"""Route library logging and warnings to the app's log pane, never onto the terminal."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

LIBRARY_LOGGERS: tuple[str, ...] = (
    "huggingface_hub",
    "httpx",
    "httpx2",
    "httpcore",
    "llama_cpp",
    "urllib3",
)
"""Loggers whose chatter goes to the log pane at WARNING and above."""


class CallbackHandler(logging.Handler):
    """A logging handler that hands each formatted record to a callback (any thread)."""

    def __init__(self, callback: Callable[[str, str], None]) -> None:
        super().__init__(level=logging.INFO)
        self._callback = callback
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._callback(self.format(record), record.levelname)
        except Exception:  # a broken UI must never break the library that logs
            self.handleError(record)


def install(callback: Callable[[str, str], None]) -> Callable[[], None]:
    """Send root logging and Python warnings to ``callback``; returns the undo function."""
    root = logging.getLogger()
    handler = CallbackHandler(callback)
    saved_handlers = list(root.handlers)
    saved_level = root.level
    for existing in saved_handlers:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    saved_levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    saved_showwarning = warnings.showwarning

    def showwarning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        callback(f"{category.__name__}: {message} ({filename}:{lineno})", "WARNING")

    warnings.showwarning = showwarning

    def undo() -> None:
        root.removeHandler(handler)
        for existing in saved_handlers:
            root.addHandler(existing)
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        warnings.showwarning = saved_showwarning

    return undo
