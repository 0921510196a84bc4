"""Decode and prompt speed of one model on one machine: the calibrated speed model.

A decode step reads every active weight once, so its time is

    bytes on the GPU / (efficiency x GPU bandwidth) + fixed cost of the step
  + bytes in RAM / CPU streaming rate            (+ the CPU's fixed cost when it runs alone)

with the efficiency and the fixed cost fitted per device family
(:data:`localctl.speedtables.FAMILIES`) and the host's share of the fixed cost per host
class. The KV cache read by attention costs a backend- and flash-attention-dependent
multiple of its bytes. A CPU streams at ``min(efficiency x RAM bandwidth, threads x
per-core rate)``, the per-core rate tabled by core type. Prompt processing is
compute-bound: ``2 x active parameters`` FLOPs per token (plus attention, growing with
the position) at a fitted share of the device's matrix throughput.

Constants come from ``localctl/speed_constants.py``, written by ``bench/fit_speed.py``
from the published llama-bench results in ``bench/speed_data/``; ``docs/fit.md`` gives
their provenance and the model's error by device class. A ``localctl bench`` run on
this machine (:mod:`localctl.benchrun`) replaces the bandwidth and matrix rates with
what was measured here, for every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from localctl import speed_constants as constants
from localctl.speedtables import (
    CORE_RATES,
    Family,
    core_class,
    gpu_family,
    gpu_tflops,
    host_class,
)

if TYPE_CHECKING:
    from localctl.hardware import Gpu, Hardware
    from localctl.plan import MemoryPlan

DEFAULT_CPU_BANDWIDTH = 20e9
"""Assumed when the hardware cannot tell (a dual-channel DDR4 desktop under load)."""
UBATCH_TOKENS = 512
"""Tokens llama.cpp processes per micro-batch of a prompt (its default ``-ub``)."""
PCIE_BYTES_S = 25e9
"""Host-to-GPU copy rate: with partial offload llama.cpp copies the CPU layers' weights
to the GPU once per prompt micro-batch (PCIe 4.0 x16 in practice)."""
LONG_PROMPT_TOKENS = 4096
"""The "typical long prompt" whose time to first token the fit plan reports."""


@dataclass(frozen=True, slots=True)
class DecodeWork:
    """What one decode step reads, by where it lives."""

    gpu_bytes: float
    """Active weights on the GPU(s)."""
    cpu_bytes: float
    """Active weights in RAM, run by the CPU."""
    gpu_kv_bytes: float = 0.0
    """KV cache read on the GPU(s) at the context in question."""
    cpu_kv_bytes: float = 0.0
    """KV cache read by the CPU."""
    gpu_params: float = 0.0
    """Active parameters on the GPU(s): the step's arithmetic (dequantisation and
    multiply-adds), which costs time where matrix throughput is low per byte of bandwidth
    (Apple GPUs)."""
    gpu_expert_bytes: float = 0.0
    """The part of ``gpu_bytes`` that is routed experts in use (MoE): gathered reads that
    stream slower than dense weights (:data:`localctl.speed_constants.MOE_EXPERT_COST`)."""
    k_quant: bool = False
    """K- or I-quant weights: their dequantisation costs more arithmetic per weight."""
    eight_bit: bool = False
    """Q8_0 weights: the simplest dequantisation, so a core streams more bytes of them
    per second (:data:`localctl.speed_constants.CPU_Q8_CORE_SCALE`)."""
    cpu_layers: int = 0
    """Blocks the CPU runs: each costs dispatch and thread synchronisation
    (:data:`localctl.speed_constants.CPU_LAYER_S`) however small its weights."""
    cpu_attn_pairs: float = 0.0
    """(query head, cached position) pairs the CPU's attention visits: arithmetic that
    grows with the context (:data:`localctl.speed_constants.CPU_ATTN_FLOPS` each)."""


@dataclass(frozen=True, slots=True)
class PromptWork:
    """What processing a prompt costs, per token."""

    active_params: float
    """Parameters a token passes through (MoE: the experts in use)."""
    n_layers: int
    attn_width: int
    """``n_heads x head size``: attention costs ``4 x n_layers x this`` FLOPs per token and
    position."""
    cpu_bytes: float = 0.0
    """Weights left in RAM (partial offload): copied to the GPU per micro-batch."""
    on_gpu: bool = False
    attn_heads: int = 0
    """Query heads summed over the blocks: a CPU's attention costs per (head, position)
    pair, whatever the head size."""
    swa_heads: int = 0
    """The part of ``attn_heads`` in sliding-window blocks (they see ``swa_window``)."""
    swa_window: int = 0


@dataclass(frozen=True, slots=True)
class Calibration:
    """What ``localctl bench`` measured on this machine, as scales on the model's rates."""

    decode_scale: float = 1.0
    """Measured / modelled rate: of the GPU's streaming, and of the whole CPU step."""
    prompt_scale: float = 1.0
    """Measured / modelled matrix throughput."""
    fixed_extra_s: float = 0.0
    """Per-token time the run showed beyond the model's fixed costs (when fixed costs,
    not streaming, dominated the benched step)."""
    label: str = ""
    """Where the scales come from (``calibrated here: llama-server b4500, 2026-12-01``)."""
    decode_sd: float = 0.0
    """Standard deviation of the measured decode rate over its mean (repeatability)."""


