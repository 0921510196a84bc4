"""Memory arithmetic: exact KV sizes, SWA/MLA rules, agreement with llama.cpp's own log."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from catalog import memory
from catalog.gguf import read_gguf
from catalog.schema import ArchSpec
from tests.fit_helpers import llama_buffers

MIB = 1 << 20

SMOL = ArchSpec("llama", 30, 576, 9, 3, 64, 64, 49152, 8192, n_ff=1536)
LLAMA_70B = ArchSpec("llama", 80, 8192, 64, 8, 128, 128, 128256, 131072, n_ff=28672)
GEMMA3_27B = ArchSpec(
    "gemma3",
    62,
    5376,
    32,
    16,
    128,
    128,
    262144,
    131072,
    n_ff=21504,
    sliding_window=1024,
    swa_pattern=6,
)
DEEPSEEK_V3 = ArchSpec(
    "deepseek2",
    61,
    7168,
    128,
    128,
    192,
    128,
    129280,
    163840,
    n_ff=2048,
    n_experts=256,
    n_experts_used=8,
    kv_lora_rank=512,
    rope_dim=64,
)


def test_kv_cache_of_smollm2_matches_llama_cpp_figures() -> None:
    assert memory.kv_cache_bytes(SMOL, 2048) == 45 * MIB
    assert memory.kv_cache_bytes(SMOL, 512) == round(11.25 * MIB)
    assert memory.kv_cache_bytes(SMOL, 8192) == 180 * MIB
    # q8_0 stores 32 values in 34 bytes: 2048 x 30 x 2 x 192/32 x 34
    assert memory.kv_cache_bytes(SMOL, 2048, kv_type="q8_0") == 25_067_520
    assert memory.kv_cache_bytes(SMOL, 2048, kv_type="q4_0") == 2048 * 30 * 2 * 6 * 18


def test_context_is_padded_to_256_cells() -> None:
    assert memory.pad_ctx(1) == 256
    assert memory.pad_ctx(1000) == 1024
    assert memory.pad_ctx(4097) == 4352
    assert memory.kv_cache_bytes(SMOL, 1000) == memory.kv_cache_bytes(SMOL, 1024)
    with pytest.raises(ValueError):
        memory.pad_ctx(0)


def test_parallel_sequences_multiply_the_cache() -> None:
    assert memory.kv_cache_bytes(SMOL, 512, parallel=4) == 4 * memory.kv_cache_bytes(SMOL, 512)


def test_llama_70b_kv_cache_at_4096_by_8() -> None:
    # 80 layers x 32768 cells x 8 heads x 256 x 2 bytes = 10 GiB
    assert memory.kv_cache_bytes(LLAMA_70B, 4096, parallel=8) == 10 << 30


def test_sliding_window_layers_hold_window_plus_batch() -> None:
    flags = memory.swa_layer_flags(GEMMA3_27B)
    assert flags[:6] == [True] * 5 + [False]
    assert flags.count(False) == 62 // 6
    full, swa = memory.kv_cells(GEMMA3_27B, 32768)
    assert (full, swa) == (32768, 1536)  # pad256(1024 + 512)
    row = 16 * 256 * 2
    expected = (flags.count(False) * full + flags.count(True) * swa) * row
    assert memory.kv_cache_bytes(GEMMA3_27B, 32768) == expected
    # a short context is not inflated by the window
    assert memory.kv_cells(GEMMA3_27B, 512) == (512, 512)


def test_all_layers_swa_when_pattern_is_one() -> None:
    arch = ArchSpec("x", 4, 64, 4, 4, 16, 16, 100, 4096, sliding_window=256, swa_pattern=1)
    assert memory.kv_cache_bytes(arch, 4096) == 4 * 768 * 4 * 32 * 2


def test_pre_mla_deepseek_gets_the_full_per_head_cache() -> None:
    # kv_lora_rank alone does not switch MLA on in llama.cpp: 128 heads x (192 + 128)
    assert not DEEPSEEK_V3.is_mla
    assert memory.kv_cache_bytes(DEEPSEEK_V3, 4096) == 61 * 4096 * 128 * (192 + 128) * 2
    # ctx 65,536: 305 GiB, the figure llama.cpp allocates for the unsloth files
    assert memory.kv_cache_bytes(DEEPSEEK_V3, 65536) == 305 * (1 << 30)


def test_mla_file_caches_one_latent_row_and_no_v() -> None:
    # Converted with key_length_mla/value_length_mla: one KV head of 576 K values, no V tensor.
    mla = dataclasses.replace(
        DEEPSEEK_V3,
        n_kv_heads=1,
        key_length=576,
        value_length=512,
        key_length_mla=192,
        value_length_mla=128,
    )
    assert mla.is_mla
    assert memory.kv_cache_bytes(mla, 4096) == 61 * 4096 * 576 * 2


def test_swa_full_gives_sliding_layers_the_whole_context() -> None:
    full, swa = memory.kv_cells(GEMMA3_27B, 32768, swa_full=True)
    assert full == swa == 32768
    row = memory.kv_row_bytes(GEMMA3_27B, "f16")
    assert memory.kv_cache_bytes(GEMMA3_27B, 32768, swa_full=True) == 62 * 32768 * row
    windowed = memory.kv_cache_bytes(GEMMA3_27B, 32768)
    assert windowed < memory.kv_cache_bytes(GEMMA3_27B, 32768, swa_full=True) / 4


def test_per_layer_kv_heads() -> None:
    arch = ArchSpec("x", 3, 64, 4, 4, 16, 16, 100, 4096)
    got = memory.kv_cache_bytes(arch, 256, kv_heads_per_layer=[4, 0, 2])
    assert got == 256 * (4 + 0 + 2) * 32 * 2


def test_unknown_kv_type() -> None:
    with pytest.raises(ValueError, match="unknown KV cache type"):
        memory.kv_cache_bytes(SMOL, 512, kv_type="q3_k")


def test_quantized_cache_needs_flash_attention() -> None:
    assert not memory.needs_flash_attention("f16")
    assert memory.needs_flash_attention("q8_0")


def test_compute_buffer_follows_output_and_attention_peaks() -> None:
    at_2k = memory.compute_estimate(SMOL, 2048)
    assert at_2k.total_bytes == at_2k.output_bytes
    at_8k = memory.compute_estimate(SMOL, 8192)
    assert at_8k.total_bytes == at_8k.attention_bytes > at_8k.output_bytes
    # flash attention has no n_kv x n_ubatch score matrix
    assert memory.compute_buffer_bytes(SMOL, 8192, flash_attn=True) == at_2k.output_bytes
    # llama-cpp-python clamps the batch to a small context
    assert memory.compute_buffer_bytes(SMOL, 100) < memory.compute_buffer_bytes(SMOL, 512) / 4


def test_kv_read_per_token_is_capped_by_the_window() -> None:
    full = memory.kv_read_bytes_per_token(GEMMA3_27B, 32768)
    assert full < memory.kv_cache_bytes(GEMMA3_27B, 32768)
    assert memory.kv_read_bytes_per_token(SMOL, 100) == 100 * 30 * 768


CASES = [
    (ctx, kv, fa)
    for ctx in (512, 2048, 8192)
    for kv, fa in (("f16", False), ("f16", True), ("q8_0", True))
]


@pytest.mark.parametrize(("ctx", "kv_type", "flash_attn"), CASES)
def test_estimates_match_llama_cpp_verbose_log(
    smollm2_path: Path, ctx: int, kv_type: str, flash_attn: bool
) -> None:
    reported = llama_buffers(smollm2_path, ctx, kv_type, flash_attn)
    arch = read_gguf(smollm2_path).arch
    kv = memory.kv_cache_bytes(arch, ctx, kv_type=kv_type) / MIB
    compute = memory.compute_buffer_bytes(arch, ctx, flash_attn=flash_attn) / MIB
    weights = read_gguf(smollm2_path).tensor_bytes / MIB
    assert round(kv, 2) == reported["kv"]
    assert weights == pytest.approx(reported["model"], rel=0.05)
    assert compute == pytest.approx(reported["compute"], rel=0.05)


def test_quantized_v_cache_without_flash_attention_is_refused_by_llama_cpp(
    smollm2_path: Path,
) -> None:
    with pytest.raises(AssertionError, match="did not report"):
        llama_buffers(smollm2_path, 512, "q8_0", False)
