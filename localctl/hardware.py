"""What this machine (or a simulated one) has: CPU, RAM, GPUs, memory bandwidth."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Gpu:
    """One accelerator and its memory."""

    index: int
    name: str
    vendor: str
    """``nvidia``, ``amd`` or ``apple``."""
    total_bytes: int
    free_bytes: int
    bandwidth_bytes_s: float
    """Memory bandwidth in bytes/s (0 when unknown)."""


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

    @property
    def vram_total_bytes(self) -> int:
        """Total memory of all GPUs."""
        return sum(g.total_bytes for g in self.gpus)

    @property
    def vram_free_bytes(self) -> int:
        """Free memory of all GPUs."""
        return sum(g.free_bytes for g in self.gpus)


def detect_hardware() -> Hardware:
    """Detect this machine. Implemented by the hardware module owner."""
    raise NotImplementedError


def load_profile(name_or_path: str) -> Hardware:
    """A simulated machine by profile name (``rtx4090``) or TOML path."""
    raise NotImplementedError
