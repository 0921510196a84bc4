"""What a machine has, as values: :class:`Hardware`, :class:`Gpu`, :class:`GpuUsage`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NvmlLoader = Callable[[], Any]
"""Returns the ``pynvml`` module (or a stand-in with the same functions); may raise ImportError."""

Sysctl = Callable[[str], str | None]
"""Returns the value of a macOS ``sysctl`` name, or ``None`` when it has none."""


@dataclass(frozen=True, slots=True)
class Gpu:
    """One accelerator and its memory."""

    index: int
    """The driver's index: NVML index (as nvidia-smi), DRM card number for AMD, 0 for Apple."""
    name: str
    vendor: str
    """``nvidia``, ``amd``, ``apple`` or ``intel`` (Intel GPUs only in profiles)."""
    total_bytes: int
    free_bytes: int
    bandwidth_bytes_s: float
    """Memory bandwidth in bytes/s (0 when unknown)."""
    bandwidth_source: str = ""
    """``table`` (known device), ``nvml`` (bus width × clock), ``profile``, or empty (unknown)."""


@dataclass(frozen=True, slots=True)
class Hardware:
    """A machine as the fit engine sees it."""

    cpu_name: str
    physical_cores: int
    logical_cores: int
    ram_total_bytes: int
    ram_available_bytes: int
    ram_bandwidth_bytes_s: float
    """CPU-side memory bandwidth in bytes/s (measured or from the device table)."""
    gpus: tuple[Gpu, ...] = ()
    unified_memory: bool = False
    """True on Apple Silicon: the GPU's share is carved out of RAM."""
    profile: str = ""
    """Name of the simulated profile; empty for the detected machine."""
    ram_bandwidth_source: str = ""
    """``measured`` (this machine, cached), ``table`` (Apple chip), ``profile`` or ``assumed``."""
    description: str = ""
    """One line describing a simulated profile."""
    notes: tuple[str, ...] = ()
    """Why something was not detected (``NVML: Driver Not Loaded``) and similar facts."""

    @property
    def vram_total_bytes(self) -> int:
        """Total memory of all GPUs."""
        return sum(g.total_bytes for g in self.gpus)

    @property
    def vram_free_bytes(self) -> int:
        """Free memory of all GPUs."""
        return sum(g.free_bytes for g in self.gpus)


@dataclass(frozen=True, slots=True)
class GpuUsage:
    """Live figures of one GPU for the meters."""

    index: int
    name: str
    utilisation_pct: float
    used_bytes: int
    total_bytes: int
    power_w: float | None
    """Board power draw in watts, ``None`` when the driver does not report it."""
