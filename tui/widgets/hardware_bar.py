"""One line naming the machine the verdicts are computed for."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class HardwareBar(Static):
    """Detected (or simulated) hardware: CPU, RAM and VRAM free/total."""

    text: reactive[str] = reactive("detecting hardware…")
    """The line shown."""

    def watch_text(self, text: str) -> None:
        self.update(Text(text))
