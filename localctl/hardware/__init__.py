"""What this machine (or a simulated one) has: CPU, RAM, GPUs, memory bandwidth.

Modules: ``values`` (the machine as values), ``detect`` (this machine),
``bandwidth`` (CPU memory bandwidth, measured and cached), ``profiles``
(simulated machines), ``usage`` (live figures). Public API:

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
    vendor = "nvidia"                       # optional: nvidia | amd | apple | intel
    vram_gib = 24                           # optional for apple (usable share of RAM)
    vram_free_gib = 24                      # optional, default vram_gib
    bandwidth_gb_s = 1008                   # optional when the device is in the table
    count = 2                               # optional, identical cards

Sizes are GiB (2^30 bytes, as drivers report memory), bandwidths GB/s (10^9 bytes/s,
as vendors quote them). ``memory`` names one of :data:`localctl.hwtables.DDR_CONFIGS`.
"""

from __future__ import annotations

from localctl.hardware.bandwidth import (
    bandwidth_cache_file,
    cached_ram_bandwidth,
    machine_busy,
    measure_ram_bandwidth,
    ram_bandwidth,
)
from localctl.hardware.detect import (
    amd_gpus,
    apple_gpu_share_bytes,
    apple_hardware,
    detect_hardware,
    nvidia_gpus,
)
from localctl.hardware.profiles import (
    builtin_profile_names,
    hardware_to_dict,
    load_profile,
    profile_from_table,
    profile_names,
    resolve_hardware,
)
from localctl.hardware.usage import CpuPowerMeter, cpu_power_w, gpu_usage
from localctl.hardware.values import Gpu, GpuUsage, Hardware, NvmlLoader, Sysctl

__all__ = [
    "CpuPowerMeter",
    "Gpu",
    "GpuUsage",
    "Hardware",
    "NvmlLoader",
    "Sysctl",
    "amd_gpus",
    "apple_gpu_share_bytes",
    "apple_hardware",
    "bandwidth_cache_file",
    "builtin_profile_names",
    "cached_ram_bandwidth",
    "cpu_power_w",
    "detect_hardware",
    "gpu_usage",
    "hardware_to_dict",
    "load_profile",
    "machine_busy",
    "measure_ram_bandwidth",
    "nvidia_gpus",
    "profile_from_table",
    "profile_names",
    "ram_bandwidth",
    "resolve_hardware",
]
