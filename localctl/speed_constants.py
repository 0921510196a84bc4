"""Fitted constants of the speed model (written by ``python -m bench.fit_speed
--write``; do not edit by hand). Provenance and error tables: ``docs/fit.md``."""

from __future__ import annotations

ATTENTION_COST: float = 5.32
CPU_CORE_SCALE: float = 0.9
CPU_FIXED_PER_THREAD_S: float = 0.00013
CPU_FIXED_S: float = 0.002257
CPU_MEASURED_EFFICIENCY: float = 0.85
CPU_MEMORY_EFFICIENCY: float = 0.87
CPU_OVERHEAD_BYTES: float = 0.0
DECODE_BAND: dict[str, tuple[float, float]] = {
    "nvidia-gddr": (0.9, 1.1),
    "nvidia-hbm": (0.84, 1.14),
    "apple": (0.84, 1.14),
    "apple-ultra": (0.66, 1.31),
    "amd": (0.68, 1.41),
    "intel": (0.83, 1.14),
    "cpu": (0.78, 1.22),
}
DECODE_FLOPS_PER_WEIGHT: dict[str, float] = {
    "nvidia-gddr": 2.37,
    "nvidia-hbm": 1.9,
    "apple": 3.98,
    "apple-ultra": 14.18,
    "amd": 7.32,
    "intel": 2.0,
    "cpu": 2.0,
}
DECODE_FLOPS_PER_WEIGHT_K: dict[str, float] = {
    "nvidia-gddr": 19.98,
    "nvidia-hbm": 8.28,
    "apple": 7.49,
    "apple-ultra": 11.58,
    "amd": 13.58,
    "intel": 4.0,
    "cpu": 4.0,
}
FAMILY_EFFICIENCY: dict[str, float] = {
    "nvidia-gddr": 0.877,
    "nvidia-hbm": 0.514,
    "apple": 0.869,
    "apple-ultra": 0.945,
    "amd": 0.745,
    "intel": 0.75,
    "cpu": 1.0,
}
FAMILY_FIXED_S: dict[str, float] = {
    "nvidia-gddr": 0.000905,
    "nvidia-hbm": 0.000854,
    "apple": 0.000907,
    "apple-ultra": 0.002215,
    "amd": 0.00086,
    "intel": 0.0008,
    "cpu": 0.0,
}
HOST_EXTRA_S: dict[str, float] = {
    "desktop": 0.0,
    "server": 0.000664,
    "arm": 0.004391,
    "sbc": 0.001203,
    "sbc-amd": 0.006129,
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
    "intel": 0.4346,
    "cpu": 0.9961,
}