def _gpu_bandwidth(hw: Hardware, gpu: Gpu) -> float:
    return gpu.bandwidth_bytes_s or hw.ram_bandwidth_bytes_s or DEFAULT_CPU_BANDWIDTH


def device_family(hw: Hardware, *, on_gpu: bool) -> Family:
    """The family whose constants apply: the first GPU's, or ``cpu``."""
    if on_gpu and hw.gpus:
        gpu = hw.gpus[0]
        return gpu_family(gpu.name, gpu.vendor)
    return "cpu"


def kv_backend(hw: Hardware, *, on_gpu: bool) -> str:
    """The attention implementation family: ``cuda``, ``metal``, ``amd``, ``intel`` or ``cpu``."""
    if not on_gpu or not hw.gpus:
        return "cpu"
    return {"nvidia": "cuda", "apple": "metal"}.get(hw.gpus[0].vendor, hw.gpus[0].vendor)


def kv_cost(hw: Hardware, *, on_gpu: bool, flash_attn: bool) -> float:
    """Weight-byte equivalents one byte of KV cache costs to read on this backend."""
    backend = kv_backend(hw, on_gpu=on_gpu)
    table = constants.KV_COST
    return table.get(f"{backend}{'-fa' if flash_attn else ''}", table["cuda"])


def cpu_threads(hw: Hardware) -> int:
    """Threads llama.cpp runs on the CPU (its default: the physical cores)."""
    return max(1, hw.physical_cores)


def cpu_stream_rate(hw: Hardware, *, eight_bit: bool = False) -> float:
    """Bytes/s a CPU decode streams: memory-bound or core-bound, whichever is lower."""
    bandwidth = hw.ram_bandwidth_bytes_s or DEFAULT_CPU_BANDWIDTH
    efficiency = (
        constants.CPU_MEASURED_EFFICIENCY
        if hw.ram_bandwidth_source == "measured"
        else constants.CPU_MEMORY_EFFICIENCY
    )
    per_core = CORE_RATES[core_class(hw.cpu_name)][0] * 1e9 * constants.CPU_CORE_SCALE
    if eight_bit:
        per_core *= constants.CPU_Q8_CORE_SCALE
    return min(efficiency * bandwidth, cpu_threads(hw) * per_core)


def cpu_flops(hw: Hardware) -> float:
    """Peak matrix FLOP/s of the CPU's threads (the core type's tabled rate)."""
    return cpu_threads(hw) * CORE_RATES[core_class(hw.cpu_name)][1] * 1e9


def cpu_attention_seconds(hw: Hardware, pairs: float, *, prompt: bool = False) -> float:
    """Seconds a CPU's attention takes over ``pairs`` (head, position) pairs: one query
    at a time in a decode step, a whole micro-batch at a time (far cheaper per pair) in
    a prompt."""
    per_pair = constants.CPU_PROMPT_ATTN_FLOPS if prompt else constants.CPU_ATTN_FLOPS
    return pairs * per_pair / cpu_flops(hw) if pairs > 0 else 0.0


def cpu_fixed_s(hw: Hardware) -> float:
    """Per-token cost of a CPU decode step besides streaming (thread barriers, sampling)."""
    return constants.CPU_FIXED_S + constants.CPU_FIXED_PER_THREAD_S * cpu_threads(hw)


