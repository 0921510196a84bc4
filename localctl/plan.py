"""The fit plan: memory needed by a model at a context, and where it goes on a machine.

The arithmetic of sizes lives in :mod:`catalog.memory`; this module adds the
machine: which layers go to the GPU(s), what stays in RAM, and the decode
speed that memory bandwidth allows. The formula is documented in ``docs/fit.md``.

Placement follows llama.cpp's layer offload (``-ngl``):

* the token embedding always stays in RAM (llama.cpp looks rows up on the CPU);
* ``gpu``: every block, the output head (a copy of the embedding when the
  model ties them), the KV cache and the compute buffer fit in free VRAM
  (summed across GPUs, one CUDA/ROCm context per GPU);
* ``partial``: the last ``gpu_layers`` blocks and their KV cache go to the GPU,
  the rest and the output head stay in RAM (the largest count that fits);
* ``cpu``: everything in RAM;
* ``none``: not even that fits.

MoE models must hold every expert in memory, but a decode step reads only the
experts in use, so the speed is computed from active bytes.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from catalog import memory
from localctl import speed
from localctl.request import Backend, PlanRequest
from localctl.shape import ModelShape, shape_from_catalog, shape_from_gguf

if TYPE_CHECKING:
    from localctl.draft import DraftPlan
    from localctl.hardware import Hardware

__all__ = [
    "BACKEND_BASELINE_BYTES",
    "Backend",
    "MemoryPlan",
    "ModelShape",
    "Placement",
    "PlanRequest",
    "SpeedPrediction",
    "cpu_read_rate",
    "cpu_repack_kind",
    "decode_work",
    "plan",
    "predict_speed",
    "prompt_work",
    "shape_from_catalog",
    "shape_from_gguf",
]

Placement = Literal["gpu", "partial", "cpu", "none"]

MIB = 1 << 20
BACKEND_BASELINE_BYTES: dict[str, int] = {
    "llama-cpp-python": 96 * MIB,
    "llama-server": 36 * MIB,
}
"""Resident memory of a ready server process besides the weights and the KV
cache, per backend: for llama-cpp-python the interpreter with llama_cpp and
its web server imported (74 MiB before a model is loaded); for the native
``llama-server`` the binary, its threads and HTTP server. Both include
llama.cpp's vocabulary, output buffer and graph metadata. Measured at ready
(RSS minus weights and KV) with SmolLM2, a 49k-token vocabulary, at n_ctx
512-8192: 96-98 MiB and 36 MiB, flat across the contexts."""
CPU_OVERHEAD_BYTES = BACKEND_BASELINE_BYTES["llama-cpp-python"]
"""The process baseline of llama-cpp-python."""
GPU_OVERHEAD_BYTES = {"nvidia": 512 * MIB, "amd": 512 * MIB, "apple": 128 * MIB}
"""Memory taken per GPU before any buffer: the CUDA/ROCm context with ggml's
kernels loaded and the cuBLAS/hipBLAS workspace (300-500 MiB is what
``nvidia-smi`` shows for an idle llama.cpp process); Metal needs only its command
queues and residency sets."""
CPU_KV_COST = 1.5
"""A byte of KV cache costs this many weight bytes of time on the CPU (attention
without flash attention is partly compute-bound). Calibrated with SmolLM2-135M Q4_1:
each token of filled context adds 2.06 us, i.e. 23 kB of KV at 11.2 GB/s. The speed
model's own table is ``localctl.speed_constants.KV_COST``."""
SHORT_CONTEXT = 256
"""Tokens of context behind ``predicted_tok_s_short``."""


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """Memory estimate and placement of one model x quant x context on one machine."""

    weights_bytes: int
    kv_bytes: int
    compute_bytes: int
    overhead_bytes: int
    total_bytes: int
    placement: Placement
    gpu_layers: int
    n_layers: int
    request: PlanRequest
    """What the plan was asked for (context, parallel, KV type, backend, flash attention)."""
    predicted_tok_s: float
    gpu_bytes: int
    """Part of ``total_bytes`` placed in VRAM."""
    cpu_bytes: int
    """Part of ``total_bytes`` placed in RAM."""
    reason: str = ""
    """One line explaining the verdict (why partial, why it won't fit)."""
    flash_attn: bool = False
    """Whether the plan assumes flash attention (required by a quantized KV cache)."""
    predicted_tok_s_short: float = 0.0
    """Decode speed with a nearly empty context (``predicted_tok_s`` is with ``ctx`` filled)."""
    bytes_per_token: int = 0
    """Bytes a decode step reads with the context full (active weights + KV)."""
    n_ctx_alloc: int = 0
    """Cells per sequence llama.cpp allocates (``ctx`` rounded up to 256)."""
    expected_rss_bytes: int = 0
    """Resident memory of the server process once it is ready: the weights and
    KV cache held in RAM (llama.cpp maps the file with ``MAP_POPULATE`` and
    clears the cache) plus the backend's process baseline. The compute buffer
    is not in it: its pages become resident only when a long prompt fills a
    micro-batch, so a busy server grows towards ``cpu_bytes``."""
    predicted_prompt_tok_s: float = 0.0
    """Prompt processing speed for a 512-token prompt (llama-bench's pp512)."""
    predicted_tok_s_range: tuple[float, float] = (0.0, 0.0)
    """``predicted_tok_s`` low and high, from the device class's fit residuals."""
    predicted_ttft_s: float = 0.0
    """Time to first token for a long prompt of ``ttft_prompt_tokens`` tokens."""
    ttft_prompt_tokens: int = 0
    cpu_moe_layers: int = 0
    """Blocks whose routed experts stay in RAM while everything else is on the GPU
    (llama-server ``--n-cpu-moe``; 0: plain layer offload)."""
    speed_basis: str = "model"
    """``model`` (the published-results fit) or ``calibrated here (...)``."""
    draft: DraftPlan | None = None
    """The draft model's share of the totals, with speculative decoding (see
    :func:`localctl.draft.plan_with_draft`)."""

    @property
    def ctx(self) -> int:
        """Context per sequence."""
        return self.request.ctx

    @property
    def parallel(self) -> int:
        """Sequences served at once."""
        return self.request.parallel

    @property
    def kv_type(self) -> str:
        """KV cache type."""
        return self.request.kv_type

    @property
    def backend(self) -> Backend:
        """The server the plan is for."""
        return self.request.backend

    def verdict(self) -> str:
        """Short label for tables: ``GPU``, ``partial 40/80``, ``CPU`` or ``won't fit``."""
        if self.placement == "gpu":
            return "GPU"
        if self.placement == "partial" and self.cpu_moe_layers:
            return f"partial experts {self.cpu_moe_layers}/{self.n_layers}"
        if self.placement == "partial":
            return f"partial {self.gpu_layers}/{self.n_layers}"
        if self.placement == "cpu":
            return "CPU"
        return "won't fit"


