"""One line naming the machine the verdicts are computed for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

if TYPE_CHECKING:
    from localctl.hardware import Hardware

GIB = 1024**3


def hardware_line(hw: Hardware, width: int | None = None) -> str:
    """One line: CPU, RAM free/total, each GPU's VRAM free/total (a profile says so first).

    Args:
        hw: The machine.
        width: Cells available; the line gets terser until it fits (CPU and GPU names
            go first, the free/total figures stay).
    """
    lines = [_line(hw, level) for level in range(3)]
    if width is None:
        return lines[0]
    return next((line for line in lines if len(line) <= width), lines[-1])


def _line(hw: Hardware, level: int) -> str:
    cores = f"{hw.physical_cores}c/{hw.logical_cores}t"
    free = " free" if level < 2 else ""
    parts = [
        f"{hw.cpu_name} ({cores})" if level == 0 else cores,
        f"RAM {hw.ram_available_bytes / GIB:.1f}/{hw.ram_total_bytes / GIB:.1f} GiB{free}",
    ]
    if hw.unified_memory:
        parts.append("unified memory")
    for gpu in hw.gpus:
        name = gpu.name if level == 0 else _short_gpu_name(gpu.name) if level == 1 else ""
        label = f"GPU{gpu.index} {name}".rstrip()
        parts.append(f"{label} {gpu.free_bytes / GIB:.1f}/{gpu.total_bytes / GIB:.1f} GiB")
    if not hw.gpus:
        parts.append("no GPU")
    if hw.profile:
        parts.insert(0, f"[profile {hw.profile}]" if level == 0 else f"[{hw.profile}]")
    return " · ".join(parts)


def _short_gpu_name(name: str) -> str:
    for vendor in ("NVIDIA ", "GeForce ", "AMD ", "Radeon ", "Apple "):
        name = name.replace(vendor, "")
    return name


class HardwareBar(Static):
    """Detected (or simulated) hardware: CPU, RAM and VRAM free/total."""

    hardware: reactive[Hardware | None] = reactive(None)
    """The machine shown; None while it is being detected."""

    def watch_hardware(self, hw: Hardware | None) -> None:
        self._show(hw)

    def on_resize(self) -> None:
        self._show(self.hardware)

    def _show(self, hw: Hardware | None) -> None:
        width = self.content_size.width or None
        self.update(Text(hardware_line(hw, width) if hw is not None else "detecting hardware…"))
