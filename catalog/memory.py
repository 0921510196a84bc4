"""Pure memory arithmetic of model x quant x context, modelled on llama.cpp.

Every figure here is in bytes and follows what llama.cpp allocates (checked
against its own verbose log for the SmolLM2 test model, see ``docs/fit.md``):

* **Context padding.** llama.cpp rounds the per-sequence context up to a
  multiple of 256 cells (:data:`CTX_PAD`).
* **KV cache.** ``cells x layers x n_kv_heads x (key_length + value_length)``
  elements of the KV type. With ``parallel`` sequences each sequence gets its
  own ``ctx`` cells. Sliding-window layers hold ``pad256(min(ctx, window +
  n_ubatch))`` cells (``llama_kv_cache_iswa``) unless the backend asks for the
  full-size SWA cache (``swa_full``): ``llama_context_default_params()`` sets it,
  so llama-cpp-python gets full-size SWA layers, while ``llama-server`` leaves it
  off unless started with ``--swa-full`` (``common_params.swa_full = false``).
  Multi-head latent attention (DeepSeek-V2/V3) is on only for files with
  ``key_length_mla``/``value_length_mla`` (``llama_hparams::is_mla``); they store
  ``head_count_kv`` (1) x ``key_length`` (576) K values per token and layer and
  no V tensor (``has_v = !is_mla`` in ``llama-kv-cache.cpp``). Older DeepSeek
  files get the full cache: 128 heads x (192 + 128) values.
* **Compute buffer.** The peak of ggml's graph allocator, the largest of three:
  the logits of the micro-batch's outputs (every token for llama-cpp-python, one
  per sequence for the native ``llama-server``), the ``KQ`` attention scores
  (without flash attention) or the feed-forward activations beside the mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from catalog.schema import ArchSpec

CTX_PAD = 256
"""llama.cpp pads the context (and the SWA cache) to a multiple of 256 cells."""
DEFAULT_UBATCH = 512
"""llama.cpp's default physical batch (``n_ubatch``)."""
MIB = 1 << 20

KV_TYPES: dict[str, tuple[int, int]] = {
    "f32": (4, 1),
    "f16": (2, 1),
    "bf16": (2, 1),
    "q8_0": (34, 32),
    "q5_1": (24, 32),
    "q5_0": (22, 32),
    "q4_1": (20, 32),
    "q4_0": (18, 32),
    "iq4_nl": (18, 32),
}
"""KV cache type → (bytes per block, elements per block)."""


REPACK_RULES: dict[str, dict[str, int]] = {
    "x86-avx2": {"Q4_0": 8, "Q4_K": 8, "IQ4_NL": 8, "MXFP4": 8},
    "x86-avx512": {"Q4_0": 8, "Q4_K": 8, "IQ4_NL": 8, "MXFP4": 8, "Q2_K": 8},
    "arm": {"Q4_0": 4, "Q4_K": 8, "Q5_K": 8, "Q6_K": 8, "IQ4_NL": 4, "MXFP4": 4, "Q8_0": 4},
    "none": {},
}
"""CPU kind → {ggml type: row multiple} of the weights llama.cpp's CPU backend
repacks into its ``CPU_REPACK`` buffer (``ggml_repack_get_optimal_repack_type``
in ``ggml-cpu/repack.cpp``): a matrix of that type whose row count (``ne[1]``)
is a multiple of the figure gets an interleaved copy of the same size, kept
beside the mapped file. Only weights that feed a matrix product qualify (block
matrices, expert stacks, a separate output head), never the token embedding,
which is read by row lookup. ``arm`` is NEON with dot product (Apple M-series,
Graviton 3+)."""


def repacked_bytes(
    name: str, type_name: str, dims: Sequence[int], n_bytes: int, cpu_kind: str
) -> int:
    """Bytes of the ``CPU_REPACK`` copy llama.cpp makes of one tensor on a ``cpu_kind`` CPU.

    Gemma 3 270M Q4_K_M on AVX2: its 27 Q4_K block matrices, 12.66 MiB, exactly
    llama.cpp's ``CPU_REPACK model buffer size``.
    """
    if name == "token_embd.weight" or len(dims) not in (2, 3):
        return 0
    multiple = REPACK_RULES.get(cpu_kind, {}).get(type_name)
    return n_bytes if multiple and dims[1] % multiple == 0 else 0


