"""Values that describe models and quantizations; they cross every room of localctl."""

from __future__ import annotations

from dataclasses import dataclass, field

HUB_SOURCE = "hub"
"""``ModelSpec.source`` (and family) of a model made from a hub search result."""


@dataclass(frozen=True, slots=True)
class ArchSpec:
    """The architecture numbers the memory plan needs, named after the GGUF keys.

    ``key_length``/``value_length`` are per-head sizes (``attention.key_length``).
    Multi-head latent attention (DeepSeek-V2/V3, Kimi K2) is on exactly when the
    file gives ``attention.key_length_mla`` and ``attention.value_length_mla``, as
    llama.cpp decides (``llama_hparams::is_mla``): such files store one KV head of
    ``key_length`` = kv_lora_rank + rope values and no separate V cache. Files
    converted before that carry ``kv_lora_rank`` too but get llama.cpp's full
    per-head K/V cache.
    """

    architecture: str
    """GGUF ``general.architecture`` (``llama``, ``qwen2``, ``gemma3``, ``deepseek2`` …)."""
    n_layers: int
    """``block_count``."""
    n_embd: int
    """``embedding_length``."""
    n_heads: int
    """``attention.head_count``."""
    n_kv_heads: int
    """``attention.head_count_kv``."""
    key_length: int
    """Per-head key size; usually ``n_embd // n_heads``."""
    value_length: int
    """Per-head value size."""
    n_vocab: int
    ctx_train: int
    """``context_length``: the trained context window."""
    n_ff: int = 0
    """``feed_forward_length`` (per expert for MoE)."""
    sliding_window: int = 0
    """Sliding-window size of SWA layers; 0 when every layer attends to the full context."""
    swa_pattern: int = 0
    """Every ``swa_pattern``-th layer is a full-attention layer, the rest use the window
    (Gemma 2: 2, Gemma 3: 6); 0 means all layers are full attention (or all SWA when
    ``sliding_window`` is set and this is 1)."""
    n_experts: int = 0
    n_experts_used: int = 0
    kv_lora_rank: int = 0
    """``attention.kv_lora_rank`` (DeepSeek-V2/V3); informative, it does not switch MLA on."""
    rope_dim: int = 0
    """``rope.dimension_count`` of an MLA-capable model; informative."""
    key_length_mla: int = 0
    """``attention.key_length_mla``; with ``value_length_mla`` set, the cache is MLA."""
    value_length_mla: int = 0
    """``attention.value_length_mla``."""
    tied_embeddings: bool = False
    """The output head reuses the token embedding (no ``output.weight`` in the file)."""

    @property
    def is_mla(self) -> bool:
        """True when llama.cpp runs this model with the compressed MLA cache."""
        return self.key_length_mla > 0 and self.value_length_mla > 0


@dataclass(frozen=True, slots=True)
class QuantSpec:
    """One downloadable quantization of a model."""

    name: str
    """Quant type as written in file names, upper case (``Q4_K_M``, ``IQ3_XXS``, ``BF16``)."""
    files: tuple[str, ...]
    """Paths inside the repo; a split set lists every ``-0000N-of-0000M`` part in order."""
    size_bytes: int
    """Total size of all files."""
    size_exact: bool = True
    """False when ``size_bytes`` was estimated from bits per weight."""
    sha256: tuple[str, ...] = ()
    """LFS sha256 per file when known (same order as ``files``)."""
    file_sizes: tuple[int, ...] = ()
    """Exact byte size of each file (same order as ``files``); empty for estimates."""
    revision: str = ""
    """The repo commit the file facts were read at (40 hex digits), when known."""
    fact_source: str = ""
    """URL of the page the file facts came from."""
    fact_date: str = ""
    """ISO date (``YYYY-MM-DD``) the facts were read."""
    hub_status: str = ""
    """What the last hub listing said of these files (``localctl catalog refresh``):
    ``confirmed``, ``changed`` (the hub's sizes and sha256 are in use) or ``vanished``
    (a file is gone); empty when the repo has not been listed."""
    hub_note: str = ""
    """One line saying what the listing found, with its date."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A curated (or user-added) model: where its GGUFs live and what it is."""

    id: str
    """Catalog id used on the command line, e.g. ``llama-3.3-70b``."""
    name: str
    family: str
    repo: str
    """Hugging Face repo holding the GGUF files (``owner/name``)."""
    params: int
    """Total parameter count."""
    arch: ArchSpec
    license: str
    quants: tuple[QuantSpec, ...]
    active_params: int = 0
    """Parameters used per token for MoE models; 0 means same as ``params``."""
    notes: str = ""
    source: str = "builtin"
    """Where the entry came from: ``builtin``, the path of the user catalog file, or
    :data:`HUB_SOURCE` for a model found by a hub search."""
    tags: tuple[str, ...] = field(default=())
    memory_caveat: str = ""
    """What the memory plan cannot model for this architecture (recurrent or
    hybrid state, ...); empty when the plan models it fully."""
    arch_source: str = ""
    """Where the architecture numbers were read (a config.json or GGUF header URL)."""

    def quant(self, name: str) -> QuantSpec | None:
        """The quant called ``name`` (case-insensitive), or None."""
        wanted = name.upper()
        return next((q for q in self.quants if q.name.upper() == wanted), None)


@dataclass(frozen=True, slots=True)
class QuantType:
    """A row of the quant table: how a quantization format trades size for quality."""

    name: str
    bits_per_weight: float
    """Bits per weight of a whole file in this format (see :data:`bpw_source`)."""
    quality: str
    """Short quality note naming its measurement and the model it was measured on."""
    family: str = ""
    """``legacy``, ``k-quant``, ``i-quant`` or ``float``."""
    kld: float | None = None
    """Mean KL divergence of the token distribution against FP16 (llama.cpp's
    ``--kl-divergence``) on :attr:`measured_on`; None when unmeasured."""
    ppl: float | None = None
    """Wikitext-2 perplexity on :attr:`measured_on` (FP16: 6.2332)."""
    measured_on: str = ""
    """The model the KLD/perplexity figures were measured on."""
    quality_source: str = ""
    """URL of the published measurement."""
    bpw_source: str = ""
    """URL of the bits-per-weight figure, or how it follows from the block format."""
