"""Live figures for meters: GPU use, memory and power (NVML), CPU package power (RAPL)."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localctl.hardware.detect import import_pynvml, nvml_errors, nvml_text, read_sysfs
from localctl.hardware.values import GpuUsage, NvmlLoader

_session_lock = threading.Lock()

_session: list[Any] = []
"""The NVML module once initialised for :func:`gpu_usage`, or ``[None]`` after a failure."""


def _init_nvml(loader: NvmlLoader) -> Any:
    """The initialised NVML module, or ``None`` without library or driver."""
    try:
        nvml = loader()
    except ImportError:
        return None
    try:
        nvml.nvmlInit()
    except nvml_errors(nvml):
        return None
    return nvml


def _nvml_session() -> Any:
    """NVML initialised once per process: meters sample every second and init is slow."""
    with _session_lock:
        if not _session:
            _session.append(_init_nvml(import_pynvml))
        return _session[0]


def gpu_usage(nvml_loader: NvmlLoader | None = None) -> list[GpuUsage]:
    """Live utilisation, memory and power of every NVIDIA GPU (empty without NVML).

    Args:
        nvml_loader: Returns an NVML module to initialise for this call only; by
            default ``pynvml`` is initialised once and kept for the process.

    Returns:
        One :class:`GpuUsage` per GPU NVML can read.
    """
    if nvml_loader is None:
        nvml = _nvml_session()
        return [] if nvml is None else _usage(nvml)
    nvml = _init_nvml(nvml_loader)
    if nvml is None:
        return []
    try:
        return _usage(nvml)
    finally:
        with contextlib.suppress(*nvml_errors(nvml)):
            nvml.nvmlShutdown()


def _usage(nvml: Any) -> list[GpuUsage]:
    errors = nvml_errors(nvml)
    result: list[GpuUsage] = []
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except errors:
        return []
    for index in range(count):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml_text(nvml.nvmlDeviceGetName(handle))
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        except errors:
            continue
        try:
            utilisation = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except errors:
            utilisation = 0.0
        try:
            power_w: float | None = float(nvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0
        except errors:
            power_w = None
        result.append(
            GpuUsage(index, name, utilisation, int(memory.used), int(memory.total), power_w)
        )
    return result


def _rapl_packages(powercap_root: Path) -> list[Path]:
    """Top-level RAPL package domains (``intel-rapl:0``, ``intel-rapl:1``; AMD uses them too)."""
    if not powercap_root.is_dir():
        return []
    return sorted(p for p in powercap_root.iterdir() if re.fullmatch(r"intel-rapl:\d+", p.name))


def _rapl_read(domains: list[Path]) -> list[tuple[int, int]] | None:
    readings: list[tuple[int, int]] = []
    for domain in domains:
        energy = read_sysfs(domain / "energy_uj")
        limit = read_sysfs(domain / "max_energy_range_uj")
        if energy is None or not energy.isdigit():
            return None
        readings.append((int(energy), int(limit) if limit and limit.isdigit() else 0))
    return readings or None


def _rapl_power(
    before: list[tuple[int, int]], after: list[tuple[int, int]], seconds: float
) -> float | None:
    if seconds <= 0 or len(before) != len(after):
        return None
    total_uj = 0
    for (start, _), (end, limit) in zip(before, after, strict=True):
        delta = end - start
        if delta < 0:  # the counter wrapped
            delta += limit if limit > 0 else 0
        total_uj += max(0, delta)
    return total_uj / 1e6 / seconds


class CpuPowerMeter:
    """CPU package power from RAPL counters without blocking: a read covers the time since the last.

    ``energy_uj`` is root-only on many distributions; then every read is ``None``.
    """

    def __init__(
        self,
        powercap_root: Path = Path("/sys/class/powercap"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Take the first reading.

        Args:
            powercap_root: Folder holding ``intel-rapl:N`` domains.
            clock: Monotonic seconds.
        """
        self._domains = _rapl_packages(powercap_root)
        self._clock = clock
        self._last = _rapl_read(self._domains)
        self._last_time = clock()

    def read(self) -> float | None:
        """Average watts since the previous call (or construction); ``None`` when unreadable."""
        now_readings = _rapl_read(self._domains)
        now = self._clock()
        if now_readings is None or self._last is None:
            self._last, self._last_time = now_readings, now
            return None
        power = _rapl_power(self._last, now_readings, now - self._last_time)
        self._last, self._last_time = now_readings, now
        return power


def cpu_power_w(
    powercap_root: Path = Path("/sys/class/powercap"), interval_s: float = 0.1
) -> float | None:
    """CPU package power in watts from two RAPL samples ``interval_s`` apart (blocks that long).

    Args:
        powercap_root: Folder holding ``intel-rapl:N`` domains.
        interval_s: Time between the two samples.

    Returns:
        Watts summed over packages, or ``None`` when RAPL is absent or unreadable.
    """
    domains = _rapl_packages(powercap_root)
    before = _rapl_read(domains)
    if before is None:
        return None
    start = time.monotonic()
    time.sleep(interval_s)
    after = _rapl_read(domains)
    if after is None:
        return None
    return _rapl_power(before, after, time.monotonic() - start)