def plan(shape: ModelShape, hw: Hardware, request: PlanRequest) -> MemoryPlan:
    """Place a :class:`~localctl.shape.ModelShape` on ``hw`` as ``request`` asks.

    The backends differ where llama.cpp is configured differently: the native
    ``llama-server`` turns flash attention on (its default is auto), keeps a
    windowed cache for sliding-window layers and reserves logits for one output
    per sequence, llama-cpp-python for every token of a micro-batch; their
    processes differ by the Python interpreter.
    """
    ctx, parallel, kv_type, backend = (
        request.ctx,
        request.parallel,
        request.kv_type,
        request.backend,
    )
    arch = shape.arch
    n = arch.n_layers
    native = request.native
    fa = request.uses_flash_attn
    kv_layers = memory.kv_layer_bytes(
        arch,
        ctx,
        parallel,
        kv_type,
        kv_heads_per_layer=shape.kv_heads_per_layer,
        swa_layers=shape.swa_layers,
        swa_full=not native,
    )
    kv_total = sum(kv_layers)
    estimate = memory.compute_estimate(
        arch, ctx, flash_attn=fa, n_outputs=parallel if native else None, swa_full=not native
    )
    compute = estimate.total_bytes
    weights = shape.weights_bytes
    kv_read_full = _kv_read(shape, ctx, kv_type)
    beyond = (
        f" (beyond the {arch.ctx_train}-token context it was trained for)"
        if arch.ctx_train and ctx > arch.ctx_train
        else ""
    )

    cpu_overhead = BACKEND_BASELINE_BYTES[backend]
    repack_layers, repack_other = shape.repack_bytes(cpu_repack_kind(hw))

    def make(
        placement: Placement,
        gpu_layers: int,
        *,
        weights_bytes: int,
        compute_bytes: int,
        overhead_bytes: int,
        gpu_bytes: int,
        reason: str,
        ram_weights_bytes: int,
        ram_kv_bytes: int,
        cpu_moe_layers: int = 0,
    ) -> MemoryPlan:
        total = weights_bytes + kv_total + compute_bytes + overhead_bytes
        fits = placement != "none"
        figures = (
            predict_speed(
                shape, hw, gpu_layers, ctx, kv_type, kv_layers, fa, backend, cpu_moe_layers
            )
            if fits
            else SpeedPrediction()
        )
        return MemoryPlan(
            weights_bytes=weights_bytes,
            kv_bytes=kv_total,
            compute_bytes=compute_bytes,
            overhead_bytes=overhead_bytes,
            total_bytes=total,
            placement=placement,
            gpu_layers=gpu_layers,
            n_layers=n,
            request=request,
            predicted_tok_s=figures.tok_s,
            gpu_bytes=gpu_bytes if fits else 0,
            cpu_bytes=total - gpu_bytes if fits else 0,
            reason=reason + beyond,
            flash_attn=fa,
            predicted_tok_s_short=figures.tok_s_short,
            bytes_per_token=_bytes_per_token(shape, kv_read_full),
            n_ctx_alloc=memory.pad_ctx(ctx),
            expected_rss_bytes=ram_weights_bytes + ram_kv_bytes + cpu_overhead,
            predicted_prompt_tok_s=figures.prompt_tok_s,
            predicted_tok_s_range=figures.tok_s_range,
            predicted_ttft_s=figures.ttft_s,
            ttft_prompt_tokens=figures.ttft_prompt_tokens,
            speed_basis=figures.basis,
            cpu_moe_layers=cpu_moe_layers,
        )

    ram_budget = hw.ram_available_bytes
    gpus = hw.gpus
    gpu_budget = gpu_overhead = 0
    if gpus:
        # Metal's recommendedMaxWorkingSetSize (the GPU's total here: 2/3 of RAM under
        # 64 GiB, 3/4 above) is advice, not a limit: llama.cpp offloads every layer it is
        # asked to and Metal maps buffers beyond it (an M1 Pro 16 GB runs a 12.5 GiB F16
        # 7B fully on Metal, 12.75 tok/s). What bounds the GPU is the RAM that is free.
        gpu_budget = ram_budget if hw.unified_memory else sum(g.free_bytes for g in gpus)
        gpu_overhead = sum(GPU_OVERHEAD_BYTES.get(g.vendor, 512 * MIB) for g in gpus)

    if gpus:
        # Full offload: blocks, output head (a copy of a tied embedding), KV and compute on GPU.
        output_gpu = shape.output_bytes + (shape.embd_bytes if shape.tied_output else 0)
        gpu_need = sum(shape.layer_bytes) + output_gpu + kv_total + compute + gpu_overhead
        cpu_need = shape.embd_bytes + cpu_overhead
        if _fits(hw, gpu_need, cpu_need, gpu_budget, ram_budget):
            return make(
                "gpu",
                n,
                weights_bytes=weights + output_gpu - shape.output_bytes,
                compute_bytes=compute,
                overhead_bytes=gpu_overhead + cpu_overhead,
                gpu_bytes=gpu_need,
                reason=f"all {n} layers fit in {_gib(gpu_budget)} of free GPU memory"
                + _working_set_note(hw, gpu_need),
                ram_weights_bytes=shape.embd_bytes,
                ram_kv_bytes=0,
            )
        # Partial offload: the last k blocks and their KV on the GPU; the host keeps a
        # compute buffer for the output head or the activations of the blocks left
        # on the CPU, whichever is larger (the latter wins when the server reserves
        # few outputs, as llama-server does).
        host_compute = max(estimate.output_bytes, estimate.feed_forward_bytes)
        # A split placement leaves llama.cpp --fit's margin free on each discrete GPU (a
        # whole model that fits is offloaded whole, as -ngl 99 does: a 16 GB RTX 4080 runs
        # a 15 GiB F16 8B fully on the GPU).
        if not hw.unified_memory:
            gpu_budget = sum(max(0, g.free_bytes - fit_margin(g.total_bytes)) for g in gpus)
        # MoE expert offload (llama-server --n-cpu-moe m): every block, the KV cache and
        # the shared weights on the GPU, the routed experts of the first m blocks in RAM
        # (llama.cpp's --fit keeps dense weights on the GPU first, for the same reason).
        experts = shape.layer_expert_bytes
        moe_plan: MemoryPlan | None = None
        if experts and native:
            kept = 0
            for m in range(1, n + 1):
                kept += experts[m - 1] + (repack_layers[m - 1] if repack_layers else 0)
                gpu_need_moe = gpu_need - sum(experts[:m])
                cpu_need_moe = shape.embd_bytes + kept + host_compute + cpu_overhead
                if _fits(hw, gpu_need_moe, cpu_need_moe, gpu_budget, ram_budget):
                    moe_plan = make(
                        "partial",
                        n,
                        weights_bytes=weights
                        + output_gpu
                        - shape.output_bytes
                        + kept
                        - sum(experts[:m]),
                        compute_bytes=compute + host_compute,
                        overhead_bytes=gpu_overhead + cpu_overhead,
                        gpu_bytes=gpu_need_moe,
                        reason=(
                            f"all {n} layers on the GPU with the routed experts of {m} "
                            f"in RAM (--n-cpu-moe {m}); {_gib(gpu_budget)} of GPU memory free"
                        ),
                        ram_weights_bytes=shape.embd_bytes + kept,
                        ram_kv_bytes=0,
                        cpu_moe_layers=m,
                    )
                    break
        # gpu_parts[k]: weights + KV of the last k blocks
        gpu_parts = [0] * (n + 1)
        for k in range(1, n + 1):
            gpu_parts[k] = gpu_parts[k - 1] + shape.layer_bytes[n - k] + kv_layers[n - k]
        for k in range(n - 1, 0, -1):
            gpu_part = gpu_parts[k]
            gpu_need = gpu_part + compute + gpu_overhead
            repack = sum(repack_layers[: n - k]) + repack_other
            cpu_need = weights + repack + kv_total - gpu_part + host_compute + cpu_overhead
            if _fits(hw, gpu_need, cpu_need, gpu_budget, ram_budget):
                layered = make(
                    "partial",
                    k,
                    weights_bytes=weights + repack,
                    compute_bytes=compute + host_compute,
                    overhead_bytes=gpu_overhead + cpu_overhead,
                    gpu_bytes=gpu_need,
                    reason=(
                        f"{k} of {n} layers fit in {_gib(gpu_budget)} of free GPU memory; "
                        "the rest run on the CPU"
                    ),
                    ram_weights_bytes=weights + repack - sum(shape.layer_bytes[n - k :]),
                    ram_kv_bytes=kv_total - sum(kv_layers[n - k :]),
                )
                if moe_plan is not None and moe_plan.predicted_tok_s > layered.predicted_tok_s:
                    return moe_plan
                return layered
        if moe_plan is not None:
            return moe_plan
    # On the CPU alone llama.cpp keeps a repacked copy of some matrices beside the mapping.
    weights += sum(repack_layers) + repack_other
    cpu_total = weights + kv_total + compute + cpu_overhead
    if cpu_total <= ram_budget:
        why = "no GPU" if not gpus else f"not one layer fits in {_gib(gpu_budget)} of GPU memory"
        return make(
            "cpu",
            0,
            weights_bytes=weights,
            compute_bytes=compute,
            overhead_bytes=cpu_overhead,
            gpu_bytes=0,
            reason=f"runs on the CPU ({why}); needs {_gib(cpu_total)} of {_gib(ram_budget)} RAM",
            ram_weights_bytes=weights,
            ram_kv_bytes=kv_total,
        )
    room = ram_budget + (0 if hw.unified_memory else gpu_budget)
    return make(
        "none",
        0,
        weights_bytes=weights,
        compute_bytes=compute,
        overhead_bytes=cpu_overhead,
        gpu_bytes=0,
        reason=(
            f"needs {_gib(cpu_total)} but only {_gib(room)} of memory is free; "
            "try a smaller quant or context"
        ),
        ram_weights_bytes=weights,
        ram_kv_bytes=kv_total,
    )


