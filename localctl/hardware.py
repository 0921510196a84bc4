"""What this machine (or a simulated one) has: CPU, RAM, GPUs, memory bandwidth.

Public API:

- :func:`detect_hardware` — this machine. CPU name (``/proc/cpuinfo``, or
  ``sysctl machdep.cpu.brand_string`` on a Mac), physical/logical cores and RAM
  total/available (psutil, capped by a cgroup v2 ``memory.max``), NVIDIA GPUs via
  NVML (nvidia-ml-py, imported lazily), AMD GPUs via sysfs
  (``/sys/class/drm/card*/device/mem_info_vram_*``), Apple Silicon unified memory.
  ``CUDA_VISIBLE_DEVICES`` (indices or UUID prefixes) hides NVIDIA GPUs as CUDA would.
  A missing library or driver means "no GPU", never an error or a printed line; the
  reason is kept in :attr:`Hardware.notes` (shown by ``localctl hw --json``).
- :func:`load_profile`, :func:`resolve_hardware`, :func:`profile_names` — simulated
  machines for "what if I had …" (``--hw rtx4090``, ``--hw m3-ultra-192``, a TOML file).
- :func:`gpu_usage`, :func:`cpu_power_w`, :class:`CpuPowerMeter` — live figures for meters.
- :func:`hardware_to_dict` — the stable JSON document of ``localctl hw --json``.

Apple Silicon: the GPU may wire only part of the unified memory. Metal's
``recommendedMaxWorkingSetSize`` is about 75% of RAM on machines with 64 GiB or
more and about two thirds below that; we use that rule (``iogpu.wired_limit_mb``,
when the user raised it with ``sysctl``, wins). The GPU entry's ``total_bytes`` is
that share; its ``free_bytes`` is the share capped by RAM available now.

Memory bandwidth: GPUs and Apple chips come from the table in
:mod:`localctl.hwtables` (NVIDIA cards missing from it: memory bus width × max
memory clock × 2 from NVML). The CPU figure is measured once with a multi-threaded
numpy copy (~0.2 s; bytes read + bytes written per second, the STREAM "copy"
convention) and cached in ``cache_dir()/bandwidth.json`` keyed by CPU name;
``localctl hw --remeasure`` refreshes it. A measured copy reaches roughly 60-80% of
the DDR peak that profiles quote, so :attr:`Hardware.ram_bandwidth_source` says which
kind of figure a machine carries (``measured``, ``table``, ``profile``, ``assumed``).

Profile TOML schema (a user file holds one profile at top level; the built-in
``localctl/hwprofiles.toml`` holds one table per profile name)::

    description = "My workstation"          # optional
    cpu_name = "AMD Ryzen 9 7950X"
    physical_cores = 16
    logical_cores = 32                      # optional, default physical_cores
    ram_gib = 64
    ram_available_gib = 58                  # optional, default 90% of ram_gib
    ram_bandwidth_gb_s = 89.6               # optional; or memory = "ddr5-5600-dual"
    unified_memory = false                  # optional; true for Apple Silicon

    [[gpus]]                                # zero or more
    name = "NVIDIA GeForce RTX 4090"
    vendor = "nvidia"                       # optional: nvidia | amd | apple
    vram_gib = 24                           # optional for apple (usable share of RAM)
    vram_free_gib = 24                      # optional, default vram_gib
    bandwidth_gb_s = 1008                   # optional when the device is in the table
    count = 2                               # optional, identical cards

Sizes are GiB (2^30 bytes, as drivers report memory), bandwidths GB/s (10^9 bytes/s,
as vendors quote them). ``memory`` names one of :data:`localctl.hwtables.DDR_CONFIGS`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import itertools
import json
import os
import platform
import re
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from localctl import paths
from localctl.errors import HardwareError
from localctl.hwtables import (
    AMD_DEVICE_IDS,
    DDR_CONFIGS,
    DEFAULT_DDR,
    GB,
    GIB,
    apple_bandwidth_gb_s,
    gpu_bandwidth_gb_s,
)

NvmlLoader = Callable[[], Any]
"""Returns the ``pynvml`` module (or a stand-in with the same functions); may raise ImportError."""

Sysctl = Callable[[str], str | None]
"""Returns the value of a macOS ``sysctl`` name, or ``None`` when it has none."""

APPLE_SHARE_LARGE = 0.75
"""Share of unified memory the GPU may use on Macs with at least 64 GiB."""
APPLE_SHARE_SMALL = 2 / 3
"""Share of unified memory the GPU may use on Macs with less than 64 GiB."""
APPLE_LARGE_RAM_BYTES = 64 * GIB

PROFILE_RAM_AVAILABLE_SHARE = 0.9
"""Simulated machines keep 10% of RAM for the OS unless ``ram_available_gib`` says otherwise."""

_MIN_DISCRETE_VRAM_BYTES = GIB
"""AMD cards with less dedicated memory are integrated GPUs with a small carve-out."""


@dataclass(frozen=True, slots=True)
class Gpu:
    """One accelerator and its memory."""

    index: int
    """The driver's index: NVML index (as nvidia-smi), DRM card number for AMD, 0 for Apple."""
    name: str
    vendor: str
    """``nvidia``, ``amd`` or ``apple``."""
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