def gpu_host_class(hw: Hardware) -> str:
    """The host class driving the GPU (a Mac's own CPU counts as a desktop)."""
    if hw.unified_memory or (hw.gpus and hw.gpus[0].vendor == "apple"):
        return "desktop"
    return host_class(hw.cpu_name)


def gpu_fixed_s(hw: Hardware) -> float:
    """Per-token cost of a GPU decode step besides streaming: family, host and GPU count."""
    family = device_family(hw, on_gpu=True)
    host = gpu_host_class(hw)
    vendor = hw.gpus[0].vendor if hw.gpus else ""
    extra_gpus = max(0, len(hw.gpus) - 1)
    return (
        constants.FAMILY_FIXED_S[family]
        + constants.HOST_EXTRA_S.get(host, 0.0)
        + constants.HOST_EXTRA_S.get(f"{host}-{vendor}", 0.0)
        + constants.MULTI_GPU_S * extra_gpus
    )


def gpu_tflops_of(hw: Hardware) -> float:
    """Matrix TFLOPS of the first GPU (see :func:`localctl.speedtables.gpu_tflops`)."""
    gpu = hw.gpus[0]
    return gpu_tflops(gpu.name, gpu.vendor, _gpu_bandwidth(hw, gpu))


def decode_parts(hw: Hardware, work: DecodeWork, *, flash_attn: bool) -> tuple[float, float]:
    """``(streaming seconds, other seconds)`` of one uncalibrated decode step.

    Streaming is what the bandwidth (or a CPU's streaming rate) bounds; the rest is the
    fixed cost of the step and, on a GPU, its arithmetic.
    """
    total = decode_seconds(hw, work, flash_attn=flash_attn)
    doubled = decode_seconds(hw, work, flash_attn=flash_attn, calibration=Calibration(0.5, 1.0))
    stream = doubled - total
    return stream, total - stream


def decode_seconds(
    hw: Hardware,
    work: DecodeWork,
    *,
    flash_attn: bool,
    calibration: Calibration | None = None,
) -> float:
    """Seconds one decode step of one sequence takes (0 when it reads nothing)."""
    seconds = 0.0
    on_gpu = bool(hw.gpus) and (work.gpu_bytes > 0 or work.gpu_kv_bytes > 0)
    if on_gpu:
        family = device_family(hw, on_gpu=True)
        rate = constants.FAMILY_EFFICIENCY[family] * _gpu_bandwidth(hw, hw.gpus[0])
        if calibration:
            rate *= calibration.decode_scale
        kv = kv_cost(hw, on_gpu=True, flash_attn=flash_attn) * work.gpu_kv_bytes
        kv += (constants.MOE_EXPERT_COST - 1.0) * work.gpu_expert_bytes
        per_weight = constants.DECODE_FLOPS_PER_WEIGHT[family]
        if work.k_quant:
            per_weight = constants.DECODE_FLOPS_PER_WEIGHT_K[family]
        arithmetic = per_weight * work.gpu_params
        seconds += (work.gpu_bytes + kv) / rate + gpu_fixed_s(hw)
        seconds += arithmetic / (gpu_tflops_of(hw) * 1e12)
    if calibration and seconds + work.cpu_bytes + work.cpu_kv_bytes > 0:
        seconds += calibration.fixed_extra_s
    if work.cpu_bytes > 0 or work.cpu_kv_bytes > 0:
        kv = kv_cost(hw, on_gpu=False, flash_attn=flash_attn) * work.cpu_kv_bytes
        cpu = (work.cpu_bytes + kv) / cpu_stream_rate(hw, eight_bit=work.eight_bit)
        cpu += work.cpu_layers * constants.CPU_LAYER_S
        cpu += cpu_attention_seconds(hw, work.cpu_attn_pairs)
        if not on_gpu:
            cpu += cpu_fixed_s(hw)
        # A run measured here scales the CPU's whole step: its parts share the cores.
        seconds += cpu / (calibration.decode_scale if calibration else 1.0)
    return seconds


def is_k_quant(quant: str) -> bool:
    """True for K-quants (``Q4_K_M``, ``Q6_K``) and I-quants (``IQ4_XS``)."""
    name = quant.upper()
    return "_K" in name or name.startswith("IQ") or name.endswith("K")


