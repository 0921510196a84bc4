"""Device facts the speed model needs beyond bandwidth: family, matrix throughput, core type.

Decode speed is bound by memory bandwidth (``localctl.hwtables``); prompt processing
is bound by how fast a device multiplies matrices, and the per-token overhead of a
decode step depends on what kind of device and host run it. These tables give
those facts by name. Figures are vendors' dense FP16 tensor/matrix peaks in
TFLOPS (FP16 accumulate where the vendor quotes both; no sparsity), except Hopper and
Blackwell data-centre parts, whose figure is what llama.cpp's Ampere-style tensor-core
kernels can use (no wgmma/TMA): about half the datasheet peak. A device the
tables do not know gets a family from its vendor and a throughput scaled from its
bandwidth (:data:`TFLOPS_PER_GB_S`), so nothing is refused for being new.
"""

from __future__ import annotations

import re
from typing import Literal

Family = Literal["nvidia-gddr", "nvidia-hbm", "apple", "apple-ultra", "amd", "intel", "cpu"]
"""Device families with their own fitted efficiency and fixed cost (see ``docs/fit.md``)."""
FAMILIES: tuple[Family, ...] = (
    "nvidia-gddr",
    "nvidia-hbm",
    "apple",
    "apple-ultra",
    "amd",
    "intel",
    "cpu",
)

HostClass = Literal["desktop", "server", "arm", "sbc"]
"""What drives a GPU: each decode step costs host time (graph build, kernel launches,
sampling), more on a slow or many-socket host."""

CoreClass = Literal[
    "zen",
    "zen23",
    "zen-mobile",
    "intel-p",
    "intel-e",
    "apple",
    "a76",
    "cix",
    "neoverse",
    "server",
    "generic",
]
"""CPU core types with their own streaming and matrix rates (:data:`CORE_RATES`)."""

_HBM = re.compile(r"\b(a100|h100|h200|h800|a800|gh200|b200|b100|v100|p100|a30|mi\d{3}x?)\b")

# (pattern on the normalised name, dense FP16 matrix TFLOPS), first match wins.
GPU_TFLOPS: tuple[tuple[str, float], ...] = (
    (r"\brtx 5090\b", 419),
    (r"\brtx 5080\b", 225),
    (r"\brtx 5070 ti\b", 176),
    (r"\brtx 5070\b", 123),
    (r"\brtx 4090\b", 330),
    (r"\brtx 4080\b", 195),
    (r"\brtx 4070 ti\b", 160),
    (r"\brtx 4070\b", 117),
    (r"\brtx 4060 ti\b", 88),
    (r"\brtx 4060\b", 60),
    (r"\brtx 3090\b", 142),
    (r"\brtx 3080 ti\b", 136),
    (r"\brtx 3080\b", 119),
    (r"\brtx 3070\b.*\blaptop\b", 65),
    (r"\brtx 3070\b", 81),
    (r"\brtx 3060 ti\b", 65),
    (r"\brtx 3060\b", 51),
    (r"\brtx 2080 ti\b", 108),
    (r"\brtx pro 6000\b", 500),
    (r"\brtx 6000 ada\b", 364),
    (r"\brtx 5000 ada\b", 261),
    (r"\brtx 4000 ada\b", 82),
    (r"\brtx a6000\b", 155),
    (r"\brtx a5000\b", 111),
    (r"\brtx a4000\b", 77),
    (r"\brtx a2000\b", 32),
    (r"\brtx a400\b", 13),
    (r"\bgb10\b", 125),
    (r"\bjetson\b|\borin\b", 43),
    (r"\bb200\b", 1000),
    (r"\bh200\b|\bgh200\b", 500),
    (r"\bh100\b.*\bpcie\b", 400),
    (r"\bh100\b", 500),
    (r"\ba100\b", 312),
    (r"\bl40s?\b", 362),
    (r"\ba40\b", 150),
    (r"\bl4\b", 121),
    (r"\ba10g?\b", 125),
    (r"\bv100\b", 125),
    (r"\bt4\b", 65),
    (r"\bp40\b", 28),
    (r"\bp100\b", 19),
    (r"\bmi325x\b|\bmi300x\b", 1307),
    (r"\bmi250x?\b", 383),
    (r"\bmi210\b", 181),
    (r"\bai pro r9700\b|\br9700\b", 191),
    (r"\brx 9070 xt\b", 195),
    (r"\brx 7900 xtx\b|\bpro w7900\b", 123),
    (r"\brx 7900 xt\b", 103),
    (r"\brx 7900 gre\b", 92),
    (r"\brx 7800 xt\b", 74),
    (r"\bpro w7700\b", 56),
    (r"\brx 7600\b", 43),
    (r"\b8060s\b", 59),
    (r"\brx 6[89]\d0 xt\b", 41),
    (r"\brx 6700 xt\b", 26),
    (r"\brx 6500 xt\b", 11),
    (r"\brx 5700 xt\b", 19),
    (r"\brx 580\b", 6),
    (r"\barc b580\b", 117),
    (r"\barc pro b50\b", 85),
    (r"\barc a770\b", 138),
    (r"\barc a310\b", 25),
)