# --------------------------------------------------------------------------- detection


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


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _nvml_errors(nvml: Any) -> tuple[type[BaseException], ...]:
    error = getattr(nvml, "NVMLError", None)
    base: tuple[type[BaseException], ...] = (OSError, AttributeError)
    if isinstance(error, type) and issubclass(error, BaseException):
        return (error, *base)
    return base


def _import_pynvml() -> Any:
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
        nvml = (nvml_loader or _import_pynvml)()
    except ImportError:
        return [], ["NVML: nvidia-ml-py is not installed"]
    errors = _nvml_errors(nvml)
    try:
        nvml.nvmlInit()
    except errors as error:
        return [], [f"NVML: {_text(error) or type(error).__name__}"]
    gpus: list[Gpu] = []
    notes: list[str] = []
    visible = _cuda_visible(os.environ.get("CUDA_VISIBLE_DEVICES"))
    try:
        count = int(nvml.nvmlDeviceGetCount())
        for index in range(count):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                if visible is not None:
                    uuid = _text(nvml.nvmlDeviceGetUUID(handle))
                    if str(index) not in visible and not any(uuid.startswith(t) for t in visible):
                        notes.append(f"NVML: GPU {index} hidden by CUDA_VISIBLE_DEVICES")
                        continue
                name = _text(nvml.nvmlDeviceGetName(handle))
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                total, free = int(memory.total), int(memory.free)
            except errors as error:
                notes.append(f"NVML: GPU {index}: {_text(error) or type(error).__name__}")
                continue
            bandwidth, source, note = _nvidia_bandwidth(nvml, handle, name, total, errors)
            if note:
                notes.append(f"NVML: GPU {index}: {note}")
            gpus.append(Gpu(index, name, "nvidia", total, free, bandwidth, source))
    except errors as error:
        notes.append(f"NVML: {_text(error) or type(error).__name__}")
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


def _read(path: Path) -> str | None:
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
        if (_read(device / "vendor") or "").lower() != "0x1002":
            continue
        total_text = _read(device / "mem_info_vram_total")
        used_text = _read(device / "mem_info_vram_used")
        if total_text is None or not total_text.isdigit():
            notes.append(f"AMD {card.name}: no mem_info_vram_total (is amdgpu loaded?)")
            continue
        total = int(total_text)
        used = int(used_text) if used_text and used_text.isdigit() else 0
        if total < _MIN_DISCRETE_VRAM_BYTES:
            notes.append(f"AMD {card.name}: integrated GPU with {total // 2**20} MiB, left out")
            continue
        name = _read(device / "product_name") or _amd_name(_read(device / "device"), total)
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


# --------------------------------------------------------------------------- bandwidth


def bandwidth_cache_file() -> Path:
    """JSON file of measured CPU memory bandwidth, keyed by CPU name."""
    return paths.cache_dir() / "bandwidth.json"