def decode_tok_s(
    hw: Hardware,
    work: DecodeWork,
    *,
    flash_attn: bool,
    calibration: Calibration | None = None,
) -> float:
    """Tokens/s one sequence decodes at (0 when it reads nothing), rounded to 0.01."""
    seconds = decode_seconds(hw, work, flash_attn=flash_attn, calibration=calibration)
    return round(1.0 / seconds, 2) if seconds > 0 else 0.0


def matrix_flops(hw: Hardware, *, on_gpu: bool, calibration: Calibration | None = None) -> float:
    """FLOP/s a prompt reaches: the fitted share of the device's matrix throughput."""
    family = device_family(hw, on_gpu=on_gpu)
    peak = cpu_flops(hw) if family == "cpu" else gpu_tflops_of(hw) * 1e12
    scale = calibration.prompt_scale if calibration else 1.0
    return constants.PROMPT_EFFICIENCY[family] * peak * scale


def prompt_seconds(
    hw: Hardware,
    work: PromptWork,
    n_tokens: int,
    *,
    calibration: Calibration | None = None,
) -> float:
    """Seconds to process a prompt of ``n_tokens`` from an empty context."""
    if n_tokens <= 0 or work.active_params <= 0:
        return 0.0
    flops = matrix_flops(hw, on_gpu=work.on_gpu, calibration=calibration)
    weights = 2.0 * work.active_params * n_tokens
    if work.on_gpu or not work.attn_heads:
        # Attention: 4 x layers x width FLOPs per token and position, summed over positions.
        attention = constants.ATTENTION_COST * 4.0 * work.n_layers * work.attn_width
        seconds = (weights + attention * n_tokens * n_tokens / 2) / flops
    else:
        # A CPU pays per (head, position) pair, as its decode does.
        full = (work.attn_heads - work.swa_heads) * n_tokens * n_tokens / 2
        window = min(n_tokens, work.swa_window)
        swa = work.swa_heads * (window * window / 2 + (n_tokens - window) * window)
        scale = calibration.prompt_scale if calibration else 1.0
        seconds = weights / flops + cpu_attention_seconds(hw, full + swa, prompt=True) / scale
    if work.on_gpu and work.cpu_bytes > 0:
        batches = -(-n_tokens // UBATCH_TOKENS)
        seconds += batches * work.cpu_bytes / PCIE_BYTES_S
    return seconds


def prompt_tok_s(
    hw: Hardware,
    work: PromptWork,
    n_tokens: int = 512,
    *,
    calibration: Calibration | None = None,
) -> float:
    """Prompt-processing tokens/s for a prompt of ``n_tokens`` (llama-bench's pp512 by default)."""
    seconds = prompt_seconds(hw, work, n_tokens, calibration=calibration)
    return round(n_tokens / seconds, 1) if seconds > 0 else 0.0


def decode_band(
    hw: Hardware, *, on_gpu: bool, calibration: Calibration | None = None
) -> tuple[float, float]:
    """Measured/predicted ratio range: the device class's cross-validated residuals, or,
    calibrated here, the spread between models on one device widened by two standard
    deviations of the measurement."""
    if calibration is None:
        return constants.DECODE_BAND[device_family(hw, on_gpu=on_gpu)]
    low, high = constants.CALIBRATED_BAND
    spread = 2 * calibration.decode_sd
    return round(low - spread, 3), round(high + spread, 3)


def prompt_band(hw: Hardware, *, on_gpu: bool) -> tuple[float, float]:
    """Measured/predicted ratio range of prompt speed for the device class."""
    return constants.PROMPT_BAND[device_family(hw, on_gpu=on_gpu)]


def format_seconds(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 5 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def speed_lines(plan: MemoryPlan) -> tuple[str, str, str]:
    """The three lines every face shows for a plan's speed (decode, prompt, basis)."""
    low, high = plan.predicted_tok_s_range
    decode = f"~{plan.predicted_tok_s:.0f} tok/s ({low:.0f}–{high:.0f}) with the context full, "
    decode += f"{plan.predicted_tok_s_short:.0f} tok/s when short"
    prompt = f"prompt ~{plan.predicted_prompt_tok_s:,.0f} tok/s; first token after a "
    prompt += f"{plan.ttft_prompt_tokens:,}-token prompt in {format_seconds(plan.predicted_ttft_s)}"
    basis = plan.speed_basis
    source = basis if basis != "model" else "model fitted to published llama-bench results"
    return decode, prompt, source