APPLE_TFLOPS: dict[str, float] = {
    "M1": 2.6,
    "M1 Pro": 5.2,
    "M1 Max": 10.4,
    "M1 Ultra": 21.2,
    "M2": 3.6,
    "M2 Pro": 6.8,
    "M2 Max": 13.6,
    "M2 Ultra": 27.2,
    "M3": 4.1,
    "M3 Pro": 7.4,
    "M3 Max": 16.4,
    "M3 Ultra": 28.4,
    "M4": 4.3,
    "M4 Pro": 9.2,
    "M4 Max": 18.4,
    "M5": 11.0,
    "M5 Pro": 22.0,
    "M5 Max": 20.0,
}
"""GPU FP16 throughput of the full chip (Apple GPUs run FP16 at the FP32 rate). The
M5 family's figure is what llama.cpp's Metal kernels reach with the GPU's matrix
units (PR 16634: 608 tok/s pp512 for a 7B Q4_0 on a base M5, 2.7x an M4); the
M5 Max row is its Metal-only published result, scaled."""

TFLOPS_PER_GB_S: dict[Family, float] = {
    "nvidia-gddr": 0.17,
    "nvidia-hbm": 0.16,
    "apple": 0.04,
    "apple-ultra": 0.035,
    "amd": 0.13,
    "intel": 0.2,
    "cpu": 0.0,
}
"""Matrix throughput assumed per GB/s of bandwidth for a GPU missing from the tables
(the median ratio of the family's listed devices)."""

CORE_RATES: dict[CoreClass, tuple[float, float]] = {
    "zen": (12.4, 132.0),
    "zen23": (6.5, 78.0),
    "zen-mobile": (8.5, 60.0),
    "intel-p": (11.5, 90.0),
    "intel-e": (4.6, 25.0),
    "apple": (20.0, 100.0),
    "a76": (2.6, 15.0),
    "cix": (3.0, 35.0),
    "neoverse": (2.0, 25.0),
    "server": (6.2, 45.0),
    "generic": (6.2, 40.0),
}
"""Per thread: (GB/s of weights the quantized mat-vec kernels stream, GFLOPS of
prompt processing). Streaming rates from published CPU llama-bench rows where a
few threads are core-bound (i3-1315U 2 threads: 11.1 GB/s per P-core; i9-13900K
4 threads: 12.1; Ryzen AI 5 340: 8.0-8.7; N150: 4.6; Pi 5: 2.4; CIX P1: 2.5-3.2)
and this project's own measurement on an EPYC VM (6.2, ``server``); GFLOPS from the
same rows' pp512 (i3-1315U 92, Ryzen 9 7950X 132, Threadripper 3970X and
5975WX 78, N100 26, CIX CP8180 36).
Zen 4/5 desktop cores: 12.4 (7950X, 4 threads: 11.25 tok/s on an 8B Q4_0, 12 GB/s
per thread); Zen 2/3 (Ryzen 3000/5000, Threadripper 3000/5000): 6.5 (5975WX, 8
threads: 6.4 per thread). See ``docs/fit.md``."""

