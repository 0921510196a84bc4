"""Fitted constants of the speed model (written by ``python -m bench.fit_speed
--write``; do not edit by hand). Provenance and error tables: ``docs/fit.md``."""

from __future__ import annotations

ATTENTION_COST: float = 5.21
CALIBRATED_BAND: tuple[float, float] = (0.91, 1.12)
CPU_ATTN_FLOPS: float = 2552.4
CPU_CORE_SCALE: float = 0.9
CPU_FIXED_PER_THREAD_S: float = 2.5e-05
CPU_FIXED_S: float = 0.0
CPU_LAYER_S: float = 6e-05
CPU_MEASURED_EFFICIENCY: float = 0.85
CPU_MEMORY_EFFICIENCY: float = 0.75
CPU_PROMPT_ATTN_FLOPS: float = 800.0
CPU_Q8_CORE_SCALE: float = 1.3
DECODE_BAND: dict[str, tuple[float, float]] = {
    "nvidia-gddr": (0.84, 1.13),
    "nvidia-hbm": (0.83, 1.15),
    "apple": (0.84, 1.13),
    "apple-ultra": (0.67, 1.31),
    "amd": (0.65, 1.32),
    "intel": (0.81, 1.19),
    "cpu": (0.8, 1.29),
}
DECODE_FLOPS_PER_WEIGHT: dict[str, float] = {
    "nvidia-gddr": 13.85,
    "nvidia-hbm": 1.9,
    "apple": 3.95,
    "apple-ultra": 15.02,
    "amd": 6.88,
    "intel": 2.0,
    "cpu": 2.0,
}
DECODE_FLOPS_PER_WEIGHT_K: dict[str, float] = {
    "nvidia-gddr": 23.19,
    "nvidia-hbm": 4.3,
    "apple": 6.85,
    "apple-ultra": 12.02,
    "amd": 13.42,
    "intel": 4.12,
    "cpu": 4.0,
}
FAMILY_EFFICIENCY: dict[str, float] = {
    "nvidia-gddr": 0.894,
    "nvidia-hbm": 0.504,
    "apple": 0.868,
    "apple-ultra": 0.95,
    "amd": 0.738,
    "intel": 0.679,
    "cpu": 1.0,
}
FAMILY_FIXED_S: dict[str, float] = {
    "nvidia-gddr": 0.000863,
    "nvidia-hbm": 0.00086,
    "apple": 0.000908,
    "apple-ultra": 0.002016,
    "amd": 0.000851,
    "intel": 0.000799,
    "cpu": 0.0,
}
HOST_EXTRA_S: dict[str, float] = {
    "desktop": 0.0,
    "server": 0.000578,
    "arm": 0.004353,
    "sbc": 0.001091,
    "sbc-amd": 0.005119,
    "sbc-intel": 0.015401,
}
KV_COST: dict[str, float] = {
    "cuda": 2.5,
    "cuda-fa": 1.0,
    "metal": 4.69,
    "metal-fa": 1.88,
    "amd": 2.5,
    "amd-fa": 1.0,
    "intel": 2.5,
    "intel-fa": 1.0,
    "cpu": 1.0,
    "cpu-fa": 1.0,
}
MOE_EXPERT_COST: float = 1.89
MULTI_GPU_S: float = 0.0
PROMPT_BAND: dict[str, tuple[float, float]] = {
    "nvidia-gddr": (0.59, 1.43),
    "nvidia-hbm": (0.69, 1.21),
    "apple": (0.86, 1.21),
    "apple-ultra": (0.78, 1.13),
    "amd": (0.19, 1.98),
    "intel": (0.64, 1.36),
    "cpu": (0.55, 1.1),
}
PROMPT_EFFICIENCY: dict[str, float] = {
    "nvidia-gddr": 0.4015,
    "nvidia-hbm": 0.3075,
    "apple": 0.6444,
    "apple-ultra": 0.6334,
    "amd": 0.3363,
    "intel": 0.2713,
    "cpu": 0.8757,
}
