"""One line naming the machine the verdicts are computed for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

if TYPE_CHECKING:
    from localctl.hardware import Hardware

GIB = 1024**3


def hardware_line(hw: Hardware) -> str:
    """One line: CPU, RAM free/total, each GPU's VRAM free/total (a profile says so first)."""
    parts = [
        f"{hw.cpu_name} ({hw.physical_cores}c/{hw.logical_cores}t)",
        f"RAM {hw.ram_available_bytes / GIB:.1f}/{hw.ram_total_bytes / GIB:.1f} GiB free",
    ]
    if hw.unified_memory:
        parts.append("unified memory")
    for gpu in hw.gpus:
        parts.append(
            f"GPU{gpu.index} {gpu.name} {gpu.free_bytes / GIB:.1f}/{gpu.total_bytes / GIB:.1f} GiB"
        )
    if not hw.gpus:
        parts.append("no GPU")
    if hw.profile:
        parts.insert(0, f"[profile {hw.profile}]")
    return " · ".join(parts)


class HardwareBar(Static):
    """Detected (or simulated) hardware: CPU, RAM and VRAM free/total."""

    hardware: reactive[Hardware | None] = reactive(None)
    """The machine shown; None while it is being detected."""

    def watch_hardware(self, hw: Hardware | None) -> None:
        self.update(Text(hardware_line(hw) if hw is not None else "detecting hardware…"))
