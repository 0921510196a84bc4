"""The quant table: bits per weight and measured quality of each GGUF quantization.

Every figure has one published source, named per row:

* **Bits per weight** are those llama.cpp's ``tools/quantize/README.md`` prints for
  whole Llama-3.1-8B files (embedding and output included); formats it does not
  list follow from their block layout (``Q4_0`` stores 32 weights in 18 bytes:
  4.5 bits), and MXFP4 from its block (32 weights in 17 bytes: 4.25 bits).
* **Quality** is llama.cpp's ``tools/perplexity/README.md`` "LLaMA 3 8b
  Scoreboard": mean KL divergence against FP16 and Wikitext-2 perplexity
  (FP16: 6.2332), measured on Llama-3-8B. k-quant and legacy rows are without an
  importance matrix; i-quants (which need one) with the 10M-token Wikitext matrix.
  Formats the scoreboard does not measure carry no figure and say so.

These are the catalog's fallback: a shipped catalog row has the exact size of
its file, so bits per weight only size a model the catalog does not list.
"""

from __future__ import annotations

from catalog.schema import QuantType

QUANTIZE_README = "https://github.com/ggml-org/llama.cpp/blob/master/tools/quantize/README.md"
"""llama-quantize's table of bits per weight for Llama-3.1-8B files."""
PERPLEXITY_README = "https://github.com/ggml-org/llama.cpp/blob/master/tools/perplexity/README.md"
"""The LLaMA 3 8b scoreboard: KLD and perplexity of each quant against FP16."""
MEASURED_ON = "Llama-3-8B"
BLOCK_LAYOUT = "block layout (ggml type size)"


def _row(
    name: str,
    bpw: float,
    family: str,
    kld: float | None = None,
    ppl: float | None = None,
    *,
    bpw_source: str = QUANTIZE_README,
    imatrix: bool = False,
) -> QuantType:
    if kld is None or ppl is None:
        note = "no published KLD for this format"
        return QuantType(name, bpw, note, family, bpw_source=bpw_source)
    suffix = " with imatrix" if imatrix else ""
    note = f"KLD {kld:.3g} vs FP16 on {MEASURED_ON}{suffix}"
    return QuantType(
        name,
        bpw,
        note,
        family,
        kld=kld,
        ppl=ppl,
        measured_on=MEASURED_ON,
        quality_source=PERPLEXITY_README,
        bpw_source=bpw_source,
    )


_ROWS: tuple[QuantType, ...] = (
    _row("IQ1_S", 2.0042, "i-quant", 2.254554, 60.694593, imatrix=True),
    _row("IQ1_M", 2.1460, "i-quant", 1.393084, 25.493722, imatrix=True),
    _row("IQ2_XXS", 2.3824, "i-quant", 0.812022, 14.091782, imatrix=True),
    _row("IQ2_XS", 2.5882, "i-quant", 0.546290, 10.761424, imatrix=True),
    _row("IQ2_S", 2.7403, "i-quant", 0.439197, 9.650781, imatrix=True),
    _row("IQ2_M", 2.9294, "i-quant", 0.325989, 8.600799, imatrix=True),
    _row("Q2_K", 3.1593, "k-quant", 0.445132, 9.751568),
    _row("IQ3_XXS", 3.2548, "i-quant", 0.183625, 7.458436, imatrix=True),
    _row("IQ3_XS", 3.4977, "i-quant", 0.138693, 7.163043, imatrix=True),
    _row("Q3_K_S", 3.6429, "k-quant", 0.228217, 7.863786),
    _row("IQ3_S", 3.6606, "i-quant", 0.111278, 6.965501, imatrix=True),
    _row("IQ3_M", 3.7628, "i-quant", 0.102534, 6.898327, imatrix=True),
    _row("Q3_K_M", 3.9960, "k-quant", 0.101913, 6.888498),
    _row("MXFP4", 4.25, "float", bpw_source=BLOCK_LAYOUT),
    _row("Q3_K_L", 4.2979, "k-quant", 0.087176, 6.787876),
    _row("IQ4_XS", 4.4597, "i-quant", 0.036334, 6.459705, imatrix=True),
    _row("Q4_0", 4.5, "legacy", 0.071940, 6.700147, bpw_source=BLOCK_LAYOUT),
    _row("Q4_K_S", 4.6672, "k-quant", 0.043136, 6.500529),
    _row("IQ4_NL", 4.6818, "i-quant", 0.035742, 6.455593, imatrix=True),
    _row("Q4_K_M", 4.8944, "k-quant", 0.031273, 6.407115),
    _row("Q4_1", 5.0, "legacy", 0.071683, 6.682737, bpw_source=BLOCK_LAYOUT),
    _row("Q5_0", 5.5, "legacy", 0.022239, 6.363224, bpw_source=BLOCK_LAYOUT),
    _row("Q5_K_S", 5.5704, "k-quant", 0.016595, 6.336598),
    _row("Q5_K_M", 5.7036, "k-quant", 0.010762, 6.288607),
    _row("Q5_1", 6.0, "legacy", 0.018045, 6.337857, bpw_source=BLOCK_LAYOUT),
    _row("Q6_K", 6.5633, "k-quant", 0.005452, 6.253382),
    _row("Q8_0", 8.5008, "legacy", 0.001355, 6.234284),
    _row("F16", 16.0005, "float", 0.000551, 6.233160),
    _row("BF16", 16.0, "float", bpw_source=BLOCK_LAYOUT),
    _row("F32", 32.0, "float", bpw_source=BLOCK_LAYOUT),
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
