"""Fitted constants of the speed model (written by ``python -m bench.fit_speed
--write``; do not edit by hand). Provenance and error tables: ``docs/fit.md``."""

from __future__ import annotations

ATTENTION_COST: float = 5.32
CPU_CORE_SCALE: float = 0.9
CPU_FIXED_PER_THREAD_S: float = 5.6e-05
CPU_FIXED_S: float = 0.000471
CPU_MEASURED_EFFICIENCY: float = 0.85
CPU_MEMORY_EFFICIENCY: float = 0.75
CPU_OVERHEAD_BYTES: float = 0.0
DECODE_BAND: dict[str, tuple[float, float]] = {
    "nvidia-gddr": (0.83, 1.13),
    "nvidia-hbm": (0.83, 1.15),
    "apple": (0.84, 1.13),
    "apple-ultra": (0.67, 1.31),
    "amd": (0.68, 1.41),
    "intel": (0.81, 1.22),
    "cpu": (0.8, 1.36),
}
DECODE_FLOPS_PER_WEIGHT: dict[str, float] = {
    "nvidia-gddr": 14.22,
    "nvidia-hbm": 1.89,
    "apple": 3.95,
    "apple-ultra": 15.04,
    "amd": 7.33,
    "intel": 2.0,
    "cpu": 2.0,
}
DECODE_FLOPS_PER_WEIGHT_K: dict[str, float] = {
    "nvidia-gddr": 23.36,
    "nvidia-hbm": 4.31,
    "apple": 6.84,
    "apple-ultra": 12.03,
    "amd": 13.63,
    "intel": 4.12,
    "cpu": 4.0,
}
FAMILY_EFFICIENCY: dict[str, float] = {
    "nvidia-gddr": 0.897,
    "nvidia-hbm": 0.505,
    "apple": 0.868,
    "apple-ultra": 0.95,
    "amd": 0.745,
    "intel": 0.679,
    "cpu": 1.0,
}
FAMILY_FIXED_S: dict[str, float] = {
    "nvidia-gddr": 0.000867,
    "nvidia-hbm": 0.000858,
    "apple": 0.000909,
    "apple-ultra": 0.002012,
    "amd": 0.00086,
    "intel": 0.000799,
    "cpu": 0.0,
}
HOST_EXTRA_S: dict[str, float] = {
    "desktop": 0.0,
    "server": 0.000589,
    "arm": 0.004365,
    "sbc": 0.001241,
    "sbc-amd": 0.00609,
    "sbc-intel": 0.015251,
}
KV_COST: dict[str, float] = {
    "cuda": 2.51,
    "cuda-fa": 1.51,
    "metal": 4.71,
    "metal-fa": 2.82,
    "amd": 2.51,
    "amd-fa": 1.51,
    "intel": 2.51,
    "intel-fa": 1.51,
    "cpu": 1.5,
    "cpu-fa": 1.5,
}
MOE_EXPERT_COST: float = 1.82
MULTI_GPU_S: float = 0.0
PROMPT_BAND: dict[str, tuple[float, float]] = {
    "nvidia-gddr": (0.56, 1.35),
    "nvidia-hbm": (0.69, 1.23),
    "apple": (0.86, 1.24),
    "apple-ultra": (0.82, 1.11),
    "amd": (0.6, 1.35),
    "intel": (0.65, 1.34),
    "cpu": (0.57, 1.1),
}
PROMPT_EFFICIENCY: dict[str, float] = {
    "nvidia-gddr": 0.4376,
    "nvidia-hbm": 0.3194,
    "apple": 0.6654,
    "apple-ultra": 0.6767,
    "amd": 0.4094,
    "intel": 0.2933,
    "cpu": 0.9798,
}
