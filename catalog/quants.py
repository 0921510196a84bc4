"""The quant table: bits per weight and quality notes of each GGUF quantization.

Bits per weight are the effective figures llama.cpp's quantizer reports on
Llama-class models (block scales included). MMLU and perplexity come from the
Llama 3.3 70B reference table (MMLU 5-shot) where it gives a row.
"""

from __future__ import annotations

from catalog.schema import QuantType

_ROWS: tuple[QuantType, ...] = (
    QuantType("IQ1_S", 1.56, "extreme; mostly unusable below 70B", "i-quant"),
    QuantType("IQ1_M", 1.75, "extreme; large models only", "i-quant"),
    QuantType("IQ2_XXS", 2.06, "very lossy; needs an imatrix", "i-quant"),
    QuantType("IQ2_XS", 2.31, "very lossy", "i-quant"),
    QuantType("IQ2_S", 2.5, "very lossy", "i-quant"),
    QuantType("IQ2_M", 2.7, "extreme compression, significant loss", "i-quant"),
    QuantType("Q2_K", 2.96, "noticeable loss (70B: -5.2% MMLU)", "k-quant", 81.2, 5.87),
    QuantType("IQ3_XXS", 3.06, "lossy, better than Q2_K", "i-quant"),
    QuantType("IQ3_XS", 3.3, "lossy", "i-quant"),
    QuantType("IQ3_S", 3.44, "usable on large models", "i-quant"),
    QuantType("Q3_K_S", 3.5, "lossy", "k-quant"),
    QuantType("IQ3_M", 3.66, "usable; beats Q3_K_M at its size", "i-quant"),
    QuantType("Q3_K_M", 3.91, "usable when memory is tight", "k-quant"),
    QuantType("Q3_K_L", 4.27, "usable", "k-quant"),
    QuantType("IQ4_XS", 4.25, "close to Q4_K_M, smaller", "i-quant"),
    QuantType("IQ4_NL", 4.5, "4-bit non-linear", "i-quant"),
    QuantType("Q4_0", 4.55, "legacy 4-bit; fast on ARM", "legacy"),
    QuantType("Q4_K_S", 4.58, "4-bit, small", "k-quant"),
    QuantType("Q4_K_M", 4.83, "recommended balance (70B: -1.1% MMLU)", "k-quant", 85.3, 4.38),
    QuantType("Q4_1", 5.0, "legacy 4-bit with offsets", "legacy"),
    QuantType("Q5_0", 5.54, "legacy 5-bit", "legacy"),
    QuantType("Q5_K_S", 5.54, "near-lossless on large models", "k-quant"),
    QuantType("Q5_K_M", 5.69, "near-lossless on large models", "k-quant"),
    QuantType("Q5_1", 6.0, "legacy 5-bit with offsets", "legacy"),
    QuantType("Q6_K", 6.59, "near-fp16 quality", "k-quant"),
    QuantType("Q8_0", 8.5, "essentially lossless", "legacy"),
    QuantType("F16", 16.0, "reference (70B: 86.4 MMLU)", "float", 86.4, 4.12),
    QuantType("BF16", 16.0, "reference precision", "float", 86.4, 4.12),
    QuantType("F32", 32.0, "full precision", "float"),
)

QUANT_TYPES: dict[str, QuantType] = {row.name: row for row in _ROWS}
"""Every known quant type by upper-case name."""


def bits_per_weight(name: str) -> float:
    """Effective bits per weight of quant ``name`` (case-insensitive).

    Raises:
        KeyError: the quant type is unknown.
    """
    return QUANT_TYPES[name.upper()].bits_per_weight


def quality_note(name: str) -> str:
    """The short quality note of quant ``name``, or an empty string if unknown."""
    row = QUANT_TYPES.get(name.upper())
    return row.quality if row else ""
