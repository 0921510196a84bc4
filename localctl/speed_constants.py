"""Fitted constants of the speed model (written by ``python -m bench.fit_speed
--write``; do not edit by hand). Provenance and error tables: ``docs/fit.md``."""

from __future__ import annotations

ATTENTION_COST: float = 5.32
CPU_CORE_SCALE: float = 0.85
CPU_FIXED_PER_THREAD_S: float = 0.000129
CPU_FIXED_S: float = 6.5e-05
CPU_MEASURED_EFFICIENCY: float = 0.85
CPU_MEMORY_EFFICIENCY: float = 0.84
CPU_OVERHEAD_BYTES: float = 0.0
DECODE_BAND: dict[str, tuple[float, float]] = {
    "nvidia-gddr": (0.84, 1.13),
    "nvidia-hbm": (0.84, 1.15),
    "apple": (0.84, 1.13),
    "apple-ultra": (0.67, 1.31),
    "amd": (0.68, 1.41),
    "intel": (0.81, 1.22),
    "cpu": (0.73, 1.21),
}
DECODE_FLOPS_PER_WEIGHT: dict[str, float] = {
    "nvidia-gddr": 3.71,
    "nvidia-hbm": 1.89,
    "apple": 3.95,
    "apple-ultra": 15.02,
    "amd": 7.32,
    "intel": 2.0,
    "cpu": 2.0,
}
DECODE_FLOPS_PER_WEIGHT_K: dict[str, float] = {
    "nvidia-gddr": 20.08,
    "nvidia-hbm": 4.33,
    "apple": 6.85,
    "apple-ultra": 12.02,
    "amd": 13.57,
    "intel": 4.12,
    "cpu": 4.0,
}
FAMILY_EFFICIENCY: dict[str, float] = {
    "nvidia-gddr": 0.879,
    "nvidia-hbm": 0.506,
    "apple": 0.868,
    "apple-ultra": 0.95,
    "amd": 0.745,
    "intel": 0.679,
    "cpu": 1.0,
}
FAMILY_FIXED_S: dict[str, float] = {
    "nvidia-gddr": 0.000901,
    "nvidia-hbm": 0.000855,
    "apple": 0.000908,
    "apple-ultra": 0.002016,
    "amd": 0.00086,
    "intel": 0.000799,
    "cpu": 0.0,
}
HOST_EXTRA_S: dict[str, float] = {
    "desktop": 0.0,
    "server": 0.000606,
    "arm": 0.004394,
    "sbc": 0.00121,
    "sbc-amd": 0.006122,
    "sbc-intel": 0.015281,
}
KV_COST: dict[str, float] = {
    "cuda": 2.5,
    "cuda-fa": 1.5,
    "metal": 4.69,
    "metal-fa": 2.81,
    "amd": 2.5,
    "amd-fa": 1.5,
    "intel": 2.5,
    "intel-fa": 1.5,
    "cpu": 1.5,
    "cpu-fa": 1.5,
}
MOE_EXPERT_COST: float = 1.88
MULTI_GPU_S: float = 0.0
PROMPT_BAND: dict[str, tuple[float, float]] = {
    "nvidia-gddr": (0.57, 1.37),
    "nvidia-hbm": (0.69, 1.23),
    "apple": (0.86, 1.24),
    "apple-ultra": (0.82, 1.11),
    "amd": (0.6, 1.37),
    "intel": (0.65, 1.36),
    "cpu": (0.65, 1.36),
}
PROMPT_EFFICIENCY: dict[str, float] = {
    "nvidia-gddr": 0.4346,
    "nvidia-hbm": 0.3194,
    "apple": 0.6654,
    "apple-ultra": 0.6767,
    "amd": 0.4094,
    "intel": 0.2933,
    "cpu": 0.9961,
}
