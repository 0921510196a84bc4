"""DeepSeek's multi-head latent attention: the plan's KV cache follows llama.cpp's rule.

llama.cpp runs a ``deepseek2`` file with the compressed MLA cache only when its
header has ``attention.key_length_mla`` and ``attention.value_length_mla``
(``llama_hparams::is_mla``): one KV head of ``key_length`` (kv_lora_rank + rope)
values and no V tensor. Files converted before that carry ``kv_lora_rank`` too,
but get the full per-head K and V cache. Two tiny real ``deepseek2`` models,
written with the ``gguf`` package, are loaded by llama.cpp itself to check it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from catalog.gguf import read_gguf
from localctl.cli import main
from tests.fit_helpers import llama_buffers

N_LAYER, N_EMBD, N_HEAD, N_FF, N_VOCAB = 2, 64, 4, 128, 256
Q_LORA, KV_LORA, ROPE, NOPE, V_HEAD = 32, 64, 16, 32, 24
CTX = 4096
PRE_MLA_KV = N_LAYER * CTX * N_HEAD * ((NOPE + ROPE) + V_HEAD) * 2
"""Full cache: every head keeps its K (nope + rope) and V rows."""
MLA_KV = N_LAYER * CTX * (KV_LORA + ROPE) * 2
"""Compressed cache: one row of kv_lora_rank + rope values, no V."""


def write_deepseek2(path: Path, *, mla: bool) -> Path:
    """A small but complete ``deepseek2`` GGUF (dense layers) llama.cpp can load."""
    import gguf

    arch = "deepseek2"
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(N_LAYER)
    writer.add_context_length(CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_dimension_count(ROPE)
    writer.add_vocab_size(N_VOCAB)
    writer.add_uint32(f"{arch}.leading_dense_block_count", N_LAYER)
    writer.add_uint32(f"{arch}.attention.q_lora_rank", Q_LORA)
    writer.add_uint32(f"{arch}.attention.kv_lora_rank", KV_LORA)
    writer.add_uint32(f"{arch}.expert_feed_forward_length", N_FF)
    writer.add_uint32(f"{arch}.expert_shared_count", 1)
    if mla:
        writer.add_head_count_kv(1)
        writer.add_key_length(KV_LORA + ROPE)
        writer.add_value_length(KV_LORA)
        writer.add_uint32(f"{arch}.attention.key_length_mla", NOPE + ROPE)
        writer.add_uint32(f"{arch}.attention.value_length_mla", V_HEAD)
    else:
        writer.add_head_count_kv(N_HEAD)
        writer.add_key_length(NOPE + ROPE)
        writer.add_value_length(V_HEAD)
    writer.add_tokenizer_model("none")
    rng = np.random.default_rng(0)

    def tensor(name: str, *ne: int) -> None:
        shape = tuple(reversed(ne))  # ggml order to numpy order
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    tensor("token_embd.weight", N_EMBD, N_VOCAB)
    tensor("output_norm.weight", N_EMBD)
    tensor("output.weight", N_EMBD, N_VOCAB)
    for layer in range(N_LAYER):
        blk = f"blk.{layer}."
        tensor(blk + "attn_norm.weight", N_EMBD)
        tensor(blk + "attn_q_a_norm.weight", Q_LORA)
        tensor(blk + "attn_kv_a_norm.weight", KV_LORA)
        tensor(blk + "attn_q_a.weight", N_EMBD, Q_LORA)
        tensor(blk + "attn_q_b.weight", Q_LORA, N_HEAD * (NOPE + ROPE))
        tensor(blk + "attn_kv_a_mqa.weight", N_EMBD, KV_LORA + ROPE)
        if mla:
            tensor(blk + "attn_k_b.weight", NOPE, KV_LORA, N_HEAD)
            tensor(blk + "attn_v_b.weight", KV_LORA, V_HEAD, N_HEAD)
        else:
            tensor(blk + "attn_kv_b.weight", KV_LORA, N_HEAD * (NOPE + V_HEAD))
        tensor(blk + "attn_output.weight", N_HEAD * V_HEAD, N_EMBD)
        tensor(blk + "ffn_norm.weight", N_EMBD)
        tensor(blk + "ffn_gate.weight", N_EMBD, N_FF)
        tensor(blk + "ffn_down.weight", N_FF, N_EMBD)
        tensor(blk + "ffn_up.weight", N_EMBD, N_FF)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(params=[False, True], ids=["pre-mla", "mla"])
def deepseek_file(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, bool]:
    mla = bool(request.param)
    return write_deepseek2(tmp_path / f"deepseek2-{'mla' if mla else 'pre'}.gguf", mla=mla), mla


def test_mla_is_read_from_the_mla_keys_not_from_kv_lora_rank(
    deepseek_file: tuple[Path, bool],
) -> None:
    path, mla = deepseek_file
    arch = read_gguf(path).arch
    assert arch.kv_lora_rank == KV_LORA
    assert arch.is_mla is mla


def test_fit_gives_the_kv_cache_llama_cpp_allocates(
    deepseek_file: tuple[Path, bool], capsys: pytest.CaptureFixture[str]
) -> None:
    path, mla = deepseek_file
    assert main(["fit", str(path), "--ctx", str(CTX), "--hw", "cpu-64", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["kv_bytes"] == (MLA_KV if mla else PRE_MLA_KV)


@pytest.mark.slow
def test_llama_cpp_allocates_what_the_plan_says(
    deepseek_file: tuple[Path, bool], capsys: pytest.CaptureFixture[str]
) -> None:
    path, mla = deepseek_file
    buffers = llama_buffers(path, CTX, "f16", flash_attn=False)
    # llama.cpp: 4.50 MiB before MLA (K 3.00 + V 1.50), 1.25 MiB with it (K only)
    assert buffers["kv"] * (1 << 20) == (MLA_KV if mla else PRE_MLA_KV)
    # the plan for the backend that loaded it: llama-cpp-python without flash attention
    args = ["fit", str(path), "--ctx", str(CTX), "--hw", "cpu-64", "--json"]
    args += ["--backend", "llama-cpp-python", "--flash-attn", "off"]
    assert main(args) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["kv_bytes"] == buffers["kv"] * (1 << 20)
    assert plan["compute_bytes"] == pytest.approx(buffers["compute"] * (1 << 20), rel=0.05)