def kv_type_bytes(kv_type: str, elements: int) -> int:
    """Bytes of ``elements`` values stored as ``kv_type`` (block-quantized types round up).

    Raises:
        ValueError: unknown KV type.
    """
    try:
        block_bytes, block = KV_TYPES[kv_type.lower()]
    except KeyError:
        raise ValueError(f"unknown KV cache type {kv_type!r}") from None
    return -(-elements // block) * block_bytes


def needs_flash_attention(kv_type: str) -> bool:
    """True when llama.cpp can only use ``kv_type`` with flash attention (quantized V cache)."""
    return kv_type.lower() not in ("f32", "f16", "bf16")


def pad_ctx(ctx: int) -> int:
    """Context as llama.cpp allocates it: rounded up to a multiple of :data:`CTX_PAD`."""
    if ctx < 1:
        raise ValueError("context must be at least 1 token")
    return -(-ctx // CTX_PAD) * CTX_PAD


def swa_layer_flags(arch: ArchSpec, layers: Sequence[bool] = ()) -> list[bool]:
    """Which layers use the sliding window (True) rather than the full context.

    Args:
        arch: the architecture; ``sliding_window``/``swa_pattern`` decide the pattern.
        layers: explicit per-layer flags from a GGUF file; used when given.
    """
    if not arch.sliding_window:
        return [False] * arch.n_layers
    if len(layers) == arch.n_layers:
        return list(layers)
    pattern = arch.swa_pattern
    if pattern == 0:
        return [False] * arch.n_layers
    if pattern == 1:
        return [True] * arch.n_layers
    return [layer % pattern < pattern - 1 for layer in range(arch.n_layers)]


def kv_cells(
    arch: ArchSpec, ctx: int, *, n_ubatch: int = DEFAULT_UBATCH, swa_full: bool = False
) -> tuple[int, int]:
    """Cells per sequence of full-attention and of sliding-window layers.

    Args:
        arch: the architecture.
        ctx: context per sequence.
        n_ubatch: physical batch (clamped to ``ctx`` like llama.cpp does).
        swa_full: the backend allocates full-size SWA layers (llama-cpp-python).

    Returns:
        ``(full_cells, swa_cells)``; ``swa_cells`` equals ``full_cells`` when
        the window is no smaller than the context or ``swa_full`` is set.
    """
    full = pad_ctx(ctx)
    if not arch.sliding_window or swa_full:
        return full, full
    swa = pad_ctx(min(full, arch.sliding_window + min(n_ubatch, ctx)))
    return full, swa


def kv_row_bytes(arch: ArchSpec, kv_type: str, n_kv_heads: int | None = None) -> int:
    """Bytes one token occupies in one layer's K and V cache.

    Args:
        arch: the architecture.
        kv_type: ``f16``, ``q8_0``, ``q4_0`` …
        n_kv_heads: this layer's KV head count when it differs from ``arch.n_kv_heads``.
    """
    heads = arch.n_kv_heads if n_kv_heads is None else n_kv_heads
    if arch.is_mla:
        return kv_type_bytes(kv_type, heads * arch.key_length)
    return kv_type_bytes(kv_type, heads * arch.key_length) + kv_type_bytes(
        kv_type, heads * arch.value_length
    )


def kv_layer_bytes(
    arch: ArchSpec,
    ctx: int,
    parallel: int = 1,
    kv_type: str = "f16",
    *,
    n_ubatch: int = DEFAULT_UBATCH,
    kv_heads_per_layer: Sequence[int] = (),
    swa_layers: Sequence[bool] = (),
    swa_full: bool = False,
) -> list[int]:
    """KV cache bytes of each layer (what llama.cpp allocates).

    Args:
        arch: the architecture.
        ctx: context per sequence in tokens (padded like llama.cpp does).
        parallel: number of sequences served at once; each has its own cells.
        kv_type: KV cache element type.
        n_ubatch: physical batch; the SWA cache keeps ``window + n_ubatch`` cells.
        kv_heads_per_layer: per-layer KV head counts when they vary.
        swa_layers: per-layer sliding-window flags when the file gives them.
        swa_full: the backend gives sliding-window layers the full context
            (llama-cpp-python does; ``llama-server`` only with ``--swa-full``).
    """
    if parallel < 1:
        raise ValueError("parallel must be at least 1")
    full, swa = kv_cells(arch, ctx, n_ubatch=n_ubatch, swa_full=swa_full)
    flags = swa_layer_flags(arch, swa_layers)
    sizes = []
    for layer in range(arch.n_layers):
        heads = kv_heads_per_layer[layer] if len(kv_heads_per_layer) == arch.n_layers else None
        cells = swa if flags[layer] else full
        sizes.append(cells * parallel * kv_row_bytes(arch, kv_type, heads))
    return sizes


def kv_cache_bytes(
    arch: ArchSpec,
    ctx: int,
    parallel: int = 1,
    kv_type: str = "f16",
    *,
    n_ubatch: int = DEFAULT_UBATCH,
    kv_heads_per_layer: Sequence[int] = (),
    swa_layers: Sequence[bool] = (),
    swa_full: bool = False,
) -> int:
    """Total KV cache bytes; see :func:`kv_layer_bytes` for the arguments.

    SmolLM2-135M at ``ctx=2048``: 30 layers x 2048 cells x 3 heads x (64+64) x 2 B
    = 45.00 MiB, exactly llama.cpp's ``KV buffer size``.
    """
    return sum(
        kv_layer_bytes(
            arch,
            ctx,
            parallel,
            kv_type,
            n_ubatch=n_ubatch,
            kv_heads_per_layer=kv_heads_per_layer,
            swa_layers=swa_layers,
            swa_full=swa_full,
        )
    )


def kv_read_bytes_per_token(
    arch: ArchSpec,
    filled: int,
    kv_type: str = "f16",
    *,
    kv_heads_per_layer: Sequence[int] = (),
    swa_layers: Sequence[bool] = (),
) -> int:
    """KV bytes one decode step of one sequence reads when ``filled`` tokens are cached."""
    flags = swa_layer_flags(arch, swa_layers)
    total = 0
    for layer in range(arch.n_layers):
        heads = kv_heads_per_layer[layer] if len(kv_heads_per_layer) == arch.n_layers else None
        tokens = min(filled, arch.sliding_window) if flags[layer] else filled
        total += tokens * kv_row_bytes(arch, kv_type, heads)
    return total


@dataclass(frozen=True, slots=True)
class ComputeEstimate:
    """The candidate peaks of llama.cpp's compute graph and the one that wins."""

    output_bytes: int
    """Logits of the micro-batch's outputs plus their hidden states."""
    attention_bytes: int
    """Attention scores (without flash attention) plus the feed-forward activations."""
    feed_forward_bytes: int = 0
    """Gate, up and gated feed-forward activations of one layer, the residual
    stream and the attention mask (alive in every layer but the last)."""

    @property
    def total_bytes(self) -> int:
        """The compute buffer: the largest peak."""
        return max(self.output_bytes, self.attention_bytes, self.feed_forward_bytes)


def compute_estimate(
    arch: ArchSpec,
    ctx: int,
    *,
    n_ubatch: int = DEFAULT_UBATCH,
    flash_attn: bool = False,
    n_outputs: int | None = None,
    swa_full: bool = False,
) -> ComputeEstimate:
    """The compute buffer llama.cpp reserves for the worst-case micro-batch.

    The buffer holds the largest set of live f32 tensors of the graph of
    ``tokens = min(n_ubatch, ctx)`` tokens. Three peaks compete:

    * output: ``outputs x (n_vocab + 4 n_embd)`` floats (the logits and the
      hidden states they come from);
    * attention, without flash attention only: the scores of all heads plus the
      f32 mask (``tokens x n_kv x (n_heads + 1)`` floats) plus the layer
      activations (``tokens x (3 n_embd + n_ff x experts used)`` floats);
    * feed-forward: gate, up and their gated product plus the residual stream
      (``tokens x (3 n_ff x experts used + 4 n_embd)`` floats) beside the mask
      (``tokens x n_kv`` values: f16 with flash attention, f32 without). A
      model with both sliding-window and full-attention layers gets two masks,
      one per cache (``llm_graph_input_attn_kv_iswa``), both alive throughout.

    Checked against llama.cpp's CPU backend on SmolLM2 at n_ctx 512-8192: the
    output peak wins when every token is an output (llama-cpp-python), the
    attention peak at long contexts without flash attention, and the
    feed-forward peak for ``llama-server`` (one output per sequence, flash
    attention on), within 5% of the reported ``compute buffer size`` each time.

    Args:
        arch: the architecture.
        ctx: requested context per sequence; the batch is clamped to it like
            llama.cpp does.
        n_ubatch: physical batch size.
        flash_attn: whether flash attention is on (no ``KQ`` matrix then).
        n_outputs: logits rows the graph computes per micro-batch; None means
            every token (llama.cpp's ``n_outputs_max`` of 0, what
            llama-cpp-python uses). ``llama-server`` reserves one per sequence.
        swa_full: sliding-window layers get the whole context (llama-cpp-python).

    Gemma 3 270M under ``llama-server`` (a 512-token window): 18.0 / 20.0 / 26.0 /
    50.0 MiB at n_ctx 512 / 2048 / 8192 / 32768 against llama.cpp's 18.77 / 20.77
    / 26.77 / 50.77 MiB.
    """
    tokens = max(1, min(n_ubatch, ctx))
    outputs = tokens if n_outputs is None else max(1, min(n_outputs, tokens))
    full, swa = kv_cells(arch, ctx, n_ubatch=n_ubatch, swa_full=swa_full)
    flags = swa_layer_flags(arch)
    n_kv = swa if flags and all(flags) else full
    mask_cells = full + swa if any(flags) and not all(flags) else n_kv
    output = outputs * (arch.n_vocab + 4 * arch.n_embd) * 4
    ff = arch.n_ff * max(1, arch.n_experts_used)
    activations = tokens * (3 * arch.n_embd + ff) * 4
    scores = 0 if flash_attn else tokens * n_kv * (arch.n_heads + 1) * 4
    mask = tokens * mask_cells * (2 if flash_attn else 4)
    feed_forward = tokens * (3 * ff + 4 * arch.n_embd) * 4 + mask
    return ComputeEstimate(
        output_bytes=output,
        attention_bytes=scores + activations,
        feed_forward_bytes=feed_forward,
    )


def compute_buffer_bytes(
    arch: ArchSpec,
    ctx: int,
    *,
    n_ubatch: int = DEFAULT_UBATCH,
    flash_attn: bool = False,
    n_outputs: int | None = None,
) -> int:
    """Bytes of llama.cpp's compute buffer; see :func:`compute_estimate`."""
    return compute_estimate(
        arch, ctx, n_ubatch=n_ubatch, flash_attn=flash_attn, n_outputs=n_outputs
    ).total_bytes


RECURRENT_ARCHITECTURES = frozenset(
    {
        "mamba",
        "mamba2",
        "rwkv6",
        "rwkv6qwen2",
        "rwkv7",
        "arwkv7",
        "jamba",
        "falcon-h1",
        "granitehybrid",
        "nemotron_h",
        "nemotron_h_moe",
        "plamo2",
        "lfm2",
        "lfm2moe",
        "qwen3next",
        "qwen35",
        "qwen35moe",
        "kimi-linear",
    }
)
"""GGUF architectures whose layers keep a recurrent (state-space or linear
attention) state in llama.cpp's ``llama_memory_recurrent``, which this plan does
not model."""


def unmodelled_memory(architecture: str) -> str:
    """A one-line warning when the plan cannot model ``architecture``'s memory, else ``""``."""
    if architecture in RECURRENT_ARCHITECTURES:
        return (
            f"{architecture} keeps a recurrent state in some or all layers that this plan "
            "does not model; its KV figure treats every layer as attention"
        )
    return ""