def _read_bandwidth_cache() -> dict[str, Any]:
    try:
        document = json.loads(bandwidth_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    cpus = document.get("cpus") if isinstance(document, dict) else None
    return cpus if isinstance(cpus, dict) else {}


def cached_ram_bandwidth(cpu_name: str) -> float | None:
    """The cached measured bandwidth for ``cpu_name`` in bytes/s, or ``None``."""
    entry = _read_bandwidth_cache().get(cpu_name)
    value = entry.get("bytes_s") if isinstance(entry, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _store_bandwidth(cpu_name: str, bytes_s: float, threads: int) -> None:
    from localctl.config import atomic_write

    cpus = _read_bandwidth_cache()
    cpus[cpu_name] = {
        "bytes_s": bytes_s,
        "threads": threads,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    data = json.dumps({"version": 1, "cpus": cpus}, indent=2, sort_keys=True) + "\n"
    try:
        paths.ensure_private_dir(bandwidth_cache_file().parent)
        atomic_write(bandwidth_cache_file(), data.encode("utf-8"), mode=0o644)
    except OSError:
        pass  # a read-only cache only costs a new measurement next time


def measure_ram_bandwidth(duration_s: float = 0.2, threads: int | None = None) -> float:
    """Measure CPU memory bandwidth with a multi-threaded numpy copy.

    Each thread copies its slice of a buffer much larger than the caches; the best
    pass counts bytes read plus bytes written (STREAM "copy").

    Args:
        duration_s: Time spent in timed passes (at least three passes run).
        threads: Copy threads; default the number of CPUs.

    Returns:
        Bytes per second.

    Raises:
        ImportError: numpy is missing.
        MemoryError: the buffers cannot be allocated.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    threads = max(1, threads or os.cpu_count() or 1)
    size = max(128 * 2**20, 16 * 2**20 * threads)
    count = size // 8
    source = np.ones(count, dtype=np.float64)
    target = np.empty_like(source)
    bounds = [count * i // threads for i in range(threads + 1)]
    slices = [(target[a:b], source[a:b]) for a, b in itertools.pairwise(bounds)]
    best = 0.0
    with ThreadPoolExecutor(max_workers=threads) as pool:

        def one_pass() -> float:
            start = time.perf_counter()
            for future in [pool.submit(np.copyto, dst, src) for dst, src in slices]:
                future.result()
            return time.perf_counter() - start

        one_pass()  # fault the target pages in, untimed
        spent, passes = 0.0, 0
        while (spent < duration_s or passes < 3) and passes < 200:
            elapsed = one_pass()
            spent += elapsed
            passes += 1
            if elapsed > 0:
                best = max(best, 2 * size / elapsed)
    return best


def machine_busy() -> str:
    """Why a bandwidth measurement now would read low (empty when the machine is quiet).

    Busy means a one-minute load average above half the logical CPUs, not counting the
    measuring process itself.
    """
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return ""
    cpus = os.cpu_count() or 1
    if load - 1 > cpus / 2:
        return f"machine busy (load average {load:.1f} on {cpus} CPUs)"
    return ""


def ram_bandwidth(
    cpu_name: str, *, measure: bool = True, remeasure: bool = False, threads: int = 0
) -> tuple[float, str, list[str]]:
    """CPU memory bandwidth: cached measurement, a new one, or an assumed DDR figure.

    Args:
        cpu_name: Cache key.
        measure: Measure when nothing is cached.
        remeasure: Measure even when something is cached.
        threads: Copy threads for a measurement (0: all CPUs).

    Returns:
        ``(bytes_s, source, notes)`` with source ``measured`` or ``assumed``.
    """
    cached = None if remeasure else cached_ram_bandwidth(cpu_name)
    if cached is not None:
        return cached, "measured", []
    if measure or remeasure:
        try:
            started = time.perf_counter()
            bytes_s = measure_ram_bandwidth(threads=threads or None)
        except (ImportError, MemoryError) as error:
            note = (
                f"bandwidth not measured ({type(error).__name__}: {error}); assuming {DEFAULT_DDR}"
            )
        else:
            if bytes_s > 0:
                took = time.perf_counter() - started
                notes = [f"bandwidth measured now in {took:.2f} s"]
                busy = machine_busy()
                if busy:
                    # A copy competing with a compiler reads low; caching that figure
                    # would understate every speed prediction until re-measured.
                    notes.append(f"{busy}: figure not cached, measured again next time")
                else:
                    _store_bandwidth(cpu_name, bytes_s, threads)
                return bytes_s, "measured", notes
            note = "bandwidth measurement gave no figure"
        return DDR_CONFIGS[DEFAULT_DDR] * GB, "assumed", [note]
    return (
        DDR_CONFIGS[DEFAULT_DDR] * GB,
        "assumed",
        [f"bandwidth not measured; assuming {DEFAULT_DDR}"],
    )


# --------------------------------------------------------------------------- profiles

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_TOP_KEYS = frozenset(
    {
        "description",
        "cpu_name",
        "physical_cores",
        "logical_cores",
        "ram_gib",
        "ram_available_gib",
        "ram_bandwidth_gb_s",
        "memory",
        "unified_memory",
        "gpus",
    }
)
_GPU_KEYS = frozenset({"name", "vendor", "vram_gib", "vram_free_gib", "bandwidth_gb_s", "count"})
_VENDORS = ("nvidia", "amd", "apple")


@functools.cache
def _builtin_profiles() -> dict[str, dict[str, Any]]:
    text = resources.files("localctl").joinpath("hwprofiles.toml").read_text(encoding="utf-8")
    return dict(tomllib.loads(text))


def builtin_profile_names() -> list[str]:
    """Names of the profiles shipped with localctl."""
    return sorted(_builtin_profiles())


def _user_profile_names() -> list[str]:
    folder = paths.hardware_profiles_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.toml") if _NAME_RE.fullmatch(p.stem))


def profile_names() -> list[str]:
    """Every name ``--hw`` accepts: built-in profiles and ``NAME.toml`` in the profiles folder."""
    return sorted(set(builtin_profile_names()) | set(_user_profile_names()))


def load_profile(name_or_path: str) -> Hardware:
    """A simulated machine by profile name (``rtx4090``) or TOML path.

    A name is looked up first in ``paths.hardware_profiles_dir()/NAME.toml`` (so a
    user can override a built-in), then among the built-in profiles.

    Args:
        name_or_path: Profile name, or a path to a TOML file (contains ``/`` or ends ``.toml``).

    Returns:
        The simulated :class:`Hardware` with ``profile`` set.

    Raises:
        HardwareError: Unknown name (the message lists known names), unreadable file,
            or a malformed profile (the message names file and field).
    """
    text = name_or_path.strip()
    if text.endswith(".toml") or "/" in text or os.sep in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise HardwareError(f"hardware profile file not found: {path}")
        return _load_profile_file(path, path.stem)
    name = text.lower()
    user_file = paths.hardware_profiles_dir() / f"{name}.toml"
    if _NAME_RE.fullmatch(name) and user_file.is_file():
        return _load_profile_file(user_file, name)
    builtins = _builtin_profiles()
    if name in builtins:
        return profile_from_table(name, builtins[name], f"built-in profile '{name}'")
    known = profile_names()
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise HardwareError(
        f"unknown hardware profile '{text}'{hint}; known: {', '.join(known)}, or a .toml file"
    )


def resolve_hardware(profile: str | None, *, measure: bool = True) -> Hardware:
    """The machine to plan for: ``None`` detects this one, anything else loads a profile.

    Args:
        profile: ``--hw`` value, or ``None``.
        measure: Passed to :func:`detect_hardware`.

    Returns:
        Detected or simulated :class:`Hardware`.

    Raises:
        HardwareError: For an unknown or malformed profile.
    """
    if profile is None or not profile.strip():
        return detect_hardware(measure=measure)
    return load_profile(profile)


def _load_profile_file(path: Path, name: str) -> Hardware:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise HardwareError(f"hardware profile {path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise HardwareError(f"hardware profile {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise HardwareError(f"hardware profile {path}: invalid TOML ({error})") from None
    return profile_from_table(name, table, str(path))


class _Fields:
    """Typed reads from one TOML table, each failure naming the file and field."""

    def __init__(self, table: Mapping[str, Any], where: str, prefix: str = "") -> None:
        self.table = table
        self.where = where
        self.prefix = prefix

    def fail(self, key: str, problem: str) -> HardwareError:
        return HardwareError(f"hardware profile {self.where}: field '{self.prefix}{key}' {problem}")

    def check_keys(self, allowed: frozenset[str]) -> None:
        for key in self.table:
            if key not in allowed:
                raise self.fail(key, f"is not known (expected one of {', '.join(sorted(allowed))})")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "is missing")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, not {value!r}")
        return value.strip()

    def number(self, key: str, default: float | None = None, *, positive: bool = True) -> float:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "is missing")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, not {value!r}")
        if positive and not value > 0:
            raise self.fail(key, f"must be greater than 0, not {value!r}")
        return float(value)

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "is missing")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(key, f"must be a whole number of at least 1, not {value!r}")
        return value

    def flag(self, key: str) -> bool:
        value = self.table.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value


def profile_from_table(name: str, table: Mapping[str, Any], where: str) -> Hardware:
    """Build a simulated machine from one profile table (schema in the module docstring).

    Args:
        name: Profile name stored in :attr:`Hardware.profile`.
        table: The parsed TOML table.
        where: File (or built-in profile) named in error messages.

    Returns:
        The simulated :class:`Hardware`.

    Raises:
        HardwareError: Unknown key, wrong type, missing or inconsistent value.
    """
    fields = _Fields(table, where)
    fields.check_keys(_TOP_KEYS)
    description = fields.text("description", "") if "description" in table else ""
    cpu_name = fields.text("cpu_name")
    physical = fields.integer("physical_cores")
    logical = fields.integer("logical_cores", physical)
    if logical < physical:
        raise fields.fail("logical_cores", f"({logical}) is less than physical_cores ({physical})")
    ram_total = int(fields.number("ram_gib") * GIB)
    default_available = fields.number("ram_gib") * PROFILE_RAM_AVAILABLE_SHARE
    ram_available = int(fields.number("ram_available_gib", default_available) * GIB)
    if ram_available > ram_total:
        raise fields.fail("ram_available_gib", "is more than ram_gib")
    unified = fields.flag("unified_memory")

    gpus_value = table.get("gpus", [])
    if not isinstance(gpus_value, list) or not all(isinstance(g, dict) for g in gpus_value):
        raise fields.fail("gpus", "must be a list of tables ([[gpus]])")
    gpus: list[Gpu] = []
    for position, gpu_table in enumerate(gpus_value):
        gpus += _profile_gpus(
            _Fields(gpu_table, where, f"gpus[{position}]."),
            unified=unified,
            ram_total=ram_total,
            ram_available=ram_available,
            physical_cores=physical,
            first_index=len(gpus),
        )
    if unified and len(gpus) > 1:
        raise fields.fail("gpus", "may hold one GPU only with unified_memory")

    if "ram_bandwidth_gb_s" in table and "memory" in table:
        raise fields.fail("memory", "and ram_bandwidth_gb_s are both given; keep one")
    if "ram_bandwidth_gb_s" in table:
        ram_bandwidth = fields.number("ram_bandwidth_gb_s") * GB
    elif "memory" in table:
        memory = fields.text("memory")
        if memory not in DDR_CONFIGS:
            raise fields.fail("memory", f"must be one of {', '.join(DDR_CONFIGS)}, not {memory!r}")
        ram_bandwidth = DDR_CONFIGS[memory] * GB
    elif unified and gpus:
        ram_bandwidth = gpus[0].bandwidth_bytes_s
    else:
        ram_bandwidth = DDR_CONFIGS[DEFAULT_DDR] * GB
    return Hardware(
        cpu_name=cpu_name,
        physical_cores=physical,
        logical_cores=logical,
        ram_total_bytes=ram_total,
        ram_available_bytes=ram_available,
        ram_bandwidth_bytes_s=ram_bandwidth,
        gpus=tuple(gpus),
        unified_memory=unified,
        profile=name,
        ram_bandwidth_source="profile",
        description=description,
    )


def _profile_gpus(
    fields: _Fields,
    *,
    unified: bool,
    ram_total: int,
    ram_available: int,
    physical_cores: int,
    first_index: int,
) -> list[Gpu]:
    fields.check_keys(_GPU_KEYS)
    name = fields.text("name")
    lowered = name.lower()
    guessed = (
        "apple"
        if unified or lowered.startswith("apple")
        else "amd"
        if any(w in lowered for w in ("amd", "radeon", "instinct"))
        else "nvidia"
    )
    vendor = fields.text("vendor", guessed).lower()
    if vendor not in _VENDORS:
        raise fields.fail("vendor", f"must be one of {', '.join(_VENDORS)}, not {vendor!r}")
    if unified != (vendor == "apple"):
        raise fields.fail("vendor", "must be 'apple' exactly when unified_memory is true")
    if unified:
        share = apple_gpu_share_bytes(ram_total)
        total = int(fields.number("vram_gib", share / GIB) * GIB)
        if total > ram_total:
            raise fields.fail("vram_gib", "is more than ram_gib on a unified-memory machine")
        free = int(fields.number("vram_free_gib", min(total, ram_available) / GIB) * GIB)
    else:
        total = int(fields.number("vram_gib") * GIB)
        free = int(fields.number("vram_free_gib", total / GIB) * GIB)
    if free > total:
        raise fields.fail("vram_free_gib", "is more than vram_gib")
    if "bandwidth_gb_s" in fields.table:
        bandwidth_gb_s = fields.number("bandwidth_gb_s")
    else:
        known = (
            apple_bandwidth_gb_s(name, physical_cores)
            if vendor == "apple"
            else gpu_bandwidth_gb_s(name, total)
        )
        if known is None:
            raise fields.fail("bandwidth_gb_s", f"is missing and {name!r} is not a known device")
        bandwidth_gb_s = known
    count = fields.integer("count", 1)
    if count > 64:
        raise fields.fail("count", f"must be at most 64, not {count}")
    return [
        Gpu(first_index + i, name, vendor, total, free, bandwidth_gb_s * GB, "profile")
        for i in range(count)
    ]


# --------------------------------------------------------------------------- JSON


def hardware_to_dict(hw: Hardware) -> dict[str, Any]:
    """The stable JSON document of ``localctl hw --json`` (bytes and bytes/s, integers)."""
    return {
        "profile": hw.profile or None,
        "description": hw.description,
        "cpu": {
            "name": hw.cpu_name,
            "physical_cores": hw.physical_cores,
            "logical_cores": hw.logical_cores,
        },
        "ram": {
            "total_bytes": hw.ram_total_bytes,
            "available_bytes": hw.ram_available_bytes,
            "bandwidth_bytes_s": round(hw.ram_bandwidth_bytes_s),
            "bandwidth_source": hw.ram_bandwidth_source,
        },
        "unified_memory": hw.unified_memory,
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "vendor": g.vendor,
                "total_bytes": g.total_bytes,
                "free_bytes": g.free_bytes,
                "bandwidth_bytes_s": round(g.bandwidth_bytes_s),
                "bandwidth_source": g.bandwidth_source,
            }
            for g in hw.gpus
        ],
        "vram_total_bytes": hw.vram_total_bytes,
        "vram_free_bytes": hw.vram_free_bytes,
        "notes": list(hw.notes),
    }


# --------------------------------------------------------------------------- live figures

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
    except _nvml_errors(nvml):
        return None
    return nvml


def _nvml_session() -> Any:
    """NVML initialised once per process: meters sample every second and init is slow."""
    with _session_lock:
        if not _session:
            _session.append(_init_nvml(_import_pynvml))
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
        with contextlib.suppress(*_nvml_errors(nvml)):
            nvml.nvmlShutdown()


def _usage(nvml: Any) -> list[GpuUsage]:
    errors = _nvml_errors(nvml)
    result: list[GpuUsage] = []
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except errors:
        return []
    for index in range(count):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = _text(nvml.nvmlDeviceGetName(handle))
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
        energy = _read(domain / "energy_uj")
        limit = _read(domain / "max_energy_range_uj")
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
