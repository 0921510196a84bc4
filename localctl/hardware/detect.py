"""Detect this machine: CPU, RAM (cgroup-capped), NVIDIA (NVML), AMD (sysfs), Apple Silicon."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from localctl.hardware.bandwidth import ram_bandwidth
from localctl.hardware.values import Gpu, Hardware, NvmlLoader, Sysctl
from localctl.hwtables import (
    AMD_DEVICE_IDS,
    GB,
    GIB,
    apple_bandwidth_gb_s,
    gpu_bandwidth_gb_s,
)

APPLE_SHARE_LARGE = 0.75
"""Share of unified memory the GPU may use on Macs with at least 64 GiB."""

APPLE_SHARE_SMALL = 2 / 3
"""Share of unified memory the GPU may use on Macs with less than 64 GiB."""

APPLE_LARGE_RAM_BYTES = 64 * GIB

_MIN_DISCRETE_VRAM_BYTES = GIB
"""AMD cards with less dedicated memory are integrated GPUs with a small carve-out."""


def detect_hardware(
    *,
    measure: bool = True,
    remeasure: bool = False,
    nvml_loader: NvmlLoader | None = None,
    sysfs_root: Path = Path("/sys"),
    system: str | None = None,
    machine: str | None = None,
    sysctl: Sysctl | None = None,
) -> Hardware:
    """Detect this machine.

    Cheap after the first call on a machine: the measured CPU bandwidth is cached.

    Args:
        measure: Measure the CPU memory bandwidth when no cached figure exists
            (about 0.2 s); otherwise assume a common DDR set-up.
        remeasure: Measure again even when a cached figure exists.
        nvml_loader: Returns the NVML module; default imports ``pynvml``.
        sysfs_root: Root of sysfs (AMD GPUs, cgroup memory limit).
        system: ``platform.system()`` override.
        machine: ``platform.machine()`` override.
        sysctl: macOS ``sysctl`` reader override.

    Returns:
        The detected :class:`Hardware` (``profile`` empty).
    """
    import psutil

    system = system or platform.system()
    machine = machine or platform.machine()
    memory = psutil.virtual_memory()
    ram_total, ram_available = int(memory.total), int(memory.available)
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical

    if system == "Darwin" and machine in ("arm64", "aarch64"):
        apple = apple_hardware(sysctl or _sysctl, ram_available_bytes=ram_available)
        if apple.ram_bandwidth_bytes_s > 0:
            return apple
        bandwidth, source, apple_notes = ram_bandwidth(
            apple.cpu_name, measure=measure, remeasure=remeasure, threads=apple.physical_cores
        )
        return dataclasses.replace(
            apple,
            ram_bandwidth_bytes_s=bandwidth,
            ram_bandwidth_source=source,
            notes=apple.notes + tuple(apple_notes),
        )

    notes: list[str] = []
    ram_total, ram_available = _cgroup_memory(sysfs_root, ram_total, ram_available, notes)
    brand = (sysctl or _sysctl)("machdep.cpu.brand_string") if system == "Darwin" else None
    cpu_name = brand or _cpu_name()
    nvidia, nvidia_notes = nvidia_gpus(nvml_loader)
    amd, amd_notes = amd_gpus(sysfs_root)
    notes += nvidia_notes + amd_notes
    bandwidth, source, bandwidth_notes = ram_bandwidth(
        cpu_name, measure=measure, remeasure=remeasure, threads=physical
    )
    return Hardware(
        cpu_name=cpu_name,
        physical_cores=int(physical),
        logical_cores=int(logical),
        ram_total_bytes=ram_total,
        ram_available_bytes=ram_available,
        ram_bandwidth_bytes_s=bandwidth,
        gpus=tuple(nvidia + amd),
        ram_bandwidth_source=source,
        notes=tuple(notes + bandwidth_notes),
    )


def _cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model") and value.strip():
            return " ".join(value.split())
    return platform.processor() or platform.machine() or "unknown CPU"


def _cgroup_memory(
    sysfs_root: Path, total: int, available: int, notes: list[str]
) -> tuple[int, int]:
    """Cap RAM by a cgroup v2 limit: inside a container psutil reports the host's memory."""
    base = sysfs_root / "fs" / "cgroup"
    try:
        limit_text = (base / "memory.max").read_text().strip()
    except OSError:
        return total, available
    if not limit_text.isdigit() or int(limit_text) >= total:
        return total, available
    limit = int(limit_text)
    try:
        current = int((base / "memory.current").read_text().strip())
    except (OSError, ValueError):
        current = 0
    notes.append(f"RAM capped by the cgroup memory limit ({limit} bytes)")
    return limit, max(0, min(available, limit - current))


