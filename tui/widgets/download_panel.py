"""Download progress: a bar with bytes, speed and ETA; escape cancels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from localctl.output import human_bytes
from localctl.sanitize import printable
from tui.rows import human_duration

if TYPE_CHECKING:
    from localctl.hub import PullProgress


def progress_line(progress: PullProgress) -> str:
    """``file 1/2 name  1.2/4.0 GiB  35.1 MiB/s  ETA 1m20s``."""
    verb = "verifying" if getattr(progress, "phase", "download") == "verify" else "file"
    return (
        f"{verb} {progress.file_index}/{progress.file_count} {progress.filename}  "
        f"{human_bytes(progress.total_done)}/{human_bytes(progress.total_bytes)}  "
        f"{human_bytes(progress.speed_bytes_s)}/s  ETA {human_duration(progress.eta_s)}"
    )


class DownloadPanel(Horizontal):
    """Progress of the running download; hidden when none runs."""

    def compose(self) -> ComposeResult:
        yield Label(id="download-title")
        yield Label(id="download-info")

    _generation = 0
    _bar: ProgressBar | None = None
    """Mounted only while a download shows: a ProgressBar runs a timer (15 Hz while it has
    no total, 1 Hz always), waking the app when nothing changes, even hidden."""

    def begin(self, ref: str) -> None:
        """Show the panel for a download of ``ref``."""
        self._generation += 1
        self.query_one("#download-title", Label).update(Text(f"⬇ {ref} "))
        info = self.query_one("#download-info", Label)
        info.update(Text("starting…  (escape cancels)"))
        if self._bar is None:
            self._bar = ProgressBar(total=None, show_eta=False, id="download-bar")
            self.mount(self._bar, before=info)
        else:
            self._bar.update(total=None, progress=0)
        self.display = True

    def show_progress(self, progress: PullProgress) -> None:
        """Move the bar to ``progress``."""
        if self._bar is not None:
            self._bar.update(total=max(progress.total_bytes, 1), progress=progress.total_done)
        self.query_one("#download-info", Label).update(Text(progress_line(progress)))

    def finish(self, message: str) -> None:
        """Leave a final line, then hide."""
        self.query_one("#download-info", Label).update(Text(printable(message)))
        generation = self._generation
        self.set_timer(4.0, lambda: self._hide(generation))

    def _hide(self, generation: int) -> None:
        if generation == self._generation:
            self.display = False
            if self._bar is not None:
                self._bar.remove()
                self._bar = None