def cpu_repack_kind(hw: Hardware) -> str:
    """Which :data:`catalog.memory.REPACK_RULES` apply to ``hw``'s CPU.

    The detected machine is read from ``/proc/cpuinfo`` (AVX2/AVX-512 on x86,
    NEON dot product on ARM; Apple Silicon has it); a simulated profile is taken
    as an AVX2 x86 machine, or ARM when it has unified memory (Apple).
    """
    if hw.profile:
        return "arm" if hw.unified_memory else "x86-avx2"
    return _host_repack_kind()


@functools.cache
def _host_repack_kind() -> str:
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        if platform.system() == "Darwin":
            return "arm"
        return "arm" if "asimddp" in _cpu_flags() else "none"
    if machine in ("x86_64", "amd64", "i686", "x86"):
        flags = _cpu_flags()
        if "avx512f" in flags:
            return "x86-avx512"
        return "x86-avx2" if "avx2" in flags else "none"
    return "none"


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


FIT_MARGIN_BYTES = 1 << 30
"""Memory llama.cpp's ``--fit`` leaves free on each GPU (``--fit-target``, 1024 MiB)."""


def fit_margin(total_bytes: int) -> int:
    """Free memory a plan leaves on a discrete GPU: llama.cpp's 1 GiB, an eighth on a
    small card (where 1 GiB would refuse what runs)."""
    return min(FIT_MARGIN_BYTES, total_bytes // 8)


def _working_set_note(hw: Hardware, gpu_need: int) -> str:
    if not hw.unified_memory or not hw.gpus or gpu_need <= hw.gpus[0].total_bytes:
        return ""
    return (
        f" (above Metal's recommended working set of {_gib(hw.gpus[0].total_bytes)}: "
        "it runs, but other apps may be paged out)"
    )


def _fits(hw: Hardware, gpu_need: int, cpu_need: int, gpu_budget: int, ram_budget: int) -> bool:
    if hw.unified_memory:
        return gpu_need <= gpu_budget and gpu_need + cpu_need <= ram_budget
    return gpu_need <= gpu_budget and cpu_need <= ram_budget


def _bytes_per_token(shape: ModelShape, kv_read: int) -> int:
    output = shape.embd_bytes if shape.tied_output else shape.output_bytes
    return sum(shape.layer_active_bytes) + output + kv_read


def _kv_read(shape: ModelShape, filled: int, kv_type: str) -> int:
    return memory.kv_read_bytes_per_token(
        shape.arch,
        filled,
        kv_type,
        kv_heads_per_layer=shape.kv_heads_per_layer,
        swa_layers=shape.swa_layers,
    )


@dataclass(frozen=True, slots=True)
class SpeedPrediction:
    """The speed figures of a plan (all zero for a plan that does not fit)."""

    tok_s: float = 0.0
    tok_s_short: float = 0.0
    tok_s_range: tuple[float, float] = (0.0, 0.0)
    prompt_tok_s: float = 0.0
    ttft_s: float = 0.0
    ttft_prompt_tokens: int = 0
    basis: str = "model"


def decode_work(
    shape: ModelShape,
    gpu_layers: int,
    kv_read: int,
    kv_layers: list[int],
    cpu_moe_layers: int = 0,
    *,
    filled: int = 0,
) -> speed.DecodeWork:
    """Bytes one decode step reads on each device, split as llama.cpp places layers.

    The last ``gpu_layers`` blocks are on the GPU, the output head too when every
    block is there; each device reads its active weights and its share of the KV cache
    (``kv_read`` bytes in all, ``filled`` tokens cached).
    """
    n = shape.arch.n_layers
    total_kv = sum(kv_layers) or 1
    output = shape.embd_bytes if shape.tied_output else shape.output_bytes
    gpu_read = sum(shape.layer_active_bytes[n - gpu_layers :]) if gpu_layers else 0
    gpu_kv = kv_read * sum(kv_layers[n - gpu_layers :]) // total_kv if gpu_layers else 0
    cpu_read = sum(shape.layer_active_bytes[: n - gpu_layers])
    if gpu_layers == n:
        gpu_read += output
    else:
        cpu_read += output
    gpu_experts = 0
    if shape.layer_expert_bytes:
        # Experts in use: those of the first ``cpu_moe_layers`` blocks are read from RAM.
        ratio = shape.expert_ratio
        moved = int(sum(shape.layer_expert_bytes[:cpu_moe_layers]) * ratio)
        gpu_read -= moved
        cpu_read += moved
        start = max(cpu_moe_layers, n - gpu_layers)
        gpu_experts = int(sum(shape.layer_expert_bytes[start:]) * ratio) if gpu_layers else 0
    active = gpu_read + cpu_read
    # Every decode step computes the logits: the head's weights count as arithmetic.
    params = _active_params(shape) + shape.arch.n_vocab * shape.arch.n_embd
    cpu_layers = n - gpu_layers
    return speed.DecodeWork(
        gpu_bytes=gpu_read,
        cpu_bytes=cpu_read,
        gpu_kv_bytes=gpu_kv,
        cpu_kv_bytes=kv_read - gpu_kv,
        gpu_params=params * gpu_read / active if active else 0.0,
        gpu_expert_bytes=gpu_experts,
        k_quant=speed.is_k_quant(shape.quant),
        eight_bit=shape.quant.upper() == "Q8_0",
        cpu_layers=cpu_layers,
        cpu_attn_pairs=attention_pairs(shape, filled, range(cpu_layers)),
    )


def attention_pairs(shape: ModelShape, filled: int, layers: range) -> float:
    """(query head, cached position) pairs one decode step's attention visits in
    ``layers`` with ``filled`` tokens cached (a sliding-window layer sees its window)."""
    arch = shape.arch
    flags = memory.swa_layer_flags(arch, shape.swa_layers)
    window = arch.sliding_window or filled
    seen = sum(min(filled, window) if flags[layer] else filled for layer in layers)
    return float(arch.n_heads * seen)


def _active_params(shape: ModelShape) -> int:
    # Unknown parameter count: block bytes at 4.5 bits per weight (a Q4_K_M file).
    return shape.active_params or int(sum(shape.layer_active_bytes) * 8 / 4.5)


def prompt_work(shape: ModelShape, gpu_layers: int, cpu_moe_layers: int = 0) -> speed.PromptWork:
    """What a prompt token costs: active parameters (from active bytes) and attention width."""
    arch = shape.arch
    n = arch.n_layers
    active_params = _active_params(shape)
    width = arch.n_heads * (arch.key_length or (arch.n_embd // max(1, arch.n_heads)))
    cpu_bytes = sum(shape.layer_bytes[: n - gpu_layers]) if 0 < gpu_layers < n else 0
    if cpu_moe_layers and shape.layer_expert_bytes:
        cpu_bytes += sum(shape.layer_expert_bytes[:cpu_moe_layers])
    swa = sum(memory.swa_layer_flags(arch, shape.swa_layers))
    return speed.PromptWork(
        active_params=active_params,
        n_layers=n,
        attn_width=width or arch.n_embd,
        cpu_bytes=cpu_bytes,
        on_gpu=gpu_layers > 0,
        attn_heads=arch.n_heads * n,
        swa_heads=arch.n_heads * swa,
        swa_window=arch.sliding_window,
    )


def predict_speed(
    shape: ModelShape,
    hw: Hardware,
    gpu_layers: int,
    ctx: int,
    kv_type: str,
    kv_layers: list[int],
    flash_attn: bool,
    backend: str,
    cpu_moe_layers: int = 0,
) -> SpeedPrediction:
    """Decode speed at a full and a short context, its band, prompt speed and TTFT."""
    from localctl.benchrun import calibration_for

    calibration = calibration_for(hw, backend)
    on_gpu = gpu_layers > 0 and bool(hw.gpus)

    def decode(filled: int) -> float:
        kv = _kv_read(shape, filled, kv_type)
        work = decode_work(shape, gpu_layers, kv, kv_layers, cpu_moe_layers, filled=filled)
        return speed.decode_tok_s(hw, work, flash_attn=flash_attn, calibration=calibration)

    tok_s = decode(ctx)
    low, high = speed.decode_band(hw, on_gpu=on_gpu, calibration=calibration)
    prompt = prompt_work(shape, gpu_layers if hw.gpus else 0, cpu_moe_layers)
    long_prompt = min(ctx, speed.LONG_PROMPT_TOKENS)
    ttft = speed.prompt_seconds(hw, prompt, long_prompt, calibration=calibration)
    return SpeedPrediction(
        tok_s=tok_s,
        tok_s_short=decode(min(ctx, SHORT_CONTEXT)),
        tok_s_range=(round(tok_s * low, 1), round(tok_s * high, 1)),
        prompt_tok_s=speed.prompt_tok_s(hw, prompt, 512, calibration=calibration),
        ttft_s=round(ttft, 3),
        ttft_prompt_tokens=long_prompt,
        basis=calibration.label if calibration else "model",
    )


def cpu_read_rate(hw: Hardware) -> float:
    """Bytes/s a CPU decode streams (see :func:`localctl.speed.cpu_stream_rate`)."""
    return speed.cpu_stream_rate(hw)


def _gib(count: int) -> str:
    return f"{count / (1 << 30):.1f} GiB"