def nvml_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def nvml_errors(nvml: Any) -> tuple[type[BaseException], ...]:
    error = getattr(nvml, "NVMLError", None)
    base: tuple[type[BaseException], ...] = (OSError, AttributeError)
    if isinstance(error, type) and issubclass(error, BaseException):
        return (error, *base)
    return base


def import_pynvml() -> Any:
    import pynvml

    return pynvml


def _cuda_visible(value: str | None) -> list[str] | None:
    """Tokens of ``CUDA_VISIBLE_DEVICES`` up to the first invalid one, as CUDA reads it."""
    if value is None:
        return None
    tokens: list[str] = []
    for raw in value.split(","):
        token = raw.strip()
        if not (token.isdigit() or token.startswith(("GPU-", "MIG-"))):
            break
        tokens.append(token)
    return tokens


def nvidia_gpus(nvml_loader: NvmlLoader | None = None) -> tuple[list[Gpu], list[str]]:
    """NVIDIA GPUs through NVML, honouring ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs).

    Args:
        nvml_loader: Returns the NVML module; default imports ``pynvml``.

    Returns:
        The GPUs (empty without library, driver or devices) and notes saying why.
    """
    try:
        nvml = (nvml_loader or import_pynvml)()
    except ImportError:
        return [], ["NVML: nvidia-ml-py is not installed"]
    errors = nvml_errors(nvml)
    try:
        nvml.nvmlInit()
    except errors as error:
        return [], [f"NVML: {nvml_text(error) or type(error).__name__}"]
    gpus: list[Gpu] = []
    notes: list[str] = []
    visible = _cuda_visible(os.environ.get("CUDA_VISIBLE_DEVICES"))
    try:
        count = int(nvml.nvmlDeviceGetCount())
        for index in range(count):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                if visible is not None:
                    uuid = nvml_text(nvml.nvmlDeviceGetUUID(handle))
                    if str(index) not in visible and not any(uuid.startswith(t) for t in visible):
                        notes.append(f"NVML: GPU {index} hidden by CUDA_VISIBLE_DEVICES")
                        continue
                name = nvml_text(nvml.nvmlDeviceGetName(handle))
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                total, free = int(memory.total), int(memory.free)
            except errors as error:
                notes.append(f"NVML: GPU {index}: {nvml_text(error) or type(error).__name__}")
                continue
            bandwidth, source, note = _nvidia_bandwidth(nvml, handle, name, total, errors)
            if note:
                notes.append(f"NVML: GPU {index}: {note}")
            gpus.append(Gpu(index, name, "nvidia", total, free, bandwidth, source))
    except errors as error:
        notes.append(f"NVML: {nvml_text(error) or type(error).__name__}")
    finally:
        with contextlib.suppress(*errors):
            nvml.nvmlShutdown()
    return gpus, notes


def _nvidia_bandwidth(
    nvml: Any, handle: Any, name: str, total: int, errors: tuple[type[BaseException], ...]
) -> tuple[float, str, str | None]:
    """``(bytes_s, source, note)``: the table when it knows the card, else bus width × clock."""
    measured = 0.0
    try:
        bus_bits = int(nvml.nvmlDeviceGetMemoryBusWidth(handle))
        clock_mhz = int(nvml.nvmlDeviceGetMaxClockInfo(handle, getattr(nvml, "NVML_CLOCK_MEM", 2)))
    except errors:
        bus_bits = clock_mhz = 0
    if bus_bits > 0 and clock_mhz > 0:
        # NVML reports the memory clock at half the transfer rate (GDDR6X, GDDR7 and HBM
        # alike): RTX 4090 384 bit × 10501 MHz × 2 = 1008 GB/s; H100 5120 bit × 2619 MHz × 2.
        measured = bus_bits / 8 * clock_mhz * 1e6 * 2
    known = gpu_bandwidth_gb_s(name, total)
    if known is None:
        return measured, "nvml" if measured else "", None
    note = None
    if measured and abs(measured - known * GB) > 0.15 * known * GB:
        note = f"{name}: table says {known:.0f} GB/s, NVML bus × clock {measured / GB:.0f} GB/s"
    return known * GB, "table", note