_CORE_PATTERNS: tuple[tuple[str, CoreClass], ...] = (
    (r"apple m\d", "apple"),
    (r"cortex-a7[2-9]|bcm27|raspberry|\bcm5\b|\bpi 5\b|\bpi 500", "a76"),
    (r"\bcix\b|cp8180|cd8180", "cix"),
    (r"ampere|altra|neoverse|graviton|grace|cortex-a78", "neoverse"),
    (r"\bn(50|95|97|100|150|200|300|305)\b|celeron|pentium|atom", "intel-e"),
    (r"epyc|xeon|server cpu", "server"),
    (r"ryzen ai|ryzen \d \d{4}[uhs]|ryzen \d pro \d{4}u|laptop cpu", "zen-mobile"),
    (r"ryzen \d+ [35]\d{3}|threadripper (pro )?[35]\d{3}", "zen23"),
    (r"ryzen|threadripper|desktop cpu|workstation cpu", "zen"),
    (r"core ultra|core\(tm\)|\bi[3579]-\d{4,5}|core i[3579]", "intel-p"),
)

_HOST_PATTERNS: tuple[tuple[str, HostClass], ...] = (
    (r"cortex-a7[2-9]|bcm27|raspberry|\bcm5\b|\bpi 5\b|\bpi 500|risc-?v|sifive|jetson", "sbc"),
    (r"ampere|altra|neoverse|\bcix\b|cd8180|cp8180|cortex-a78", "arm"),
    (r"epyc|xeon|server cpu|runpod", "server"),
)


def normalise(name: str) -> str:
    """Lower-case words without vendor brands (as :func:`localctl.hwtables.normalise_gpu_name`)."""
    from localctl.hwtables import normalise_gpu_name

    return normalise_gpu_name(name)


def gpu_family(name: str, vendor: str) -> Family:
    """The family of a GPU from its vendor and name (``HBM`` data-centre parts apart)."""
    if vendor == "apple":
        return "apple-ultra" if "ultra" in name.lower() else "apple"
    key = normalise(name)
    if vendor == "amd":
        return "amd"
    if vendor == "intel" or key.startswith("intel") or " arc " in f" {key} ":
        return "intel"
    return "nvidia-hbm" if _HBM.search(key) else "nvidia-gddr"


def gpu_tflops(name: str, vendor: str, bandwidth_bytes_s: float) -> float:
    """Dense FP16 matrix TFLOPS of a GPU: the table, else scaled from its bandwidth."""
    if vendor == "apple":
        from localctl.hwtables import apple_chip

        chip = apple_chip(name)
        if chip in APPLE_TFLOPS:
            return APPLE_TFLOPS[chip]
    else:
        key = normalise(name)
        for pattern, tflops in GPU_TFLOPS:
            if re.search(pattern, key):
                return tflops
    return bandwidth_bytes_s / 1e9 * TFLOPS_PER_GB_S[gpu_family(name, vendor)]


def core_class(cpu_name: str) -> CoreClass:
    """The core type of a CPU from its name (``generic`` when nothing matches)."""
    text = cpu_name.lower()
    for pattern, found in _CORE_PATTERNS:
        if re.search(pattern, text):
            return found
    return "generic"


def host_class(cpu_name: str) -> HostClass:
    """How fast a CPU drives a GPU's decode steps (``desktop`` for x86 desktops and Macs)."""
    text = cpu_name.lower()
    for pattern, found in _HOST_PATTERNS:
        if re.search(pattern, text):
            return found
    return "desktop"
