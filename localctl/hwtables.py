"""Memory bandwidth of known devices: GPUs, Apple Silicon chips and DDR configurations.

Figures are the vendors' peak numbers in decimal GB/s (10^9 bytes per second).
Decode speed of a local LLM is bound by how fast the weights can be read, so the
fit engine needs these when a device cannot be measured (every GPU, and every
simulated profile). Measured CPU figures live in ``localctl.hardware``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GB = 1_000_000_000
"""One decimal gigabyte; bandwidth tables are in GB/s."""

GIB = 1024**3
"""One binary gibibyte; memory sizes in profiles are in GiB."""


@dataclass(frozen=True, slots=True)
class KnownGpu:
    """One row of the GPU bandwidth table."""

    pattern: str
    """Regular expression matched against the normalised device name."""
    bandwidth_gb_s: float
    min_vram_gib: float = 0.0
    """The row applies only to cards with at least this much memory (variants)."""


# First match wins: specific names before their prefixes, big-memory variants first.
KNOWN_GPUS: tuple[KnownGpu, ...] = (
    # NVIDIA GeForce (Blackwell, Ada, Ampere, Turing)
    KnownGpu(r"\brtx 5090\b", 1792),
    KnownGpu(r"\brtx 5080\b", 960),
    KnownGpu(r"\brtx 5070 ti\b", 896),
    KnownGpu(r"\brtx 5070\b", 672),
    KnownGpu(r"\brtx 4090\b", 1008),
    KnownGpu(r"\brtx 4080 super\b", 736),
    KnownGpu(r"\brtx 4080\b", 717),
    KnownGpu(r"\brtx 4070 ti super\b", 672),
    KnownGpu(r"\brtx 4070\b", 504),
    KnownGpu(r"\brtx 4060 ti\b", 288),
    KnownGpu(r"\brtx 4060\b", 272),
    KnownGpu(r"\brtx 3090 ti\b", 1008),
    KnownGpu(r"\brtx 3090\b", 936),
    KnownGpu(r"\brtx 3080 ti\b", 912),
    KnownGpu(r"\brtx 3080\b", 912, min_vram_gib=11),
    KnownGpu(r"\brtx 3080\b", 760),
    KnownGpu(r"\brtx 3070 ti\b", 608),
    KnownGpu(r"\brtx 3070\b", 448),
    KnownGpu(r"\brtx 3060 ti\b", 448),
    KnownGpu(r"\brtx 3060\b", 360),
    KnownGpu(r"\brtx 2080 ti\b", 616),
    # NVIDIA workstation
    KnownGpu(r"\brtx pro 6000\b", 1792),
    KnownGpu(r"\brtx 6000 ada\b", 960),
    KnownGpu(r"\brtx a6000\b", 768),
    KnownGpu(r"\brtx a5000\b", 768),
    KnownGpu(r"\brtx a4000\b", 448),
    # NVIDIA data centre
    KnownGpu(r"\bb200\b", 8000),
    KnownGpu(r"\bgh200\b", 4000),
    KnownGpu(r"\bh200\b", 4800),
    KnownGpu(r"\bh100\b.*\bnvl\b", 3900),
    KnownGpu(r"\bh100\b.*\bpcie\b", 2000),
    KnownGpu(r"\bh100\b", 3350),
    KnownGpu(r"\ba100\b.*\bpcie\b", 1935, min_vram_gib=60),
    KnownGpu(r"\ba100\b", 2039, min_vram_gib=60),
    KnownGpu(r"\ba100\b", 1555),
    KnownGpu(r"\bl40s\b", 864),
    KnownGpu(r"\bl40\b", 864),
    KnownGpu(r"\bl4\b", 300),
    KnownGpu(r"\ba40\b", 696),
    KnownGpu(r"\ba30\b", 933),
    KnownGpu(r"\ba10g?\b", 600),
    KnownGpu(r"\bv100\b", 900),
    KnownGpu(r"\bt4\b", 320),
    # AMD
    KnownGpu(r"\brx 7900 xtx\b", 960),
    KnownGpu(r"\brx 7900 xt\b", 800),
    KnownGpu(r"\brx 7900 gre\b", 576),
    KnownGpu(r"\brx 7800 xt\b", 624),
    KnownGpu(r"\brx 9070 xt\b", 640),
    KnownGpu(r"\brx 6950 xt\b", 576),
    KnownGpu(r"\brx 6900 xt\b", 512),
    KnownGpu(r"\brx 6800 xt\b", 512),
    KnownGpu(r"\bpro w7900\b", 864),
    KnownGpu(r"\bmi325x\b", 6000),
    KnownGpu(r"\bmi300x\b", 5300),
    KnownGpu(r"\bmi250x?\b", 3277),
    KnownGpu(r"\bmi210\b", 1638),
)

AMD_DEVICE_IDS: dict[int, tuple[tuple[float, str], ...]] = {
    # PCI device id -> (minimum VRAM GiB, marketing name), largest first; sysfs
    # rarely has a product name for Radeon cards, so the memory size tells variants apart.
    0x744C: ((23.0, "AMD Radeon RX 7900 XTX"), (19.0, "AMD Radeon RX 7900 XT"),
             (0.0, "AMD Radeon RX 7900 GRE")),
    0x7448: ((0.0, "AMD Radeon Pro W7900"),),
    0x747E: ((0.0, "AMD Radeon RX 7800 XT"),),
    0x7550: ((0.0, "AMD Radeon RX 9070 XT"),),
    0x73BF: ((0.0, "AMD Radeon RX 6900 XT"),),
    0x73A5: ((0.0, "AMD Radeon RX 6950 XT"),),
    0x74A1: ((0.0, "AMD Instinct MI300X"),),
    0x74A5: ((0.0, "AMD Instinct MI325X"),),
    0x740C: ((0.0, "AMD Instinct MI250X"),),
    0x740F: ((0.0, "AMD Instinct MI210"),),
}  # fmt: skip

# Apple Silicon unified memory bandwidth in GB/s, by chip. A "Max" chip with the
# binned 14-core CPU has fewer memory channels (M3 Max 300, M4 Max 410).
APPLE_CHIPS: dict[str, float] = {
    "M1": 68.25,
    "M1 Pro": 200,
    "M1 Max": 400,
    "M1 Ultra": 800,
    "M2": 100,
    "M2 Pro": 200,
    "M2 Max": 400,
    "M2 Ultra": 800,
    "M3": 100,
    "M3 Pro": 150,
    "M3 Max": 400,
    "M3 Ultra": 819,
    "M4": 120,
    "M4 Pro": 273,
    "M4 Max": 546,
    "M5": 153,
}
APPLE_BINNED_MAX: dict[str, float] = {"M3 Max": 300, "M4 Max": 410}

# Peak bandwidth of common system memory set-ups (channels x 8 bytes x MT/s).
DDR_CONFIGS: dict[str, float] = {
    "ddr4-3200-dual": 51.2,
    "ddr4-3200-quad": 102.4,
    "ddr4-3200-8ch": 204.8,
    "ddr5-4800-dual": 76.8,
    "ddr5-5600-dual": 89.6,
    "ddr5-6000-dual": 96.0,
    "ddr5-5200-quad": 166.4,
    "ddr5-4800-8ch": 307.2,
    "ddr5-4800-12ch": 460.8,
    "ddr5-4800-16ch": 614.4,
}
DEFAULT_DDR = "ddr4-3200-dual"
"""Assumed for a CPU when nothing was measured: the slowest common desktop set-up."""


def normalise_gpu_name(name: str) -> str:
    """Lower-case words without vendor brands: ``'NVIDIA GeForce RTX 4090'`` → ``'rtx 4090'``."""
    text = re.sub(r"[^a-z0-9]+", " ", name.lower())
    words = [w for w in text.split() if w not in {"nvidia", "geforce", "tesla", "amd", "radeon"}]
    return " ".join(words)


def gpu_bandwidth_gb_s(name: str, vram_bytes: int = 0) -> float | None:
    """Peak memory bandwidth of a GPU from the table, or ``None`` when unknown.

    Args:
        name: Device name as the driver reports it.
        vram_bytes: Its total memory, which tells variants apart (A100 40 vs 80 GB).

    Returns:
        GB/s (decimal), or ``None`` when no row matches.
    """
    key = normalise_gpu_name(name)
    for row in KNOWN_GPUS:
        if vram_bytes / GIB >= row.min_vram_gib and re.search(row.pattern, key):
            return row.bandwidth_gb_s
    return None


def apple_chip(brand: str) -> str | None:
    """``'Apple M3 Max'`` → ``'M3 Max'``; ``None`` for a brand string that names no M chip."""
    match = re.search(r"\bM(\d+)(?:\s+(Pro|Max|Ultra))?\b", brand)
    if match is None:
        return None
    return f"M{match.group(1)}" + (f" {match.group(2)}" if match.group(2) else "")


def apple_bandwidth_gb_s(brand: str, physical_cores: int = 0) -> float | None:
    """Unified memory bandwidth of an Apple Silicon chip, or ``None`` when unknown.

    Args:
        brand: ``machdep.cpu.brand_string``, e.g. ``'Apple M4 Max'``.
        physical_cores: CPU cores; 14 on a Max chip means the binned, narrower variant.

    Returns:
        GB/s (decimal), or ``None`` for an unknown chip.
    """
    chip = apple_chip(brand)
    if chip is None:
        return None
    if chip in APPLE_BINNED_MAX and physical_cores == 14:
        return APPLE_BINNED_MAX[chip]
    return APPLE_CHIPS.get(chip)