def read_sysfs(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def amd_gpus(sysfs_root: Path = Path("/sys")) -> tuple[list[Gpu], list[str]]:
    """AMD GPUs from sysfs (amdgpu driver): ``/sys/class/drm/cardN/device``.

    Args:
        sysfs_root: Root of sysfs; tests pass a fake tree.

    Returns:
        The GPUs (integrated ones with under 1 GiB of dedicated memory left out) and notes.
    """
    drm = sysfs_root / "class" / "drm"
    if not drm.is_dir():
        return [], []
    cards = [p for p in drm.iterdir() if re.fullmatch(r"card\d+", p.name)]
    gpus: list[Gpu] = []
    notes: list[str] = []
    for card in sorted(cards, key=lambda p: int(p.name[4:])):
        device = card / "device"
        if (read_sysfs(device / "vendor") or "").lower() != "0x1002":
            continue
        total_text = read_sysfs(device / "mem_info_vram_total")
        used_text = read_sysfs(device / "mem_info_vram_used")
        if total_text is None or not total_text.isdigit():
            notes.append(f"AMD {card.name}: no mem_info_vram_total (is amdgpu loaded?)")
            continue
        total = int(total_text)
        used = int(used_text) if used_text and used_text.isdigit() else 0
        if total < _MIN_DISCRETE_VRAM_BYTES:
            notes.append(f"AMD {card.name}: integrated GPU with {total // 2**20} MiB, left out")
            continue
        name = read_sysfs(device / "product_name") or _amd_name(
            read_sysfs(device / "device"), total
        )
        known = gpu_bandwidth_gb_s(name, total)
        gpus.append(
            Gpu(
                index=int(card.name[4:]),
                name=name,
                vendor="amd",
                total_bytes=total,
                free_bytes=max(0, total - used),
                bandwidth_bytes_s=known * GB if known else 0.0,
                bandwidth_source="table" if known else "",
            )
        )
    return gpus, notes


def _amd_name(device_id: str | None, total: int) -> str:
    try:
        number = int(device_id or "", 16)
    except ValueError:
        return "AMD GPU"
    for min_gib, name in AMD_DEVICE_IDS.get(number, ()):
        if total / GIB >= min_gib:
            return name
    return f"AMD GPU {number:#06x}"


def _sysctl(name: str) -> str | None:
    try:
        result = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = result.stdout.strip()
    return value if result.returncode == 0 and value else None


def apple_gpu_share_bytes(ram_total_bytes: int, wired_limit_mb: int = 0) -> int:
    """Unified memory the GPU may use: 75% of RAM from 64 GiB up, two thirds below.

    Args:
        ram_total_bytes: Physical memory.
        wired_limit_mb: ``iogpu.wired_limit_mb`` when the user set it (0: not set).

    Returns:
        Bytes the GPU can wire.
    """
    if wired_limit_mb > 0:
        return min(ram_total_bytes, wired_limit_mb * 2**20)
    share = APPLE_SHARE_LARGE if ram_total_bytes >= APPLE_LARGE_RAM_BYTES else APPLE_SHARE_SMALL
    return int(ram_total_bytes * share)


def apple_hardware(sysctl: Sysctl, *, ram_available_bytes: int) -> Hardware:
    """An Apple Silicon Mac from its ``sysctl`` values.

    Reads ``machdep.cpu.brand_string``, ``hw.memsize``, ``hw.physicalcpu``,
    ``hw.logicalcpu`` and ``iogpu.wired_limit_mb``.

    Args:
        sysctl: Reader of sysctl values (``sysctl -n NAME``; tests pass a dict's ``get``).
        ram_available_bytes: RAM available now (psutil).

    Returns:
        Hardware with ``unified_memory`` and one ``apple`` GPU holding the usable share;
        ``ram_bandwidth_bytes_s`` is the chip's unified bandwidth, 0 for an unknown chip.
    """

    def number(name: str) -> int:
        value = sysctl(name) or ""
        return int(value) if value.strip().isdigit() else 0

    brand = sysctl("machdep.cpu.brand_string") or "Apple Silicon"
    ram_total = number("hw.memsize")
    if ram_total <= 0:
        import psutil

        ram_total = int(psutil.virtual_memory().total)
    physical = number("hw.physicalcpu") or os.cpu_count() or 1
    logical = number("hw.logicalcpu") or physical
    share = apple_gpu_share_bytes(ram_total, number("iogpu.wired_limit_mb"))
    bandwidth_gb_s = apple_bandwidth_gb_s(brand, physical) or 0.0
    gpu = Gpu(
        index=0,
        name=brand,
        vendor="apple",
        total_bytes=share,
        free_bytes=max(0, min(share, ram_available_bytes)),
        bandwidth_bytes_s=bandwidth_gb_s * GB,
        bandwidth_source="table" if bandwidth_gb_s else "",
    )
    return Hardware(
        cpu_name=brand,
        physical_cores=physical,
        logical_cores=logical,
        ram_total_bytes=ram_total,
        ram_available_bytes=min(ram_available_bytes, ram_total),
        ram_bandwidth_bytes_s=bandwidth_gb_s * GB,
        gpus=(gpu,),
        unified_memory=True,
        ram_bandwidth_source="table" if bandwidth_gb_s else "",
    )
